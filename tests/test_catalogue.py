"""The documented table of presets and limits is the code's own, and every entry has a source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ionto.cli import main
from ionto.contract.catalogue import catalogue_json, catalogue_markdown
from ionto.therapy import protocols

DOC = Path(__file__).resolve().parents[1] / "docs" / "limits-and-presets.md"


def test_the_committed_docs_page_matches_the_code() -> None:
    assert DOC.read_text() == catalogue_markdown(), (
        "docs/limits-and-presets.md is stale: run `ionto catalogue --markdown "
        "> docs/limits-and-presets.md`"
    )


def test_every_entry_names_a_source_with_a_grade() -> None:
    data = catalogue_json()
    for row in [*data["limits"], *data["target_currents"]]:
        assert row["source"], row
        assert row["grade"] in {"P", "S", "?", "D"}, row
    for section in (
        "density_presets",
        "protocol_presets",
        "induction_schedules",
        "maintenance_plans",
    ):
        for entry in data[section]:
            assert entry["source"]["citation"], entry
            assert entry["source"]["grade"] in {"P", "S", "?", "D"}, entry


def test_every_protocol_preset_is_listed() -> None:
    names = [p["name"] for p in catalogue_json()["protocol_presets"]]
    assert names == list(protocols.PRESETS)


def test_catalogue_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalogue"]) == 0
    data = json.loads(capsys.readouterr().out)
    codes = {row["code"] for row in data["limits"]}
    assert {"adult_current_cap", "child_current_cap", "current_density_cap"} <= codes
