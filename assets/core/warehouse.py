"""The DuckDB warehouse: connecting with plain-language lock errors, running SQL files, partition writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from assets.core.parsing import ParseResult

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"


class WarehouseLockedError(RuntimeError):
    pass


def _holder(message: str) -> str:
    match = re.search(r"PID (\d+)", message)
    if not match:
        return "another process"
    pid = match.group(1)
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = ""
    return f"process {pid}" + (f" ({cmd[:160]})" if cmd else "")


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse. A held lock becomes a sentence naming the process that holds it."""
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"no warehouse at {path}: run `borderwatch demo` or `borderwatch materialize` first"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLockedError(
                f"the warehouse {path} is locked by {_holder(str(exc))}; "
                "DuckDB allows one writer: wait for it to finish or stop it"
            ) from exc
        raise
    con.execute("set timezone = 'UTC'")
    return con


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


def ensure_tables(con, *relatives: str) -> None:
    for rel in relatives:
        run_sql_file(con, rel)


def table_columns(con, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = $s and table_name = $t order by ordinal_position",
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
        con.execute(f"insert into {table} by name select * from _incoming")
    finally:
        con.unregister("_incoming")


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
) -> LoadSummary:
    """Replace [window_start, window_end) of `table` with the parsed rows, in one transaction.

    Quarantined rows are upserted on (source_uri, sha256, line_number) into quarantine.<name> and
    one load_audit row per file is upserted, so re-running a window never duplicates anything.
    `rows` overrides the concatenation of the results' rows. `related` maps further staging
    tables to (date column, rows): their window is replaced in the same transaction.
    """
    name = table.split(".")[1]
    for r in results:
        r.check_accounting()
    frames = [r.rows for r in results if r.rows.height]
    if rows is None:
        rows = pl.concat(frames, how="diagonal_relaxed") if frames else None
    quarantine = [
        r.quarantine.with_columns(pl.lit(sha_by_uri[r.source_uri]).alias("sha256"))
        for r in results
        if r.quarantine.height
    ]
    con.execute("begin transaction")
    try:
        deleted = con.execute(
            f"delete from {table} where {date_column} >= $start and {date_column} < $end",
            {"start": window_start, "end": window_end},
        ).fetchone()[0]
        if rows is not None and rows.height:
            cols = table_columns(con, table)
            _insert_frame(con, table, rows.select([c for c in cols if c in rows.columns]))
        for other, (other_date, frame) in (related or {}).items():
            con.execute(
                f"delete from {other} where {other_date} >= $start and {other_date} < $end",
                {"start": window_start, "end": window_end},
            )
            if frame.height:
                cols = table_columns(con, other)
                _insert_frame(con, other, frame.select([c for c in cols if c in frame.columns]))
        if quarantine:
            q = pl.concat(quarantine, how="vertical_relaxed").unique(
                subset=["source_uri", "sha256", "line_number"], keep="first", maintain_order=True
            )
            con.register("_quarantine", q.to_arrow())
            con.execute(
                f"""
                delete from quarantine.{name} where (source_uri, sha256, line_number) in
                    (select (source_uri, sha256, line_number) from _quarantine);
                insert into quarantine.{name} by name
                    select source_uri, sha256, line_number, raw_line, reason from _quarantine;
                """
            )
            con.unregister("_quarantine")
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
            schema={
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
            },
        )
        if audit.height:
            con.register("_audit", audit.to_arrow())
            con.execute(
                """
                delete from staging.load_audit where (table_name, window_start, window_end, source_uri, sha256)
                    in (select (table_name, window_start, window_end, source_uri, sha256) from _audit);
                insert into staging.load_audit by name select * from _audit;
                """
            )
            con.unregister("_audit")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
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
