"""Dagster bookkeeping experiment: a single-run backfill of N daily partitions, three event log set-ups.

One synthetic daily-partitioned asset (BackfillPolicy.single_run(), metadata shaped like a
borderwatch staging asset's) is materialised over N partitions in one run with `materialize` on
a DagsterInstance built from a temporary dagster.yaml, in a fresh process per measurement:

- default:        the default SQLite event log storage (run shards + index), events one by one;
- default+batch:  the same storage with DAGSTER_EVENT_BATCH_SIZE set, so Dagster hands the
                  materialisations to store_event_batch (which this storage loops);
- batching+batch: orchestration.kit.eventlog.BatchingSqliteEventLogStorage with the batch size:
                  one transaction per database per batch.

Modes are interleaved in rounds (rotated) and each is measured N times; medians are printed with
ratios to the default measured in the same run. Bookkeeping time is measured from the moment the
asset's body returns to the first event after its last ASSET_MATERIALIZATION: building and
storing the per-partition events, whatever the storage does with them. After each run the child
checks what the UI reads: every partition materialised (get_materialized_partitions and the
partition status cache), the latest materialisation record, materialisation records and indexed
tags, the asset check's execution rows, and event counts by type; the parent checks that all modes agree.

Run: uv run python -m bench.eventlog_backfill [--partitions 2000] [--runs 3] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

from bench.common import machine, machine_line, python_cmd, run_measured, write_result

START = date(2019, 1, 1)
ASSET = "synthetic_daily"
MODES = ("default", "default+batch", "batching+batch")
BATCHING_YAML = """
event_log_storage:
  module: orchestration.kit.eventlog
  class: BatchingSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""
RETURNED_AT: list[float] = []


def _definitions(partitions: int):
    import dagster as dg

    end = START + timedelta(days=partitions)
    daily = dg.DailyPartitionsDefinition(start_date=START.isoformat(), end_date=end.isoformat())
    preview = (
        "| "
        + " | ".join(f"col_{i}" for i in range(12))
        + " |\n"
        + "\n".join(
            "| " + " | ".join(f"value {r}.{i}" for i in range(12)) + " |" for r in range(10)
        )
    )

    # A blocking-style check like every borderwatch staging asset's: its planned event writes
    # one asset_check_executions row per partition.
    @dg.asset(
        name=ASSET,
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("suite", asset=ASSET)],
    )
    def synthetic_daily(context):  # no annotations: dagster resolves them, dg is local here
        window = context.partition_time_window
        metadata = {
            "window_start": window.start.date().isoformat(),
            "window_end_exclusive": window.end.date().isoformat(),
            "files": 96,
            "rows_read": 144000,
            "rows_loaded": 668,
            "rows_filtered": 143332,
            "rows_quarantined": 0,
            "rows_replaced": 0,
            "dagster/row_count": 668,
            "content_sha256": "0" * 64,
            "preview": dg.MetadataValue.md(preview),
        }
        RETURNED_AT.append(time.time())
        return dg.MaterializeResult(
            metadata=metadata, check_results=[dg.AssetCheckResult(check_name="suite", passed=True)]
        )

    return daily, synthetic_daily


