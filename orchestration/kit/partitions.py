"""Daily partitions and the load window they give an asset."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import dagster as dg

# Single-run backfills are what make a five-year range one run; Dagster still labels the
# parameter beta and would say so on every load of the definitions.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` .* is currently in beta")

PARTITIONS_START = "2015-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START)
single_run = dg.BackfillPolicy.single_run()


def load_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's half-open date window [start, end): one day, or a whole range in one run."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def window_days(start: date, end: date) -> int:
    return (end - start) // timedelta(days=1)
