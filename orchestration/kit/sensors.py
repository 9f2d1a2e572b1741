"""Sensors every source shares: new or changed files under a source prefix start one run for the
days they touch, and a failed run is told to the alert webhook.

Drop sensors (`drop_sensor`, one per source prefix, instantiated in each source's assets.py with
that source's pure `days_touched(key, data) -> set[date]` hook):

- list the prefix on the source store (a folder or s3://bucket/prefix) every
  BORDERWATCH_DROP_POLL_SECONDS (default 60);
- the cursor is JSON {key: signature}: the S3 ETag, or a folder file's size and mtime, of every
  file seen; a key whose signature differs from the cursor's is new or changed;
- the hook reads each new or changed file and names the days it holds rows for; those days,
  clipped to the daily partitions, become one range run (the schedules' range tags) per
  contiguous range, or one run over the whole span when there would be more than MAX_RUNS,
  because a single-run range is cheaper than many runs and re-running a day changes nothing;
- each run selects the source's staging step and everything downstream of it;
- the first evaluation (empty cursor) records what is there and requests nothing, so switching a
  sensor on never starts a flood of runs for files already loaded; with
  BORDERWATCH_DROP_BACKFILL=1 it treats every file as new instead;
- a file that disappears is forgotten (no run: the nightly schedule re-reads its days); a
  changed file triggers the days it holds now, not the days an earlier version held.

The run-failure sensor (`run_failure_notifier`) posts one line per failed run, naming the failed
step and the innermost error, to BORDERWATCH_ALERT_WEBHOOK; the message itself is composed and
sent by a callable the definitions pass in, as the kit never imports a source.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from assets.core.sources import SourceError, SourceObject, open_source_store
from orchestration.kit.jobs import RANGE_END_TAG, RANGE_START_TAG, all_assets_job
from orchestration.kit.partitions import BACKFILL_DAYS_ENV, PARTITIONS_START, daily_partitions
from orchestration.kit.resource import Borderwatch

GDELT_POLL_ENV = "BORDERWATCH_GDELT_POLL_SECONDS"
DEFAULT_GDELT_POLL_SECONDS = 180  # GDELT publishes every 15 minutes: a slot waits 3 at most
DROP_POLL_ENV = "BORDERWATCH_DROP_POLL_SECONDS"
DROP_BACKFILL_ENV = "BORDERWATCH_DROP_BACKFILL"
DEFAULT_DROP_POLL_SECONDS = 60
MAX_RUNS = 3  # contiguous ranges requested as separate runs before they become one span
SENSOR_TAG = "borderwatch/sensor"

# Sensor settings are read when the definitions load (Dagster fixes a sensor's interval then),
# and so is how a daemon's backfill splits into runs (orchestration/kit/partitions.py);
# (variable, default, meaning) for `borderwatch config` and the README.
SENSOR_SETTINGS = [
    (
        GDELT_POLL_ENV,
        str(DEFAULT_GDELT_POLL_SECONDS),
        "seconds between two looks of gdelt_lastupdate at lastupdate.txt",
    ),
    (DROP_POLL_ENV, str(DEFAULT_DROP_POLL_SECONDS), "seconds between two looks of a drop sensor"),
    (
        DROP_BACKFILL_ENV,
        "",
        "1: a drop sensor's first evaluation requests runs for every file already there "
        "(default: it only records them)",
    ),
    (
        BACKFILL_DAYS_ENV,
        "",
        "days in each run of a backfill the daemon runs (default: the whole range in one run)",
    ),
]


def env_seconds(name: str, default: int) -> int:
    """A positive whole number of seconds from the environment, or `default`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r}: expected a whole number of seconds, at least 1")
    return int(raw)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


# ---------------------------------------------------------------------------------------------
# Days, ranges and run requests


def partition_days() -> tuple[date, date]:
    """The first and last day that is a daily partition now (the last complete day, unless the
    partitions definition has an end offset)."""
    last = daily_partitions.get_last_partition_key()
    first = date.fromisoformat(PARTITIONS_START)
    return first, date.fromisoformat(last) if last else first - timedelta(days=1)


