"""Dagster definitions for imagery indexes (thin: STAC parsing, backends and coverage maths live beside)."""

import hashlib
from datetime import timedelta

import dagster as dg

from assets.core.parsing import StagedBatch
from assets.core.rawzone import record_raw
from assets.imagery import backends, scenes, stac
from assets.imagery.backends import (
    StoreLinkReader,
    is_stac_key,
    list_imagery_objects,
    search_stac_api,
)
from assets.imagery.drops import days_touched
from assets.imagery.scenes import SCENE_FACILITIES_TABLE, scenes_in_window
from assets.reference.facilities import load_facilities
from orchestration.kit.resource import Borderwatch, source_definitions
from orchestration.kit.sensors import drop_sensor
from orchestration.kit.writing import StagingTable, load_window, publish_window, staging_step

SCENES = StagingTable(
    "stg_imagery__scenes",
    "acquired_on",
    "staging.stg_imagery__scenes: STAC scenes whose footprint covers a facility's area, from a "
    "folder, an S3 bucket (Sentinel-2 COG layout listed by tile and month) or a STAC API; "
    "partitioned on the UTC acquisition date. Bad items go to quarantine.stg_imagery__scenes.",
    quarantine=True,
)
SCENE_FACILITIES = StagingTable(
    "stg_imagery__scene_facilities",
    "acquired_on",
    "staging.stg_imagery__scene_facilities: which facility areas each staged scene covers, and "
    "the share of the area inside the footprint.",
)


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


@staging_step(
    name="imagery_scenes",
    tables=[SCENES, SCENE_FACILITIES],
    group="imagery",
    code=[stac, scenes, backends],
    kinds=("polars", "stac"),
)
def imagery_scenes(context: dg.AssetExecutionContext, borderwatch: Borderwatch):
    start, end = load_window(context)
    location = imagery_location(borderwatch)
    with borderwatch.connect() as con:
        facilities = load_facilities(con)
        if location.startswith(("http://", "https://")) and not borderwatch.replay:
            raw_files = _from_stac_api(context, borderwatch, con, location, facilities, start, end)
            skipped, reader = [], None
        else:
            store = borderwatch.store(con, location, "imagery")
            objects = list_imagery_objects(store, facilities, start, end)
            context.log.info(
                f"{len(objects)} STAC file(s) under {location} for {start}..{end - timedelta(days=1)}"
            )
            raw_files = borderwatch.fetch(con, store, objects, "imagery", log=context.log.info)
            skipped = list(objects.skipped)

            def keep_linked(obj, data: bytes) -> None:
                # Catalog-linked items go through the raw zone like any listed file, so a
                # replay reads the same bytes without the source.
                key = obj.key if obj.key.startswith("imagery/") else f"imagery/{obj.key}"
                record_raw(con, borderwatch.raw_zone(), obj.uri, key, data)

            reader = StoreLinkReader(store, keep_linked)
        batch = scenes_in_window([*raw_files, *skipped], facilities, start, end, reader)
        yield from publish_window(
            context,
            con,
            window=(start, end),
            tables=[SCENES, SCENE_FACILITIES],
            outputs={
                SCENES.name: StagedBatch(batch.results),
                SCENE_FACILITIES.name: batch.related[SCENE_FACILITIES_TABLE],
            },
            raw_files=raw_files,
            suite_parameters={
                "today": borderwatch.today().isoformat(),
                "known_facilities": sorted(facilities["facility_id"].to_list()),
            },
            extra_metadata={"imagery_location": location},
        )


def _imagery_elsewhere(borderwatch: Borderwatch) -> str | None:
    # A bucket such as the public Sentinel-2 one is never listed whole: only drops are watched.
    if borderwatch.imagery_source:
        return (
            "BORDERWATCH_IMAGERY_SOURCE is set: imagery is read from there, and the drop sensor "
            "watches only <BORDERWATCH_SOURCE>/imagery/"
        )
    return None


imagery_drops = drop_sensor(
    name="imagery_drops",
    prefix="imagery/",
    days_touched=days_touched,
    selection=dg.AssetSelection.assets(imagery_scenes).downstream(),
    claims=is_stac_key,
    inactive=_imagery_elsewhere,
    description="New or changed STAC files under imagery/ in the source store request a run of "
    "their Items' acquisition days: the imagery step and everything downstream.",
)

defs = dg.Definitions.merge(
    source_definitions(imagery_scenes), dg.Definitions(sensors=[imagery_drops])
)
