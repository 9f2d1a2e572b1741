"""Helpers for the imagery tests: facilities placed anywhere, raw files without a warehouse."""

import hashlib
import json
from pathlib import Path

import polars as pl

from assets.core.rawzone import RawFile
from assets.reference.facilities import FACILITY_SCHEMA
from assets.reference.geometry import aoi_polygon

PUBLIC_BUCKET, PRIVATE_BUCKET = "bw-public-imagery", "bw-private-imagery"


def facility_at(facility_id: str, lat: float, lon: float, radius_m: float = 2000) -> dict:
    """One gazetteer row placed anywhere (for real items far from the sample facilities)."""
    return {
        "facility_id": facility_id, "name": facility_id, "kind": "test", "country": "XX",
        "counterpart_country": None, "lat": lat, "lon": lon, "aoi_radius_m": radius_m,
        "aliases": [facility_id], "ambiguous_aliases": [], "crossing_id": None,
        "mgrs_tiles": [], "notes": None, "aoi_wkt": aoi_polygon(lat, lon, radius_m).wkt,
    }


def facilities_frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=FACILITY_SCHEMA)


def raw_file(folder: Path, source_uri: str, data: bytes | dict | list) -> RawFile:
    """A file as the raw zone would hand it over (no warehouse needed)."""
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    sha = hashlib.sha256(data).hexdigest()
    path = folder / sha
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return RawFile(source_uri, source_uri.rsplit("/", 1)[-1], sha, len(data), None, path)
