"""The `borderwatch` command: demo, materialize, replay, query, report, ui, config."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import date
from pathlib import Path

DEMO_START, DEMO_END = "2018-01-01", "2024-06-30"


class UsageError(Exception):
    """A mistake in the command line, said in a plain sentence."""


def _date_arg(name: str, value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(
            f"{name} {value!r} is not a date: use YYYY-MM-DD, e.g. 2023-10-05"
        ) from None


def _check_range(start: str, end: str) -> None:
    from orchestration.kit.partitions import PARTITIONS_START

    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    if start < PARTITIONS_START:
        raise UsageError(f"--start {start} is before the first partition, {PARTITIONS_START}")
    today = date.today().isoformat()
    if end > today:
        raise UsageError(f"--end {end} is after today ({today}): there is no partition for it yet")


def _print_table(df, max_rows: int = 50) -> None:
    from assets.core.export import table_text

    print(table_text(df, max_rows), end="")


def _step_failure(data) -> str:
    """A failed step in words: a Failure's own description (e.g. every failed expectation of a
    blocked write), else the innermost error's sentence."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description
    from orchestration.kit.sensors import root_cause

    return root_cause(data.error)


def materialize(
    start: str,
    end: str,
    replay: bool = False,
    selection: str | None = None,
    log_level: str = "INFO",
) -> bool:
    """Materialise the graph over [start, end] (inclusive days) in one run on the shipped instance."""
    import dagster as dg

    from orchestration.kit.instance import prepare_instance
    from orchestration.kit.jobs import RANGE_END_TAG, RANGE_START_TAG, all_assets_job
    from orchestration.kit.progress import progress_logger
    from orchestration.kit.resource import Borderwatch
    from orchestration.kit.runs import IN_PROGRESS, process_tags, release_dead_runs

    resource = Borderwatch.from_env(replay=replay)
    paths = resource.paths
    prepare_instance(paths)
    from orchestration.definitions import borderwatch_resource, defs

    lake = resource.lake()
    if selection and re.fullmatch(r"[\w\s,]+", selection):
        # A plain list of asset keys; anything else is Dagster's selection syntax.
        selection = dg.AssetSelection.assets(*re.split(r"[\s,]+", selection.strip()))
    all_assets = list(defs.assets or [])
    print(
        f"borderwatch: materialising {start} .. {end} from {resource.source}"
        + (" (replaying the raw zone)" if replay else ""),
        flush=True,
    )
    print(
        f"borderwatch: lake: {lake.describe()}; Dagster instance {paths.dagster_home}",
        flush=True,
    )
    started = time.monotonic()
    # The project's one job, with this command's resource settings: runs show as borderwatch_all.
    job = dg.Definitions(
        assets=all_assets,
        jobs=[all_assets_job],
        # The definitions' resource: the webhook stays an EnvVar, never a value in the run's
        # stored configuration.
        resources={"borderwatch": borderwatch_resource(replay=replay)},
        loggers={"progress": progress_logger},
    ).resolve_job_def(all_assets_job.name)
    keys = None
    if selection is not None:
        if isinstance(selection, str):
            selection = dg.AssetSelection.from_string(selection)
        graph = defs.resolve_asset_graph()
        # A source's step writes all its tables in one transaction: selecting one selects them all.
        keys = sorted(
            {k for key in selection.resolve(graph) for k in graph.get(key).assets_def.keys}
        )
    with dg.DagsterInstance.get() as instance:
        dead_runs = release_dead_runs(instance)
        for dead in dead_runs:
            print(
                f"borderwatch: run {dead.run_id} had died with its process (pid {dead.pid}): "
                f"marked it failed and freed {dead.slots} pool slot(s)",
                flush=True,
            )
        if dead_runs and not instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS), limit=1):
            # No writer is left: files a killed run wrote but never committed can go now.
            from datetime import timedelta

            from assets.core.warehouse import connect, delete_orphans

            con = connect(lake)
            try:
                removed = delete_orphans(con, older_than=timedelta(0))
            finally:
                con.close()
            if removed:
                print(f"borderwatch: removed {len(removed)} uncommitted lake file(s)", flush=True)
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            tags={
                RANGE_START_TAG: start,
                RANGE_END_TAG: end,
                "borderwatch/command": "cli",
                **process_tags(),
            },
            run_config={"loggers": {"progress": {"config": {"log_level": log_level}}}},
            raise_on_error=False,
        )
    took = time.monotonic() - started
    if not result.success:
        failures = [
            f"{e.step_key}: {_step_failure(e.event_specific_data)}"
            for e in result.all_events
            if e.is_step_failure and e.event_specific_data and e.event_specific_data.error
        ]
        print(
            f"borderwatch: the run failed after {took:.0f} s (run id {result.run_id})",
            file=sys.stderr,
        )
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return False
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed = [e.event_specific_data for e in checks if not e.event_specific_data.passed]
    print(
        f"borderwatch: run {result.run_id} succeeded in {took:.0f} s; "
        f"{len(checks)} checks, {len(failed)} failed",
        flush=True,
    )
    for check in failed:
        print(
            f"  check failed: {check.asset_key.to_user_string()} {check.check_name}: "
            f"{check.description or ''}",
            file=sys.stderr,
        )
    return True


