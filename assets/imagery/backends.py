"""Find STAC documents for a window: folder or bucket (Sentinel-2 COG layout aware), STAC API;
and read what catalogs link to through the source store (StoreLinkReader), never from elsewhere."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from urllib.parse import urlencode, urlparse

import polars as pl
import shapely
from shapely.geometry import mapping

from assets.core.sources import (
    Listing,
    SourceError,
    SourceObject,
    SourceStore,
    split_listing,
)
from assets.imagery.stac import LinkRefused
from assets.reference.geometry import facility_areas, mgrs_tile

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


def list_level(store: SourceStore, prefix: str = "") -> tuple[list[SourceObject], list[str]]:
    """Objects directly under `prefix` and its immediate sub-prefixes: the store's own one-level
    listing when it has one (folder, bucket), else derived from a full listing (raw zone)."""
    if hasattr(store, "list_level"):
        return store.list_level(prefix)
    objects, prefixes = [], set()
    for o in store.list(prefix):
        rest = o.key[len(prefix) :]
        if "/" in rest.rstrip("/"):
            prefixes.add(prefix + rest.split("/", 1)[0] + "/")
        else:
            objects.append(o)
    return objects, sorted(prefixes)


def _layout_base(store: SourceStore, top: list[str]) -> str | None:
    if store.uri.rstrip("/").endswith("/" + S2_COG_FOLDER):
        return ""
    if f"{S2_COG_FOLDER}/" in top:
        return f"{S2_COG_FOLDER}/"
    if top and all(_ZONE.match(p) for p in top):
        return ""
    return None


def s2_layout_base(store: SourceStore) -> str | None:
    """'' when the store root is the Sentinel-2 COG layout ({zone}/{band}/{square}/...),
    'sentinel-s2-l2a-cogs/' when it sits under that folder, None for any other layout."""
    return _layout_base(store, list_level(store, "")[1])


def is_stac_key(key: str) -> bool:
    """The files the STAC parser claims: *.json (Items, ItemCollections, catalogs)."""
    return key.lower().endswith(".json")


def list_imagery_objects(
    store: SourceStore, facilities: pl.DataFrame, start: date, end: date
) -> Listing:
    """The STAC JSON files to read for the window [start, end), as a Listing.

    In the Sentinel-2 COG bucket layout only {zone}/{band}/{square}/{yyyy}/{m}/ of the
    facilities' tiles and the window's months are listed (one listing per tile and month, never
    the whole bucket); what sits beside the layout is listed too (loose files at the root, other
    top-level folders), so a loose STAC Item there is read, not silently dropped. Elsewhere
    every file below the store root. `.skipped` holds the files listed but not read (COGs and
    other assets, names the parser does not claim, symlinks), each with its skip_reason: give
    them to scenes_in_window with the fetched files so each gets its audit row.
    """
    loose, top = list_level(store, "")
    base = _layout_base(store, top)
    if base is None:
        return split_listing(store.list(""), is_stac_key)
    found = list(loose)
    for prefix in top:
        in_layout = prefix == base if base else bool(_ZONE.match(prefix))
        if not in_layout:
            found.extend(store.list(prefix))  # a folder beside the layout: all of it
    for tile in facility_tiles(facilities):
        for year, month in months_touching(start, end):
            found.extend(store.list(f"{base}{s2_tile_prefix(tile)}{year}/{month}/"))
    return split_listing(found, is_stac_key)


class StoreLinkReader:
    """Reads the documents a STAC catalog links to through the source store, so they are
    fetched like every other source file (and can be kept in the raw zone), never from their
    live location. `reader(href) -> bytes` takes an absolute href (parse_stac_document resolves
    links against the linking document's source_uri, which is the store's uri for its key) and

    * maps it back to a key inside the store: a path under a folder store's root, an s3:// URI
      under a bucket store's bucket and prefix, or (a store with no root, such as the raw zone
      in a replay) a uri the store lists;
    * refuses with LinkRefused anything else: absolute paths elsewhere, `..` escapes, other
      buckets, http(s) and other schemes, symlinks (the store itself refuses those);
    * reads the key through the store and calls `record(object, bytes)`, so the caller can keep
      the bytes in the raw zone (a replay then reads the same bytes without the source).
    """

    def __init__(
        self, store: SourceStore, record: Callable[[SourceObject, bytes], None] | None = None
    ):
        self.store, self.record = store, record
        self._by_uri: dict[str, str] | None = None

    def _root(self) -> tuple[str, str] | None:
        """(scheme, root) the store's keys hang from, when the store has one."""
        root = getattr(self.store, "root", None)
        if root is not None:
            return "", str(root).rstrip("/")
        bucket = getattr(self.store, "bucket", None)
        if bucket is not None:
            prefix = getattr(self.store, "prefix", "").strip("/")
            return "s3", f"s3://{bucket}" + (f"/{prefix}" if prefix else "")
        return None

    def key_for(self, href: str) -> tuple[str, str]:
        """(key inside the store, canonical uri) for an absolute href, or LinkRefused."""
        parsed = urlparse(href)
        scheme = parsed.scheme if len(parsed.scheme) > 1 else ""
        if scheme == "file":
            href, scheme = parsed.path, ""
        if scheme not in ("", "s3"):
            raise LinkRefused(
                f"{href} is outside the source store {self.store.uri} (only links inside the "
                "store are followed)"
            )
        if scheme == "":
            if not href.startswith("/"):
                raise LinkRefused(f"{href} is not an absolute path")
            href = posixpath.normpath(href)
        else:
            href = f"s3://{parsed.netloc}" + posixpath.normpath("/" + parsed.path.lstrip("/"))
        root = self._root()
        if root is None:
            if self._by_uri is None:
                self._by_uri = {o.uri: o.key for o in self.store.list("") if not o.skip_reason}
            if href not in self._by_uri:
                raise LinkRefused(f"{href} is not in {self.store.uri}")
            return self._by_uri[href], href
        root_scheme, root_uri = root
        if scheme == "" and root_scheme == "":
            # The folder store's root is a resolved path: so is the link's folder here (a
            # document read through a symlinked path to the same store links inside it; a
            # folder inside the store that is a link to elsewhere leaves it). The file itself
            # is the store's to refuse when it is a symlink.
            head, tail = posixpath.split(href)
            href = posixpath.join(os.path.realpath(head), tail)
        if scheme != root_scheme or not href.startswith(root_uri + "/"):
            raise LinkRefused(f"{href} leaves the source store {self.store.uri}")
        key = href[len(root_uri) + 1 :]
        if not key or ".." in key.split("/"):
            raise LinkRefused(f"{href} leaves the source store {self.store.uri}")
        return key, href

    def __call__(self, href: str) -> bytes:
        key, uri = self.key_for(href)
        try:
            data = self.store.read(key)
        except SourceError as exc:
            if "refused" in str(exc):
                raise LinkRefused(str(exc)) from exc
            raise
        except KeyError:  # a raw-zone store that never held this key
            raise LinkRefused(f"{href} is not in {self.store.uri}") from None
        if self.record is not None:
            self.record(SourceObject(key=key, uri=uri, size=len(data)), data)
        return data


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
