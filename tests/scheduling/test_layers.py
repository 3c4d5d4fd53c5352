"""The scheduling core stays Django-free: the import contract holds and would catch a breach.

Also runs the booking benchmark small, so that its table cannot silently rot.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.mark.parametrize(
    ("line", "reported"),
    [("import django", "django"), ("import ionto.clinic.models", "ionto.clinic.models")],
)
def test_a_django_import_in_the_scheduling_core_is_caught(
    tmp_path: Path, line: str, reported: str
) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "ionto" / "clinic" / "scheduling" / "rules.py"
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "scheduling core" in done.stdout
    assert reported in done.stdout


def test_the_scheduling_core_imports_without_django() -> None:
    code = (
        "import sys, ionto.clinic.scheduling.solve, ionto.clinic.scheduling.reschedule; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_benchmark_runs_small() -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_schedule", ROOT / "benchmarks" / "bench_schedule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.bench(10, seed=2, seconds=1.0, weeks=6)
    assert [r["solver"] for r in rows] == ["greedy", "cp-sat"]
    assert all(r["violations"] == 0 for r in rows)
    greedy, cpsat = rows
    assert cpsat["booked"] >= greedy["booked"]
    assert "gap" in cpsat
    assert "| 10 | cp-sat |" in bench.markdown(rows)