def _query_file(con, name: str, params: dict | None = None):
    """A worked query from sql/queries/ as a Polars frame."""
    from assets.core.warehouse import sql_text

    return con.execute(sql_text(f"queries/{name}"), params or {}).pl()


def show_demo_result() -> None:
    import polars as pl

    from assets.core.warehouse import connect
    from orchestration.kit.resource import Borderwatch

    resource = Borderwatch.from_env()
    paths, lake = resource.paths, resource.lake()
    con = connect(lake, read_only=True)
    try:
        anomalies = _query_file(con, "anomalous_observations.sql").sort("observed_on")
        print("\nAnomalous observations (sql/queries/anomalous_observations.sql):")
        _print_table(
            anomalies.select(
                "facility_id",
                "metric",
                "observed_on",
                "value",
                "prior_max",
                pl.col("ratio_to_prior_max").alias("ratio"),
                "robust_z",
                "prior_n",
                "prior_clear_days",
            )
        )
        alerts = con.execute(
            "select alert_id, severity, summary from curated.alerts order by observed_on, alert_id"
        ).fetchall()
        print("\nAlerts (curated.alerts):")
        for alert_id, severity, summary in alerts:
            print(f"  [{severity}] {alert_id}: {summary}")
        for row in anomalies.iter_rows(named=True):
            where = {"facility_id": row["facility_id"], "observed_on": row["observed_on"]}
            scenes = _query_file(con, "scenes_near_observation.sql", {**where, "window_days": 7})
            print(
                f"\nScenes over {row['facility_id']} within 7 days of {row['observed_on']} "
                f"(prior_clear_days in the five years before: {row['prior_clear_days']}):"
            )
            _print_table(
                scenes.select("scene_id", "acquired_on", "cloud_cover", "days_from_observation")
            )
            news = _query_file(
                con, "news_near_observation.sql", {**where, "days_before": 3, "days_after": 10}
            )
            print(f"\nNews attention for {row['facility_id']} around {row['observed_on']}:")
            _print_table(news)
    finally:
        con.close()
    report = paths.report / "index.html"
    print(f"\nWarehouse: {lake.describe()}")
    print(
        'Try:  uv run borderwatch query "select * from curated.activity_baselines where is_anomaly"'
    )
    if report.exists():
        print(f"Report: {report}")


def _typed(value: str):
    """--param values: integers and decimals bind as numbers, anything else as text."""
    from assets.core.export import typed_param

    return typed_param(value)


