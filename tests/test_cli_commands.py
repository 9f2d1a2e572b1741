"""Every command in the README's command table, run as a user runs it: the `borderwatch`
executable in a fresh home, in its own process. (`demo` runs in tests/test_pipeline.py.)"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BORDERWATCH = Path(sys.executable).parent / "borderwatch"
START, END = "2023-10-01", "2023-10-10"


def readme_commands() -> list[str]:
    """The commands listed in the README's command table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `borderwatch (\w+)", table, flags=re.M)


def run(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    env["BORDERWATCH_HOME"] = str(home)
    return subprocess.run(
        [str(BORDERWATCH), *args],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "home"
    done = run(home, "materialize", "--start", START, "--end", END)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    return home


def test_the_readme_lists_every_command_the_cli_has():
    from orchestration.cli import COMMANDS

    assert sorted(readme_commands()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", readme_commands())
def test_help_has_a_description_and_an_example(command, tmp_path):
    done = run(tmp_path / "home", command, "--help")
    assert done.returncode == 0, done.stderr
    usage, _, rest = done.stdout.partition("\n\n")
    assert usage.startswith(f"usage: borderwatch {command}")
    assert rest.strip().split("\n")[0][:1].isupper()  # a sentence, not a fragment
    assert (
        "example:\n  " in done.stdout
        and f"borderwatch {command}" in done.stdout.split("example:")[1]
    )


def test_materialize_then_query(home):
    done = run(home, "query", "select count(*) as n from curated.observations")
    assert done.returncode == 0, done.stderr
    assert "(1 row)" in done.stdout
    n = int(re.search(r"│\s*(\d+)\s*│", done.stdout).group(1))
    assert n >= 1


def test_query_a_worked_query_file_with_parameters(home):
    done = run(
        home,
        "query",
        str(REPO / "sql" / "queries" / "facility_history.sql"),
        "--param",
        "facility_id=tumangang",
        "--param",
        "metric=railcars",
    )
    assert done.returncode == 0, done.stderr
    assert "2023-10-05" in done.stdout and "73" in done.stdout


def test_report_writes_the_page(home, tmp_path):
    out = tmp_path / "report.html"
    done = run(home, "report", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    page = out.read_text(encoding="utf-8")
    assert "Tumangang" in page and "<script" in page


def test_report_without_a_warehouse_says_what_to_do(tmp_path):
    done = run(tmp_path / "empty-home", "report")
    assert done.returncode == 1
    assert "borderwatch demo" in done.stderr and "Traceback" not in done.stderr


def test_replay_rebuilds_the_same_window_from_the_raw_zone(home):
    before = run(home, "query", "select count(*) from staging.stg_reported__observations")
    done = run(home, "replay", "--start", START, "--end", END)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replaying the raw zone" in done.stdout
    after = run(home, "query", "select count(*) from staging.stg_reported__observations")
    assert before.stdout == after.stdout


def test_config_shows_every_setting_with_its_value(home):
    done = run(home, "config")
    assert done.returncode == 0, done.stderr
    assert f"BORDERWATCH_HOME={home}" in done.stdout
    assert "BORDERWATCH_RATIO_THRESHOLD=1.5" in done.stdout


def test_ui_serves_the_project_and_stops_on_ctrl_c(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    env["BORDERWATCH_HOME"] = str(home)
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen(
        [str(BORDERWATCH), "ui", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        info = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                    info = r.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert info and "dagster_webserver_version" in info, (tmp_path / "ui.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert (home / "dagster" / "dagster.yaml").exists()


def test_export_opens_in_duckdb_and_pandas_with_the_same_tables(home, tmp_path):
    import duckdb
    import pandas as pd

    out = tmp_path / "export"
    done = run(home, "export", "--out", str(out), "--geojson", str(tmp_path / "f.geojson"))
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(out / "borderwatch.duckdb"), read_only=True)
    try:
        tables = {
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        assert {"curated.alerts", "staging.load_audit", "raw.manifest"} <= tables
        n = con.execute("select count(*) from curated.observations").fetchone()[0]
    finally:
        con.close()
    assert len(pd.read_parquet(out / "curated" / "observations.parquet")) == n
    sums = (out / "MANIFEST.sha256").read_text().splitlines()
    assert any(line.endswith("curated/observations.parquet") for line in sums)
    import json

    features = json.loads((tmp_path / "f.geojson").read_text())["features"]
    assert features and all(f["geometry"]["coordinates"] for f in features)


def test_query_as_of_answers_from_an_earlier_snapshot(home):
    def scalar(*args):
        done = run(home, "query", *args, "--format", "csv")
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[1]

    late = "select count(*) as n from staging.stg_news__articles where published_on > '2023-10-10'"
    before = scalar("select max(snapshot_id) as s from lake.snapshots()")
    assert scalar(late) == "0"
    done = run(home, "materialize", "--start", "2023-10-11", "--end", "2023-10-12")
    assert done.returncode == 0, done.stderr
    assert int(scalar(late)) > 0
    assert scalar(late, "--as-of", before) == "0"


def test_migrate_copies_an_earlier_single_file_warehouse_into_the_lake(tmp_path):
    import duckdb

    home = tmp_path / "home"
    home.mkdir()
    legacy = duckdb.connect(str(home / "borderwatch.duckdb"))
    legacy.execute(
        "create schema staging; create table staging.stg_imagery__scenes "
        "(scene_id varchar, bbox double[4]); "
        "insert into staging.stg_imagery__scenes values ('s1', [1, 2, 3, 4]), ('s2', [5, 6, 7, 8]);"
        "create schema curated; create table curated.alerts as select 'a1' as alert_id"
    )
    legacy.close()
    done = run(home, "migrate")
    assert done.returncode == 0, done.stderr
    assert "2 tables copied" in done.stdout
    got = run(
        home, "query", "select list_sum(bbox) as s from staging.stg_imagery__scenes "
        "where scene_id = 's2'", "--format", "csv",
    )  # fmt: skip
    assert got.stdout.splitlines() == ["s", "26.0"]


def test_migrate_without_an_earlier_warehouse_says_so(tmp_path):
    done = run(tmp_path / "home", "migrate")
    assert done.returncode == 2
    assert "nothing to migrate" in done.stderr
