"""Curated tables from a declarative list: each is one SQL file and its suite side by side in
sql/curated/, rebuilt in full, validated and committed in one transaction."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import dagster as dg

from assets.core import warehouse
from orchestration.kit.checks import suite_check_spec, suite_path
from orchestration.kit.columns import column_schema_metadata
from orchestration.kit.resource import Borderwatch
from orchestration.kit.versions import content_version
from orchestration.kit.writing import POOL, publish_curated


@dataclass(frozen=True)
class CuratedTable:
    """curated.<key> from sql/curated/<key>.sql, checked by sql/curated/<key>.expectations.json.

    `prepare(con, borderwatch)` runs inside the transaction before the SQL (e.g. to register a
    frame the SQL reads); `modules` are the Python behind it, hashed into code_version; `counts`
    adds metadata from SQL, e.g. {"anomalies": "select count(*) from ... where is_anomaly"}.
    """

    key: str
    deps: tuple[str, ...]
    description: str
    group: str = "curated"
    kinds: tuple[str, ...] = ("sql",)
    prepare: Callable | None = None
    modules: tuple[ModuleType, ...] = ()
    counts: dict[str, str] = field(default_factory=dict)


def curated_asset(spec: CuratedTable) -> dg.AssetsDefinition:
    sql_file = warehouse.SQL_DIR / "curated" / f"{spec.key}.sql"
    suite = suite_path("curated", spec.key)

    @dg.asset(
        key=spec.key,
        group_name=spec.group,
        deps=list(spec.deps),
        code_version=content_version(sql_file, suite, *spec.modules),
        pool=POOL,
        kinds={"duckdb", *spec.kinds},
        description=spec.description,
        metadata=column_schema_metadata("curated", spec.key),
        check_specs=[suite_check_spec(spec.key, suite)],
    )
    def _build(context: dg.AssetExecutionContext, borderwatch: Borderwatch) -> dg.MaterializeResult:
        prepare = spec.prepare
        with borderwatch.connect() as con:
            return publish_curated(
                context,
                con,
                key=spec.key,
                params=borderwatch.sql_params(),
                suite_parameters={
                    "today": borderwatch.today().isoformat(),
                    "known_facilities": known_facilities(con),
                },
                prepare=(lambda c: prepare(c, borderwatch)) if prepare else None,
                counts=spec.counts,
            )

    return _build


def known_facilities(con) -> list[str]:
    try:
        rows = con.execute("select facility_id from curated.facilities order by 1").fetchall()
    except Exception:  # the gazetteer itself is being built
        return []
    return [r[0] for r in rows]


def curated_assets(specs: Sequence[CuratedTable]) -> list[dg.AssetsDefinition]:
    return [curated_asset(s) for s in specs]
