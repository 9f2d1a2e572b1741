"""Daily partitions, the load window they give an asset, and how a backfill splits into runs."""

from __future__ import annotations

import os
import warnings

import dagster as dg

# Single-run backfills are what make a five-year range one run; Dagster still labels the
# parameter beta and would say so on every load of the definitions.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` .* is currently in beta")

PARTITIONS_START = "2015-01-01"
# Today is a partition too (end_offset=1): a GDELT slot or a drop of today loads today, and a
# later run of the same day replaces it with what has arrived since.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)

BACKFILL_DAYS_ENV = "BORDERWATCH_BACKFILL_DAYS_PER_RUN"


def backfill_policy_from_env() -> dg.BackfillPolicy:
    """How a backfill the daemon runs (launched in the UI, or with `launchPartitionBackfill`)
    splits its days into runs: the whole range in one run (the default: one run costs seconds of
    start-up, and a single writer is what the embedded lake wants), or, with
    BORDERWATCH_BACKFILL_DAYS_PER_RUN=N, runs of at most N days that the run queue starts side
    by side (a lake on PostgreSQL and S3 takes several writers; see orchestration/deploy/).

    Runs with a day range of their own (the CLI, the schedules, the sensors) are one run
    whatever this says. Read when the definitions load."""
    raw = os.environ.get(BACKFILL_DAYS_ENV, "").strip()
    if not raw:
        return dg.BackfillPolicy.single_run()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(
            f"{BACKFILL_DAYS_ENV}={raw!r}: expected a whole number of days, at least 1"
        )
    return dg.BackfillPolicy.multi_run(int(raw))


backfill_policy = backfill_policy_from_env()