def day_ranges(days: Iterable[date], max_runs: int = MAX_RUNS) -> list[tuple[date, date]]:
    """Inclusive (start, end) ranges of consecutive days; one span from the first to the last
    day when there would be more than `max_runs` of them."""
    ordered = sorted(set(days))
    if not ordered:
        return []
    ranges: list[tuple[date, date]] = []
    start = prev = ordered[0]
    for day in ordered[1:]:
        if day != prev + timedelta(days=1):
            ranges.append((start, prev))
            start = day
        prev = day
    ranges.append((start, prev))
    if len(ranges) > max_runs:
        return [(ordered[0], ordered[-1])]
    return ranges


def selected_keys(
    context: dg.SensorEvaluationContext, selection: dg.AssetSelection
) -> list[dg.AssetKey]:
    """The asset keys `selection` names in the definitions the sensor was loaded with."""
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError(
            "this sensor needs the definitions to resolve its asset selection: evaluate it with "
            "build_sensor_context(definitions=...)"
        )
    return sorted(selection.resolve(context.repository_def.asset_graph), key=lambda k: k.path)


def range_run_request(
    start: date,
    end: date,
    run_key: str,
    asset_keys: Sequence[dg.AssetKey],
    tags: dict[str, str] | None = None,
) -> dg.RunRequest:
    """One run over the inclusive day range, with the schedules' range tags (a single-run
    backfill of the range), for `asset_keys` only."""
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=list(asset_keys),
        tags={RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat(), **(tags or {})},
    )


# ---------------------------------------------------------------------------------------------
# Drop sensors


def file_signature(obj: SourceObject) -> str:
    """What says a file changed: its ETag on S3, else its size and modification time."""
    if obj.etag:
        return f"etag:{obj.etag}"
    try:
        mtime = os.stat(obj.uri, follow_symlinks=False).st_mtime_ns
    except OSError:
        return f"size:{obj.size}"
    return f"size:{obj.size}:mtime:{mtime}"


def _load_cursor(cursor: str | None) -> dict[str, str] | None:
    if not cursor:
        return None
    try:
        seen = json.loads(cursor)
    except json.JSONDecodeError:
        return None  # a cursor from elsewhere (typed in the UI): start again, quietly
    return seen if isinstance(seen, dict) else None


def drop_sensor(
    *,
    name: str,
    prefix: str,
    days_touched: Callable[[str, bytes], set[date]],
    selection: dg.AssetSelection,
    description: str,
    claims: Callable[[str], bool] = lambda key: True,
    reads_data: bool = True,
    inactive: Callable[[Borderwatch], str | None] = lambda borderwatch: None,
) -> dg.SensorDefinition:
    """A sensor on `prefix` of the source store (BORDERWATCH_SOURCE) that requests runs of
    `selection` for the days new or changed files touch (rules in the module docstring).

    `claims(key)`: the files the source reads (others are ignored); `reads_data=False` passes
    b"" to the hook, for files whose name alone gives the day (GDELT slots); `inactive(resource)`
    returns why the sensor has nothing to watch in this configuration, or None.
    """
    prefix = prefix.rstrip("/") + "/"

    @dg.sensor(
        name=name,
        job=all_assets_job,
        minimum_interval_seconds=env_seconds(DROP_POLL_ENV, DEFAULT_DROP_POLL_SECONDS),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, borderwatch: Borderwatch):
        why_not = inactive(borderwatch)
        if why_not:
            return dg.SkipReason(why_not)
        store = open_source_store(borderwatch.source)
        where = f"{store.uri.rstrip('/')}/{prefix}"
        seen = _load_cursor(context.cursor)
        first = seen is None
        backfill = first and _env_flag(DROP_BACKFILL_ENV)
        seen = seen or {}
        listed = {o.key: o for o in store.list(prefix) if not o.skip_reason and claims(o.key)}
        current = {key: file_signature(obj) for key, obj in listed.items()}
        if first and not backfill:
            context.log.info(
                f"first look at {where}: recorded {len(current)} file(s), requested nothing "
                f"(set {DROP_BACKFILL_ENV}=1 to load what is already there)"
            )
            return dg.SensorResult(
                skip_reason=f"first look: recorded {len(current)} file(s) under {where}",
                cursor=json.dumps(current, sort_keys=True),
            )
        changed = sorted(key for key, sig in current.items() if seen.get(key) != sig)
        cursor = {key: sig for key, sig in seen.items() if key in current}  # forget deletions
        days: set[date] = set()
        for key in changed:
            try:
                data = store.read(key) if reads_data else b""
            except SourceError as exc:
                # Not recorded as seen: the next evaluation tries the file again.
                context.log.warning(f"{exc}; will try again")
                continue
            touched = days_touched(key, data)
            context.log.info(
                f"{key}: new or changed, touches {len(touched)} day(s)"
                + (f" ({min(touched)}..{max(touched)})" if touched else "")
            )
            days |= touched
            cursor[key] = current[key]
        first_day, last_day = partition_days()
        outside = {d for d in days if not first_day <= d <= last_day}
        if outside:
            context.log.warning(
                f"{len(outside)} day(s) outside the partitions {first_day}..{last_day} "
                f"({min(outside)}..{max(outside)}): not requested"
            )
        ranges = day_ranges(days - outside)
        new_cursor = json.dumps(cursor, sort_keys=True)
        if not ranges:
            reason = (
                f"{len(changed)} new or changed file(s) under {where}, no day to load"
                if changed
                else f"nothing new under {where}"
            )
            return dg.SensorResult(
                skip_reason=reason,
                cursor=new_cursor if new_cursor != context.cursor else None,
            )
        keys = selected_keys(context, selection)
        # The run key names the change, so the same files changing again run again.
        change = hashlib.sha256(
            "\n".join(f"{k}={current[k]}" for k in changed).encode()
        ).hexdigest()[:16]
        requests = [
            range_run_request(
                start, end, f"{name}:{start}..{end}:{change}", keys, tags={SENSOR_TAG: name}
            )
            for start, end in ranges
        ]
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)

    return _sensor


