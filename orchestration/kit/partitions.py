"""Daily partitions and the load window they give an asset."""

from __future__ import annotations

import warnings

import dagster as dg

# Single-run backfills are what make a five-year range one run; Dagster still labels the
# parameter beta and would say so on every load of the definitions.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` .* is currently in beta")

PARTITIONS_START = "2015-01-01"
# Today is a partition too (end_offset=1): a GDELT slot or a drop of today loads today, and a
# later run of the same day replaces it with what has arrived since.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
single_run = dg.BackfillPolicy.single_run()