def _as_of(value: str | None):
    """--as-of: a snapshot id (digits) or a date / ISO timestamp (UTC when no offset is given)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--as-of {value!r} is neither a snapshot id nor a date or timestamp "
            "(e.g. 42, 2023-10-06 or 2023-10-06T08:00:00)"
        ) from None


def query(
    text: str,
    params: list[str],
    as_of: str | None = None,
    fmt: str = "table",
    out: str | None = None,
) -> None:
    from assets.core.export import write_frame
    from assets.core.warehouse import read_frame
    from orchestration.kit.resource import Borderwatch

    path = Path(text)
    sql = path.read_text(encoding="utf-8") if text.endswith(".sql") and path.exists() else text
    if text.endswith(".sql") and not path.exists():
        raise UsageError(f"no such SQL file: {text}")
    if fmt == "parquet" and not out:
        raise UsageError("--format parquet needs --out FILE")
    bound = {}
    for item in params:
        if "=" not in item:
            raise UsageError(f"--param {item!r} must look like name=value")
        key, value = item.split("=", 1)
        bound[key] = _typed(value)
    snapshot = _as_of(as_of)
    with Borderwatch.from_env().connect(read_only=True, as_of=snapshot) as con:
        # A catalog busy with a run's commit answers on a retry: readers never block runs.
        df = read_frame(con, sql, bound)
    write_frame(df, fmt, Path(out) if out else None, max_rows=200)
    if fmt == "table" and not out:
        print(f"({df.height} row{'s' if df.height != 1 else ''})")
    elif out:
        print(f"borderwatch: {df.height} row(s) written to {out}", file=sys.stderr)


def export(out: str | None, as_of: str | None, geojson: str | None) -> None:
    """Every table as Parquet plus one self-contained .duckdb file, with sha256 sums; or the
    facilities and the footprints covering them as GeoJSON."""
    from assets.core.warehouse import export_lake
    from orchestration.kit.resource import Borderwatch

    resource = Borderwatch.from_env()
    snapshot = _as_of(as_of)
    if geojson:
        from assets.core.export import facilities_geojson, geojson_text
        from assets.core.warehouse import read_frame, sql_text

        with resource.connect(read_only=True, as_of=snapshot) as con:
            facilities = read_frame(con, "select * from curated.facilities order by facility_id")
            scenes = read_frame(con, sql_text("queries/scene_footprints.sql"))
        Path(geojson).write_text(
            geojson_text(facilities_geojson(facilities, scenes)), encoding="utf-8"
        )
        print(
            f"borderwatch: {facilities.height} facilities and {scenes.height} scene footprint(s) "
            f"written to {geojson}"
        )
        if out is None:
            return
    target = Path(out) if out else resource.paths.home / "export"
    done = export_lake(resource.lake(), target, as_of=snapshot)
    print(
        f"borderwatch: every table exported to {done} (Parquet, borderwatch.duckdb, "
        "MANIFEST.sha256)"
    )


def migrate() -> None:
    """Copy an earlier version's single-file warehouse (borderwatch.duckdb) into the lake."""
    from assets.core.warehouse import migrate_legacy
    from orchestration.kit.resource import Borderwatch

    resource = Borderwatch.from_env()
    legacy = resource.paths.legacy_warehouse
    if not legacy.exists():
        raise UsageError(
            f"no single-file warehouse at {legacy}: nothing to migrate (to rebuild from the raw "
            "zone instead, run `borderwatch replay --start ... --end ...`)"
        )
    copied = migrate_legacy(legacy, resource.lake())
    for table, rows in copied.items():
        print(f"  {table}: {rows} rows")
    print(
        f"borderwatch: {len(copied)} tables copied from {legacy} into the lake; the file is left "
        "as it was (delete it when you no longer need it)"
    )


def report(out: str | None) -> None:
    """Write the HTML report from the warehouse; print where it is."""
    from assets.core.warehouse import connect
    from assets.indicators.report import build_report
    from orchestration.kit.resource import Borderwatch

    resource = Borderwatch.from_env()
    target = Path(out).resolve() if out else resource.paths.report / "index.html"
    con = connect(resource.lake(), read_only=True)
    try:
        result = build_report(con, target, cache_dir=resource.paths.cache)
    finally:
        con.close()
    print(
        f"borderwatch: report for {len(result.facilities)} facilities and "
        f"{result.n_alerts} alert(s) written to {result.path}"
    )


