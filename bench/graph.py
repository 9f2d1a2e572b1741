"""The whole Dagster graph over day ranges, through the CLI, with Dagster's own share broken out.

Each case runs `uv run --no-sync borderwatch materialize --start S --end E` (or `borderwatch
demo`) in a fresh BORDERWATCH_HOME, in a subprocess (wall, CPU, peak RSS from wait4). Then the
run's event log is read back from the instance the command left behind (`inspect`, in another
process) and split into:

- start-up: process start -> the run's first stored event (imports, definitions, plan);
- planning: first event -> RUN_START (run record, planned events, executor set-up);
- execution: RUN_START -> RUN_SUCCESS/RUN_FAILURE; exit: that -> process end (demo printout);
- materialisation bookkeeping: for each step that materialised, from the last event before its
  first ASSET_MATERIALIZATION to the first event after its last one: Dagster building and
  storing the per-partition events (the user code has returned by then). The sum of gaps between
  consecutive ASSET_MATERIALIZATION events of a step is given beside it.

Events are counted by type; the instance folder's size is measured after the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from bench.common import BENCH_DIR, REPO, Row, median, python_cmd, run_measured, write_result

CASES = {
    "1 day": ("2023-10-05", "2023-10-05"),
    "30 days": ("2023-09-06", "2023-10-05"),
    "1 year": ("2022-10-06", "2023-10-05"),
    "demo": None,  # borderwatch demo: 2018-01-01 .. 2024-06-30
}
DEMO_CACHE = BENCH_DIR / "out" / "demo-home"
RUN_ROOT = BENCH_DIR / "out" / "graph"


def _clean_env(home: Path) -> dict:
    """The caller's environment without any BORDERWATCH_* or DAGSTER_HOME, then our home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BORDERWATCH_") and k not in {"DAGSTER_HOME", "BENCH_RESULT"}
    }
    env["BORDERWATCH_HOME"] = str(home)
    return env


def checkout() -> Path:
    """The checkout whose CLI is measured: this one, or $BENCH_GRAPH_CHECKOUT (e.g. an exported
    older commit, run with this venv's interpreter) to compare or to work around a broken tree."""
    return Path(os.environ.get("BENCH_GRAPH_CHECKOUT") or REPO)


def command(case: str) -> list[str]:
    if os.environ.get("BENCH_GRAPH_CHECKOUT"):
        base = [sys.executable, "-m", "orchestration.cli"]
    else:
        base = ["uv", "run", "--no-sync", "borderwatch"]
    if CASES[case] is None:
        return [*base, "demo"]
    start, end = CASES[case]
    return [*base, "materialize", "--start", start, "--end", end]


def _size_mb(path: Path) -> float:
    return (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        if path.exists()
        else 0.0
    )


def find_dagster_home(home: Path) -> Path | None:
    """The instance folder under a borderwatch home (the folder holding history/runs.db)."""
    for runs_db in sorted(home.rglob("history/runs.db")):
        return runs_db.parent.parent
    return None


def inspect(home: Path, process_start: float, process_end: float) -> dict:
    """Read the newest run back from the instance under `home` and split its time."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    dagster_home = find_dagster_home(home)
    if dagster_home is None:
        return {"error": f"no Dagster instance under {home}"}
    # As the CLI ran it: storages configured without a base_dir resolve it from DAGSTER_HOME.
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        records = instance.get_run_records(limit=1)
        if not records:
            return {"error": "the instance holds no run"}
        record = records[0]
        run_id = record.dagster_run.run_id
        logs = instance.all_logs(run_id)
    kinds = [e.dagster_event_type.value if e.dagster_event_type else "LOG" for e in logs]
    counts: dict[str, int] = {}
    for k in kinds:
        counts[k] = counts.get(k, 0) + 1
    first = min(logs[0].timestamp, record.create_timestamp.timestamp())
    run_start = next(
        (e.timestamp for e, k in zip(logs, kinds, strict=True) if k == "PIPELINE_START"), first
    )
    run_end = next(
        (
            e.timestamp
            for e, k in zip(logs, kinds, strict=True)
            if k in ("PIPELINE_SUCCESS", "PIPELINE_FAILURE")
        ),
        logs[-1].timestamp,
    )
    # Per step: the span around its materialisation events, and the gaps between them.
    by_step: dict[str, list[int]] = {}
    for i, (e, k) in enumerate(zip(logs, kinds, strict=True)):
        if k == "ASSET_MATERIALIZATION":
            by_step.setdefault(e.step_key or "", []).append(i)
    span = gaps = 0.0
    for idx in by_step.values():
        before = logs[idx[0] - 1].timestamp if idx[0] > 0 else logs[idx[0]].timestamp
        after = logs[idx[-1] + 1].timestamp if idx[-1] + 1 < len(logs) else logs[idx[-1]].timestamp
        span += after - before
        gaps += sum(logs[b].timestamp - logs[a].timestamp for a, b in pairwise(idx))
    mats = [i for i, k in enumerate(kinds) if k == "ASSET_MATERIALIZATION"]
    warehouse = [
        p
        for p in home.rglob("*")
        if p.is_file() and (p.suffix in {".duckdb", ".parquet"} or p.name == "catalog.sqlite")
    ]
    return {
        "run_id": run_id,
        "status": record.dagster_run.status.value,
        "events": len(logs),
        "event_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "startup_s": first - process_start,
        "planning_s": run_start - first,
        "execution_s": run_end - run_start,
        "exit_s": process_end - run_end,
        "materialization_span_s": span,
        "materialization_gaps_s": gaps,
        "materializations": len(mats),
        "instance_mb": _size_mb(dagster_home),
        "warehouse_mb": sum(p.stat().st_size for p in warehouse) / 1e6,
    }


def run_case(case: str, home: Path, timeout: float = 3600) -> dict:
    """One measured CLI run in a fresh home; then its event log, read in another process."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    started = time.time()
    m = run_measured(
        command(case), env=_clean_env(home), replace_env=True, timeout=timeout, cwd=checkout()
    )
    ended = started + m.wall_s
    if m.returncode != 0:
        lines = [ln for ln in (m.stderr + m.stdout).splitlines() if ln.strip()]
        return {"error": (lines[-1] if lines else f"exit status {m.returncode}")[:300]}
    info = run_measured(
        python_cmd("bench.graph", "inspect", str(home), repr(started), repr(ended)),
        env=_clean_env(home),
        replace_env=True,
    )
    result = dict(info.result) if info.returncode == 0 else {"inspect_error": info.stderr[-300:]}
    result.update(wall_s=m.wall_s, cpu_s=m.cpu_s, peak_rss_mb=m.peak_rss_mb)
    return result


