"""The import direction in pyproject.toml's import-linter contracts holds, and the contracts bite."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        timeout=120,
    )


def test_the_import_contracts_hold():
    run = lint_imports(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 kept, 0 broken" in run.stdout


def test_the_contracts_catch_a_parser_importing_dagster_and_the_kit_importing_a_source(tmp_path):
    copy = tmp_path / "repo"
    for name in ("assets", "orchestration"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    with (copy / "assets" / "reported" / "parse.py").open("a") as fh:
        fh.write("\nimport dagster\n")
    with (copy / "orchestration" / "kit" / "versions.py").open("a") as fh:
        fh.write("\nfrom assets.news import gdelt\n")
    run = lint_imports(copy)
    assert run.returncode != 0
    assert "assets.reported.parse -> dagster" in run.stdout
    assert "orchestration.kit.versions -> assets.news.gdelt" in run.stdout
