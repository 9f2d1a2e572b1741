"""Jobs and the late-report schedules: re-materialise trailing windows in one run each."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from orchestration.kit.partitions import PARTITIONS_START
from orchestration.kit.resource import Borderwatch

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

all_assets_job = dg.define_asset_job(
    "borderwatch_all",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("maintenance"),
    description="Every asset but lake maintenance: sources into staging for the chosen day range "
    "(one run), then the curated indicator tables rebuilt in full.",
)


def trailing_range(scheduled_for: date, days: int) -> tuple[str, str]:
    """The `days` complete days before `scheduled_for`, clipped to the first partition."""
    end = scheduled_for - timedelta(days=1)
    start = max(end - timedelta(days=days - 1), date.fromisoformat(PARTITIONS_START))
    return start.isoformat(), end.isoformat()


def range_run_request(start: str, end: str, key: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=key,
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
    )


def trailing_window_schedule(name: str, cron: str, setting: str, description: str):
    """A schedule that re-materialises the trailing `setting` days in one run."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        job=all_assets_job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time.date()
        start, end = trailing_range(when, int(getattr(Borderwatch.from_env(), setting)))
        return range_run_request(start, end, f"{name}-{when.isoformat()}")

    return _schedule


nightly_schedule = trailing_window_schedule(
    "nightly_trailing_window",
    "0 3 * * *",
    "nightly_days",
    "Nightly: re-materialise the last BORDERWATCH_NIGHTLY_DAYS (default 30) days in one run, "
    "because reports arrive days to weeks after the imagery date.",
)
weekly_schedule = trailing_window_schedule(
    "weekly_trailing_year",
    "0 4 * * 1",
    "weekly_days",
    "Weekly (Monday): re-materialise the last BORDERWATCH_WEEKLY_DAYS (default 365) days in "
    "one run.",
)
