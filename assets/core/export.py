"""Write results out for other tools: an aligned text table (what the CLI prints), CSV, JSON or
Parquet from a Polars frame, and the facilities with the scenes covering them as GeoJSON.

Pure: nothing here opens the warehouse. Dates are ISO 8601 everywhere ("2023-10-05",
"2023-10-05T02:13:00+00:00"); coordinates are longitude, latitude (RFC 7946 order).
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

FRAME_FORMATS = ("table", "csv", "json", "parquet")
TABLE_MAX_ROWS = 200  # what `borderwatch query` shows; csv, json and parquet hold every row
COORDINATE_DIGITS = 7  # about 1 cm: finer is noise, and rounding keeps the output stable


def typed_param(value: str):
    """A query parameter given as text (`--param name=value`): integers and decimals bind as
    numbers, anything else as text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def table_text(df: pl.DataFrame, max_rows: int = TABLE_MAX_ROWS) -> str:
    """The aligned text table the CLI prints: every column, strings up to 80 characters."""
    with pl.Config(
        tbl_rows=max_rows,
        tbl_cols=-1,
        fmt_str_lengths=80,
        tbl_width_chars=200,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        return f"{df}\n"


def _iso_temporals(df: pl.DataFrame) -> pl.DataFrame:
    """Datetimes and times as ISO 8601 text (with the offset when the column has a time zone);
    dates already print as ISO."""
    out = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
            out.append(col.dt.to_string(fmt))
        elif dtype == pl.Time:
            out.append(col.dt.to_string("%H:%M:%S%.f"))
        else:
            out.append(col)
    return df.select(out)


def _json_value(value):
    """JSON for what Polars hands back: NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _json_default(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def json_text(df: pl.DataFrame) -> str:
    """A JSON array of objects, one per line, keys in column order."""
    rows = _iso_temporals(df).to_dicts()
    lines = [
        json.dumps(_json_value(row), ensure_ascii=False, default=_json_default) for row in rows
    ]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def csv_text(df: pl.DataFrame) -> str:
    """CSV with a header; lists and structs (e.g. aliases, top_urls) as JSON text in one cell."""
    frame = _iso_temporals(df)
    nested = [n for n, t in frame.schema.items() if t.is_nested() or t == pl.Object]
    for name in nested:
        cells = [
            None
            if v is None
            else json.dumps(_json_value(v), ensure_ascii=False, default=_json_default)
            for v in frame[name].to_list()
        ]
        frame = frame.with_columns(pl.Series(name, cells, dtype=pl.String))
    buffer = io.StringIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def write_frame(
    df: pl.DataFrame, fmt: str, out: Path | str | None = None, max_rows: int = TABLE_MAX_ROWS
) -> None:
    """Write `df` as `fmt` (table, csv, json or parquet) to `out`, or to stdout when `out` is
    None (text formats only: Parquet is binary and needs a file)."""
    if fmt not in FRAME_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FRAME_FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise ValueError("parquet is binary: give a file to write it to (--out FILE)")
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(out)
        return
    if fmt == "table":
        text = table_text(df, max_rows)
    elif fmt == "csv":
        text = csv_text(df)
    else:
        text = json_text(df)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def _coordinates(value):
    if isinstance(value, list | tuple):
        if value and isinstance(value[0], int | float):
            return [round(float(v), COORDINATE_DIGITS) for v in value]
        return [_coordinates(v) for v in value]
    return value


def geometry_from_wkt(text: str) -> dict:
    """A GeoJSON geometry from WKT in lon/lat (as the warehouse keeps aoi_wkt and footprint_wkt)."""
    from shapely import wkt
    from shapely.geometry import mapping

    geom = mapping(wkt.loads(text))
    return {"type": geom["type"], "coordinates": _coordinates(geom["coordinates"])}


def _area_wkt(row: dict) -> str | None:
    if row.get("aoi_wkt"):
        return row["aoi_wkt"]
    if row.get("aoi_radius_m") and row.get("lat") is not None and row.get("lon") is not None:
        # Facilities loaded before aoi_wkt existed: the same circle the loader would draw.
        from assets.reference.geometry import aoi_polygon

        return aoi_polygon(row["lat"], row["lon"], row["aoi_radius_m"]).wkt
    return None


def _plain(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _feature(geometry: dict | None, properties: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {k: _plain(v) for k, v in properties.items()},
    }


def facilities_geojson(facilities_df: pl.DataFrame, scenes_df: pl.DataFrame | None) -> dict:
    """A FeatureCollection: per facility (by facility_id) its point, its area of interest
    (aoi_wkt, else the circle of aoi_radius_m) and the footprint of every scene covering it
    (by acquired_on, scene_id). Properties: kind (facility, area or scene), facility_id,
    facility_name, and for scenes scene_id, collection, acquired_on, cloud_cover.

    facilities_df: curated.facilities columns (facility_id, name, lat, lon, aoi_wkt, ...).
    scenes_df: facility_id, scene_id, acquired_on, cloud_cover, footprint_wkt (collection,
    overlap_fraction when present), e.g. staging.stg_imagery__scene_facilities joined to
    staging.stg_imagery__scenes. A scene row for a facility not in facilities_df is an error."""
    facilities = sorted(facilities_df.to_dicts(), key=lambda r: r["facility_id"])
    known = {f["facility_id"] for f in facilities}
    scenes: dict[str, list[dict]] = {}
    for row in scenes_df.to_dicts() if scenes_df is not None else []:
        scenes.setdefault(row["facility_id"], []).append(row)
    unknown = sorted(set(scenes) - known)
    if unknown:
        raise ValueError(f"scenes for facilities not in the facilities frame: {', '.join(unknown)}")
    features = []
    for f in facilities:
        fid, name = f["facility_id"], f.get("name")
        base = {"facility_id": fid, "facility_name": name}
        point = {"type": "Point", "coordinates": _coordinates([f["lon"], f["lat"]])}
        features.append(
            _feature(
                point,
                {
                    "kind": "facility",
                    **base,
                    "facility_kind": f.get("kind"),
                    "country": f.get("country"),
                    "crossing_id": f.get("crossing_id"),
                },
            )
        )
        area = _area_wkt(f)
        if area:
            features.append(
                _feature(
                    geometry_from_wkt(area),
                    {"kind": "area", **base, "aoi_radius_m": f.get("aoi_radius_m")},
                )
            )
        own = sorted(
            scenes.get(fid, []),
            key=lambda s: (s["acquired_on"], s["scene_id"], s.get("collection") or ""),
        )
        for s in own:
            text = s.get("footprint_wkt")
            features.append(
                _feature(
                    geometry_from_wkt(text) if text else None,
                    {
                        "kind": "scene",
                        **base,
                        "scene_id": s["scene_id"],
                        "collection": s.get("collection"),
                        "acquired_on": s["acquired_on"],
                        "cloud_cover": s.get("cloud_cover"),
                        **(
                            {"overlap_fraction": s["overlap_fraction"]}
                            if "overlap_fraction" in s
                            else {}
                        ),
                    },
                )
            )
    return {"type": "FeatureCollection", "features": features}


def geojson_text(collection: dict) -> str:
    """GeoJSON as text, stable byte for byte for the same input."""
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n"
