"""The facilities gazetteer: read, check and enrich data/reference/facilities.csv (no Dagster here)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from assets.reference.geometry import aoi_polygon, mgrs_tile

REQUIRED_COLUMNS = [
    "facility_id",
    "name",
    "kind",
    "country",
    "counterpart_country",
    "lat",
    "lon",
    "aoi_radius_m",
    "aliases",
]
OPTIONAL_COLUMNS = ["ambiguous_aliases", "crossing_id", "mgrs_tiles", "notes"]

FACILITY_SCHEMA = {
    "facility_id": pl.String,
    "name": pl.String,
    "kind": pl.String,
    "country": pl.String,
    "counterpart_country": pl.String,
    "lat": pl.Float64,
    "lon": pl.Float64,
    "aoi_radius_m": pl.Float64,
    "aliases": pl.List(pl.String),
    "ambiguous_aliases": pl.List(pl.String),
    "crossing_id": pl.String,
    "mgrs_tiles": pl.List(pl.String),
    "notes": pl.String,
    "aoi_wkt": pl.String,
}


class FacilitiesError(ValueError):
    pass


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def parse_facilities(text: str, source: str) -> pl.DataFrame:
    """Parse the gazetteer; any problem raises FacilitiesError naming the file and line."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise FacilitiesError(f"{source}: missing required column(s) {', '.join(missing)}")
    rows, seen = [], {}
    for line_no, raw in enumerate(reader, start=2):
        where = f"{source}, line {line_no}"
        fid = (raw.get("facility_id") or "").strip()
        if not fid or not fid.replace("_", "").replace("-", "").isalnum() or fid != fid.lower():
            raise FacilitiesError(
                f"{where}: facility_id {fid!r} must be lower-case letters, digits, - or _"
            )
        if fid in seen:
            raise FacilitiesError(
                f"{where}: facility_id {fid!r} already defined on line {seen[fid]}"
            )
        seen[fid] = line_no
        try:
            lat, lon = float(raw["lat"]), float(raw["lon"])
            radius = float(raw["aoi_radius_m"])
        except (TypeError, ValueError) as exc:
            raise FacilitiesError(
                f"{where}: lat, lon and aoi_radius_m must be numbers ({exc})"
            ) from exc
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise FacilitiesError(f"{where}: coordinates {lat}, {lon} out of range")
        if not (0 < radius <= 50_000):
            raise FacilitiesError(f"{where}: aoi_radius_m {radius} must be in (0, 50000]")
        for col in ("name", "kind", "country"):
            if not (raw.get(col) or "").strip():
                raise FacilitiesError(f"{where}: {col} is empty")
        tiles = _split(raw.get("mgrs_tiles")) or [mgrs_tile(lat, lon)]
        rows.append(
            {
                "facility_id": fid,
                "name": raw["name"].strip(),
                "kind": raw["kind"].strip(),
                "country": raw["country"].strip().upper(),
                "counterpart_country": (raw.get("counterpart_country") or "").strip().upper()
                or None,
                "lat": lat,
                "lon": lon,
                "aoi_radius_m": radius,
                "aliases": sorted(set(_split(raw.get("aliases")) + [raw["name"].strip()])),
                "ambiguous_aliases": sorted(set(_split(raw.get("ambiguous_aliases")))),
                "crossing_id": (raw.get("crossing_id") or "").strip() or None,
                "mgrs_tiles": tiles,
                "notes": (raw.get("notes") or "").strip() or None,
                "aoi_wkt": aoi_polygon(lat, lon, radius).wkt,
            }
        )
    return pl.DataFrame(rows, schema=FACILITY_SCHEMA).sort("facility_id")


def read_facilities(path: str | Path) -> pl.DataFrame:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FacilitiesError(f"cannot read facilities file {path}: {exc.strerror or exc}") from exc
    return parse_facilities(text, str(path))


def load_facilities(con) -> pl.DataFrame:
    """The gazetteer as the facilities asset stored it: what every source matches against."""
    df = con.execute("select * from curated.facilities order by facility_id").pl()
    return df.select([pl.col(c).cast(t) for c, t in FACILITY_SCHEMA.items()])
