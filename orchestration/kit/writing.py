"""Write, audit, publish: every staging window and curated table is written, validated by its
suite and committed in one transaction, or rolled back with nothing published."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import dagster as dg
import polars as pl

from assets.core import warehouse
from assets.core.parsing import StagedBatch, audit_sha256_by_uri
from assets.core.rawzone import RawFile
from assets.core.validation import SuiteOutcome
from orchestration.kit.checks import (
    ExpectationsFailed,
    check_result,
    suite_check_spec,
    suite_path,
    validate,
)
from orchestration.kit.columns import column_schema_metadata, table_comments
from orchestration.kit.partitions import backfill_policy, daily_partitions
from orchestration.kit.versions import content_version

POOL = "duckdb"
PREVIEW_ROWS = 5
# Longer range runs keep each day's event lean: window, row count, content hash, snapshot.
PREVIEW_MAX_DAYS = 31


def content_hash(df: pl.DataFrame) -> str:
    """sha256 of the rows as NDJSON in their stored order: equal tables give equal hashes."""
    return hashlib.sha256(df.write_ndjson().encode()).hexdigest()


def table_frame(con, table: str, where: str = "", params: dict | None = None) -> pl.DataFrame:
    return con.execute(f"select * from {table} {where} order by all", params or {}).pl()


@dataclass(frozen=True)
class StagingTable:
    """One staging table a source's step writes: staging.<name>, partitioned on date_column.

    With `quarantine`, its rows come from per-file parse results: bad rows go to
    quarantine.<name> and every file gets a staging.load_audit row. Without, it is a plain frame
    (links, gaps) written in the same transaction.
    """

    name: str
    date_column: str
    description: str
    quarantine: bool = False

    @property
    def table(self) -> str:
        return f"staging.{self.name}"

    @property
    def ddl(self) -> str:
        return f"staging/{self.name}.sql"

    @property
    def suite(self) -> Path:
        return suite_path("staging", self.name)

    def files(self) -> list[Path]:
        sql = warehouse.SQL_DIR
        out = [sql / self.ddl, self.suite]
        if self.quarantine:
            out.append(sql / "quarantine" / f"{self.name}.sql")
        return out


def staging_step(
    *,
    name: str,
    tables: Sequence[StagingTable],
    group: str,
    code: Sequence[ModuleType | Path],
    kinds: Sequence[str] = ("polars",),
    deps: Sequence[str] = ("facilities",),
):
    """The decorator every source's staging step shares: one partitioned step (daily partitions,
    one run per range, the duckdb pool) that declares each table it writes as an asset with its
    suite as a blocking check. code_version hashes each table's SQL and suite and `code` (the
    modules and data files that decide the rows)."""
    specs = [
        dg.AssetSpec(
            key=t.name,
            group_name=group,
            deps=list(deps),
            description=t.description,
            kinds={"duckdb", *kinds},
            partitions_def=daily_partitions,
            code_version=content_version(*t.files(), *code),
            skippable=False,
            metadata=column_schema_metadata("staging", t.name),
        )
        for t in tables
    ]
    checks = [suite_check_spec(t.name, t.suite) for t in tables]
    return dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=checks,
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy,
        pool=POOL,
    )


def load_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The run's half-open date window [start, end): one day, or a whole range in one run."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


@dataclass
class _Written:
    summary: warehouse.LoadSummary
    frame: pl.DataFrame
    outcome: SuiteOutcome


def _raise_failures(failures: list[tuple[str, SuiteOutcome, Path]]) -> None:
    if not failures:
        return
    key, outcome, suite = failures[0]
    error = ExpectationsFailed(key, outcome, suite)
    for other_key, other, other_suite in failures[1:]:
        error.description += "\n" + ExpectationsFailed(other_key, other, other_suite).description
    raise error


def publish_window(
    context: dg.AssetExecutionContext,
    con,
    *,
    window: tuple[date, date],
    tables: Sequence[StagingTable],
    outputs: dict[str, StagedBatch | pl.DataFrame],
    raw_files: list[RawFile],
    suite_parameters: dict,
    extra_metadata: dict | None = None,
) -> list[dg.MaterializeResult]:
    """Replace the window of every table (with quarantine and audit), validate each against its
    suite and commit only if no error-level expectation failed, all in one transaction."""
    start, end = window
    results = [r for out in outputs.values() if isinstance(out, StagedBatch) for r in out.results]
    sha_by_uri = audit_sha256_by_uri(results, raw_files)
    bounds = {"start": start, "end": end}
    warehouse.ensure_tables(con, warehouse.AUDIT_DDL, *all_staging_ddls())

    def work(con) -> dict[str, _Written]:
        written: dict[str, _Written] = {}
        failures = []
        for t in tables:
            out = outputs.get(t.name)
            if isinstance(out, StagedBatch):
                summary = warehouse.load_partition(
                    con, t.table, t.date_column, start, end, out.results, sha_by_uri,
                    run_id=context.run_id, has_quarantine=t.quarantine,
                )  # fmt: skip
            else:
                frame = out if out is not None else pl.DataFrame()
                summary = warehouse.load_partition(
                    con, t.table, t.date_column, start, end, [], sha_by_uri,
                    rows=frame, run_id=context.run_id, has_quarantine=False,
                )  # fmt: skip
            table_comments(con, "staging", t.name)
            if t.quarantine:
                table_comments(con, "quarantine", t.name)
            where = f"where {t.date_column} >= $start and {t.date_column} < $end"
            frame = table_frame(con, t.table, where, bounds)
            outcome = validate(frame, t.suite, suite_parameters)
            if not outcome.success:
                failures.append((t.name, outcome, t.suite))
            written[t.name] = _Written(summary, frame, outcome)
        table_comments(con, "staging", "load_audit")
        _raise_failures(failures)
        return written

    written = warehouse.transact(con, work)
    snapshot = warehouse.current_snapshot(con)
    last_day = end - timedelta(days=1)
    results = []
    for t in tables:
        w = written[t.name]
        out = outputs.get(t.name)
        if isinstance(out, StagedBatch):
            _log_files(context, t, out)
            context.log.info(
                f"{t.table} {start}..{last_day}: {w.summary.files} file(s), read "
                f"{w.summary.rows_read}, loaded {w.summary.rows_loaded}, filtered "
                f"{w.summary.rows_filtered}, quarantined {w.summary.rows_quarantined}"
            )
        else:
            context.log.info(f"{t.table} {start}..{last_day}: {w.frame.height} row(s)")
        short = (end - start).days <= PREVIEW_MAX_DAYS
        metadata = {
            "window_start": start.isoformat(),
            "window_end_exclusive": end.isoformat(),
            # A range run copies the metadata into every day's event (each serialised twice):
            # over a long range, the file counts are in the run's log and staging.load_audit.
            **(w.summary.as_metadata() if short and isinstance(out, StagedBatch) else {}),
            # Dagster copies this into every day's event: a range's total is not a day's count.
            ("dagster/row_count" if (end - start).days == 1 else "rows_in_window"): w.frame.height,
            "content_sha256": content_hash(w.frame),
            "lake_snapshot": snapshot,
            **((extra_metadata or {}) if short else {}),
        }
        if short:
            metadata["preview"] = dg.MetadataValue.md(_preview(w.frame))
        results.append(
            dg.MaterializeResult(
                asset_key=t.name,
                metadata=metadata,
                check_results=[check_result(t.name, w.outcome, t.suite)],
            )
        )
    if not raw_files:
        context.log.warning(f"no source files for {start}..{last_day}: loaded zero rows")
    return results


def _log_files(context, t: StagingTable, batch: StagedBatch) -> None:
    for result in batch.results:
        for warning in result.warnings:
            context.log.warning(f"{result.source_uri}: {warning}")
        if result.rows_quarantined:
            first = result.quarantine.row(0, named=True)
            context.log.warning(
                f"{result.source_uri}: {result.rows_quarantined} row(s) quarantined in "
                f"quarantine.{t.name}; first at line {first['line_number']}: {first['reason']}"
            )


def _preview(df: pl.DataFrame) -> str:
    if df.height == 0:
        return "_no rows_"
    head = df.head(PREVIEW_ROWS)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v)[:80] for v in row) + " |")
    return "\n".join(lines)


def all_staging_ddls() -> list[str]:
    """Every staging and quarantine table's DDL: curated SQL may read a source never loaded."""
    sql = warehouse.SQL_DIR
    return [
        p.relative_to(sql).as_posix()
        for folder in ("staging", "quarantine")
        for p in sorted((sql / folder).glob("*.sql"))
    ]