def ui(port: int) -> None:
    from orchestration.kit.instance import prepare_instance
    from orchestration.kit.resource import Borderwatch

    paths = Borderwatch.from_env().paths
    prepare_instance(paths)
    os.environ.setdefault("TMPDIR", str(paths.home / "tmp"))
    Path(os.environ["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    from assets.core.warehouse import PROJECT_ROOT

    args = [
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    print(f"borderwatch: DAGSTER_HOME={paths.dagster_home} {' '.join(args)}", flush=True)
    os.execvp(args[0], args)


COMMANDS = {
    "demo": (
        "build the warehouse from the bundled sample and show the story",
        f"Build the warehouse from the bundled sample ({DEMO_START} .. {DEMO_END}) in one "
        "Dagster run, then print the anomalies, the alert, the scenes and the news around them.",
        "uv run borderwatch demo",
    ),
    "materialize": (
        "materialise the graph over a day range in one run",
        "Materialise every asset (or a selection) over a day range, inclusive, in one run on the "
        "project's Dagster instance.",
        "uv run borderwatch materialize --start 2023-10-01 --end 2023-10-10\n"
        "  uv run borderwatch materialize --start 2023-10-01 --end 2023-10-10 "
        "--select 'key:stg_reported__observations+'",
    ),
    "replay": (
        "rebuild a day range from the raw zone alone",
        "Rebuild a day range from the raw zone alone: no source store, no network.",
        "uv run borderwatch replay --start 2018-01-01 --end 2024-06-30",
    ),
    "query": (
        "run read-only SQL on the warehouse",
        "Run read-only SQL (text, or a .sql file) on the lake and print the result, or write it "
        "as CSV, JSON or Parquet; --as-of answers from an earlier snapshot.",
        'uv run borderwatch query "select * from curated.alerts"\n'
        "  uv run borderwatch query sql/queries/facility_history.sql "
        "--param facility_id=tumangang --param metric=railcars\n"
        '  uv run borderwatch query "select * from curated.alerts" --as-of 2023-10-06T08:00:00\n'
        '  uv run borderwatch query "select * from curated.observations" --format csv --out obs.csv',
    ),
    "report": (
        "write the offline HTML report",
        "Write the offline HTML report (charts, alerts, evidence) from the warehouse.",
        "uv run borderwatch report --out /tmp/borderwatch-report.html",
    ),
    "export": (
        "write every table as Parquet and one .duckdb file",
        "Write every table (curated, staging, quarantine, audit, raw manifest) as Parquet plus "
        "one self-contained borderwatch.duckdb with the same schemas and names, and a "
        "MANIFEST.sha256; or, with --geojson, the facilities, their areas and the footprints of "
        "the scenes covering them.",
        "uv run borderwatch export --out /tmp/borderwatch-export\n"
        "  uv run borderwatch export --as-of 2023-10-06T08:00:00 --out /tmp/as-of-6-october\n"
        "  uv run borderwatch export --geojson /tmp/facilities.geojson",
    ),
    "migrate": (
        "copy an earlier single-file warehouse into the lake",
        "Copy every table of an earlier version's $BORDERWATCH_HOME/borderwatch.duckdb into the "
        "lake, once, leaving the file as it was.",
        "uv run borderwatch migrate",
    ),
    "ui": (
        "start the Dagster UI on the project's instance",
        "Start the Dagster UI (dagster dev, with its daemon) on the project's instance.",
        "uv run borderwatch ui --port 3000",
    ),
    "config": (
        "show the settings in force",
        "Show every setting in force, its environment variable and what it means.",
        "BORDERWATCH_CLEAR_CLOUD_MAX=10 uv run borderwatch config",
    ),
}


def _verbosity() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", help="say more: every step event and debug lines"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="say only warnings, errors and the result"
    )
    return common


def _command(sub, name: str) -> argparse.ArgumentParser:
    summary, description, example = COMMANDS[name]
    return sub.add_parser(
        name,
        parents=[_verbosity()],
        help=summary,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderwatch",
        description="Monitor cross-border logistics from open sources: imagery indexes, reported "
        "counts and news metadata in one validated warehouse.",
        epilog="example:\n  uv run borderwatch demo\n  uv run borderwatch COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(sub, "demo")
    m = _command(sub, "materialize")
    m.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    m.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
    m.add_argument(
        "--select",
        default=None,
        help="asset keys (comma-separated) or a Dagster selection such as "
        "'key:stg_reported__observations+' (the asset and everything downstream of it)",
    )
    r = _command(sub, "replay")
    r.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    r.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
    q = _command(sub, "query")
    q.add_argument(
        "sql",
        help="SQL text, or the path of a .sql file such as sql/queries/anomalous_observations.sql",
    )
    q.add_argument(
        "--param", action="append", default=[], help="bound parameter name=value (repeatable)"
    )
    q.add_argument(
        "--as-of",
        default=None,
        help="answer from an earlier lake snapshot: its id, or a date or timestamp (UTC)",
    )
    q.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help="output format (default table)",
    )
    q.add_argument("--out", default=None, help="write to this file instead of the terminal")
    e = _command(sub, "export")
    e.add_argument("--out", default=None, help="folder to write (default $BORDERWATCH_HOME/export)")
    e.add_argument(
        "--as-of", default=None, help="export an earlier snapshot: its id, or a date or timestamp"
    )
    e.add_argument(
        "--geojson",
        default=None,
        metavar="FILE",
        help="write the facilities, their areas and the scene footprints covering them as GeoJSON",
    )
    _command(sub, "migrate")
    rep = _command(sub, "report")
    rep.add_argument(
        "--out", default=None, help="output file (default $BORDERWATCH_HOME/report/index.html)"
    )
    u = _command(sub, "ui")
    u.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (default 3000)")
    _command(sub, "config")
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=".*is currently in preview.*")
    args = build_parser().parse_args(argv)
    level = "DEBUG" if args.verbose else "WARNING" if args.quiet else "INFO"
    try:
        if args.command == "demo":
            if not materialize(DEMO_START, DEMO_END, log_level=level):
                return 1
            show_demo_result()
        elif args.command in {"materialize", "replay"}:
            start = _date_arg("--start", args.start)
            end = _date_arg("--end", args.end)
            _check_range(start, end)
            ok = materialize(
                start,
                end,
                replay=args.command == "replay",
                selection=getattr(args, "select", None),
                log_level=level,
            )
            return 0 if ok else 1
        elif args.command == "query":
            query(args.sql, args.param, args.as_of, args.format, args.out)
        elif args.command == "export":
            export(args.out, args.as_of, args.geojson)
        elif args.command == "migrate":
            migrate()
        elif args.command == "report":
            report(args.out)
        elif args.command == "ui":
            ui(args.port)
        elif args.command == "config":
            from orchestration.kit.resource import Borderwatch
            from orchestration.kit.sensors import SENSOR_SETTINGS

            for env, value, help_text in Borderwatch.from_env().describe():
                print(f"{env}={value}\n    {help_text}")
            for env, default, help_text in SENSOR_SETTINGS:
                print(f"{env}={os.environ.get(env, default)}\n    {help_text}")
    except UsageError as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the CLI speaks in sentences; the traceback is for --debug users
        from assets.core.warehouse import LakeBusyError

        if isinstance(exc, LakeBusyError | FileNotFoundError):
            print(f"borderwatch: {exc}", file=sys.stderr)
            return 1
        if os.environ.get("BORDERWATCH_DEBUG"):
            raise
        print(f"borderwatch: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  (set BORDERWATCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """The `borderwatch` command: main(), then a quick exit.

    Everything the command writes is closed by then (lake connections, the Dagster instance and
    files all use context managers); logging is shut down and standard output flushed here.
    Skipping the interpreter's teardown of Dagster, Great Expectations, pandas and DuckDB saves
    about two seconds per command."""
    code = main()
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that stopped early (| head), or closed
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    run()
