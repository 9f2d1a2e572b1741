"""Dagster definitions for reported counts (thin: parsing is in parse.py, the table in sql/)."""

from datetime import date

import dagster as dg

from assets.core.parsing import StagedBatch
from assets.core.sources import split_listing
from assets.core.warehouse import PROJECT_ROOT
from assets.reference.facilities import load_facilities
from assets.reported import formats, parse
from assets.reported.drops import current_publishers, days_touched, is_reported_drop
from assets.reported.formats import (
    load_publishers,
    mapping,
    parse_publisher_file,
    readers,
    rows,
    values,
)
from assets.reported.parse import (
    drop_cross_file_duplicates,
    parse_reported_file,
    read_metrics,
    reported_skipped_results,
)
from orchestration.kit.resource import Borderwatch, source_definitions
from orchestration.kit.sensors import drop_sensor
from orchestration.kit.writing import StagingTable, load_window, publish_window, staging_step

METRICS_FILE = PROJECT_ROOT / "data" / "reference" / "metrics.csv"
PUBLISHERS_DIR = PROJECT_ROOT / "data" / "publishers"
# Everything that decides the staged rows: the parsers, the publishers' mappings, the metrics.
CODE = [
    parse,
    formats,
    mapping,
    readers,
    rows,
    values,
    METRICS_FILE,
    *sorted(PUBLISHERS_DIR.glob("*/publisher.toml")),
]
EARLIEST = date(2000, 1, 1)

OBSERVATIONS = StagingTable(
    "stg_reported__observations",
    "observed_on",
    "staging.stg_reported__observations: analysts' counts and trade statistics from CSV drops "
    "under reported/ and publishers' own formats (UN Comtrade, customs tables, event lists) "
    "mapped by data/publishers/, partitioned on observed_on. Bad rows go to "
    "quarantine.stg_reported__observations; staging.load_audit accounts for every row.",
    quarantine=True,
)


@staging_step(name="reported_counts", tables=[OBSERVATIONS], group="reported", code=CODE)
def reported_counts(context: dg.AssetExecutionContext, borderwatch: Borderwatch):
    window = load_window(context)
    metrics = read_metrics(METRICS_FILE)
    with borderwatch.connect() as con:
        facility_ids = set(load_facilities(con)["facility_id"].to_list())
        store = borderwatch.store(con, borderwatch.source_location("reported"), "reported")
        # A mistake in a mapping stops the run, naming the file and the key.
        publishers = load_publishers(PUBLISHERS_DIR)
        listing = split_listing(store.list(""), lambda k: is_reported_drop(k, publishers))
        raw_files = borderwatch.fetch(con, store, listing, "reported", log=context.log.info)
        today = borderwatch.today()
        results = []
        for raw in raw_files:
            args = (facility_ids, metrics, *window, today)
            data = raw.read()
            result = parse_publisher_file(data, raw.source_uri, raw.key, publishers, *args)
            if result is None:
                result = parse_reported_file(data, raw.source_uri, *args)
            results.append(result)
        yield from publish_window(
            context,
            con,
            window=window,
            tables=[OBSERVATIONS],
            outputs={
                OBSERVATIONS.name: StagedBatch(
                    drop_cross_file_duplicates(results) + reported_skipped_results(listing.skipped)
                )
            },
            raw_files=raw_files,
            suite_parameters={
                "known_facilities": sorted(facility_ids),
                "known_metrics": sorted(metrics),
                "earliest": EARLIEST.isoformat(),
                "today": today.isoformat(),
            },
        )


# The sensor reads the publishers' mappings as the next run will (again when one changes).
reported_drops = drop_sensor(
    name="reported_drops",
    prefix="reported/",
    days_touched=lambda key, data: days_touched(key, data, current_publishers(PUBLISHERS_DIR)),
    selection=dg.AssetSelection.assets(reported_counts).downstream(),
    claims=lambda key: is_reported_drop(key, current_publishers(PUBLISHERS_DIR)),
    description="New or changed drops under reported/ in the source store (CSV, or a "
    "publisher's own format mapped by data/publishers/) request a run of the days their rows "
    "are observed on: the reported step and everything downstream.",
)

defs = dg.Definitions.merge(
    source_definitions(reported_counts), dg.Definitions(sensors=[reported_drops])
)
