"""The whole graph materialised through the CLI into a temporary home, on a real Dagster instance."""

import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from orchestration import cli
from tests.conftest import curated_hashes, lake, lake_rows

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("demo") / "home"
    mp.setenv("BORDERWATCH_HOME", str(home))
    mp.delenv("DAGSTER_HOME", raising=False)
    for name in (
        "BORDERWATCH_SOURCE",
        "BORDERWATCH_IMAGERY_SOURCE",
        "BORDERWATCH_GDELT_URL",
        "BORDERWATCH_ALERT_WEBHOOK",
    ):
        mp.delenv(name, raising=False)
    assert cli.main(["demo"]) == 0
    yield home
    mp.undo()


def rows(home: Path, sql: str, params=None):
    return lake_rows(home, sql, params)


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
    assert (
        cli.main(
            ["query", "select facility_id, value from curated.activity_baselines where is_anomaly"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "tumangang" in out and "73.0" in out


def run_query(home: Path, name: str, params=None):
    con = lake(home)
    try:
        cur = con.execute((REPO / "sql" / "queries" / name).read_text(), params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def test_every_worked_query_is_tested():
    tested = {
        "anomalous_observations.sql",
        "facility_history.sql",
        "anomalous_this_month.sql",
        "evidence_for_alert.sql",
        "scenes_near_observation.sql",
        "news_near_observation.sql",
        "weeks_without_clear_imagery.sql",
        "news_without_reports.sql",
        "scene_footprints.sql",
    }
    assert {p.name for p in (REPO / "sql" / "queries").glob("*.sql")} == tested


def test_query_scene_footprints(demo_home):
    from shapely import wkt

    from assets.reference.geometry import aoi_polygon

    got = run_query(demo_home, "scene_footprints.sql")
    seed = [r for r in got if r["scene_id"] == "S2A_52TFM_20231005_0_L2A"]
    assert "tumangang" in {r["facility_id"] for r in seed}
    site = aoi_polygon(42.4217, 130.6026, 2000)
    for row in got[:50]:
        footprint = wkt.loads(row["footprint_wkt"])
        assert 0 < row["overlap_fraction"] <= 1
        if row["facility_id"] == "tumangang":
            assert footprint.intersects(site)
    keys = [(r["facility_id"], r["acquired_on"], r["scene_id"]) for r in got]
    assert keys == sorted(keys)


def test_query_anomalous_observations(demo_home):
    got = run_query(demo_home, "anomalous_observations.sql")
    assert [(r["facility_id"], str(r["observed_on"]), r["value"]) for r in got] == [
        ("tumangang", "2023-10-05", 73.0)
    ]


def test_query_facility_history(demo_home):
    got = run_query(
        demo_home, "facility_history.sql", {"facility_id": "tumangang", "metric": "railcars"}
    )
    assert len(got) > 50
    assert [str(r["observed_on"]) for r in got if r["is_anomaly"]] == ["2023-10-05"]
    assert got == sorted(got, key=lambda r: (r["observed_on"], r["source"]))


def test_query_anomalous_this_month_and_evidence(demo_home):
    alerts = run_query(demo_home, "anomalous_this_month.sql", {"month": "2023-10-15"})
    assert [a["facility_id"] for a in alerts] == ["tumangang"]
    assert run_query(demo_home, "anomalous_this_month.sql", {"month": "2023-09-15"}) == []
    evidence = run_query(demo_home, "evidence_for_alert.sql", {"alert_id": alerts[0]["alert_id"]})
    kinds = {e["evidence_kind"] for e in evidence}
    assert kinds == {"report", "scene", "article"}
    refs = {e["ref"] for e in evidence}
    assert any("beyondparallel.csis.org" in r for r in refs)
    assert any("rferl.org" in r for r in refs) and any("kgun9.com" in r for r in refs)
    assert "S2A_52TFM_20231005_0_L2A" in refs


def test_query_weeks_without_clear_imagery(demo_home):
    got = run_query(demo_home, "weeks_without_clear_imagery.sql")
    assert got, "the synthetic baseline has weeks whose only scenes are cloudy"
    clear_weeks = {
        (r[0], str(r[1]))
        for r in rows(
            demo_home,
            "select facility_id, date_trunc('week', acquired_on)::date from curated.imagery_coverage_daily where n_clear > 0",
        )
    }
    for r in got:
        assert (r["facility_id"], str(r["week_start"])) not in clear_weeks


def test_query_news_without_reports(demo_home):
    got = run_query(
        demo_home, "news_without_reports.sql", {"attention_z_min": 2.0, "report_window_days": 7}
    )
    assert got, "the sample has news surges at facilities nobody counted (Tumen, Dandong)"
    reports = {
        (f, str(d))
        for f, d in rows(demo_home, "select facility_id, observed_on from curated.observations")
    }
    for r in got:
        assert r["attention_z"] >= 2.0
        day = date.fromisoformat(str(r["published_on"]))
        near = {str(day + timedelta(days=k)) for k in range(-7, 8)}
        assert not any((r["facility_id"], d) in reports for d in near), r
    # Tumangang's surge after 2023-10-05 sits within a week of the CSIS count, so it is no gap.
    assert not [
        r for r in got if r["facility_id"] == "tumangang" and str(r["published_on"]) <= "2023-10-12"
    ]


def test_query_scenes_and_news_near_observation(demo_home):
    where = {"facility_id": "tumangang", "observed_on": "2023-10-05"}
    scenes = run_query(demo_home, "scenes_near_observation.sql", {**where, "window_days": 7})
    assert {r["scene_id"] for r in scenes} >= {"S2A_52TFM_20231005_0_L2A"}
    assert all(abs(r["days_from_observation"]) <= 7 for r in scenes)
    news = run_query(
        demo_home, "news_near_observation.sql", {**where, "days_before": 3, "days_after": 10}
    )
    by_day = {str(r["published_on"]): r for r in news}
    assert all("2023-10-02" <= d <= "2023-10-15" for d in by_day)
    assert by_day["2023-10-06"]["attention_z"] > 3
    assert any("rferl.org" in u for u in by_day["2023-10-06"]["top_urls"])


def test_query_command_binds_parameters(demo_home, monkeypatch, capsys):
    monkeypatch.setenv("BORDERWATCH_HOME", str(demo_home))
    assert (
        cli.main(
            [
                "query",
                str(REPO / "sql/queries/news_without_reports.sql"),
                "--param",
                "attention_z_min=2",
                "--param",
                "report_window_days=7",
            ]
        )
        == 0
    )
    assert "row" in capsys.readouterr().out


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
    assert (
        cli.main(
            [
                "materialize",
                "--start",
                "2023-10-01",
                "--end",
                "2023-10-31",
                "--select",
                "facilities,stg_reported__observations",
            ]
        )
        == 0
    )
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
    loaded = rows(
        home,
        "select observed_on::varchar, value from staging.stg_reported__observations order by 1",
    )
    assert loaded == [("2023-10-03", 3.0), ("2023-10-05", 73.0)]
    for uri, read, loaded_n, filtered, q in rows(
        home,
        "select source_uri, rows_read, rows_loaded, rows_filtered, rows_quarantined from staging.load_audit",
    ):
        assert read == loaded_n + filtered + q
        if uri.endswith("bad.csv"):
            assert (read, loaded_n, filtered, q) == (4, 1, 0, 3)
        if uri.endswith("published_counts.csv"):
            assert loaded_n == 1 and filtered == 11


def test_empty_source_is_valid_and_every_asset_still_runs(bw_env, tmp_path, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_SOURCE", str(tmp_path / "empty"))
    assert cli.main(["materialize", "--start", "2023-10-01", "--end", "2023-10-02"]) == 0
    counts = rows(
        bw_env,
        "select (select count(*) from curated.observations), "
        "(select count(*) from curated.imagery_coverage_daily), "
        "(select count(*) from curated.news_attention_daily), "
        "(select count(*) from curated.alerts), (select count(*) from staging.load_audit)",
    )
    assert counts == [(0, 0, 0, 0, 0)]
    assert (bw_env / "report" / "index.html").exists()


def test_rerunning_emits_no_duplicate_alerts(demo_home, monkeypatch):
    before = rows(demo_home, "select alert_id, run_id from ops.alert_notifications order by all")
    assert len(before) == rows(demo_home, "select count(*) from curated.alerts")[0][0] == 1
    monkeypatch.setenv("BORDERWATCH_HOME", str(demo_home))
    assert (
        cli.main(
            [
                "materialize",
                "--start",
                "2023-10-01",
                "--end",
                "2023-10-10",
                "--select",
                "alerts,alert_notifications",
            ]
        )
        == 0
    )
    assert (
        rows(demo_home, "select alert_id, run_id from ops.alert_notifications order by all")
        == before
    )
    assert rows(demo_home, "select count(*) from curated.alerts") == [(1,)]


def test_webhook_receives_each_new_alert_once(demo_home, tmp_path):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from assets.indicators.assets import alert_notifications
    from orchestration.kit.resource import Borderwatch

    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        shutil.copytree(demo_home / "lake", home / "lake")
        con = lake(home, read_only=False)
        con.execute("delete from ops.alert_notifications")
        con.close()
        resource = Borderwatch.from_env(
            home=str(home), alert_webhook_url=f"http://127.0.0.1:{server.server_port}/alerts"
        )
        for _ in range(2):
            result = dg.materialize(
                [alert_notifications],
                resources={"borderwatch": resource},
                instance=dg.DagsterInstance.ephemeral(),
            )
            assert result.success
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1
    assert received[0]["facility_id"] == "tumangang" and received[0]["observed_on"] == "2023-10-05"
    assert "73 railcars on 2023-10-05" in received[0]["summary"]


def _curated_hashes(home: Path) -> dict:
    con = lake(home)
    try:
        return curated_hashes(con)
    finally:
        con.close()


def test_replay_from_the_raw_zone_gives_identical_curated_tables(demo_home, monkeypatch, tmp_path):
    before = _curated_hashes(demo_home)
    assert {
        "observations",
        "activity_baselines",
        "imagery_coverage_daily",
        "news_attention_daily",
        "crossing_indicators_weekly",
        "evidence",
        "alerts",
        "facilities",
    } <= set(before)
    monkeypatch.setenv("BORDERWATCH_HOME", str(demo_home))
    # The source store vanishes: a replay must not need it.
    monkeypatch.setenv("BORDERWATCH_SOURCE", str(tmp_path / "gone"))
    assert cli.main(["replay", "--start", "2023-09-25", "--end", "2023-10-20"]) == 0
    assert _curated_hashes(demo_home) == before


def test_report_is_written_and_offline(demo_home):
    page = (demo_home / "report" / "index.html").read_text(encoding="utf-8")
    assert "Tumangang rail facility" in page
    assert '<script src="http' not in page and "cdn.jsdelivr" not in page


@pytest.mark.browser
def test_demo_report_shows_the_spike_in_headless_chromium(demo_home, tmp_path):
    import subprocess

    from tests.indicators.test_indicators_report import CHROMIUM_FLAGS, _chromium, _symbols

    chromium = _chromium()
    url = (demo_home / "report" / "index.html").resolve().as_uri()
    dump = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert "Uncaught" not in dump.stderr
    dom = dump.stdout
    # Khasan and Tumangang have railcar histories; Tumangang (the second) has one anomaly mark
    # in its history chart and one in the zoom around 2023-10-05.
    assert _symbols(dom, "counts_1_layer_4_marks") == 1
    assert _symbols(dom, "counts_1_0_layer_4_marks") == 1
    assert _symbols(dom, "counts_0_layer_4_marks") == 0
    assert "73 railcars on 2023-10-05, 3.7× the five-year maximum of 20" in dom