def publish_curated(
    context: dg.AssetExecutionContext,
    con,
    *,
    key: str,
    params: dict,
    suite_parameters: dict,
    prepare: Callable[[object], None] | None = None,
    counts: dict[str, str] | None = None,
    extra_metadata: dict | None = None,
) -> dg.MaterializeResult:
    """Rebuild curated.<key> from sql/curated/<key>.sql, validate it and commit, in one
    transaction; `prepare(con)` runs first inside it (e.g. registers an input frame)."""
    table = f"curated.{key}"
    suite = suite_path("curated", key)
    warehouse.ensure_tables(con, warehouse.AUDIT_DDL, *all_staging_ddls())

    def work(con):
        if prepare is not None:
            prepare(con)
        warehouse.run_sql_file(con, f"curated/{key}.sql", params)
        table_comments(con, "curated", key)
        frame = table_frame(con, table)
        outcome = validate(frame, suite, suite_parameters)
        if not outcome.success:
            _raise_failures([(key, outcome, suite)])
        extra = {name: int(con.execute(sql).fetchone()[0]) for name, sql in (counts or {}).items()}
        return frame, outcome, extra

    frame, outcome, extra = warehouse.transact(con, work)
    context.log.info(f"{table}: {frame.height} rows")
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "dagster/row_count": frame.height,
            "content_sha256": content_hash(frame),
            "lake_snapshot": warehouse.current_snapshot(con),
            "sql": f"sql/curated/{key}.sql",
            "preview": dg.MetadataValue.md(_preview(frame)),
            **extra,
            **(extra_metadata or {}),
        },
        check_results=[check_result(key, outcome, suite)],
    )