def cache_demo_home(home: Path) -> None:
    """Keep a demo's home for the queries section (a five-year warehouse)."""
    shutil.rmtree(DEMO_CACHE, ignore_errors=True)
    shutil.copytree(home, DEMO_CACHE, ignore=shutil.ignore_patterns("raw"))
    (DEMO_CACHE / "built_at").write_text(datetime.now(UTC).isoformat())


def run_section(cases: list[str], runs: dict[str, int], log=print) -> list[Row]:
    """Cases interleaved in rounds; a broken CLI makes one 'unavailable' row, not a crash."""
    samples: dict[str, list[dict]] = {c: [] for c in cases}
    rounds = max(runs[c] for c in cases)
    for r in range(rounds):
        for case in cases:
            if r >= runs[case]:
                continue
            home = RUN_ROOT / f"{case.replace(' ', '-')}"
            log(f"  graph: {case} (run {r + 1}/{runs[case]})")
            result = run_case(case, home)
            if "error" in result:
                reason = result["error"]
                return [Row("graph", "all cases", detail=f"unavailable: {reason}")]
            samples[case].append(result)
            if case == "demo":
                cache_demo_home(home)
            shutil.rmtree(home, ignore_errors=True)
    rows = []
    for case in cases:
        rs = samples[case]

        def med(key, rs=rs):
            return median(x.get(key) for x in rs)

        mats = rs[0].get("materializations", 0)
        span = med("materialization_span_s") or 0.0
        counts = rs[0].get("event_counts", {})
        top = ", ".join(f"{k} {v:,}" for k, v in list(counts.items())[:4])
        detail = (
            f"start-up {med('startup_s'):.1f} s, planning {med('planning_s'):.1f} s, "
            f"execution {med('execution_s'):.1f} s, exit {med('exit_s'):.1f} s; "
            f"{mats:,} materialisations: bookkeeping {span:.1f} s "
            f"({span / med('wall_s'):.0%} of wall; gaps {med('materialization_gaps_s'):.1f} s); "
            f"{rs[0].get('events', 0):,} events ({top}); instance {med('instance_mb'):.0f} MB, "
            f"warehouse {med('warehouse_mb'):.0f} MB; {len(rs)} run(s)"
        )
        if os.environ.get("BENCH_GRAPH_CHECKOUT"):
            detail = f"checkout {checkout()}: {detail}"
        dagster = (med("startup_s") or 0) + (med("planning_s") or 0) + span
        rows.append(
            Row(
                "graph",
                case,
                wall_s=med("wall_s"),
                cpu_s=med("cpu_s"),
                peak_rss_mb=med("peak_rss_mb"),
                ratio=f"Dagster share {dagster / med('wall_s'):.0%}",
                detail=detail,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("inspect", help="split a finished run's time (used by the bench)")
    i.add_argument("home", type=Path)
    i.add_argument("process_start", type=float)
    i.add_argument("process_end", type=float)
    c = sub.add_parser("case", help="run one case and print its numbers")
    c.add_argument("case", choices=sorted(CASES))
    args = parser.parse_args(argv)
    if args.cmd == "inspect":
        write_result(inspect(args.home, args.process_start, args.process_end))
    else:
        write_result(run_case(args.case, RUN_ROOT / args.case.replace(" ", "-")))


if __name__ == "__main__":
    sys.exit(main())
