"""The docs picture of a session is drawn from a real simulated session (benchmarks/)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import plot_session


def test_the_picture_shows_the_trace_and_the_events() -> None:
    outcome = plot_session.session(seed=1, minutes=2.0, lift_s=40.0)
    picture = plot_session.svg(outcome)
    root = ET.fromstring(picture)
    paths = [el for el in root.iter() if el.tag.endswith("path")]
    assert len(paths) == 2  # current and voltage
    assert all(len(p.attrib["d"].split()) > 100 for p in paths)
    texts = " ".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert "contact lost" in texts
    assert "reversing" in texts
