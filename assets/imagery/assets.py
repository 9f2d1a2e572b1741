"""Dagster assets for imagery indexes (thin: STAC parsing, backends and coverage maths live beside)."""

import hashlib
from datetime import timedelta
from pathlib import Path

import dagster as dg

from assets.core.rawzone import record_raw
from assets.imagery.backends import list_imagery_objects, search_stac_api
from assets.imagery.stage import stage_imagery
from assets.reference.assets import load_facilities
from orchestration.curated import curated_sql_asset
from orchestration.loading import stage_window, staging_asset
from orchestration.partitions import load_window
from orchestration.resources import Borderwatch

SUITES = Path(__file__).with_name("suites")


def imagery_location(borderwatch: Borderwatch) -> str:
    return borderwatch.imagery_source or f"{borderwatch.source.rstrip('/')}/imagery"


def _from_stac_api(context, borderwatch, con, url, facilities, start, end):
    collections = [c.strip() for c in borderwatch.imagery_collections.split(",") if c.strip()]
    files = []
    for uri, page in search_stac_api(url, collections, facilities, start, end):
        key = f"imagery/stac-api/{hashlib.sha256(uri.encode()).hexdigest()[:24]}.json"
        files.append(record_raw(con, borderwatch.raw_zone(), uri, key, page))
        context.log.info(f"STAC API page {len(files)}: {uri}")
    return files


@staging_asset(
    key="stg_imagery__scenes",
    group="imagery",
    description="staging.stg_imagery__scenes (+ stg_imagery__scene_facilities): STAC scenes whose "
    "footprint covers a facility's area, from a folder, an S3 bucket (Sentinel-2 COG layout "
    "listed by tile and month) or a STAC API; partitioned on the UTC acquisition date.",
    suite_path=SUITES / "stg_imagery__scenes.json",
    kinds=("polars", "stac"),
)
def stg_imagery__scenes(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    start, end = load_window(context)
    location = imagery_location(borderwatch)
    with borderwatch.connect() as con:
        facilities = load_facilities(con)
        if location.startswith(("http://", "https://")) and not borderwatch.replay:
            raw_files = _from_stac_api(context, borderwatch, con, location, facilities, start, end)
        else:
            store = borderwatch.store(con, location, "imagery")
            objects = list_imagery_objects(store, facilities, start, end)
            context.log.info(
                f"{len(objects)} STAC file(s) under {location} for {start}..{end - timedelta(days=1)}"
            )
            raw_files = borderwatch.fetch(con, store, objects, "imagery", log=context.log.info)
        batch = stage_imagery(raw_files, facilities, start, end)
        return stage_window(
            context,
            con,
            asset_key="stg_imagery__scenes",
            table="staging.stg_imagery__scenes",
            date_column="acquired_on",
            window=(start, end),
            batch=batch,
            raw_files=raw_files,
            related_date_columns={"staging.stg_imagery__scene_facilities": "acquired_on"},
            suite_path=SUITES / "stg_imagery__scenes.json",
            suite_parameters={
                "today": borderwatch.today().isoformat(),
                "known_facilities": sorted(facilities["facility_id"].to_list()),
            },
            extra_metadata={"imagery_location": location},
        )


imagery_coverage_daily = curated_sql_asset(
    key="imagery_coverage_daily",
    group="curated",
    deps=["stg_imagery__scenes", "facilities"],
    description="curated.imagery_coverage_daily: facility x UTC day with at least one scene "
    "whose footprint covers the facility's area: scenes, clear scenes, best cloud cover.",
    suite_dir=SUITES,
    staging_ddls=("staging/stg_imagery__scenes.sql", "staging/stg_imagery__scene_facilities.sql"),
)
