"""The factory for curated assets: one SQL file, one optional suite, one unpartitioned asset."""

from pathlib import Path

import dagster as dg

from assets.core import warehouse
from orchestration.checks import suite_check_spec
from orchestration.loading import build_curated
from orchestration.resources import Borderwatch


def curated_sql_asset(
    *,
    key: str,
    group: str,
    deps: list[str],
    description: str,
    suite_dir: Path,
    staging_ddls: tuple[str, ...] = (),
    counts: dict[str, str] | None = None,
) -> dg.AssetsDefinition:
    """An unpartitioned asset that rebuilds curated.<key> from sql/curated/<key>.sql.

    Every setting the resource holds is offered as a bound parameter (the SQL takes what it
    names); the suite <suite_dir>/<key>.json, when present, is its blocking check. `counts` adds
    metadata entries from SQL, e.g. {"anomalies": "select count(*) ... where is_anomaly"}.
    """
    suite = suite_dir / f"{key}.json"
    specs = [suite_check_spec(key, suite)] if suite.exists() else []

    @dg.asset(
        key=key,
        group_name=group,
        deps=deps,
        code_version="1",
        pool="duckdb",
        kinds={"duckdb", "sql"},
        description=description,
        check_specs=specs,
    )
    def _build(context: dg.AssetExecutionContext, borderwatch: Borderwatch) -> dg.MaterializeResult:
        with borderwatch.connect() as con:
            # Upstream staging may be empty and never created: an empty source is valid.
            warehouse.ensure_tables(con, *staging_ddls)
            result = build_curated(
                context,
                con,
                asset_key=key,
                sql_file=f"curated/{key}.sql",
                params=borderwatch.sql_params(),
                suite_path=suite if specs else None,
                suite_parameters={
                    "today": borderwatch.today().isoformat(),
                    "known_facilities": [
                        r[0]
                        for r in con.execute(
                            "select facility_id from curated.facilities order by 1"
                        ).fetchall()
                    ],
                },
            )
            extra = {
                name: int(con.execute(sql).fetchone()[0]) for name, sql in (counts or {}).items()
            }
        if not extra:
            return result
        return dg.MaterializeResult(
            asset_key=key,
            metadata={**result.metadata, **extra},
            check_results=result.check_results,
        )

    return _build
