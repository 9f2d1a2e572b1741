"""Lake maintenance: expire old snapshots, compact small files, delete files nothing references.
A weekly schedule runs it; the retention (how far back --as-of can reach) is a setting."""

from datetime import timedelta

import dagster as dg

from assets.core import warehouse
from orchestration.kit.resource import Borderwatch
from orchestration.kit.writing import POOL

MAINTENANCE_KEY = "lake_maintenance"


@dg.asset(
    key=MAINTENANCE_KEY,
    group_name="maintenance",
    pool=POOL,
    kinds={"duckdb"},
    code_version="lake-maintenance-1",
    description="Expires lake snapshots older than BORDERWATCH_LAKE_RETENTION_DAYS (default 7), "
    "merges small Parquet files and deletes files no snapshot references. Not a table: it "
    "keeps the others small and fast; weekly schedule `weekly_lake_maintenance`.",
)
def lake_maintenance(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    with borderwatch.connect() as con:
        before = warehouse.current_snapshot(con)
        summary = warehouse.maintain(
            con, older_than=timedelta(days=borderwatch.lake_retention_days)
        )
    context.log.info(f"lake maintenance: {summary}")
    return dg.MaterializeResult(
        metadata={
            "retention_days": borderwatch.lake_retention_days,
            "lake_snapshot_before": before,
            **{k: int(v) for k, v in summary.items()},
        }
    )


maintenance_job = dg.define_asset_job(
    "lake_maintenance_job",
    selection=dg.AssetSelection.assets(MAINTENANCE_KEY),
    description="Lake maintenance only.",
)

weekly_maintenance_schedule = dg.ScheduleDefinition(
    name="weekly_lake_maintenance",
    job=maintenance_job,
    cron_schedule="0 5 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays 05:00 UTC: expire old lake snapshots, compact small files.",
)
