"""Exports other tools can open: CSV, JSON and Parquet read back by DuckDB and pandas, GeoJSON
checked with shapely."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import polars as pl
import pytest
from shapely.geometry import Point, shape

from assets.core.export import (
    csv_text,
    facilities_geojson,
    geojson_text,
    json_text,
    table_text,
    write_frame,
)


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "facility_id": ["tumangang", "khasan", "sinuiju"],
            "observed_on": [date(2023, 10, 5), date(2022, 11, 29), None],
            "acquired_at": [
                datetime(2023, 10, 5, 2, 13, tzinfo=UTC),
                datetime(2022, 11, 29, 2, 16, 10, 194000, tzinfo=UTC),
                None,
            ],
            "value": [73.0, float("nan"), 8.5],
            "n": [1, 2, None],
            "is_anomaly": [True, False, None],
            "title": ['두만강, "quoted"', "Хасан\nsecond line", "plain"],
            "top_urls": [["https://a.invalid/1", "https://a.invalid/2"], [], None],
        },
        schema_overrides={"acquired_at": pl.Datetime("us", "UTC")},
    )


def test_table_is_the_cli_table(frame, capsys):
    write_frame(frame, "table", None)
    printed = capsys.readouterr().out
    assert printed == table_text(frame)
    lines = printed.splitlines()
    assert "facility_id" in lines[1] and "top_urls" in lines[1]  # every column, one header line
    assert not any(line.startswith("shape:") for line in lines)  # no shape line, no dtype row
    assert not any("---" in line for line in lines)
    assert len({len(line) for line in lines}) <= 2  # aligned
    many = pl.DataFrame({"i": list(range(500))})
    assert "…" in table_text(many, max_rows=10) and "499" in table_text(many)


def test_csv_opens_in_duckdb_and_pandas(frame, tmp_path):
    out = tmp_path / "x" / "export.csv"
    write_frame(frame, "csv", out)
    con = duckdb.connect()
    rel = con.sql(f"select * from read_csv_auto('{out}')")
    types = dict(zip(rel.columns, [str(t) for t in rel.types], strict=True))
    assert types["observed_on"] == "DATE"
    assert types["acquired_at"].startswith("TIMESTAMP WITH TIME ZONE")
    rows = rel.fetchall()
    assert rows[0][0] == "tumangang" and rows[0][1] == date(2023, 10, 5)
    assert rows[1][6] == "Хасан\nsecond line" and rows[0][6] == '두만강, "quoted"'
    assert json.loads(rows[0][7]) == ["https://a.invalid/1", "https://a.invalid/2"]
    assert rows[2][7] is None and rows[2][1] is None
    pdf = pd.read_csv(out)
    assert list(pdf.columns) == frame.columns
    assert pdf.loc[0, "observed_on"] == "2023-10-05"
    assert pd.Timestamp(pdf.loc[1, "acquired_at"]) == pd.Timestamp("2022-11-29T02:16:10.194Z")
    assert pdf.loc[0, "value"] == 73.0


def test_json_is_an_array_of_objects_with_iso_dates(frame, tmp_path, capsys):
    write_frame(frame, "json", None)
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["observed_on"] == "2023-10-05"
    assert printed[0]["acquired_at"] == "2023-10-05T02:13:00+00:00"
    assert printed[1]["value"] is None  # NaN is not JSON
    assert printed[0]["top_urls"] == ["https://a.invalid/1", "https://a.invalid/2"]
    assert list(printed[0]) == frame.columns
    out = tmp_path / "export.json"
    write_frame(frame, "json", out)
    con = duckdb.connect()
    rows = con.sql(f"select facility_id, observed_on, top_urls from read_json_auto('{out}')")
    assert rows.fetchall()[0] == (
        "tumangang",
        date(2023, 10, 5),
        ["https://a.invalid/1", "https://a.invalid/2"],
    )
    pdf = pd.read_json(out, convert_dates=False)
    assert pdf["facility_id"].tolist() == ["tumangang", "khasan", "sinuiju"]
    assert json_text(frame.head(0)) == "[]\n"


def test_parquet_keeps_types_and_needs_a_file(frame, tmp_path):
    out = tmp_path / "export.parquet"
    write_frame(frame, "parquet", out)
    con = duckdb.connect()
    rel = con.sql(f"select * from read_parquet('{out}')")
    types = dict(zip(rel.columns, [str(t) for t in rel.types], strict=True))
    assert types["observed_on"] == "DATE" and types["top_urls"] == "VARCHAR[]"
    assert types["acquired_at"] == "TIMESTAMP WITH TIME ZONE"
    pdf = pd.read_parquet(out)
    assert pdf["n"].tolist()[:2] == [1, 2] and math.isnan(pdf["value"].tolist()[1])
    with pytest.raises(ValueError, match="parquet is binary"):
        write_frame(frame, "parquet", None)
    with pytest.raises(ValueError, match="xlsx"):
        write_frame(frame, "xlsx", tmp_path / "x.xlsx")


def test_csv_of_structs(tmp_path):
    df = pl.DataFrame({"metrics": [[{"metric": "railcars", "value": 73.0}]]})
    assert json.loads(pl.read_csv(csv_text(df).encode())["metrics"][0]) == [
        {"metric": "railcars", "value": 73.0}
    ]


TUMANGANG_AOI = (
    "POLYGON ((130.625 42.4217, 130.6026 42.4397, 130.5802 42.4217, 130.6026 42.4037, "
    "130.625 42.4217))"
)


def _facilities() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "facility_id": "tumangang",
                "name": "Tumangang rail facility",
                "kind": "rail_yard",
                "country": "KP",
                "lat": 42.4217,
                "lon": 130.6026,
                "aoi_radius_m": 2000,
                "crossing_id": "tumen-river-rail",
                "aoi_wkt": TUMANGANG_AOI,
            },
            {
                "facility_id": "khasan",
                "name": "Khasan station",
                "kind": "rail_yard",
                "country": "RU",
                "lat": 42.43,
                "lon": 130.64,
                "aoi_radius_m": 2000,
                "crossing_id": "tumen-river-rail",
                "aoi_wkt": None,  # drawn from aoi_radius_m
            },
        ]
    )


def _scenes() -> pl.DataFrame:
    # Synthetic footprints in the shape of partial Sentinel-2 tiles over 52TFM.
    full = "POLYGON ((129.8 43.0, 131.2 43.0, 131.2 41.9, 129.8 41.9, 129.8 43.0))"
    part = "POLYGON ((130.5 42.9, 131.5 42.9, 131.5 41.9, 130.5 41.9, 130.5 42.9))"
    return pl.DataFrame(
        [
            (
                "tumangang",
                "S2B_52TFM_20231010_0_L2A",
                "sentinel-2-l2a",
                date(2023, 10, 10),
                23.35,
                part,
            ),
            (
                "tumangang",
                "S2A_52TFM_20231005_0_L2A",
                "sentinel-2-l2a",
                date(2023, 10, 5),
                2.0,
                full,
            ),
            ("khasan", "S2A_52TFM_20231005_0_L2A", "sentinel-2-l2a", date(2023, 10, 5), 2.0, full),
        ],
        schema=[
            "facility_id",
            "scene_id",
            "collection",
            "acquired_on",
            "cloud_cover",
            "footprint_wkt",
        ],
        orient="row",
    )


def test_facilities_geojson_is_valid_and_ordered():
    collection = facilities_geojson(_facilities(), _scenes())
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [(f["properties"]["kind"], f["properties"]["facility_id"]) for f in features] == [
        ("facility", "khasan"),
        ("area", "khasan"),
        ("scene", "khasan"),
        ("facility", "tumangang"),
        ("area", "tumangang"),
        ("scene", "tumangang"),
        ("scene", "tumangang"),
    ]
    scenes = [f["properties"] for f in features if f["properties"]["kind"] == "scene"]
    assert [s["acquired_on"] for s in scenes] == ["2023-10-05", "2023-10-05", "2023-10-10"]
    assert scenes[2] == {
        "kind": "scene",
        "facility_id": "tumangang",
        "facility_name": "Tumangang rail facility",
        "scene_id": "S2B_52TFM_20231010_0_L2A",
        "collection": "sentinel-2-l2a",
        "acquired_on": "2023-10-10",
        "cloud_cover": 23.35,
    }
    for f in features:
        assert f["type"] == "Feature" and set(f) == {"type", "geometry", "properties"}
        geom = shape(f["geometry"])
        assert geom.is_valid and not geom.is_empty
        if f["geometry"]["type"] == "Polygon":
            ring = f["geometry"]["coordinates"][0]
            assert ring[0] == ring[-1] and len(ring) >= 4
    # lon, lat order: the point is at 130.60 E, 42.42 N and inside its area and its footprints
    point = features[3]["geometry"]
    assert point == {"type": "Point", "coordinates": [130.6026, 42.4217]}
    tumangang = Point(point["coordinates"])
    assert shape(features[4]["geometry"]).contains(tumangang)
    assert all(shape(f["geometry"]).contains(tumangang) for f in features[5:])
    # Khasan had no aoi_wkt: a circle of its 2 km radius, about 0.036 degrees of latitude tall
    khasan_area = shape(features[1]["geometry"])
    assert khasan_area.contains(Point(130.64, 42.43))
    assert khasan_area.bounds[3] - khasan_area.bounds[1] == pytest.approx(0.036, abs=0.001)
    # text form: valid JSON, same bytes every time
    text = geojson_text(collection)
    assert json.loads(text) == collection
    assert text == geojson_text(facilities_geojson(_facilities(), _scenes().reverse()))


def test_facilities_geojson_without_scenes_and_with_a_stray_scene():
    only = facilities_geojson(_facilities(), None)
    assert [f["properties"]["kind"] for f in only["features"]] == ["facility", "area"] * 2
    stray = _scenes().with_columns(pl.lit("nowhere").alias("facility_id"))
    with pytest.raises(ValueError, match="nowhere"):
        facilities_geojson(_facilities(), stray)
