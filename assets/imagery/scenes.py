"""Scenes of a load window: parse the STAC files, keep scenes whose footprint covers a facility."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from assets.core.limits import DEFAULT_LIMITS, Limits
from assets.core.parsing import (
    ParseResult,
    StagedBatch,
    quarantine_frame,
    skipped_result,
    whole_file_failure,
)
from assets.core.rawzone import RawFile
from assets.core.sources import SourceObject
from assets.imagery.stac import Reader, Scene, parse_stac_document
from assets.reference.geometry import facility_areas, overlaps

SCENES_TABLE = "staging.stg_imagery__scenes"
SCENE_FACILITIES_TABLE = "staging.stg_imagery__scene_facilities"

SCENE_SCHEMA = {
    "scene_id": pl.String,
    "collection": pl.String,
    "platform": pl.String,
    "acquired_at": pl.Datetime("us", "UTC"),
    "acquired_on": pl.Date,
    "cloud_cover": pl.Float64,
    "gsd": pl.Float64,
    "footprint_wkt": pl.String,
    "bbox": pl.Array(pl.Float64, 4),
    "mgrs_tile": pl.String,
    "item_href": pl.String,
    "source_uri": pl.String,
    "stac_version": pl.String,
    "synthetic": pl.Boolean,
}

SCENE_FACILITY_SCHEMA = {
    "scene_id": pl.String,
    "collection": pl.String,
    "facility_id": pl.String,
    "acquired_on": pl.Date,
    "acquired_at": pl.Datetime("us", "UTC"),
    "cloud_cover": pl.Float64,
    "overlap_fraction": pl.Float64,
}

# Providers publish one Sentinel-2 acquisition under different ids and collections (ESA product
# name on Planetary Computer, S2B_52TFM_20231005_0_L2A on Earth Search, a reprocessed
# sentinel-2-c1-l2a copy): same satellite, tile and level within this many seconds is one scene.
SAME_ACQUISITION_SECONDS = 600


class _SeenScenes:
    """Scenes staged so far in this batch, by id and by Sentinel-2 acquisition."""

    def __init__(self):
        self.ids: set[tuple[str, str]] = set()
        self.acquisitions: dict[tuple, list[datetime]] = {}

    @staticmethod
    def _acquisition_key(scene: Scene) -> tuple | None:
        if not (scene.platform or "").startswith("sentinel-2") or not scene.mgrs_tile:
            return None
        if not scene.processing_level:
            return None
        return (scene.platform, scene.mgrs_tile, scene.processing_level)

    def is_duplicate(self, scene: Scene) -> bool:
        if (scene.collection, scene.scene_id) in self.ids:
            return True
        key = self._acquisition_key(scene)
        if key is None:
            return False
        window = timedelta(seconds=SAME_ACQUISITION_SECONDS)
        return any(abs(t - scene.acquired_at) <= window for t in self.acquisitions.get(key, []))

    def add(self, scene: Scene) -> None:
        self.ids.add((scene.collection, scene.scene_id))
        key = self._acquisition_key(scene)
        if key is not None:
            self.acquisitions.setdefault(key, []).append(scene.acquired_at)


def scenes_in_window(
    raw_files: list[RawFile | SourceObject],
    facilities: pl.DataFrame,
    start: date,
    end: date,
    read: Reader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> StagedBatch:
    """Parse every STAC file for the window [start, end) and keep the scenes over a facility.

    One result per entry of `raw_files`, whatever it holds. Filtered (counted, not lost): scenes
    acquired outside the window, scenes whose footprint covers no facility area, and later
    copies of a scene already staged (same collection and id, or the same Sentinel-2 acquisition
    from another provider). Entries that are listed-but-skipped objects (SourceObject with
    skip_reason: list_imagery_objects(...).skipped) give a skipped result and are not read; a
    file the raw zone cannot give back is one quarantined whole-file row.

    `read(href) -> bytes` fetches documents linked from catalogs: pass a
    backends.StoreLinkReader over the same store (it reads inside the store only and records
    what it reads). Without it, catalog links are quarantined, not followed.
    """
    areas = facility_areas(facilities)
    seen = _SeenScenes()
    results, links = [], []
    for raw in raw_files:
        reason = getattr(raw, "skip_reason", None)
        if reason or not hasattr(raw, "read"):
            uri = getattr(raw, "source_uri", None) or raw.uri
            results.append(skipped_result(uri, reason or "skipped: not read", SCENE_SCHEMA))
            continue
        try:
            data = raw.read()
        except OSError as exc:
            where = getattr(raw, "path", "the raw zone")
            results.append(
                whole_file_failure(
                    raw.source_uri,
                    f"cannot read {raw.source_uri} from the raw zone ({where}): {exc}",
                    SCENE_SCHEMA,
                )
            )
            continue
        doc = parse_stac_document(data, raw.source_uri, read, limits)
        rows, filtered, duplicates = [], 0, 0
        for scene in doc.scenes:
            if not start <= scene.acquired_at.date() < end:
                filtered += 1
                continue
            covered = overlaps(scene.footprint, areas)
            if not covered:
                filtered += 1
                continue
            if seen.is_duplicate(scene):
                filtered += 1
                duplicates += 1
                continue
            seen.add(scene)
            rows.append(scene.row(raw.source_uri))
            for facility_id, share in covered:
                links.append(
                    {
                        "scene_id": scene.scene_id,
                        "collection": scene.collection,
                        "facility_id": facility_id,
                        "acquired_on": scene.acquired_at.date(),
                        "acquired_at": scene.acquired_at,
                        "cloud_cover": scene.cloud_cover,
                        "overlap_fraction": share,
                    }
                )
        warnings = list(doc.warnings)
        if duplicates:
            warnings.append(f"{duplicates} scene(s) already staged from another file or provider")
        result = ParseResult(
            source_uri=raw.source_uri,
            rows=pl.DataFrame(rows, schema=SCENE_SCHEMA),
            quarantine=quarantine_frame(doc.quarantine, limits.raw_line_chars),
            rows_read=doc.items_read,
            rows_filtered=filtered,
            warnings=warnings,
        )
        result.check_accounting()
        results.append(result)
    related = pl.DataFrame(links, schema=SCENE_FACILITY_SCHEMA).sort(
        "facility_id", "acquired_at", "collection", "scene_id"
    )
    return StagedBatch(results=results, related={SCENE_FACILITIES_TABLE: related})
