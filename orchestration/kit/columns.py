"""Column documentation for Dagster and the lake, from the one declaration per table
(`meta.columns` in sql/<layer>/<table>.expectations.json, read by assets.core.columns).

- column_schema_metadata(layer, table): static asset metadata, so the UI shows each table's
  columns, types and descriptions before any run.
- table_comments(con, layer, table): COMMENT ON TABLE / COLUMN in the caller's transaction, so
  the comments commit (or roll back) with the write they describe.
"""

from __future__ import annotations

import dagster as dg

from assets.core.columns import comment_statement, comment_targets, declared_columns

COLUMN_SCHEMA = "dagster/column_schema"


def column_schema_metadata(layer: str, table: str) -> dict:
    """{"dagster/column_schema": TableSchema} of the declared columns, for an asset spec's metadata."""
    return {
        COLUMN_SCHEMA: dg.TableSchema(
            columns=[
                dg.TableColumn(name=c.name, type=c.type, description=c.description)
                for c in declared_columns(layer, table)
            ]
        )
    }


def table_comments(con, layer: str, table: str) -> list[str]:
    """Set <layer>.<table>'s table and column comments to the declared text, inside the caller's
    transaction (no BEGIN/COMMIT here). Returns what changed ("table", or column names).

    Only comments that differ are written: on DuckLake every COMMENT ON is a schema change (a new
    schema version, a `tables_altered` entry in the snapshot), even with the same text, and a
    schema change on a table conflicts with other writers of it. So a table whose comments are
    current costs one catalog read and writes nothing. A `create or replace` drops a table's
    comments, so a rebuilt curated table gets them all again in its own transaction. Declared
    columns the table lacks are skipped (assets.core.columns.check_declared reports them).
    """
    rows = con.execute(
        "select column_name, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name = $s and table_name = $t",
        {"s": layer, "t": table},
    ).fetchall()
    if not rows:
        raise LookupError(f"{layer}.{table} is not in the lake: create it before commenting on it")
    current: dict[str | None, str | None] = dict(rows)
    current[None] = con.execute(
        "select comment from duckdb_tables() "
        "where database_name = current_database() and schema_name = $s and table_name = $t",
        {"s": layer, "t": table},
    ).fetchone()[0]
    changed = []
    for column, text in comment_targets(layer, table):
        if column not in current or current[column] == text:
            continue
        con.execute(comment_statement(layer, table, column, text))
        changed.append(column or "table")
    return changed
