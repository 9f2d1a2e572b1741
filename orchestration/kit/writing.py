"""Shared steps of every staging and curated asset: write, validate, and describe the result."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets.core import warehouse
from assets.core.parsing import StagedBatch
from assets.core.rawzone import RawFile
from orchestration.checks import suite_check_result


def content_hash(df: pl.DataFrame) -> str:
    """sha256 of the rows as NDJSON in their stored order: equal tables give equal hashes."""
    return hashlib.sha256(df.write_ndjson().encode()).hexdigest()


def table_frame(con, table: str, where: str = "", params: dict | None = None) -> pl.DataFrame:
    return con.execute(f"select * from {table} {where}", params or {}).pl()


def write_window(
    context: dg.AssetExecutionContext,
    con,
    *,
    table: str,
    date_column: str,
    window: tuple[date, date],
    batch: StagedBatch,
    sha_by_uri: dict[str, str],
    related_date_columns: dict[str, str] | None = None,
) -> warehouse.LoadSummary:
    """Replace one staging table's window (with its related tables, quarantine and audit) and
    say in the run's log what each file left behind."""
    start, end = window
    name = table.split(".")[1]
    related_date_columns = related_date_columns or {}
    warehouse.ensure_tables(
        con,
        warehouse.AUDIT_DDL,
        f"staging/{name}.sql",
        f"quarantine/{name}.sql",
        *[f"staging/{t.split('.')[1]}.sql" for t in related_date_columns],
    )
    related = {
        t: (related_date_columns[t], frame)
        for t, frame in batch.related.items()
        if t in related_date_columns
    }
    for t, column in related_date_columns.items():
        related.setdefault(t, (column, pl.DataFrame()))
    summary = warehouse.load_partition(
        con,
        table,
        date_column,
        start,
        end,
        batch.results,
        sha_by_uri,
        run_id=context.run_id,
        related=related,
    )
    for result in batch.results:
        for warning in result.warnings:
            context.log.warning(f"{result.source_uri}: {warning}")
        if result.rows_quarantined:
            first = result.quarantine.row(0, named=True)
            context.log.warning(
                f"{result.source_uri}: {result.rows_quarantined} row(s) quarantined in "
                f"quarantine.{name}; first at line {first['line_number']}: {first['reason']}"
            )
    return summary


def stage_window(
    context: dg.AssetExecutionContext,
    con,
    *,
    asset_key: str,
    table: str,
    date_column: str,
    window: tuple[date, date],
    batch: StagedBatch,
    raw_files: list[RawFile],
    related_date_columns: dict[str, str] | None = None,
    suite_path: Path,
    suite_parameters: dict,
    extra_metadata: dict | None = None,
) -> dg.MaterializeResult:
    """Replace the window in staging (and quarantine and audit), validate it, report it."""
    start, end = window
    related_date_columns = related_date_columns or {}
    summary = write_window(
        context,
        con,
        table=table,
        date_column=date_column,
        window=window,
        batch=batch,
        sha_by_uri={f.source_uri: f.sha256 for f in raw_files},
        related_date_columns=related_date_columns,
    )
    if not raw_files:
        context.log.warning(
            f"no source files for {table} in {start}..{end - timedelta(days=1)}: loaded zero rows"
        )
    where = f"where {date_column} >= $start and {date_column} < $end"
    loaded = table_frame(con, table, where + " order by all", {"start": start, "end": end})
    check = suite_check_result(asset_key, loaded, suite_path, suite_parameters)
    metadata = {
        "window_start": start.isoformat(),
        "window_end_exclusive": end.isoformat(),
        **summary.as_metadata(),
        "dagster/row_count": loaded.height,
        "content_sha256": content_hash(loaded),
        "preview": dg.MetadataValue.md(
            warehouse.preview_markdown(
                con, f"select * from {table} {where}", {"start": start, "end": end}
            )
        ),
    }
    for t in related_date_columns:
        metadata[f"rows_{t.split('.')[1]}"] = int(
            con.execute(
                f"select count(*) from {t} where {related_date_columns[t]} >= $start "
                f"and {related_date_columns[t]} < $end",
                {"start": start, "end": end},
            ).fetchone()[0]
        )
    metadata.update(extra_metadata or {})
    context.log.info(
        f"{table} {start}..{end - timedelta(days=1)}: {summary.files} file(s), read {summary.rows_read}, "
        f"loaded {summary.rows_loaded}, filtered {summary.rows_filtered}, "
        f"quarantined {summary.rows_quarantined}"
    )
    return dg.MaterializeResult(asset_key=asset_key, metadata=metadata, check_results=[check])


def build_curated(
    context: dg.AssetExecutionContext,
    con,
    *,
    asset_key: str,
    sql_file: str,
    params: dict | None = None,
    suite_path: Path | None = None,
    suite_parameters: dict | None = None,
    extra_metadata: dict | None = None,
) -> dg.MaterializeResult:
    """Rebuild one curated table from its SQL file, validate it and describe it."""
    table = f"curated.{Path(sql_file).stem}"
    warehouse.run_sql_file(con, sql_file, params)
    df = table_frame(con, table)
    metadata = {
        "dagster/row_count": df.height,
        "content_sha256": content_hash(df),
        "sql": sql_file,
        "preview": dg.MetadataValue.md(warehouse.preview_markdown(con, f"select * from {table}")),
        **(extra_metadata or {}),
    }
    checks = []
    if suite_path is not None:
        checks.append(suite_check_result(asset_key, df, suite_path, suite_parameters or {}))
    context.log.info(f"{table}: {df.height} rows")
    return dg.MaterializeResult(asset_key=asset_key, metadata=metadata, check_results=checks)


def staging_asset(*, key: str, group: str, description: str, suite_path: Path, kinds=("polars",)):
    """The decorator every source's staging asset shares: daily partitions from 2015, one run
    per range, the duckdb pool, and its suite as a blocking check."""
    from orchestration.checks import suite_check_spec
    from orchestration.partitions import daily_partitions, single_run

    return dg.asset(
        key=key,
        group_name=group,
        deps=["facilities"],
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        code_version="1",
        pool="duckdb",
        kinds={"duckdb", *kinds},
        description=description,
        check_specs=[suite_check_spec(key, suite_path)],
    )
