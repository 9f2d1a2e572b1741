"""The Dagster definitions: they load and validate, and the graph has what the README promises."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs
from orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG, nightly_schedule, weekly_schedule

REPO = Path(__file__).resolve().parents[1]

EXPECTED_ASSETS = {
    "facilities",
    "stg_reported__observations",
    "stg_imagery__scenes",
    "stg_news__articles",
    "observations",
    "imagery_coverage_daily",
    "news_attention_daily",
    "activity_baselines",
    "crossing_indicators_weekly",
    "evidence",
    "alerts",
    "alert_notifications",
    "crossing_report",
}
PARTITIONED = {"stg_reported__observations", "stg_imagery__scenes", "stg_news__articles"}


def test_graph_snapshot():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        (k, "expectations")
        for k in EXPECTED_ASSETS
        - {
            "alert_notifications",
            "crossing_report",
            "evidence",
            "alerts",
            "crossing_indicators_weekly",
        }
    } <= checks
    for key in EXPECTED_ASSETS:
        node = graph.get(dg.AssetKey(key))
        assert node.code_version, key
        assert (node.partitions_def is not None) == (key in PARTITIONED), key
        if key in PARTITIONED:
            assert node.backfill_policy == dg.BackfillPolicy.single_run()
            assert node.partitions_def.start.date().isoformat() == "2015-01-01"
        if key != "crossing_report":  # the report only reads the warehouse
            assert node.pools == {"duckdb"}, key
    assert [j.name for j in defs.jobs] == ["borderwatch_all"]
    assert {s.name for s in defs.schedules} == {"nightly_trailing_window", "weekly_trailing_year"}


def test_blocking_checks():
    graph = defs.resolve_asset_graph()
    for key in graph.asset_check_keys:
        assert graph.get_check_spec(key).blocking, key


def test_dagster_validates_the_workspace(tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    (tmp_path / "dagster.yaml").write_text((REPO / "orchestration" / "dagster.yaml").read_text())
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
        dg.build_schedule_context(
            scheduled_execution_time=datetime(2015, 3, 2, 4, tzinfo=UTC)
        )
    )
    assert early.tags[RANGE_START_TAG] == "2015-01-01"


def test_shipped_instance_config():
    text = (REPO / "orchestration" / "dagster.yaml").read_text()
    assert "enabled: false" in text and "default_limit: 1" in text
