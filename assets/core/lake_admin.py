"""Looking after the lake: export it as Parquet plus one .duckdb file, maintain it, find orphan files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import stamina

from assets.core.lake import (
    LAKE,
    METADATA,
    LakeConfig,
    connect,
    current_snapshot,
    is_retryable,
    writers_lock,
)

EXPORT_DB = "borderwatch.duckdb"
EXPORT_MANIFEST = "MANIFEST.sha256"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name(text: str) -> str:
    """A schema or table name safe to put in a statement (and a path) in double quotes."""
    if not _NAME.match(text):
        raise ValueError(f"unexpected name in the lake: {text!r}")
    return f'"{text}"'


def lake_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every base table in the lake, sorted."""
    return [
        (s, t)
        for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = $lake and table_type = 'BASE TABLE' order by all",
            {"lake": LAKE},
        ).fetchall()
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_lake(config: LakeConfig, out_dir: str | Path, as_of=None) -> Path:
    """Write every lake table as out_dir/<schema>/<table>.parquet, one self-contained
    out_dir/borderwatch.duckdb with the same schema and table names, and out_dir/MANIFEST.sha256.

    All tables come from one snapshot (the latest, or `as_of`). Rows are ordered by all their
    columns, so the same lake state always gives byte-identical Parquet files (the manifest lists
    their sha256, sorted by path, in `sha256sum -c` format). The export is built beside out_dir
    and renamed into place; an existing out_dir is replaced only if it is an earlier export.
    Returns out_dir.
    """
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()) and not (out / EXPORT_MANIFEST).exists():
        raise FileExistsError(
            f"{out} exists and is not an earlier lake export: choose another folder"
        )
    if as_of is None:
        # Pin the snapshot first: tables read one by one must all come from the same commit.
        con = connect(config, read_only=True)
        try:
            as_of = current_snapshot(con)
        finally:
            con.close()
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        lines = []
        con = connect(config, read_only=True, as_of=as_of)
        try:
            tables = lake_tables(con)
            for schema, table in tables:
                target = staging / schema / f"{table}.parquet"
                target.parent.mkdir(exist_ok=True)
                con.execute(
                    f"COPY (SELECT * FROM {LAKE}.{_name(schema)}.{_name(table)} ORDER BY ALL) "
                    "TO $path (FORMAT parquet)",
                    {"path": str(target)},
                )
                lines.append(f"{_sha256(target)}  {schema}/{table}.parquet")
        finally:
            con.close()
        single = duckdb.connect(str(staging / EXPORT_DB))
        try:
            single.execute("SET timezone = 'UTC'")
            for schema, table in tables:
                single.execute(f"CREATE SCHEMA IF NOT EXISTS {_name(schema)}")
                single.execute(
                    f"CREATE TABLE {_name(schema)}.{_name(table)} AS SELECT * FROM read_parquet($path)",
                    {"path": str(staging / schema / f"{table}.parquet")},
                )
        finally:
            single.close()
        (staging / EXPORT_MANIFEST).write_text(
            "".join(line + "\n" for line in sorted(lines, key=lambda s: s.split("  ", 1)[1])),
            encoding="utf-8",
        )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _call(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[tuple]:
    """One maintenance call in its own transaction, redone if a writer's commit got in the way;
    on a PostgreSQL catalog it takes its turn with the writers (assets.core.lake.writers_lock)."""
    for attempt in stamina.retry_context(
        on=is_retryable, attempts=6, timeout=None, wait_initial=0.1, wait_max=2.0
    ):
        with attempt, writers_lock(con):
            return con.execute(sql, params).fetchall()
    raise AssertionError("unreachable")


def maintain(con: duckdb.DuckDBPyConnection, *, older_than: timedelta) -> dict[str, int]:
    """Compact the lake and drop history older than `older_than`; queries give the same answers.

    1. flush rows DuckLake keeps inline in the catalog (small writes) into Parquet files;
    2. merge adjacent small files of each table into larger ones;
    3. expire snapshots taken more than `older_than` ago (time travel to them ends here);
    4. delete the files no remaining snapshot references;
    5. delete orphan files older than `older_than`: written by a transaction that never
       committed (a killed run). Younger ones may belong to a transaction still running.

    `older_than` must exceed the longest transaction or read a process may still be running.
    Returns counts of what each step did.
    """
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    flushed = _call(
        con, "SELECT rows_flushed FROM ducklake_flush_inlined_data($lake)", {"lake": LAKE}
    )
    merged = _call(
        con,
        "SELECT files_processed, files_created FROM ducklake_merge_adjacent_files($lake)",
        {"lake": LAKE},
    )
    # The cutoff is taken now, so the snapshots the two steps above made count as well.
    cutoff = datetime.now(UTC) - older_than
    expired = _call(
        con,
        "SELECT snapshot_id FROM ducklake_expire_snapshots($lake, older_than => $cutoff)",
        {"lake": LAKE, "cutoff": cutoff},
    )
    # Every file scheduled for deletion is referenced by no snapshot any more (expiry put it there).
    deleted = _call(
        con,
        "SELECT path FROM ducklake_cleanup_old_files($lake, cleanup_all => true)",
        {"lake": LAKE},
    )
    orphans = _call(
        con,
        "SELECT path FROM ducklake_delete_orphaned_files($lake, older_than => $cutoff)",
        {"lake": LAKE, "cutoff": cutoff},
    )
    return {
        "rows_flushed": sum(r[0] for r in flushed),
        "files_merged": sum(r[0] for r in merged),
        "files_created": sum(r[1] for r in merged),
        "snapshots_expired": len(expired),
        "files_deleted": len(deleted),
        "orphans_deleted": len(orphans),
    }


def orphan_files(config: LakeConfig) -> list[str]:
    """Files under the data path that the catalog does not know: no data or delete file of any
    kept snapshot, not scheduled for deletion. A committed or rolled-back run leaves none; a
    killed writer may (maintain() removes them). Computed from the catalog tables and a listing
    of the data path, independently of DuckLake's own orphan search."""
    con = connect(config, read_only=True)
    try:
        listed = {
            row[0]
            for row in con.execute(
                "SELECT file FROM glob($pattern)", {"pattern": config.data_path + "**"}
            ).fetchall()
        }
        # Paths are relative to the data path, the schema's path and the table's path in turn
        # (DuckLake spec: path_is_relative). Catalog rows of every snapshot count.
        known = con.execute(
            f"""
            with schemas as (
                select distinct schema_id,
                    case when path_is_relative then $data_path || path else path end as dir
                from {METADATA}.ducklake_schema
            ),
            tables as (
                select distinct t.table_id,
                    case when t.path_is_relative then s.dir || t.path else t.path end as dir
                from {METADATA}.ducklake_table t join schemas s using (schema_id)
            ),
            files as (
                select table_id, path, path_is_relative from {METADATA}.ducklake_data_file
                union all
                select table_id, path, path_is_relative from {METADATA}.ducklake_delete_file
            )
            select case when f.path_is_relative then t.dir || f.path else f.path end
            from files f join tables t using (table_id)
            union all
            select case when path_is_relative then $data_path || path else path end
            from {METADATA}.ducklake_files_scheduled_for_deletion
            """,
            {"data_path": config.data_path},
        ).fetchall()
    finally:
        con.close()
    return sorted(listed - {row[0] for row in known})


def delete_orphans(con: duckdb.DuckDBPyConnection, *, older_than: timedelta) -> list[str]:
    """Delete data files no transaction committed (left by a writer that was killed) that are
    older than `older_than`; call it with timedelta(0) only when no writer can be running."""
    cutoff = datetime.now(UTC) - older_than
    rows = _call(
        con,
        "SELECT path FROM ducklake_delete_orphaned_files($lake, older_than => $cutoff)",
        {"lake": LAKE, "cutoff": cutoff},
    )
    return sorted(r[0] for r in rows)
