"""The warehouse on the DuckLake: the storage API every asset uses, SQL files, and partition writes.

Connections, transactions and snapshots live in assets.core.lake; export and maintenance in
assets.core.lake_admin. Both are re-exported here so callers import one module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from assets.core.lake import (  # noqa: F401  (re-exported: the warehouse's public API)
    LAKE,
    LakeBusyError,
    LakeConfig,
    WarehouseLockedError,
    connect,
    current_snapshot,
    is_conflict,
    is_retryable,
    is_transient,
    read_frame,
    session,
    snapshots,
    transact,
)
from assets.core.lake import _redact as redact  # noqa: F401  (config printout)
from assets.core.lake_admin import delete_orphans, export_lake, maintain, orphan_files  # noqa: F401
from assets.core.parsing import ParseResult

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"

# A schema.table name as the SQL files spell them: safe to format into a statement.
_QUALIFIED = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_FIXED_ARRAY = re.compile(r"\[\d+\]$")


def _qualified(table: str) -> str:
    if not _QUALIFIED.match(table):
        raise ValueError(f"not a schema.table name: {table!r}")
    return table


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a column name: {name!r}")
    return name


def sql_text(relative: str) -> str:
    """The text of one file under sql/, e.g. 'curated/activity_baselines.sql'."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def run_sql_file(con, relative: str, params: dict | None = None) -> None:
    """Run one SQL file; values come in as bound $parameters, never formatted into the text."""
    text = sql_text(relative)
    if params:
        # Bind only what the statement uses (DuckDB refuses extras); comments may name any $x.
        code = re.sub(r"--[^\n]*", "", text)
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", code)}
        con.execute(text, used)
    else:
        con.execute(text)


def held_tables(con) -> set[str]:
    """'schema.table' of every table the connected warehouse holds (one catalog query)."""
    return {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    }


def ensure_tables(con, *relatives: str) -> None:
    """Run DDL files (create ... if not exists). On the lake a table that exists adds no snapshot.

    In one transaction: runs that start side by side on a new lake all create the same schemas
    and tables; transact has them take turns (PostgreSQL catalog) or redoes the ones whose
    COMMIT conflicts (SQLite), and the later ones find everything there."""

    existing = held_tables(con)
    # A file whose tables all exist has nothing to do (each is `create ... if not exists` only):
    # skipping it saves a step a dozen statements and a transaction.
    missing = [rel for rel in relatives if not set(_created_tables(rel)) <= existing]
    if not missing:
        return

    def create(c) -> None:
        for rel in missing:
            run_sql_file(c, rel)

    transact(con, create)


_CREATE_TABLE = re.compile(
    r"\bcreate\s+table\s+if\s+not\s+exists\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)", re.I
)


def _created_tables(relative: str) -> list[str]:
    """The schema.table names a DDL file creates; a file that creates none is always run."""
    code = re.sub(r"--[^\n]*", "", sql_text(relative))
    found = [m.lower() for m in _CREATE_TABLE.findall(code)]
    return found or [f"{relative}:no-table"]


def table_columns(con, table: str) -> list[str]:
    """The columns of schema.table in the connection's default database (`lake` on the lake)."""
    schema, name = _qualified(table).split(".")
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = $s and table_name = $t "
        "order by ordinal_position",
        {"s": schema, "t": name},
    ).fetchall()
    return [r[0] for r in rows]


AUDIT_DDL = "staging/load_audit.sql"


@dataclass
class LoadSummary:
    table: str
    window_start: date
    window_end: date
    files: int
    rows_read: int
    rows_loaded: int
    rows_filtered: int
    rows_quarantined: int
    rows_deleted: int

    def as_metadata(self) -> dict:
        return {
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_filtered": self.rows_filtered,
            "rows_quarantined": self.rows_quarantined,
            "rows_replaced": self.rows_deleted,
        }


