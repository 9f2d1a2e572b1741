"""The Dagster definitions: they load and validate, and the graph has what the README promises."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs
from orchestration.kit.jobs import RANGE_END_TAG, RANGE_START_TAG, nightly_schedule, weekly_schedule

REPO = Path(__file__).resolve().parents[1]

STAGING = {
    "stg_reported__observations",
    "stg_imagery__scenes",
    "stg_imagery__scene_facilities",
    "stg_news__articles",
    "stg_news__article_facilities",
    "stg_news__events",
    "stg_news__mentions",
    "gdelt_slot_gaps",
}
CURATED = {
    "facilities",
    "observations",
    "imagery_coverage_daily",
    "news_attention_daily",
    "activity_baselines",
    "crossing_indicators_weekly",
    "evidence",
    "alerts",
}
BOOKKEEPING = {
    "quarantine/stg_reported__observations",
    "quarantine/stg_imagery__scenes",
    "quarantine/stg_news__articles",
    "quarantine/stg_news__events",
    "quarantine/stg_news__mentions",
    "staging/load_audit",
    "raw/manifest",
}
NOT_TABLES = {"crossing_report", "lake_maintenance"}  # a file, and a maintenance task
EXPECTED_ASSETS = STAGING | CURATED | BOOKKEEPING | NOT_TABLES | {"alert_notifications"}
SOURCE_MODULES = ["reference", "reported", "imagery", "news", "indicators"]


def test_graph_snapshot():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    # Every table the warehouse holds is an asset with its suite; the report is a file.
    assert checks == {(k, "expectations") for k in EXPECTED_ASSETS - NOT_TABLES}
    for key in EXPECTED_ASSETS:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.code_version, key
        assert (node.partitions_def is not None) == (key in STAGING), key
        if key in STAGING:
            assert node.backfill_policy == dg.BackfillPolicy.single_run()
            assert node.partitions_def.start.date().isoformat() == "2015-01-01"
        if key == "alert_notifications":  # posting alerts: one at a time, whatever the lake
            assert node.pools == {"alert_delivery"}, key
        elif key != "crossing_report":  # the report only reads the warehouse
            assert node.pools == {"duckdb"}, key
    assert sorted(j.name for j in defs.jobs) == ["borderwatch_all", "lake_maintenance_job"]
    assert {s.name for s in defs.schedules} == {
        "nightly_trailing_window",
        "weekly_trailing_year",
        "weekly_lake_maintenance",
    }
    assert graph.get(dg.AssetKey("lake_maintenance")).group_name == "maintenance"


def test_each_news_table_is_its_own_asset_written_by_one_step():
    graph = defs.resolve_asset_graph()
    news = {k for k in STAGING if k.startswith(("stg_news__", "gdelt_"))}
    steps = {graph.get(dg.AssetKey(k)).assets_def.node_def.name for k in news}
    assert steps == {"news_articles"}
    groups = {k: graph.get(dg.AssetKey.from_user_string(k)).group_name for k in EXPECTED_ASSETS}
    assert {groups[k] for k in news} == {"news"}
    assert {groups[k] for k in CURATED - {"facilities"}} == {"curated"}
    assert groups["alert_notifications"] == groups["crossing_report"] == "delivery"
    assert {groups[k] for k in BOOKKEEPING} == {"bookkeeping"}


def test_each_source_module_has_its_own_definitions():
    import importlib

    seen = set()
    for name in SOURCE_MODULES:
        module = importlib.import_module(f"assets.{name}.assets")
        assert isinstance(module.defs, dg.Definitions), name
        keys = {
            k.to_user_string()
            for k in module.defs.resolve_asset_graph().get_all_asset_keys()
            if module.defs.resolve_asset_graph().get(k).is_materializable
        }
        assert keys and not keys & seen, name
        seen |= keys
    # The kit's own steps: bookkeeping checks, lake maintenance.
    assert seen == EXPECTED_ASSETS - BOOKKEEPING - {"lake_maintenance"}


def test_code_version_is_the_hash_of_the_files_behind_the_asset(tmp_path):
    from orchestration.kit.versions import content_version

    sql, suite = tmp_path / "t.sql", tmp_path / "t.expectations.json"
    sql.write_text("select 1")
    suite.write_text("{}")
    before = content_version(sql, suite)
    assert content_version(sql, suite) == before
    sql.write_text("select 2")
    assert content_version(sql, suite) != before
    graph = defs.resolve_asset_graph()
    alerts = graph.get(dg.AssetKey("alerts")).code_version
    repo_sql = REPO / "sql" / "curated"
    assert alerts == content_version(repo_sql / "alerts.sql", repo_sql / "alerts.expectations.json")


def test_a_table_without_a_suite_stops_the_definitions_loading(monkeypatch, tmp_path):
    import pytest

    from orchestration.kit import checks
    from orchestration.kit.curated import CuratedTable, curated_asset

    monkeypatch.setattr(checks, "SQL_DIR", tmp_path)
    with pytest.raises(
        checks.SuiteMissingError, match="curated.alerts has no Great Expectations suite"
    ):
        curated_asset(CuratedTable(key="alerts", deps=(), description="x"))


def test_blocking_checks():
    graph = defs.resolve_asset_graph()
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking, key


def test_dagster_validates_the_workspace(tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    from orchestration.kit.instance import instance_yaml

    (tmp_path / "dagster.yaml").write_text(instance_yaml(tmp_path))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nightly_schedule_asks_for_the_trailing_month_in_one_run(monkeypatch):
    monkeypatch.delenv("BORDERWATCH_NIGHTLY_DAYS", raising=False)
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2023, 10, 7, 3, tzinfo=UTC)
    )
    request = nightly_schedule(context)
    assert request.tags[RANGE_START_TAG] == "2023-09-07"  # 30 days, inclusive
    assert request.tags[RANGE_END_TAG] == "2023-10-06"
    monkeypatch.setenv("BORDERWATCH_NIGHTLY_DAYS", "3")
    request = nightly_schedule(context)
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2023-10-04",
        "2023-10-06",
    )


def test_weekly_schedule_covers_a_year_clipped_to_the_first_partition():
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2023, 10, 9, 4, tzinfo=UTC)
    )
    request = weekly_schedule(context)
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2022-10-09",
        "2023-10-08",
    )
    early = weekly_schedule(
        dg.build_schedule_context(scheduled_execution_time=datetime(2015, 3, 2, 4, tzinfo=UTC))
    )
    assert early.tags[RANGE_START_TAG] == "2015-01-01"


def test_shipped_instance_config():
    from orchestration.kit.instance import instance_yaml

    text = instance_yaml(Path("/srv/borderwatch/dagster"))
    assert "enabled: false" in text and "default_limit: 1" in text
    assert 'base_dir: "/srv/borderwatch/dagster/history/runs"' in text
    assert "BatchingSqliteEventLogStorage" in text


def test_no_check_is_partitioned():
    """A suite validates a run's whole write in one evaluation, stored with no partition; the
    shipped event log storage (orchestration/kit/eventlog.py) plans checks on that footing."""
    graph = defs.resolve_asset_graph()
    job_graph = defs.resolve_job_def("borderwatch_all").asset_layer.asset_graph
    for key in graph.asset_check_keys:
        assert graph.get(key).partitions_def is None, key
    for key in job_graph.asset_check_keys:
        assert job_graph.get(key).partitions_def is None, key


def test_runs_execute_their_steps_in_one_process():
    """Fixed costs (imports, definitions) are paid once per run, not once per step."""
    for name in ("borderwatch_all", "lake_maintenance_job"):
        assert defs.resolve_job_def(name).executor_def is dg.in_process_executor, name
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert implicit.executor_def is dg.in_process_executor
