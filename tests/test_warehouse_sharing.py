"""Runs, readers and failures sharing one lake, tried as users do: a reader holds a connection
and queries in a loop through a whole run; a run is killed mid-write and run again; a failed
check publishes nothing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import lake, lake_rows

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BORDERWATCH = Path(sys.executable).parent / "borderwatch"
START, END = "2023-09-01", "2023-10-31"
COUNTS = (
    "select (select count(*) from staging.stg_reported__observations),"
    " (select count(*) from staging.stg_imagery__scenes),"
    " (select count(*) from staging.stg_news__articles),"
    " (select count(*) from curated.alerts),"
    " (select count(*) from staging.load_audit)"
)


def env_for(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    env["BORDERWATCH_HOME"] = str(home)
    env.update(extra)
    return env


def materialize(home: Path, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BORDERWATCH), "materialize", "--start", START, "--end", END],
        env=env_for(home, **extra),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def clean_counts(tmp_path_factory):
    home = tmp_path_factory.mktemp("clean") / "home"
    done = materialize(home)
    assert done.returncode == 0, done.stdout + done.stderr
    return lake_rows(home, COUNTS)[0]


READER = """
import sys, time
from assets.core.warehouse import LakeConfig, connect, read_frame
home, stop = sys.argv[1], sys.argv[2]
import pathlib
held = connect(LakeConfig.embedded(home), read_only=True)  # held open for the whole run
answers = errors = 0
while not pathlib.Path(stop).exists():
    con = connect(LakeConfig.embedded(home), read_only=True)
    try:
        n_rows, n_audit_bad = read_frame(con,
            "select count(*), count(*) filter (where rows_read <> rows_loaded + rows_filtered"
            " + rows_quarantined) from staging.load_audit").row(0)
        assert n_audit_bad == 0
        answers += 1
    except Exception as exc:
        if "does not exist" not in str(exc):  # before the first commit there is no table yet
            errors += 1
            print("read error:", exc, file=sys.stderr, flush=True)
    finally:
        con.close()
    time.sleep(0.2)
held.close()
print(answers, errors, flush=True)
"""


def test_a_reader_querying_in_a_loop_never_blocks_a_run(tmp_path, clean_counts):
    home = tmp_path / "home"
    home.mkdir()
    # A first commit so the reader has a lake to open.
    first = subprocess.run(
        [
            str(BORDERWATCH),
            "materialize",
            "--start",
            START,
            "--end",
            START,
            "--select",
            "facilities",
        ],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(home), str(stop)],
        cwd=REPO,
        env={**env_for(home), "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        done = materialize(home)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    answers, errors = map(int, out.split())
    assert answers > 5, err
    assert errors == 0, err
    assert lake_rows(home, COUNTS)[0] == clean_counts


def test_a_run_killed_mid_write_leaves_nothing_behind_and_the_next_run_finishes(
    tmp_path, clean_counts
):
    from assets.core.warehouse import LakeConfig, orphan_files

    home = tmp_path / "home"
    proc = subprocess.Popen(
        [str(BORDERWATCH), "materialize", "--start", START, "--end", END],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Kill it once it is writing the lake: after the gazetteer committed, inside a later step.
    deadline = time.monotonic() + 300
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "STAC file(s) under" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert any("STAC file(s) under" in line for line in seen), "".join(seen[-20:])

    again = materialize(home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "had died with its process" in again.stdout
    assert lake_rows(home, COUNTS)[0] == clean_counts
    assert orphan_files(LakeConfig.embedded(home)) == []


def _table_hashes(home: Path, queries: dict[str, str]) -> dict:
    con = lake(home)
    try:
        return {
            name: con.execute(
                f"select count(*), md5(string_agg(cast(x as varchar), '|' order by cast(x as varchar)))"
                f" from ({sql}) as x"
            ).fetchone()
            for name, sql in queries.items()
        }
    finally:
        con.close()


def test_a_failed_check_publishes_nothing(tmp_path, monkeypatch, capsys):
    from orchestration import cli
    from orchestration.kit import writing

    home = tmp_path / "home"
    monkeypatch.setenv("BORDERWATCH_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("BORDERWATCH_") and name != "BORDERWATCH_HOME":
            monkeypatch.delenv(name)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert cli.main(["materialize", "--start", START, "--end", END]) == 0
    # What the blocked step wrote, and what is built from it. (The run's other steps commit
    # their own tables, as they should.)
    tables = {
        name: f"select * from {name}"
        for name in (
            "staging.stg_reported__observations",
            "quarantine.stg_reported__observations",
            "curated.observations",
            "curated.activity_baselines",
            "curated.alerts",
        )
    }
    tables["audit"] = (
        "select * from staging.load_audit where table_name = 'staging.stg_reported__observations'"
    )
    before = _table_hashes(home, tables)
    # A stricter suite for the reported counts: every real Tumangang count breaks a ceiling of 10.
    real = writing.suite_path("staging", "stg_reported__observations")
    strict = tmp_path / "stg_reported__observations.expectations.json"
    strict.write_text(
        real.read_text().replace(
            '"kwargs": {"column": "value", "min_value": 0}',
            '"kwargs": {"column": "value", "min_value": 0, "max_value": 10}',
        )
    )
    assert strict.read_text() != real.read_text()
    original = writing.suite_path
    monkeypatch.setattr(
        writing,
        "suite_path",
        lambda layer, table: (
            strict if table == "stg_reported__observations" else original(layer, table)
        ),
    )
    capsys.readouterr()
    assert cli.main(["materialize", "--start", START, "--end", END]) == 1
    err = capsys.readouterr().err
    assert "stg_reported__observations: expectations failed, nothing was published" in err
    assert "expect_column_values_to_be_between on value:" in err and "unexpected" in err
    assert "73.0" in err  # one of the values that broke it, named
    assert _table_hashes(home, tables) == before
