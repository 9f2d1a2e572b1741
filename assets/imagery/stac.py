"""Parse STAC documents (Item, ItemCollection, array of Items, Catalog) into scenes with pystac."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pystac
import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity

RAW_LINE_MAX = 2000
MAX_WALK_DEPTH = 16
AREAL = {"Polygon", "MultiPolygon"}

# 100 km MGRS square ids: zone 1-60, latitude band C-X (no I, O), two square letters (no I, O).
_TILE = r"(\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z]{2})"
_ID_TILE_PATTERNS = [
    re.compile(rf"_T{_TILE}_"),  # ESA product names: S2A_MSIL2A_..._T52TFM_...
    re.compile(rf"^S2[A-D]_{_TILE}_"),  # Earth Search: S2B_52TFM_20231005_0_L2A
]

Reader = Callable[[str], bytes]


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

    @property
    def items_read(self) -> int:
        return len(self.scenes) + len(self.quarantine)


class ItemError(ValueError):
    """One Item cannot be staged; the message is the quarantine reason."""


def default_reader(href: str) -> bytes:
    """Read a linked document: a local path (or file:// URI) or s3://bucket/key through boto3."""
    parsed = urlparse(href)
    if parsed.scheme == "s3":
        from assets.core.sources import S3SourceStore

        return S3SourceStore(f"s3://{parsed.netloc}").read(parsed.path.lstrip("/"))
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # 1 letter: a Windows drive
        return Path(parsed.path if parsed.scheme == "file" else href).read_bytes()
    raise OSError(f"no reader for {href!r} (only local paths and s3:// are followed)")


def _truncate(text: str) -> str:
    return text if len(text) <= RAW_LINE_MAX else text[: RAW_LINE_MAX - 3] + "..."


def _raw(obj) -> str:
    try:
        return _truncate(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError):
        return _truncate(repr(obj))


def _number(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ItemError(f"{name} is not a number: {value!r}")
    if value != value:  # NaN: treat as unknown
        return None
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


def scene_from_item(
    data: dict, line_number: int, item_href: str | None = None, collection: str | None = None
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
        footprint = shape(item.geometry)
    except Exception as exc:
        raise ItemError(f"geometry cannot be read: {exc}") from exc
    if footprint.is_empty:
        raise ItemError("geometry is empty")
    if footprint.geom_type not in AREAL:
        raise ItemError(f"footprint is a {footprint.geom_type}, not an area")
    if not footprint.is_valid:
        raise ItemError(f"invalid footprint: {explain_validity(footprint)}")
    bbox = list(item.bbox or [])
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    if len(bbox) != 4:
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
        raw_line=_raw(data),
    )


def _add_item(doc: StacDocument, data, line: int, href: str | None, collection: str | None):
    try:
        scene = scene_from_item(data, line, href, collection)
    except ItemError as exc:
        doc.quarantine.append(
            {
                "source_uri": doc.source_uri,
                "line_number": line,
                "raw_line": _raw(data),
                "reason": str(exc),
            }
        )
        return
    if scene.cloud_cover is not None and not 0 <= scene.cloud_cover <= 100:
        doc.quarantine.append(
            {
                "source_uri": doc.source_uri,
                "line_number": line,
                "raw_line": scene.raw_line,
                "reason": f"eo:cloud_cover {scene.cloud_cover} outside 0-100",
            }
        )
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


def _walk(
    doc: StacDocument,
    data: dict,
    href: str,
    read: Reader,
    seen: set,
    depth: int,
    counter: list[int],
) -> None:
    """Follow child and item links of a Catalog/Collection, resolved against its own href."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        node = pystac.read_dict(data, href=href)
    collection = node.id if isinstance(node, pystac.Collection) else None
    for link in node.get_links(pystac.RelType.ITEM):
        target = link.get_absolute_href()
        if not target or target in seen:
            continue
        seen.add(target)
        counter[0] += 1
        try:
            item = json.loads(read(target))
        except Exception as exc:
            doc.quarantine.append(
                {
                    "source_uri": doc.source_uri,
                    "line_number": counter[0],
                    "raw_line": target,
                    "reason": f"cannot read item {target}: {exc}",
                }
            )
            continue
        _add_item(doc, item, counter[0], target, collection)
    if depth >= MAX_WALK_DEPTH:
        doc.warnings.append(f"stopped walking below {href}: deeper than {MAX_WALK_DEPTH} levels")
        return
    for link in node.get_links(pystac.RelType.CHILD):
        target = link.get_absolute_href()
        if not target or target in seen:
            continue
        seen.add(target)
        try:
            child = json.loads(read(target))
            if _object_type(child) not in ("Catalog", "Collection"):
                raise ValueError("not a STAC Catalog or Collection")
        except Exception as exc:
            doc.warnings.append(f"skipped child {target}: {exc}")
            continue
        _walk(doc, child, target, read, seen, depth + 1, counter)


def parse_stac_document(data: bytes, source_uri: str, read: Reader | None = None) -> StacDocument:
    """Every Item in one STAC document as scenes or quarantine rows.

    line_number is the 1-based index of the Item in the document (walk order for catalogs), 0
    when the whole document is unusable. `read(href) -> bytes` fetches linked catalog children
    and items; hrefs are resolved against `source_uri`, so the same code walks folders and
    buckets. ItemCollection `next` links are not followed: each page is its own document.
    """
    doc = StacDocument(source_uri)
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        doc.quarantine.append(
            {
                "source_uri": source_uri,
                "line_number": 0,
                "raw_line": _truncate(data[:RAW_LINE_MAX].decode("utf-8", "replace")),
                "reason": f"invalid JSON: {exc}",
            }
        )
        return doc
    if isinstance(parsed, list):
        for i, item in enumerate(parsed, 1):
            _add_item(doc, item, i, None, None)
        return doc
    kind = _object_type(parsed) if isinstance(parsed, dict) else None
    if kind == "Feature":
        _add_item(doc, parsed, 1, source_uri, None)
    elif kind == "FeatureCollection" and isinstance(parsed.get("features"), list):
        for i, item in enumerate(parsed["features"], 1):
            _add_item(doc, item, i, None, None)
    elif kind in ("Catalog", "Collection"):
        try:
            _walk(doc, parsed, source_uri, read or default_reader, {source_uri}, 0, [0])
        except Exception as exc:
            doc.quarantine.append(
                {
                    "source_uri": source_uri,
                    "line_number": 0,
                    "raw_line": _raw(parsed),
                    "reason": f"cannot walk {kind}: {type(exc).__name__}: {exc}",
                }
            )
    else:
        doc.quarantine.append(
            {
                "source_uri": source_uri,
                "line_number": 0,
                "raw_line": _raw(parsed),
                "reason": "not a STAC Item, ItemCollection, array of Items, Catalog or Collection",
            }
        )
    return doc
