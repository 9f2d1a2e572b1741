"""Dagster assets for reported counts (thin: parsing is in parse.py, logic in sql/)."""

from datetime import date
from pathlib import Path

import dagster as dg

from assets.core.parsing import StagedBatch
from assets.core.warehouse import PROJECT_ROOT
from assets.reference.assets import load_facilities
from assets.reported.parse import drop_cross_file_duplicates, parse_reported_file, read_metrics
from orchestration.curated import curated_sql_asset
from orchestration.loading import stage_window, staging_asset
from orchestration.partitions import load_window
from orchestration.resources import Borderwatch

SUITES = Path(__file__).with_name("suites")
METRICS_FILE = PROJECT_ROOT / "data" / "reference" / "metrics.csv"
EARLIEST = date(2000, 1, 1)


def known_metrics() -> set[str]:
    return read_metrics(METRICS_FILE)


@staging_asset(
    key="stg_reported__observations",
    group="reported",
    description="staging.stg_reported__observations: analysts' counts and trade statistics from "
    "CSV drops under reported/, partitioned on observed_on. Bad rows go to "
    "quarantine.stg_reported__observations; staging.load_audit accounts for every row.",
    suite_path=SUITES / "stg_reported__observations.json",
    kinds=("polars",),
)
def stg_reported__observations(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    window = load_window(context)
    metrics = known_metrics()
    with borderwatch.connect() as con:
        facility_ids = set(load_facilities(con)["facility_id"].to_list())
        store = borderwatch.store(con, borderwatch.source_location("reported"), "reported")
        objects = [o for o in store.list("") if o.key.lower().endswith(".csv")]
        raw_files = borderwatch.fetch(con, store, objects, "reported", log=context.log.info)
        today = borderwatch.today()
        results = [
            parse_reported_file(raw.read(), raw.source_uri, facility_ids, metrics, *window, today)
            for raw in raw_files
        ]
        results = drop_cross_file_duplicates(results)
        return stage_window(
            context,
            con,
            asset_key="stg_reported__observations",
            table="staging.stg_reported__observations",
            date_column="observed_on",
            window=window,
            batch=StagedBatch(results),
            raw_files=raw_files,
            suite_path=SUITES / "stg_reported__observations.json",
            suite_parameters={
                "known_facilities": sorted(facility_ids),
                "known_metrics": sorted(metrics),
                "earliest": EARLIEST.isoformat(),
                "today": borderwatch.today().isoformat(),
            },
        )


observations = curated_sql_asset(
    key="observations",
    group="curated",
    deps=["stg_reported__observations", "facilities"],
    description="curated.observations: every reported count, normalised, with its provenance.",
    suite_dir=SUITES,
    staging_ddls=("staging/stg_reported__observations.sql",),
)
