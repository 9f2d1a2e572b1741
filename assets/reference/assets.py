"""Dagster definitions for the facilities gazetteer (thin: the logic is in facilities.py and its SQL)."""


from assets.reference import facilities as facilities_module
from assets.reference import geometry
from assets.reference.facilities import read_facilities
from orchestration.kit.curated import CuratedTable, curated_asset
from orchestration.kit.resource import source_definitions


def _register_gazetteer(con, borderwatch) -> None:
    # sql/curated/facilities.sql reads the checked, enriched gazetteer from this frame.
    con.register("_facilities", read_facilities(borderwatch.facilities).to_arrow())


facilities = curated_asset(
    CuratedTable(
        key="facilities",
        deps=(),
        group="reference",
        kinds=("polars",),
        description="curated.facilities: the monitored crossings, rail yards and ports with "
        "aliases in several scripts and an area of interest. From BORDERWATCH_FACILITIES.",
        prepare=_register_gazetteer,
        modules=(facilities_module, geometry),
    )
)

defs = source_definitions(facilities)
