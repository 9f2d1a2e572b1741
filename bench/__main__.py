"""`uv run python -m bench [--quick] [--only NAME] [--runs N]`: one table of medians, ratios in-run.

Sections (in this order; --only takes one or a comma-separated list):

- gdelt_day: one GDELT-scale day (96 zipped GKG slots, --rows-per-slot rows each) ingested by
  the project's code, against the floor (isal on all cores + DuckDB's row count) and plain
  pandas, each in its own process, interleaved;
- gdelt_scaling: the project's ingest over 1, 2 and 4 such days (time per day, peak memory);
- graph: the Dagster graph through the CLI over 1 day, 30 days, 1 year and the demo's range;
- queries: every sql/queries/*.sql on the demo's warehouse.

Progress goes to stderr, the table to stdout. A full run (no --only, no --quick) rewrites
bench/RESULTS.md; other runs write bench/out/last-run.md unless --write is given.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import gdelt_data, graph, queries
from bench.common import (
    BENCH_DIR,
    Row,
    machine,
    machine_line,
    median,
    python_cmd,
    render_markdown,
    run_measured,
)
from bench.gdelt_ingest import ensure_unzipped

SECTIONS = ("gdelt_day", "gdelt_scaling", "graph", "queries")
# glibc returns large freed blocks to the OS at once, so every 17 MB slot buffer is fresh memory
# again (page faults, expensive on this VM). These keep it in the heap: a proposal, measured.
MALLOC_TUNED = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rotated(items: list, k: int) -> list:
    k %= len(items)
    return items[k:] + items[:k]


def _measure_workload(workload: str, folders: list[Path], env: dict | None = None) -> dict:
    m = run_measured(python_cmd("bench.gdelt_ingest", workload, *map(str, folders)), env=env)
    if m.returncode != 0:
        lines = [ln for ln in m.stderr.splitlines() if ln.strip()]
        return {"error": lines[-1][:300] if lines else f"exit status {m.returncode}"}
    return {**m.result, "wall_s": m.wall_s, "cpu_s": m.cpu_s, "peak_rss_mb": m.peak_rss_mb}


def _warm(folders: list[Path]) -> None:
    """Read the cached files once so every measurement starts from the page cache."""
    for folder in folders:
        for path in sorted(Path(folder).glob("*.zip")):
            path.read_bytes()


def _med(samples: list[dict], key: str):
    return median(s.get(key) for s in samples)


def _throughput_row(section: str, case: str, samples: list[dict]) -> Row:
    wall = _med(samples, "wall_s")
    return Row(
        section,
        case,
        wall_s=wall,
        cpu_s=_med(samples, "cpu_s"),
        peak_rss_mb=_med(samples, "peak_rss_mb"),
        rows_per_s=samples[0]["rows"] / wall,
        mb_per_s=samples[0]["unzipped_bytes"] / 1e6 / wall,
    )


def section_gdelt_day(rows_per_slot: int, runs: int) -> list[Row]:
    day = gdelt_data.ensure_days(1, rows_per_slot)[0]
    ensure_unzipped(day.folder)
    _warm([day.folder])
    names = ["floor", "ingest", "pandas", "ingest+malloc"]
    samples: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(runs):
        for name in _rotated(names, r):
            log(f"  gdelt_day: {name} (run {r + 1}/{runs})")
            workload, _, tuned = name.partition("+")
            env = MALLOC_TUNED if tuned else None
            result = _measure_workload(workload, [day.folder], env=env)
            if "error" in result:
                return [Row("gdelt_day", name, detail=f"failed: {result['error']}")]
            samples[name].append(result)
    size = (
        f"{day.total('rows'):,} rows in {len(day.files)} slots, "
        f"{day.total('unzipped_bytes') / 1e9:.2f} GB unzipped, {day.total('zipped_bytes') / 1e9:.2f} GB zipped, "
        f"{day.manifest['templates']} GKG rows as templates"
    )
    floor, ingest, plain, tuned = (_throughput_row("gdelt_day", n, samples[n]) for n in names)
    f0, i0, p0 = samples["floor"][0], samples["ingest"][0], samples["pandas"][0]
    floor.case = "floor (isal x cores + duckdb count)"
    floor.ratio = "1.00 (floor)"
    floor.detail = (
        f"{size}; inflate {_med(samples['floor'], 'inflate_s'):.2f} s on {f0['workers']} procs + "
        f"DuckDB read_csv count {_med(samples['floor'], 'scan_s'):.2f} s = {f0['rows_counted']:,} rows; "
        f"RSS is the largest process"
    )
    ingest.case = "ingest (project: news_in_window + load)"
    ingest.ratio = f"ingest/floor {ingest.wall_s / floor.wall_s:.1f}x"
    ingest.detail = (
        f"loaded {i0['rows_loaded']:,} articles ({day.total('tumangang_rows'):,} Tumangang rows "
        f"generated; {i0['tumangang_articles']:,} matched Tumangang), {i0['links']:,} links, "
        f"{i0['rows_quarantined']} quarantined; parse+match {_med(samples['ingest'], 'parse_match_s'):.1f} s, "
        f"load {_med(samples['ingest'], 'load_s'):.1f} s"
    )
    plain.case = "plain pandas (zipfile + read_csv + filter)"
    plain.ratio = f"pandas/ingest {plain.wall_s / ingest.wall_s:.2f}x"
    plain.detail = f"{p0['rows_loaded']:,} rows matched and loaded (alias or location filter)"
    tuned.case = "ingest, glibc malloc tuned (proposal)"
    tuned.ratio = f"tuned/ingest {tuned.wall_s / ingest.wall_s:.2f}x"
    tuned.detail = (
        "the same ingest with "
        + " ".join(f"{k}={v}" for k, v in MALLOC_TUNED.items())
        + f"; loaded {samples['ingest+malloc'][0]['rows_loaded']:,}"
    )
    return [floor, ingest, plain, tuned]


def _mem_available_mb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def section_gdelt_scaling(rows_per_slot: int, runs: int, days=(1, 2, 4)) -> list[Row]:
    all_days = gdelt_data.ensure_days(max(days), rows_per_slot)
    _warm([d.folder for d in all_days])
    samples: dict[int, list[dict]] = {n: [] for n in days}
    skipped: dict[int, str] = {}
    for r in range(runs):
        # The first round goes smallest first, so larger cases can be judged before they run.
        order = list(days) if r == 0 else _rotated(list(days), r)
        for n in order:
            if n in skipped:
                continue
            per_day = [s["peak_rss_mb"] / k for k, ss in samples.items() for s in ss]
            projected = max(per_day, default=0) * n
            budget = _mem_available_mb() / 2
            if projected > budget:
                skipped[n] = (
                    f"skipped: projected peak RSS {projected / 1024:.1f} GB (measured per day x {n}) "
                    f"is over half the memory available now ({budget / 1024:.1f} GB)"
                )
                continue
            log(f"  gdelt_scaling: {n} day(s) (run {r + 1}/{runs})")
            result = _measure_workload("ingest", [d.folder for d in all_days[:n]])
            if "error" in result:
                return [Row("gdelt_scaling", f"{n} days", detail=f"failed: {result['error']}")]
            samples[n].append(result)
    rows = []
    base = _throughput_row("gdelt_scaling", "1 day", samples[days[0]]) if samples[days[0]] else None
    for n in days:
        label = f"{n} day" + ("s" if n > 1 else "")
        if not samples[n]:
            rows.append(Row("gdelt_scaling", label, detail=skipped.get(n, "not measured")))
            continue
        row = _throughput_row("gdelt_scaling", label, samples[n])
        s0 = samples[n][0]
        if base is not None:
            row.ratio = f"s/day {row.wall_s / n / base.wall_s:.2f}x, RSS {row.peak_rss_mb / base.peak_rss_mb:.2f}x of 1 day"
        row.detail = (
            f"{s0['files']} files, {s0['rows']:,} rows, {s0['unzipped_bytes'] / 1e9:.2f} GB unzipped; "
            f"loaded {s0['rows_loaded']:,}; {rows_per_slot} rows/slot; {len(samples[n])} run(s)"
        )
        rows.append(row)
    return rows


def section_graph(quick: bool, runs: int) -> list[Row]:
    cases = ["1 day", "30 days"] if quick else list(graph.CASES)
    # The demo takes minutes: once per bench run; the year as often as asked.
    per_case = {c: (1 if c == "demo" else runs) for c in cases}
    return graph.run_section(cases, per_case, log=log)


def section_queries(quick: bool) -> list[Row]:
    home = graph.DEMO_CACHE
    note = ""
    if not (home / "built_at").exists():
        log("  queries: no demo warehouse cached; running `borderwatch demo` once (not measured)")
        result = graph.run_case("demo", graph.RUN_ROOT / "demo-for-queries")
        if "error" in result:
            return [Row("queries", "all", detail=f"unavailable: {result['error']}")]
        graph.cache_demo_home(graph.RUN_ROOT / "demo-for-queries")
    else:
        note = f"; warehouse from the demo of {(home / 'built_at').read_text()[:16]}"
    try:
        return queries.rows_for(home, 5 if quick else 20, note)
    except Exception as exc:  # an unreadable warehouse is reported, the rest of the table stands
        return [Row("queries", "all", detail=f"unavailable: {type(exc).__name__}: {exc}"[:300])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer cases and runs")
    parser.add_argument("--only", help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--runs", type=int, help="measurements per case (default 3, quick 1)")
    parser.add_argument(
        "--rows-per-slot", type=int, help="GKG rows per slot (default 1500, quick 150)"
    )
    parser.add_argument("--write", action="store_true", help="rewrite bench/RESULTS.md anyway")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    runs = args.runs or (1 if args.quick else 3)
    rows_per_slot = args.rows_per_slot or (150 if args.quick else gdelt_data.DEFAULT_ROWS_PER_SLOT)
    scaling_rows = args.rows_per_slot or (100 if args.quick else gdelt_data.DEFAULT_ROWS_PER_SLOT)

    info = machine()
    command = "uv run python -m bench " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    started = datetime.now(UTC)
    log(f"bench: {machine_line(info)}")
    rows: list[Row] = []
    for name in only:
        log(f"bench: {name}")
        if name == "gdelt_day":
            rows += section_gdelt_day(rows_per_slot, runs)
        elif name == "gdelt_scaling":
            rows += section_gdelt_scaling(scaling_rows, runs)
        elif name == "graph":
            rows += section_graph(args.quick, runs)
        elif name == "queries":
            rows += section_queries(args.quick)
    took = (datetime.now(UTC) - started).total_seconds()
    header = [
        f"# borderwatch bench, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {machine_line(info)}.",
        f"Command: `{command.strip()}` ({runs} run(s) per case unless the row says otherwise; "
        f"medians; took {took / 60:.0f} min). Load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
    ]
    if os.environ.get("BENCH_GRAPH_CHECKOUT") and "graph" in only:
        header.insert(
            -1, f"The graph section ran the CLI of {graph.checkout()} (BENCH_GRAPH_CHECKOUT)."
        )
    text = "\n".join(header) + "\n" + render_markdown(rows) + "\n"
    print(text)
    full = not args.only and not args.quick
    target = BENCH_DIR / "RESULTS.md" if (full or args.write) else BENCH_DIR / "out" / "last-run.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + RESULTS_NOTES)
    log(f"bench: wrote {target}")
    return 0


RESULTS_NOTES = """
How to read it: wall is the parent's clock around a fresh process; CPU (user + system) and peak
RSS come from wait4 on that process (CPU includes the pool workers it waited for; peak RSS is
the largest single process). rows/s and MB/s are input GKG rows and unzipped bytes per wall
second. Ratios compare medians measured in the same run. The machine is shared: compare
ratios, not absolute times, across runs. No test asserts a time.
"""


if __name__ == "__main__":
    sys.exit(main())
