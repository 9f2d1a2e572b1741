"""Find STAC documents for a window: folder or bucket (Sentinel-2 COG layout aware), STAC API."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import polars as pl
import shapely
from shapely.geometry import mapping

from assets.core.sources import SourceObject, SourceStore
from assets.imagery.stage import facility_areas
from assets.reference.facilities import mgrs_tile

S2_COG_FOLDER = "sentinel-s2-l2a-cogs"
_ZONE = re.compile(r"^\d{1,2}/$")
_TILE = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})$")


def facility_tiles(facilities: pl.DataFrame) -> list[str]:
    """The MGRS tiles of all facilities (their mgrs_tiles, else the tile holding the point)."""
    tiles = set()
    for row in facilities.iter_rows(named=True):
        listed = [t for t in (row.get("mgrs_tiles") or []) if t]
        tiles.update(t.strip().upper() for t in listed or [mgrs_tile(row["lat"], row["lon"])])
    return sorted(tiles)


def months_touching(start: date, end: date) -> list[tuple[int, int]]:
    """(year, month) of every month with a day in [start, end)."""
    if end <= start:
        return []
    last = end - timedelta(days=1)
    out, year, month = [], start.year, start.month
    while (year, month) <= (last.year, last.month):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def s2_tile_prefix(tile: str) -> str:
    """52TFM -> 52/T/FM/ (the bucket writes zones without zero padding: 01CCV -> 1/C/CV/)."""
    m = _TILE.match(tile.strip().upper())
    if not m:
        raise ValueError(f"not an MGRS tile id: {tile!r}")
    return f"{int(m.group(1))}/{m.group(2)}/{m.group(3)}/"


def _child_prefixes(store: SourceStore, prefix: str) -> list[str]:
    if hasattr(store, "list_common_prefixes"):
        return store.list_common_prefixes(prefix)
    root = getattr(store, "root", None)
    if root is not None:
        folder = Path(root) / prefix
        if folder.is_dir():
            return sorted(f"{prefix}{p.name}/" for p in folder.iterdir() if p.is_dir())
        return []
    return sorted(
        {
            prefix + o.key[len(prefix) :].split("/")[0] + "/"
            for o in store.list(prefix)
            if "/" in o.key[len(prefix) :]
        }
    )


def s2_layout_base(store: SourceStore) -> str | None:
    """'' when the store root is the Sentinel-2 COG layout ({zone}/{band}/{square}/...),
    'sentinel-s2-l2a-cogs/' when it sits under that folder, None for any other layout."""
    if store.uri.rstrip("/").endswith("/" + S2_COG_FOLDER):
        return ""
    top = _child_prefixes(store, "")
    if f"{S2_COG_FOLDER}/" in top:
        return f"{S2_COG_FOLDER}/"
    if top and all(_ZONE.match(p) for p in top):
        return ""
    return None


def list_imagery_objects(
    store: SourceStore, facilities: pl.DataFrame, start: date, end: date
) -> list[SourceObject]:
    """The STAC JSON files to read for the window [start, end).

    In the Sentinel-2 COG bucket layout only {zone}/{band}/{square}/{yyyy}/{m}/ of the
    facilities' tiles and the window's months are listed (one listing per tile and month, never
    the whole bucket); elsewhere every .json file below the store root.
    """
    base = s2_layout_base(store)
    if base is None:
        return [o for o in store.list("") if o.key.endswith(".json")]
    found = []
    for tile in facility_tiles(facilities):
        for year, month in months_touching(start, end):
            prefix = f"{base}{s2_tile_prefix(tile)}{year}/{month}/"
            found.extend(o for o in store.list(prefix) if o.key.endswith(".json"))
    return sorted(found, key=lambda o: o.key)


def search_area(facilities: pl.DataFrame) -> dict:
    """GeoJSON of the union of all facility areas: one search covers every site."""
    union = shapely.union_all([fa.area for fa in facility_areas(facilities)])
    return mapping(shapely.set_precision(union, 1e-6))


def search_stac_api(
    url: str,
    collections: list[str] | None,
    facilities: pl.DataFrame,
    start: date,
    end: date,
    limit: int = 100,
) -> Iterator[tuple[str, bytes]]:
    """Search a STAC API for items over the facilities in [start, end), page by page.

    Yields (uri, page JSON bytes) per page; the uri names the request and the page number,
    so the same search gives the same uris (keep pages in the raw zone, parse them with
    parse_stac_document). Anonymous: no credentials are sent.
    """
    from pystac_client import Client

    geometry = search_area(facilities)
    last = end - timedelta(days=1)  # STAC intervals are closed: end at the window's last instant
    window = f"{start.isoformat()}T00:00:00Z/{last.isoformat()}T23:59:59.999999Z"
    client = Client.open(url)
    search = client.search(
        collections=list(collections) if collections else None,
        intersects=geometry,
        datetime=window,
        limit=limit,
    )
    area_hash = hashlib.sha256(
        json.dumps(geometry, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    query = urlencode(
        [
            ("collections", ",".join(sorted(collections or []))),
            ("datetime", window),
            ("intersects_sha256", area_hash),
            ("limit", str(limit)),
        ]
    )
    base = url.rstrip("/")
    for number, page in enumerate(search.pages_as_dicts(), 1):
        yield (
            f"{base}/search?{query}&page={number}",
            json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
        )