def _state(instance, partitions_def, run_id: str, home: Path) -> dict:
    """What the UI reads, reduced to comparable facts."""
    import dagster as dg
    from dagster._core.storage.partition_status_cache import (
        get_and_update_asset_status_cache_value,
    )

    key = dg.AssetKey(ASSET)
    materialized = instance.get_materialized_partitions(key)
    cache = get_and_update_asset_status_cache_value(instance, key, partitions_def)
    cached = cache.deserialize_materialized_partition_subsets(partitions_def) if cache else None
    records, cursor = [], None
    while True:  # storages refuse more than 10,000 records a call
        page = instance.fetch_materializations(key, limit=5000, cursor=cursor)
        records.extend(page.records)
        cursor = page.cursor
        if not page.has_more:
            break
    latest = instance.get_latest_materialization_event(key)
    asset_record = instance.get_asset_records([key])[0]
    last = asset_record.asset_entry.last_materialization_record
    counts: dict[str, int] = {}
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event_type.value if entry.dagster_event_type else "LOG"
        counts[kind] = counts.get(kind, 0) + 1
    index_db = home / "history" / "runs" / "index.db"
    with sqlite3.connect(index_db) as con:
        tags = con.execute("select count(*) from asset_event_tags").fetchone()[0]
        mirrored = con.execute(
            "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchone()[0]
        checks = con.execute(
            "select execution_status, count(*), count(distinct partition) "
            "from asset_check_executions group by 1 order by 1"
        ).fetchall()
    keys = partitions_def.get_partition_keys()
    return {
        "partitions": len(keys),
        "materialized_partitions": len(materialized),
        "all_materialized": set(materialized) == set(keys),
        "status_cache_partitions": len(cached.get_partition_keys()) if cached else None,
        "materialization_records": len(records),
        "latest_partition": latest.dagster_event.partition if latest else None,
        "asset_record_points_at_latest": bool(
            last and records and last.storage_id == max(r.storage_id for r in records)
        ),
        "asset_record_run_id_ok": asset_record.asset_entry.last_run_id == run_id,
        "indexed_tags": tags,
        "index_materializations": mirrored,
        "check_executions": [list(r) for r in checks],
        "event_counts": dict(sorted(counts.items())),
    }


def _bookkeeping_s(instance, run_id: str) -> tuple[float, float]:
    """(body return -> first event after the last materialisation, sum of gaps between
    consecutive materialisation events)."""
    logs = instance.all_logs(run_id)
    kinds = [e.dagster_event_type.value if e.dagster_event_type else "LOG" for e in logs]
    mats = [i for i, k in enumerate(kinds) if k == "ASSET_MATERIALIZATION"]
    if not mats:
        return 0.0, 0.0
    after = logs[mats[-1] + 1].timestamp if mats[-1] + 1 < len(logs) else logs[mats[-1]].timestamp
    gaps = sum(logs[b].timestamp - logs[a].timestamp for a, b in pairwise(mats))
    return after - RETURNED_AT[-1], gaps


def child(mode: str, partitions: int, home: Path) -> dict:
    """One measured backfill in this process (the parent sets DAGSTER_EVENT_BATCH_SIZE)."""
    t_start = time.perf_counter()
    import dagster as dg
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    home.mkdir(parents=True, exist_ok=True)
    yaml = "telemetry:\n  enabled: false\n"
    if mode.startswith("batching"):
        yaml += BATCHING_YAML.format(base_dir=home / "history" / "runs")
    (home / "dagster.yaml").write_text(yaml)
    daily, asset = _definitions(partitions)
    keys = daily.get_partition_keys()
    t_imported = time.perf_counter()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = type(instance.event_log_storage).__name__
        t0 = time.perf_counter()
        result = dg.materialize(
            [asset],
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: keys[0],
                ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            },
            # As the borderwatch CLI runs: the console shows INFO, so per-event DEBUG lines cost nothing.
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        run_wall = time.perf_counter() - t0
        assert result.success
        bookkeeping, gaps = _bookkeeping_s(instance, result.run_id)
        state = _state(instance, daily, result.run_id, home)
    return {
        "mode": mode,
        "storage": storage,
        "batch_size": int(os.environ.get("DAGSTER_EVENT_BATCH_SIZE", "0")),
        "run_wall_s": run_wall,
        "import_s": t_imported - t_start,
        "bookkeeping_s": bookkeeping,
        "materialization_gaps_s": gaps,
        "state": state,
        "instance_mb": sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 1e6,
    }


def run(partitions: int, runs: int, batch_size: int, modes=MODES, log=print) -> list[dict]:
    """Measure every mode `runs` times, interleaved; return one summary per mode."""
    samples: dict[str, list[dict]] = {m: [] for m in modes}
    for round_no in range(runs):
        order = list(modes[round_no % len(modes) :]) + list(modes[: round_no % len(modes)])
        for mode in order:
            with tempfile.TemporaryDirectory(prefix="bench-eventlog-") as tmp:
                env = {
                    "DAGSTER_HOME": tmp,
                    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",  # as borderwatch sets
                    "DAGSTER_EVENT_BATCH_SIZE": str(batch_size) if mode.endswith("batch") else "0",
                }
                m = run_measured(
                    python_cmd(
                        "bench.eventlog_backfill",
                        "--child",
                        mode,
                        "--home",
                        tmp,
                        "--partitions",
                        str(partitions),
                    ),
                    env=env,
                )
            if m.returncode != 0:
                raise RuntimeError(f"{mode} failed:\n{m.stderr[-3000:]}")
            m.result["process_wall_s"] = m.wall_s
            m.result["peak_rss_mb"] = m.peak_rss_mb
            samples[mode].append(m.result)
            log(
                f"  round {round_no + 1} {mode}: run {m.result['run_wall_s']:.1f} s, "
                f"bookkeeping {m.result['bookkeeping_s']:.1f} s"
            )
    summaries = []
    for mode, rs in samples.items():

        def med(k, rs=rs):
            return statistics.median(r[k] for r in rs)

        mats = rs[0]["state"]["event_counts"].get("ASSET_MATERIALIZATION", 0)
        summaries.append(
            {
                "mode": mode,
                "storage": rs[0]["storage"],
                "batch_size": rs[0]["batch_size"],
                "runs": len(rs),
                "run_wall_s": med("run_wall_s"),
                "process_wall_s": med("process_wall_s"),
                "bookkeeping_s": med("bookkeeping_s"),
                "materialization_events": mats,
                "peak_rss_mb": med("peak_rss_mb"),
                "instance_mb": med("instance_mb"),
                "state": rs[0]["state"],
                "state_stable": all(r["state"] == rs[0]["state"] for r in rs),
            }
        )
    return summaries


def render(summaries: list[dict], partitions: int) -> str:
    base = next(s for s in summaries if s["mode"] == "default")
    reference = {k: v for k, v in base["state"].items()}
    lines = [
        "| mode | storage | batch | run wall | bookkeeping | share of run | mat. events/s | run vs default | UI state |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        st = s["state"]
        ok = (
            st["all_materialized"]
            and st["status_cache_partitions"] == partitions
            and st["materialization_records"] == partitions
            and st["asset_record_points_at_latest"]
            and st["asset_record_run_id_ok"]
            and s["state_stable"]
        )
        same = st == reference
        lines.append(
            f"| {s['mode']} | {s['storage']} | {s['batch_size']} | {s['run_wall_s']:.2f} s "
            f"| {s['bookkeeping_s']:.2f} s | {s['bookkeeping_s'] / s['run_wall_s']:.0%} "
            f"| {s['materialization_events'] / s['bookkeeping_s']:,.0f} "
            f"| {s['run_wall_s'] / base['run_wall_s']:.2f}x "
            f"| {'intact' if ok else 'BROKEN'}{'' if same else ' (differs from default)'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        write_result(child(args.child, args.partitions, args.home))
        return
    print(f"machine: {machine_line(machine())}")
    print(
        f"single-run backfill of {args.partitions} daily partitions, {args.runs} run(s) per mode, "
        f"DAGSTER_EVENT_BATCH_SIZE={args.batch_size} where batched",
        flush=True,
    )
    summaries = run(args.partitions, args.runs, args.batch_size)
    print(render(summaries, args.partitions))
    print(json.dumps({s["mode"]: s["state"] for s in summaries}, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
