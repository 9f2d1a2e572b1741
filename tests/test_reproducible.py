"""The same raw inputs give byte-identical curated tables: two builds in different homes and
processes, exported, have the same sha256 for every curated table."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BORDERWATCH = Path(sys.executable).parent / "borderwatch"


def build_and_export(home: Path, out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    env["BORDERWATCH_HOME"] = str(home)
    for args in (
        ["materialize", "--start", "2023-09-01", "--end", "2023-10-31"],
        ["export", "--out", str(out)],
    ):
        done = subprocess.run(
            [str(BORDERWATCH), *args], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout + done.stderr
    sums = {}
    for line in (out / "MANIFEST.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def test_two_builds_give_byte_identical_curated_tables(tmp_path):
    first = build_and_export(tmp_path / "a" / "home", tmp_path / "a" / "export")
    second = build_and_export(tmp_path / "b" / "home", tmp_path / "b" / "export")
    curated = {name for name in first if name.startswith("curated/")}
    assert {
        "curated/observations.parquet",
        "curated/activity_baselines.parquet",
        "curated/news_attention_daily.parquet",
        "curated/alerts.parquet",
        "curated/evidence.parquet",
    } <= curated
    assert {n: first[n] for n in curated} == {n: second[n] for n in curated}