# ---------------------------------------------------------------------------------------------
# Run failures


@dataclass(frozen=True)
class FailedRun:
    """What a run-failure message says: the job, the run, the failed step and why."""

    job_name: str
    run_id: str
    step_key: str | None
    root_cause: str


def root_cause(error) -> str:
    """The innermost error of a failed step (a SerializableErrorInfo chain): our own sentence,
    not Dagster's wrapper (the CLI says the same thing the same way)."""
    # The innermost error raised by borderwatch's own code (its message names the file or URL
    # and wraps the library error beneath, `raise ... from exc`); failing that, the innermost.
    chain = []
    while error is not None:
        chain.append(error)
        error = getattr(error, "cause", None)
    if not chain:
        return ""
    ours = [e for e in chain if (e.message or "").startswith(("assets.", "orchestration."))]
    error = ours[-1] if ours else chain[-1]
    if not error.message:
        return error.cls_name or ""
    # Dagster prefixes the exception's module and class: the sentence is what follows.
    return re.sub(r"^[\w.]+(Error|Exception): ", "", error.message.strip().splitlines()[0])


def _step_failure(data) -> str:
    """A Failure's own description (e.g. every failed expectation of a blocked write), else
    the innermost error's sentence."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description
    return root_cause(getattr(data, "error", None))


def failed_run(context: dg.RunFailureSensorContext) -> FailedRun:
    """The failed run in a FailedRun: its first failed step, or the run's own failure when no
    step failed (it could not start)."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    if steps:
        event = steps[0]
        cause = _step_failure(event.event_specific_data)
        if len(steps) > 1:
            cause += f" (and {len(steps) - 1} more failed step(s))"
        return FailedRun(run.job_name, run.run_id, event.step_key, cause)
    data = context.failure_event.event_specific_data
    cause = root_cause(getattr(data, "error", None)) or context.failure_event.message or ""
    return FailedRun(run.job_name, run.run_id, None, cause)


def run_failure_notifier(
    notify: Callable[[Borderwatch, FailedRun], None], *, running: bool
) -> dg.SensorDefinition:
    """A run-failure sensor that hands each failed run to `notify(resource, failed_run)` when
    the resource has an alert webhook; `running`: on by default (when the webhook is set)."""

    @dg.run_failure_sensor(
        name="run_failure_webhook",
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Posts one line per failed run (the failed step and the innermost error) to "
        "BORDERWATCH_ALERT_WEBHOOK, in BORDERWATCH_ALERT_FORMAT.",
    )
    def run_failure_webhook(context: dg.RunFailureSensorContext, borderwatch: Borderwatch):
        if not borderwatch.alert_webhook_url:
            return dg.SkipReason("BORDERWATCH_ALERT_WEBHOOK is not set: nowhere to post")
        failed = failed_run(context)
        notify(borderwatch, failed)
        context.log.info(f"run {failed.run_id} failure posted to the alert webhook")
        return None

    return run_failure_webhook
