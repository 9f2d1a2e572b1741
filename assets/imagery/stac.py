"""Parse STAC documents (Item, ItemCollection, array of Items, Catalog) into scenes with pystac.

Untrusted input is bounded and checked: JSON is read within assets.core.limits.Limits (size,
nesting), footprints must be valid polygons in WGS84 ranges (longitude -180..180, latitude
-90..90, finite), and catalogs are walked only through a reader the caller supplies
(`read(href) -> bytes`, e.g. assets.imagery.backends.StoreLinkReader, which reads inside the
source store and refuses anything else). Whatever cannot be used is a quarantine row with the
reason; nothing raises out of parse_stac_document.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

import pystac
import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity

from assets.core.limits import DEFAULT_LIMITS, LimitExceeded, Limits, clip_text, load_json

AREAL = {"Polygon", "MultiPolygon"}

# 100 km MGRS square ids: zone 1-60, latitude band C-X (no I, O), two square letters (no I, O).
_TILE = r"(\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2})"
_ID_TILE_PATTERNS = [
    re.compile(rf"_T{_TILE}_"),  # ESA product names: S2A_MSIL2A_..._T52TFM_...
    re.compile(rf"^S2[A-D]_{_TILE}_"),  # Earth Search: S2B_52TFM_20231005_0_L2A
]

# read(href) -> bytes: href is absolute (resolved against the linking document's source_uri).
Reader = Callable[[str], bytes]


class LinkRefused(ValueError):
    """A reader will not follow this link (it leaves the source store); the message says why."""


@dataclass
class Scene:
    """One STAC Item as a scene row, plus what staging needs that the table does not keep."""

    line_number: int
    scene_id: str
    collection: str
    platform: str | None
    acquired_at: datetime
    cloud_cover: float | None
    gsd: float | None
    footprint: shapely.Geometry
    bbox: list[float]
    mgrs_tile: str | None
    item_href: str | None
    stac_version: str | None
    synthetic: bool
    processing_level: str | None = None
    raw_line: str = ""

    def row(self, source_uri: str) -> dict:
        return {
            "scene_id": self.scene_id,
            "collection": self.collection,
            "platform": self.platform,
            "acquired_at": self.acquired_at,
            "acquired_on": self.acquired_at.date(),
            "cloud_cover": self.cloud_cover,
            "gsd": self.gsd,
            "footprint_wkt": shapely.to_wkt(self.footprint, rounding_precision=7, trim=True),
            "bbox": self.bbox,
            "mgrs_tile": self.mgrs_tile,
            "item_href": self.item_href,
            "source_uri": source_uri,
            "stac_version": self.stac_version,
            "synthetic": self.synthetic,
        }


@dataclass
class StacDocument:
    """What one STAC document gave: items_read == len(scenes) + len(quarantine)."""

    source_uri: str
    scenes: list[Scene] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    limits: Limits = DEFAULT_LIMITS

    @property
    def items_read(self) -> int:
        return len(self.scenes) + len(self.quarantine)

    def reject(self, line: int, raw: str | None, reason: str) -> None:
        self.quarantine.append(
            {
                "source_uri": self.source_uri,
                "line_number": line,
                "raw_line": clip_text(raw, self.limits.raw_line_chars),
                "reason": reason,
            }
        )


class ItemError(ValueError):
    """One Item cannot be staged; the message is the quarantine reason."""


def resolve_href(base: str, href: str) -> str:
    """`href` as written in a document at `base`, made absolute: a URL or path with a scheme is
    kept, an absolute path keeps base's scheme and bucket, a relative one is joined to base's
    folder; `.` and `..` are collapsed (never above the root: the reader decides if it stays
    inside the store)."""
    href = href.strip()
    parsed = urlparse(href)
    if parsed.scheme == "file":
        return posixpath.normpath(unquote(parsed.path) or "/")
    if len(parsed.scheme) > 1:
        if parsed.scheme == "s3":
            path = posixpath.normpath("/" + parsed.path.lstrip("/"))
            return f"s3://{parsed.netloc}{path}"
        return href
    b = urlparse(base)
    if b.scheme == "s3":
        prefix, base_path = f"s3://{b.netloc}", b.path or "/"
    elif b.scheme == "file":
        prefix, base_path = "", unquote(b.path)
    elif len(b.scheme) > 1:  # http(s) documents: plain URL joining
        from urllib.parse import urljoin

        return urljoin(base, href)
    else:
        prefix, base_path = "", base
    joined = href if href.startswith("/") else posixpath.join(posixpath.dirname(base_path), href)
    path = posixpath.normpath(joined)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return prefix + path


def _raw(obj, limits: Limits = DEFAULT_LIMITS) -> str:
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(obj)
    return clip_text(text, limits.raw_line_chars)


def _number(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ItemError(f"{name} is not a number: {clip_text(repr(value), 100)}")
    if value != value:  # NaN: treat as unknown
        return None
    if math.isinf(value):
        raise ItemError(f"{name} is not a finite number: {value!r}")
    return float(value)


def _mgrs_tile(item_id: str, props: dict) -> str | None:
    tile = props.get("s2:mgrs_tile") or None
    if not tile:
        for ns in ("mgrs", "sentinel"):
            zone, band, square = (
                props.get(f"{ns}:{k}") for k in ("utm_zone", "latitude_band", "grid_square")
            )
            if zone is not None and band and square:
                tile = f"{zone}{band}{square}"
                break
    if not tile and str(props.get("grid:code", "")).upper().startswith("MGRS-"):
        tile = props["grid:code"][5:]
    if not tile:
        for pattern in _ID_TILE_PATTERNS:
            if m := pattern.search(item_id):
                tile = m.group(1)
                break
    if not tile:
        return None
    m = re.fullmatch(r"T?" + _TILE, str(tile).strip().upper())
    if not m:
        return None
    code = m.group(1)
    return code.zfill(5)  # Sentinel-2 writes zones 1-9 as 01-09


def _processing_level(item_id: str, collection: str, props: dict) -> str | None:
    text = " ".join([item_id, collection, str(props.get("s2:product_type", ""))]).upper()
    for level, marks in (("L2A", ("L2A", "MSI2A")), ("L1C", ("L1C", "MSI1C"))):
        if any(mark in text for mark in marks):
            return level
    return None


def _gsd(item: pystac.Item) -> float | None:
    gsd = _number(item.properties.get("gsd"), "gsd")
    if gsd is None:
        per_asset = [
            a.extra_fields.get("gsd")
            for a in item.assets.values()
            if isinstance(a.extra_fields.get("gsd"), int | float)
        ]
        gsd = float(min(per_asset)) if per_asset else None
    return gsd


def check_wgs84(footprint: shapely.Geometry) -> None:
    """Longitudes in -180..180 and latitudes in -90..90, all finite (GeoJSON is WGS84); a
    footprint at longitude 500 is an error in the data, not coverage somewhere."""
    coords = shapely.get_coordinates(footprint)
    if not coords.size:
        raise ItemError("geometry has no coordinates")
    if not bool((coords == coords).all()) or not bool(abs(coords).max() < math.inf):
        raise ItemError("footprint has a coordinate that is not a finite number")
    lon, lat = coords[:, 0], coords[:, 1]
    if lon.min() < -180 or lon.max() > 180:
        bad = lon.min() if lon.min() < -180 else lon.max()
        raise ItemError(f"footprint longitude {bad:g} outside -180..180 (WGS84)")
    if lat.min() < -90 or lat.max() > 90:
        bad = lat.min() if lat.min() < -90 else lat.max()
        raise ItemError(f"footprint latitude {bad:g} outside -90..90 (WGS84)")


def check_bbox(bbox: list) -> None:
    """A 2D bbox [west, south, east, north] of finite WGS84 numbers (west > east is allowed:
    it crosses the antimeridian)."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox):
        raise ItemError(f"bbox is not four numbers: {clip_text(repr(bbox), 200)}")
    west, south, east, north = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ItemError("bbox has a value that is not a finite number")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise ItemError(f"bbox longitude outside -180..180 (WGS84): {bbox}")
    if not (-90 <= south <= north <= 90):
        raise ItemError(f"bbox latitude outside -90..90 or south above north (WGS84): {bbox}")


