"""The whole graph materialised through the CLI into a temporary home, on a real Dagster instance."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import cli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("demo") / "home"
    mp.setenv("BORDERWATCH_HOME", str(home))
    mp.delenv("DAGSTER_HOME", raising=False)
    for name in ("BORDERWATCH_SOURCE", "BORDERWATCH_IMAGERY_SOURCE", "BORDERWATCH_GDELT_URL", "BORDERWATCH_ALERT_WEBHOOK"):
        mp.delenv(name, raising=False)
    assert cli.main(["demo"]) == 0
    yield home
    mp.undo()


def rows(home: Path, sql: str, params=None):
    con = duckdb.connect(str(home / "borderwatch.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def test_demo_flags_the_seed_observation(demo_home):
    got = rows(
        demo_home,
        "select value, prior_max, ratio_to_prior_max, is_anomaly, synthetic from curated.activity_baselines "
        "where facility_id = 'tumangang' and metric = 'railcars' and observed_on = '2023-10-05'",
    )
    assert got == [(73.0, 20.0, 3.65, True, False)]


def test_no_earlier_tumangang_railcar_observation_is_flagged(demo_home):
    got = rows(
        demo_home,
        "select count(*), count(*) filter (where is_anomaly) from curated.activity_baselines "
        "where facility_id = 'tumangang' and metric = 'railcars' and observed_on < '2023-10-05'",
    )
    assert got[0][0] > 50 and got[0][1] == 0


def test_every_file_is_accounted_for(demo_home):
    audit = rows(
        demo_home,
        "select source_uri, rows_read, rows_loaded, rows_filtered, rows_quarantined from staging.load_audit",
    )
    assert audit, "the audit has rows"
    for uri, read, loaded, filtered, quarantined in audit:
        assert read == loaded + filtered + quarantined, uri
    reported = [a for a in audit if "/reported/" in a[0]]
    assert {Path(a[0]).name for a in reported} == {"published_counts.csv", "synthetic_baseline.csv"}


def test_runs_are_on_the_shipped_instance(demo_home):
    assert (demo_home / "dagster" / "dagster.yaml").exists()
    instance = dg.DagsterInstance.from_config(str(demo_home / "dagster"))
    try:
        runs = instance.get_runs()
        assert runs and runs[0].tags["dagster/asset_partition_range_start"] == cli.DEMO_START
        record = instance.get_latest_materialization_event(dg.AssetKey("activity_baselines"))
        assert record is not None
        metadata = record.asset_materialization.metadata
        assert metadata["anomalies"].value >= 1
        assert len(metadata["content_sha256"].value) == 64
    finally:
        instance.dispose()


def test_rematerialising_a_partition_changes_no_counts(demo_home, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_HOME", str(demo_home))
    count_sql = (
        "select (select count(*) from staging.stg_reported__observations), "
        "(select count(*) from curated.observations), (select count(*) from curated.activity_baselines)"
    )
    before = rows(demo_home, count_sql)
    manifest_before = rows(demo_home, "select count(*) from raw.manifest")
    assert cli.main(["materialize", "--start", "2023-10-05", "--end", "2023-10-05"]) == 0
    assert rows(demo_home, count_sql) == before
    assert rows(demo_home, "select count(*) from raw.manifest") == manifest_before


def test_query_command_prints_the_anomaly(demo_home, monkeypatch, capsys):
    monkeypatch.setenv("BORDERWATCH_HOME", str(demo_home))
    assert cli.main(["query", "select facility_id, value from curated.activity_baselines where is_anomaly"]) == 0
    out = capsys.readouterr().out
    assert "tumangang" in out and "73.0" in out


@pytest.mark.parametrize("query_file", sorted((REPO / "sql" / "queries").glob("*.sql")), ids=lambda p: p.name)
def test_worked_queries_run(demo_home, query_file):
    from tests.query_params import QUERY_PARAMS  # noqa: I001

    con = duckdb.connect(str(demo_home / "borderwatch.duckdb"), read_only=True)
    try:
        result = con.execute(query_file.read_text(), QUERY_PARAMS.get(query_file.name, {})).fetchall()
    finally:
        con.close()
    assert isinstance(result, list)


def test_bad_reported_file_quarantines_and_loads_good_rows(bw_env, tmp_path, monkeypatch):
    source = tmp_path / "source"
    (source / "reported").mkdir(parents=True)
    shutil.copy(REPO / "data" / "sample" / "reported" / "published_counts.csv", source / "reported")
    (source / "reported" / "bad.csv").write_text(
        "facility_id,observed_on,metric,value,source,source_url,method\n"
        "tumangang,2023-10-01,railcars,-3,Test,https://example.org/t,hand count\n"
        "nowhere,2023-10-02,railcars,3,Test,https://example.org/t,hand count\n"
        "tumangang,2023-10-xx,railcars,3,Test,https://example.org/t,hand count\n"
        "tumangang,2023-10-03,railcars,3,Test,https://example.org/t,hand count\n"
    )
    (source / "reported" / "no_url.csv").write_text(
        "facility_id,observed_on,metric,value,source,method\n"
        "tumangang,2023-10-04,railcars,3,Test,hand count\n"
    )
    monkeypatch.setenv("BORDERWATCH_SOURCE", str(source))
    assert cli.main(["materialize", "--start", "2023-10-01", "--end", "2023-10-31",
                     "--select", "facilities,stg_reported__observations"]) == 0
    home = bw_env
    quarantined = rows(
        home,
        "select source_uri, line_number, reason from quarantine.stg_reported__observations order by all",
    )
    by_line = {(Path(u).name, n): r for u, n, r in quarantined}
    assert "negative" in by_line[("bad.csv", 2)]
    assert "unknown facility_id 'nowhere'" in by_line[("bad.csv", 3)]
    assert "not a YYYY-MM-DD date" in by_line[("bad.csv", 4)]
    assert "missing required column(s) source_url" in by_line[("no_url.csv", 0)]
    loaded = rows(home, "select observed_on::varchar, value from staging.stg_reported__observations order by 1")
    assert loaded == [("2023-10-03", 3.0), ("2023-10-05", 73.0)]
    for uri, read, loaded_n, filtered, q in rows(
        home, "select source_uri, rows_read, rows_loaded, rows_filtered, rows_quarantined from staging.load_audit"
    ):
        assert read == loaded_n + filtered + q
        if uri.endswith("bad.csv"):
            assert (read, loaded_n, filtered, q) == (4, 1, 0, 3)
        if uri.endswith("published_counts.csv"):
            assert loaded_n == 1 and filtered == 11


def test_empty_source_is_valid(bw_env, tmp_path, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_SOURCE", str(tmp_path / "empty"))
    assert cli.main(["materialize", "--start", "2023-10-01", "--end", "2023-10-02",
                     "--select", "facilities,stg_reported__observations,observations"]) == 0
    assert rows(bw_env, "select count(*) from curated.observations") == [(0,)]
