"""Facility geometry: areas of interest, MGRS tiles, and which facility areas a footprint covers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl
import shapely
from shapely import wkt as shapely_wkt
from shapely.geometry import Polygon

EARTH_RADIUS_M = 6_371_008.8


def mgrs_tile(lat: float, lon: float) -> str:
    """The 100 km MGRS square (Sentinel-2 tile id) holding a point, e.g. 52TFM."""
    import mgrs

    return mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=0)


def aoi_polygon(lat: float, lon: float, radius_m: float, vertices: int = 72) -> Polygon:
    """A circle of `radius_m` around a point, in lon/lat degrees (local equirectangular; fine below ~50 km)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return Polygon(
        [
            (
                lon + dlon * math.cos(2 * math.pi * i / vertices),
                lat + dlat * math.sin(2 * math.pi * i / vertices),
            )
            for i in range(vertices)
        ]
    )


@dataclass(frozen=True)
class FacilityArea:
    facility_id: str
    area: shapely.Geometry


def facility_areas(facilities: pl.DataFrame) -> list[FacilityArea]:
    """Each facility's area of interest: aoi_wkt when present, else a circle of aoi_radius_m."""
    out = []
    for row in facilities.iter_rows(named=True):
        text = row.get("aoi_wkt")
        geom = (
            shapely_wkt.loads(text)
            if text
            else aoi_polygon(row["lat"], row["lon"], row["aoi_radius_m"])
        )
        out.append(FacilityArea(row["facility_id"], geom))
    return out


def overlaps(footprint: shapely.Geometry, areas: list[FacilityArea]) -> list[tuple[str, float]]:
    """(facility_id, share of its area inside the footprint) for every area the footprint
    (the polygon, never its bbox) intersects. Planar in degrees: fine for ratios at AOI scale."""
    out = []
    for fa in areas:
        if footprint.intersects(fa.area):
            share = footprint.intersection(fa.area).area / fa.area.area if fa.area.area else 1.0
            out.append((fa.facility_id, round(min(share, 1.0), 6)))
    return out