def scene_from_item(
    data: dict,
    line_number: int,
    item_href: str | None = None,
    collection: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Scene:
    """One STAC Item dict (any version 0.8-1.1) as a Scene; raises ItemError with the reason."""
    if not isinstance(data, dict):
        raise ItemError(f"item is a {type(data).__name__}, not a JSON object")
    if data.get("type") not in (None, "Feature"):
        raise ItemError(f"not a STAC Item (type {data.get('type')!r})")
    if not data.get("id"):
        raise ItemError("item has no id")
    if not data.get("geometry"):
        raise ItemError("item has no geometry")
    props = data.get("properties") or {}
    if not isinstance(props, dict):
        raise ItemError(f"properties is a {type(props).__name__}, not a JSON object")
    if not props.get("datetime") and not props.get("start_datetime"):
        raise ItemError("item has no datetime (nor start_datetime)")
    stac_version = data.get("stac_version")
    self_href = next(
        (
            link.get("href")
            for link in data.get("links") or []
            if isinstance(link, dict) and link.get("rel") == "self"
        ),
        None,
    )
    # A relative self link means "where this file is": prefer the location we read it from.
    if not (self_href and (urlparse(self_href).scheme or self_href.startswith("/"))):
        self_href = item_href
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pystac warns about unknown extension versions
            item = pystac.Item.from_dict(data, href=item_href, migrate=True, preserve_dict=True)
    except Exception as exc:  # pystac raises STACError, KeyError, ValueError...
        raise ItemError(f"pystac cannot read the item: {type(exc).__name__}: {exc}") from exc
    acquired = item.datetime or item.common_metadata.start_datetime
    if acquired is None:
        raise ItemError("item has no datetime (nor start_datetime)")
    acquired = acquired.replace(tzinfo=UTC) if acquired.tzinfo is None else acquired.astimezone(UTC)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN coordinates: refused below
            footprint = shape(item.geometry)
    except Exception as exc:
        raise ItemError(f"geometry cannot be read: {exc}") from exc
    if footprint.is_empty:
        raise ItemError("geometry is empty")
    if footprint.geom_type not in AREAL:
        raise ItemError(f"footprint is a {footprint.geom_type}, not an area")
    check_wgs84(footprint)
    if not footprint.is_valid:
        raise ItemError(f"invalid footprint: {explain_validity(footprint)}")
    bbox = list(item.bbox or [])
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    if len(bbox) == 4:
        check_bbox(bbox)
    else:
        bbox = list(footprint.bounds)
    props = item.properties
    collection_id = item.collection_id or data.get("collection") or collection or "unknown"
    platform = props.get("platform") or props.get("constellation")
    return Scene(
        line_number=line_number,
        scene_id=str(item.id),
        collection=str(collection_id),
        platform=str(platform).lower() if platform else None,
        acquired_at=acquired,
        cloud_cover=_number(props.get("eo:cloud_cover"), "eo:cloud_cover"),
        gsd=_gsd(item),
        footprint=footprint,
        bbox=[float(v) for v in bbox],
        mgrs_tile=_mgrs_tile(str(item.id), props),
        item_href=self_href,
        stac_version=stac_version,
        synthetic=props.get("borderwatch:synthetic") is True,
        processing_level=_processing_level(str(item.id), str(collection_id), props),
        raw_line=_raw(data, limits),
    )


def _add_item(doc: StacDocument, data, line: int, href: str | None, collection: str | None):
    try:
        scene = scene_from_item(data, line, href, collection, doc.limits)
    except ItemError as exc:
        doc.reject(line, _raw(data, doc.limits), str(exc))
        return
    except Exception as exc:  # shapely or pystac on input they did not expect
        doc.reject(
            line, _raw(data, doc.limits), f"item cannot be read: {type(exc).__name__}: {exc}"
        )
        return
    if scene.cloud_cover is not None and not 0 <= scene.cloud_cover <= 100:
        doc.reject(line, scene.raw_line, f"eo:cloud_cover {scene.cloud_cover} outside 0-100")
        return
    doc.scenes.append(scene)


def _object_type(data: dict) -> str | None:
    kind = data.get("type")
    if kind in ("Feature", "FeatureCollection", "Catalog", "Collection"):
        return kind
    try:  # STAC 0.8 catalogs and collections carry no "type"
        return pystac.serialization.identify_stac_object(data).object_type.value
    except Exception:
        return None


def _links(data: dict, rel: str) -> list[str]:
    return [
        link["href"]
        for link in data.get("links") or []
        if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str)
    ]


