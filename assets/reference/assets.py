"""Dagster asset for the facilities gazetteer (thin: the logic is in facilities.py and its SQL)."""

from pathlib import Path

import dagster as dg
import polars as pl

from assets.reference.facilities import read_facilities
from orchestration.checks import suite_check_spec
from orchestration.loading import build_curated
from orchestration.resources import Borderwatch

SUITES = Path(__file__).with_name("suites")


@dg.asset(
    key="facilities",
    group_name="reference",
    code_version="1",
    pool="duckdb",
    kinds={"duckdb", "polars"},
    description="curated.facilities: the monitored crossings, rail yards and ports with aliases in "
    "several scripts and an area of interest. From BORDERWATCH_FACILITIES.",
    check_specs=[suite_check_spec("facilities", SUITES / "facilities.json")],
)
def facilities(context: dg.AssetExecutionContext, borderwatch: Borderwatch) -> dg.MaterializeResult:
    frame = read_facilities(borderwatch.facilities)
    with borderwatch.connect() as con:
        con.register("_facilities", frame.to_arrow())
        result = build_curated(
            context,
            con,
            asset_key="facilities",
            sql_file="curated/facilities.sql",
            extra_metadata={"facilities_file": borderwatch.facilities},
        )
        con.unregister("_facilities")
    # Lists do not fit GX's pandas checks; validate the scalar view with the first tile.
    from orchestration.checks import suite_check_result

    scalar = (
        frame.drop("aliases", "ambiguous_aliases")
        .with_columns(pl.col("mgrs_tiles").list.first().alias("mgrs_tile_first"))
        .drop("mgrs_tiles")
    )
    check = suite_check_result("facilities", scalar, SUITES / "facilities.json")
    return dg.MaterializeResult(
        asset_key="facilities", metadata=result.metadata, check_results=[check]
    )


def load_facilities(con) -> pl.DataFrame:
    """The gazetteer as stored by the facilities asset (what every source matches against)."""
    from assets.reference.facilities import FACILITY_SCHEMA

    df = con.execute("select * from curated.facilities order by facility_id").pl()
    return df.select([pl.col(c).cast(t) for c, t in FACILITY_SCHEMA.items()])
