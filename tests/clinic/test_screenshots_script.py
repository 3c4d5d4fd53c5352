"""scripts/screenshots.py (the docs' screenshots, run by hand) without a browser: its pages are
numbered in order and described in docs/screenshots/README.md, its options parse, and it still
understands the line ``ionto serve`` prints when it is ready — so it cannot rot silently."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from ionto.clinic import server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshots.py"
FOLDER = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ionto_screenshots_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def test_the_pages_are_numbered_in_order_with_a_function_each(script: ModuleType) -> None:
    files = [shot.file for shot in script.SHOTS]
    assert files[0] == "01-login.png"
    for number, name in enumerate(files, start=1):
        assert re.fullmatch(rf"{number:02d}-[a-z]+(-[a-z]+)*\.png", name), name
    assert all(callable(shot.take) and shot.shows for shot in script.SHOTS)
    assert len({shot.take for shot in script.SHOTS}) == len(files)


def test_the_readme_describes_every_picture_and_no_other(script: ModuleType) -> None:
    readme = (FOLDER / "README.md").read_text()
    named = re.findall(r"\b\d\d-[a-z-]+\.png\b", readme)
    assert sorted(set(named)) == [shot.file for shot in script.SHOTS]
    assert "scripts/screenshots.py" in readme
    # A picture left behind by a renamed page would be shown in the docs out of date.
    on_disk = sorted(p.name for p in FOLDER.glob("*.png"))
    assert on_disk in ([], [shot.file for shot in script.SHOTS])


def test_options(script: ModuleType) -> None:
    args = script.parse_args([])
    assert args.out == FOLDER
    assert args.only == []
    assert args.chromium == script.CHROMIUM
    assert [s.file for s in script.chosen(args.only)] == [s.file for s in script.SHOTS]
    args = script.parse_args(["--out", "/tmp/pictures", "--only", "live", "--only", "login"])
    assert args.out == Path("/tmp/pictures")
    assert [s.file for s in script.chosen(args.only)] == ["01-login.png", "06-live-session.png"]


def test_an_unknown_page_is_refused_with_the_reason(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        script.parse_args(["--only", "no-such-page"])
    assert stopped.value.code == 2
    assert "no page matches no-such-page" in capsys.readouterr().err


def test_it_reads_the_address_ionto_serve_announces(
    script: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """The very line the server prints (its ``_announce``), not a copy of it."""
    listening = SimpleNamespace(effective_host="127.0.0.1", effective_port=41234)
    server._announce(listening, demo=False)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert script.ready_url(line) == "http://127.0.0.1:41234"
    assert script.ready_url("ionto: SQLite file /tmp/x.sqlite3: migrating") is None


def test_the_server_runs_the_demo_on_its_own_file_and_fast_stations(
    script: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    command = script.server_command(tmp_path / "demo.sqlite3")
    assert command[0] == sys.executable
    database = str(tmp_path / "demo.sqlite3")
    assert command[-6:] == ["serve", "--demo", "--port", "0", "--database", database]
    # A real clinic's database in the caller's shell must never reach the demo server.
    monkeypatch.setenv("IONTO_DATABASE", "postgresql://clinic/real")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "ionto.clinic.settings_test")
    env = script.server_env(tmp_path, speed=30)
    assert env["IONTO_STATION_SPEED"] == "30"
    assert env["IONTO_DATA_DIR"] == str(tmp_path)
    assert "IONTO_DATABASE" not in env
    assert "DJANGO_SETTINGS_MODULE" not in env


def test_shrinking_keeps_the_picture_and_its_size(script: ModuleType, tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "page.png"
    page = Image.new("RGB", (300, 200), (243, 244, 246))
    for x in range(300):  # a ramp of greys, as anti-aliased text has
        page.putpixel((x, 100), (x % 256, x % 256, x % 256))
    page.save(path)
    script.shrink(path)
    with Image.open(path) as small:
        assert small.format == "PNG"
        assert small.mode == "P"
        assert small.size == (300, 200)
        assert small.convert("RGB").getpixel((0, 0)) == (243, 244, 246)
