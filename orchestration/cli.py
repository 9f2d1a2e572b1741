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
    from orchestration.partitions import PARTITIONS_START

    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    if start < PARTITIONS_START:
        raise UsageError(f"--start {start} is before the first partition, {PARTITIONS_START}")
    today = date.today().isoformat()
    if end >= today:
        raise UsageError(
            f"--end {end} must be before today ({today}): the last partition is yesterday"
        )


def _print_table(df, max_rows: int = 50) -> None:
    import polars as pl

    with pl.Config(
        tbl_rows=max_rows,
        tbl_cols=-1,
        fmt_str_lengths=80,
        tbl_width_chars=200,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        print(df)


def _root_cause(error) -> str:
    """The innermost error of a failed step: our own sentence, not Dagster's wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    if not error.message:
        return error.cls_name
    # Dagster prefixes the exception's module and class: the sentence is what follows.
    return re.sub(r"^[\w.]+(Error|Exception): ", "", error.message.strip().splitlines()[0])


def materialize(start: str, end: str, replay: bool = False, selection: str | None = None) -> bool:
    """Materialise the graph over [start, end] (inclusive days) in one run on the shipped instance."""
    import dagster as dg

    from orchestration import settings

    paths = settings.home_paths()
    settings.prepare_instance(paths)
    from orchestration.definitions import defs
    from orchestration.jobs import RANGE_END_TAG, RANGE_START_TAG, all_assets_job
    from orchestration.resources import Borderwatch

    resource = Borderwatch.from_env(replay=replay)
    # Fail before the run starts, in one sentence, if another process holds the warehouse.
    from assets.core.warehouse import connect

    connect(paths.warehouse).close()
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
        f"borderwatch: warehouse {paths.warehouse}; Dagster instance {paths.dagster_home}",
        flush=True,
    )
    started = time.monotonic()
    # The project's one job, with this command's resource settings: runs show as borderwatch_all.
    job = dg.Definitions(
        assets=all_assets, jobs=[all_assets_job], resources={"borderwatch": resource}
    ).resolve_job_def(all_assets_job.name)
    keys = None
    if selection is not None:
        if isinstance(selection, str):
            selection = dg.AssetSelection.from_string(selection)
        keys = list(selection.resolve(defs.resolve_asset_graph()))
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            tags={RANGE_START_TAG: start, RANGE_END_TAG: end, "borderwatch/command": "cli"},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
    took = time.monotonic() - started
    if not result.success:
        failures = [
            f"{e.step_key}: {_root_cause(e.event_specific_data.error)}"
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
    from orchestration import settings

    paths = settings.home_paths()
    con = connect(paths.warehouse, read_only=True)
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
    print(f"\nWarehouse: {paths.warehouse}")
    print(
        'Try:  uv run borderwatch query "select * from curated.activity_baselines where is_anomaly"'
    )
    if report.exists():
        print(f"Report: {report}")


def _typed(value: str):
    """--param values: integers and decimals bind as numbers, anything else as text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def query(text: str, params: list[str]) -> None:
    from assets.core.warehouse import connect
    from orchestration import settings

    path = Path(text)
    sql = path.read_text(encoding="utf-8") if text.endswith(".sql") and path.exists() else text
    if text.endswith(".sql") and not path.exists():
        raise UsageError(f"no such SQL file: {text}")
    bound = {}
    for item in params:
        if "=" not in item:
            raise UsageError(f"--param {item!r} must look like name=value")
        key, value = item.split("=", 1)
        bound[key] = _typed(value)
    con = connect(settings.home_paths().warehouse, read_only=True)
    try:
        df = con.execute(sql, bound).pl()
    finally:
        con.close()
    _print_table(df, max_rows=200)
    print(f"({df.height} row{'s' if df.height != 1 else ''})")


def ui(port: int) -> None:
    from orchestration import settings

    paths = settings.home_paths()
    settings.prepare_instance(paths)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderwatch",
        description="Monitor cross-border logistics from open sources: imagery indexes, reported "
        "counts and news metadata in one validated DuckDB warehouse.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "demo",
        help=f"build the warehouse from the bundled sample ({DEMO_START} .. {DEMO_END}) and show the anomalies",
    )
    m = sub.add_parser("materialize", help="materialise every asset over a day range in one run")
    m.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    m.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
    m.add_argument(
        "--select",
        default=None,
        help="asset keys (comma-separated) or a Dagster selection, e.g. 'key:stg_reported__observations+'",
    )
    r = sub.add_parser("replay", help="rebuild from the raw zone alone, with no network")
    r.add_argument("--start", required=True)
    r.add_argument("--end", required=True)
    q = sub.add_parser("query", help="run read-only SQL (text or a .sql file) on the warehouse")
    q.add_argument(
        "sql",
        help="SQL text, or the path of a .sql file such as sql/queries/anomalous_observations.sql",
    )
    q.add_argument(
        "--param", action="append", default=[], help="bound parameter name=value (repeatable)"
    )
    rep = sub.add_parser("report", help="write the HTML report from the warehouse")
    rep.add_argument(
        "--out", default=None, help="output file (default $BORDERWATCH_HOME/report/index.html)"
    )
    u = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on the project's instance")
    u.add_argument("--port", type=int, default=3000)
    sub.add_parser("config", help="show the configuration and where it comes from")
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    warnings.filterwarnings("ignore", message=".*is currently in preview.*")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            if not materialize(DEMO_START, DEMO_END):
                return 1
            show_demo_result()
        elif args.command in {"materialize", "replay"}:
            start = _date_arg("--start", args.start)
            end = _date_arg("--end", args.end)
            _check_range(start, end)
            ok = materialize(
                start, end, replay=args.command == "replay", selection=getattr(args, "select", None)
            )
            return 0 if ok else 1
        elif args.command == "query":
            query(args.sql, args.param)
        elif args.command == "report":
            from orchestration.reporting import write_report

            print(write_report(args.out))
        elif args.command == "ui":
            ui(args.port)
        elif args.command == "config":
            from orchestration import settings

            for env, value, help_text in settings.describe():
                print(f"{env}={value}\n    {help_text}")
    except UsageError as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the CLI speaks in sentences; the traceback is for --debug users
        from assets.core.warehouse import WarehouseLockedError

        if isinstance(exc, WarehouseLockedError | FileNotFoundError):
            print(f"borderwatch: {exc}", file=sys.stderr)
            return 1
        if os.environ.get("BORDERWATCH_DEBUG"):
            raise
        print(f"borderwatch: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  (set BORDERWATCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