@dataclass
class _Walk:
    doc: StacDocument
    read: Reader | None
    seen: set
    line: int = 0

    def next_line(self) -> int:
        self.line += 1
        return self.line

    def fetch(self, rel: str, href: str, base: str):
        """(absolute href, (its line number, its JSON)), or (href, None) when it was seen before
        or could not be had (then quarantined with the reason under that line number)."""
        target = resolve_href(base, href)
        if target in self.seen:
            return target, None
        self.seen.add(target)
        line = self.next_line()
        if self.read is None:
            self.doc.reject(
                line, target, f"{rel} link {href!r} not followed: no link reader was given"
            )
            return target, None
        try:
            data = self.read(target)
        except LinkRefused as exc:
            self.doc.reject(line, target, f"{rel} link {href!r} refused: {exc}")
            return target, None
        except Exception as exc:  # a caller's reader: any failure is this link's quarantine row
            self.doc.reject(line, target, f"cannot read {rel} {target}: {exc}")
            return target, None
        try:
            return target, (line, load_json(data, self.doc.limits))
        except LimitExceeded as exc:
            self.doc.reject(line, target, f"{rel} {target}: {exc}")
        except ValueError as exc:
            self.doc.reject(line, target, f"{rel} {target} is not valid JSON: {exc}")
        return target, None