def _insert_frame(con, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    con.register("_incoming", frame.to_arrow())
    try:
        con.execute(f"insert into {_qualified(table)} by name select * from _incoming")
    finally:
        con.unregister("_incoming")


_AUDIT_SCHEMA = {
    "table_name": pl.String,
    "window_start": pl.Date,
    "window_end": pl.Date,
    "source_uri": pl.String,
    "sha256": pl.String,
    "rows_read": pl.Int64,
    "rows_loaded": pl.Int64,
    "rows_filtered": pl.Int64,
    "rows_quarantined": pl.Int64,
    "warnings": pl.String,
    "run_id": pl.String,
}


def check_audit(audit: pl.DataFrame) -> None:
    """The rule sql/staging/load_audit.sql states, enforced here: DuckLake has no CHECK constraint.

    rows_read = rows_loaded + rows_filtered + rows_quarantined on every row.
    """
    bad = audit.filter(
        pl.col("rows_read")
        != pl.col("rows_loaded") + pl.col("rows_filtered") + pl.col("rows_quarantined")
    )
    if bad.height:
        first = bad.row(0, named=True)
        raise AssertionError(
            f"load_audit accounting broken for {bad.height} file(s), e.g. {first['source_uri']}: "
            f"rows_read={first['rows_read']} but loaded={first['rows_loaded']} + "
            f"filtered={first['rows_filtered']} + quarantined={first['rows_quarantined']}"
        )


def load_partition(
    con,
    table: str,
    date_column: str,
    window_start: date,
    window_end: date,
    results: list[ParseResult],
    sha_by_uri: dict[str, str],
    rows: pl.DataFrame | None = None,
    run_id: str = "",
    related: dict[str, tuple[str, pl.DataFrame]] | None = None,
    has_quarantine: bool | None = None,
) -> LoadSummary:
    """Replace [window_start, window_end) of `table` with the parsed rows.

    Issues no BEGIN/COMMIT: run it inside the caller's transaction, e.g.
    `transact(con, lambda c: load_partition(c, ...))`, so the window, its quarantine and its
    audit rows (and whatever the caller validates afterwards) commit or roll back together.

    The keys the DDL comments name hold by delete-then-insert (DuckLake has no PRIMARY KEY):
    quarantined rows replace earlier ones on (source_uri, sha256, line_number) in
    quarantine.<name>, and one load_audit row per file replaces any earlier one on (table_name,
    window_start, window_end, source_uri, sha256), so re-running a window never duplicates
    anything. Re-running a window also replaces what an earlier run of that window (or of a
    window inside it) left in quarantine and audit, and quarantine rows of an earlier version of
    a file read now (a fixed file's old reasons do not linger). `rows` overrides the
    concatenation of the results' rows. `related` maps further staging tables to (date column,
    rows): their window is replaced too. `has_quarantine` (default: when there are results)
    says whether quarantine.<name> exists.
    """
    table = _qualified(table)
    name = table.split(".")[1]
    for r in results:
        r.check_accounting()
    frames = [r.rows for r in results if r.rows.height]
    if rows is None:
        rows = pl.concat(frames, how="diagonal_relaxed") if frames else None
    if has_quarantine is None:
        has_quarantine = bool(results)
    quarantine = [
        r.quarantine.with_columns(
            pl.lit(sha_by_uri[r.source_uri]).alias("sha256"),
            pl.lit(window_start).alias("window_start"),
            pl.lit(window_end).alias("window_end"),
        )
        for r in results
        if r.quarantine.height
    ]
    audit = pl.DataFrame(
        [
            {
                "table_name": table,
                "window_start": window_start,
                "window_end": window_end,
                "source_uri": r.source_uri,
                "sha256": sha_by_uri[r.source_uri],
                "rows_read": r.rows_read,
                "rows_loaded": r.rows_loaded,
                "rows_filtered": r.rows_filtered,
                "rows_quarantined": r.rows_quarantined,
                "warnings": "; ".join(r.warnings) or None,
                "run_id": run_id,
            }
            for r in results
        ],
        schema=_AUDIT_SCHEMA,
    )
    check_audit(audit)
    window = {"start": window_start, "end": window_end}
    deleted = con.execute(
        f"delete from {table} where {_ident(date_column)} >= $start and {_ident(date_column)} < $end",
        window,
    ).fetchone()[0]
    if rows is not None and rows.height:
        cols = table_columns(con, table)
        _insert_frame(con, table, rows.select([c for c in cols if c in rows.columns]))
    for other, (other_date, frame) in (related or {}).items():
        con.execute(
            f"delete from {_qualified(other)} where {_ident(other_date)} >= $start "
            f"and {_ident(other_date)} < $end",
            window,
        )
        if frame.height:
            cols = table_columns(con, other)
            _insert_frame(con, other, frame.select([c for c in cols if c in frame.columns]))
    if has_quarantine:
        con.execute(
            f"delete from quarantine.{name} where window_start >= $start and window_end <= $end",
            window,
        )
        versions = pl.DataFrame(
            [(r.source_uri, sha_by_uri[r.source_uri]) for r in results],
            schema={"source_uri": pl.String, "sha256": pl.String},
            orient="row",
        )
        if versions.height:
            con.register("_versions", versions.to_arrow())
            try:
                con.execute(
                    f"""
                    delete from quarantine.{name} where source_uri in
                        (select source_uri from _versions)
                        and (source_uri, sha256) not in (select (source_uri, sha256) from _versions)
                    """
                )
            finally:
                con.unregister("_versions")
    if quarantine:
        q = pl.concat(quarantine, how="vertical_relaxed").unique(
            subset=["source_uri", "sha256", "line_number"], keep="first", maintain_order=True
        )
        con.register("_quarantine", q.to_arrow())
        try:
            con.execute(
                f"""
                delete from quarantine.{name} where (source_uri, sha256, line_number) in
                    (select (source_uri, sha256, line_number) from _quarantine);
                insert into quarantine.{name} by name
                    select source_uri, sha256, line_number, raw_line, reason, window_start,
                        window_end
                    from _quarantine;
                """
            )
        finally:
            con.unregister("_quarantine")
    if has_quarantine:
        con.execute(
            "delete from staging.load_audit where table_name = $table "
            "and window_start >= $start and window_end <= $end",
            {**window, "table": table},
        )
    if audit.height:
        con.register("_audit", audit.to_arrow())
        try:
            con.execute(
                """
                delete from staging.load_audit where (table_name, window_start, window_end, source_uri, sha256)
                    in (select (table_name, window_start, window_end, source_uri, sha256) from _audit);
                insert into staging.load_audit by name select * from _audit;
                """
            )
        finally:
            con.unregister("_audit")
    return LoadSummary(
        table=table,
        window_start=window_start,
        window_end=window_end,
        files=len(results),
        rows_read=sum(r.rows_read for r in results),
        rows_loaded=rows.height if rows is not None else 0,
        rows_filtered=sum(r.rows_filtered for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        rows_deleted=int(deleted),
    )


def preview_markdown(con, query: str, params: dict | None = None, limit: int = 10) -> str:
    """A small markdown table for Dagster metadata."""
    df = con.execute(f"select * from ({query}) limit {int(limit)}", params or {}).pl()
    if df.height == 0:
        return "_no rows_"
    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in df.iter_rows()
    ]
    return "\n".join([head, sep, *body])


def migrate_legacy(legacy: str | Path, config: LakeConfig) -> dict[str, int]:
    """Copy every table of an earlier version's single-file warehouse into the lake, in one
    transaction; returns rows per table. Fixed-size arrays (DOUBLE[4]) become lists, which is
    what the lake's DDL declares."""
    import duckdb

    source = duckdb.connect(str(legacy), read_only=True)
    try:
        tables = source.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        frames = {
            f"{schema}.{name}": source.execute(
                f"select * from {_qualified(f'{schema}.{name}')}"
            ).fetch_arrow_table()
            for schema, name in tables
        }
    finally:
        source.close()
    con = connect(config)
    try:

        def copy(con) -> dict[str, int]:
            counts = {}
            for table, frame in frames.items():
                schema = table.split(".")[0]
                con.execute(f"create schema if not exists {_ident(schema)}")
                con.register("_legacy", frame)
                columns = con.execute("describe select * from _legacy").fetchall()
                # Types come from DuckDB's own description of the legacy table, not from a user.
                select = ", ".join(
                    f"cast({_ident(c)} as {_FIXED_ARRAY.sub('[]', t)}) as {_ident(c)}"
                    for c, t, *_ in columns
                )
                con.execute(
                    f"create or replace table {_qualified(table)} as select {select} from _legacy"
                )
                con.unregister("_legacy")
                counts[table] = frame.num_rows
            return counts

        return transact(con, copy)
    finally:
        con.close()
