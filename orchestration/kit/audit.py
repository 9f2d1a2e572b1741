"""The bookkeeping tables as assets with their checks: every quarantine table, the load audit and
the raw zone's manifest. The staging steps write them inside their own transactions; this step
validates what they hold after the staging steps of a run, so each table shows in the UI with its
Great Expectations suite like every other table."""

from pathlib import Path

import dagster as dg

from assets.core import warehouse
from orchestration.kit.checks import check_result, suite_check_spec, suite_path, validate
from orchestration.kit.columns import column_schema_metadata, table_comments
from orchestration.kit.resource import Borderwatch
from orchestration.kit.versions import content_version
from orchestration.kit.writing import POOL, all_staging_ddls, content_hash

# What each table is validated as: load_audit's accounting rule becomes a column to check.
VALIDATION_QUERIES = {
    "staging.load_audit": "select *, rows_read - (rows_loaded + rows_filtered + rows_quarantined)"
    " as rows_unaccounted from staging.load_audit order by all",
}


def _tables() -> list[tuple[str, str, Path]]:
    """(schema, table, DDL file) of every bookkeeping table, from the files under sql/."""
    sql = warehouse.SQL_DIR
    out = [("quarantine", p.stem, p) for p in sorted((sql / "quarantine").glob("*.sql"))]
    out.append(("staging", "load_audit", sql / "staging" / "load_audit.sql"))
    out.append(("raw", "manifest", sql / "raw" / "manifest.sql"))
    return out


TABLES = _tables()


def _key(schema: str, table: str) -> dg.AssetKey:
    return dg.AssetKey([schema, table])


def _upstream(schema: str, table: str) -> list[str]:
    # A quarantine table is written with its staging table; audit and manifest by every step.
    if schema == "quarantine":
        return [table]
    return [p.stem for p in sorted((warehouse.SQL_DIR / "quarantine").glob("*.sql"))]


@dg.multi_asset(
    name="bookkeeping",
    specs=[
        dg.AssetSpec(
            key=_key(schema, table),
            group_name="bookkeeping",
            deps=_upstream(schema, table),
            description=f"{schema}.{table}: "
            + {
                "quarantine": "rows that could not be loaded, with their file, line and reason.",
                "staging": "one row per file and load window: where every row read went.",
                "raw": "every fetched file, named by its sha256 in the raw zone.",
            }[schema],
            kinds={"duckdb"},
            code_version=content_version(ddl, suite_path(schema, table)),
            skippable=True,
            metadata=column_schema_metadata(schema, table),
        )
        for schema, table, ddl in TABLES
    ],
    check_specs=[
        suite_check_spec(_key(schema, table), suite_path(schema, table))
        for schema, table, _ in TABLES
    ],
    pool=POOL,
    can_subset=True,
)
def bookkeeping(context: dg.AssetExecutionContext, borderwatch: Borderwatch):
    selected = set(context.selected_asset_keys)
    with borderwatch.connect() as con:
        warehouse.ensure_tables(con, warehouse.AUDIT_DDL, "raw/manifest.sql", *all_staging_ddls())
        warehouse.transact(con, lambda c: [table_comments(c, s, t) for s, t, _ in TABLES])
        for schema, table, _ in TABLES:
            key = _key(schema, table)
            if key not in selected:
                continue
            name = f"{schema}.{table}"
            query = VALIDATION_QUERIES.get(name, f"select * from {name} order by all")
            frame = con.execute(query).pl()
            suite = suite_path(schema, table)
            outcome = validate(frame, suite)
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/row_count": frame.height,
                    "content_sha256": content_hash(frame),
                    "lake_snapshot": warehouse.current_snapshot(con),
                },
                check_results=[check_result(key, outcome, suite)],
            )