def _walk(walk: _Walk, data: dict, href: str, depth: int) -> None:
    """Follow child and item links of a Catalog/Collection, resolved against its own href.

    A linked item's row takes the line number the link got in walk order; a child catalog that
    cannot be read or is nested too deep takes one quarantine row of its own."""
    collection = str(data.get("id")) if _object_type(data) == "Collection" else None
    for link in _links(data, "item"):
        target, got = walk.fetch("item", link, href)
        if got is not None:
            line, item = got
            _add_item(walk.doc, item, line, target, collection)
    for link in _links(data, "child"):
        if depth >= walk.doc.limits.catalog_depth:
            target = resolve_href(href, link)
            if target not in walk.seen:
                walk.seen.add(target)
                walk.doc.reject(
                    walk.next_line(),
                    target,
                    f"child {target} not followed: catalogs nested deeper than "
                    f"{walk.doc.limits.catalog_depth} levels",
                )
            continue
        target, got = walk.fetch("child", link, href)
        if got is None:
            continue
        line, child = got
        if not isinstance(child, dict) or _object_type(child) not in ("Catalog", "Collection"):
            walk.doc.reject(line, target, f"child {target} is not a STAC Catalog or Collection")
            continue
        # A readable child is not a row itself: give its line number back to the items below.
        walk.line -= 1
        _walk(walk, child, target, depth + 1)


def parse_stac_document(
    data: bytes, source_uri: str, read: Reader | None = None, limits: Limits = DEFAULT_LIMITS
) -> StacDocument:
    """Every Item in one STAC document as scenes or quarantine rows.

    line_number is the 1-based index of the Item in the document (walk order for catalogs), 0
    when the whole document is unusable. `read(href) -> bytes` fetches linked catalog children
    and items, given hrefs made absolute against `source_uri`; the caller decides what may be
    read (backends.StoreLinkReader: only inside the source store, through the raw zone) and
    raises LinkRefused for the rest. Without a reader, links are quarantined, not followed.
    ItemCollection `next` links are not followed: each page is its own document.
    """
    doc = StacDocument(source_uri, limits=limits)
    try:
        parsed = load_json(data, limits)
    except LimitExceeded as exc:
        doc.reject(0, bytes(data[:2000]).decode("utf-8", "replace"), f"{source_uri}: {exc}")
        return doc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        doc.reject(0, bytes(data[:2000]).decode("utf-8", "replace"), f"invalid JSON: {exc}")
        return doc
    try:
        _parse_value(doc, parsed, source_uri, read)
    except Exception as exc:  # a bug must not drop the source: the file's own quarantine row
        doc.scenes, doc.quarantine = [], []
        doc.reject(
            0, _raw(parsed, limits), f"internal error while parsing: {type(exc).__name__}: {exc}"
        )
    return doc


def _parse_value(doc: StacDocument, parsed, source_uri: str, read: Reader | None) -> None:
    if isinstance(parsed, list):
        for i, item in enumerate(parsed, 1):
            _add_item(doc, item, i, None, None)
        return
    kind = _object_type(parsed) if isinstance(parsed, dict) else None
    if kind == "Feature":
        _add_item(doc, parsed, 1, source_uri, None)
    elif kind == "FeatureCollection" and isinstance(parsed.get("features"), list):
        for i, item in enumerate(parsed["features"], 1):
            _add_item(doc, item, i, None, None)
    elif kind in ("Catalog", "Collection"):
        _walk(_Walk(doc, read, {source_uri}), parsed, source_uri, 0)
    else:
        doc.reject(
            0,
            _raw(parsed, doc.limits),
            "not a STAC Item, ItemCollection, array of Items, Catalog or Collection",
        )
