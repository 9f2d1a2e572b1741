"""Staging and coverage: footprints not bboxes, one row per scene, the coverage SQL, suites."""

from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from shapely.geometry import Polygon

from assets.imagery.scenes import SCENE_FACILITIES_TABLE, scenes_in_window
from assets.reference.geometry import facility_areas, overlaps
from tests.imagery.imagery_helpers import facilities_frame, facility_at, raw_file

REPO = Path(__file__).resolve().parents[2]
SQL = REPO / "sql"
SITE = (42.4217, 130.6026)  # Tumangang


def _item(item_id, ring, day="2023-10-05", cloud=10.0, collection="sentinel-2-l2a",
          platform="sentinel-2a", **props):
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {"datetime": f"{day}T02:16:09Z", "platform": platform,
                       "eo:cloud_cover": cloud, **props},
        "links": [], "assets": {},
    }


# A triangle whose bbox (130.0-131.0, 42.0-43.0) holds the site but whose polygon stays north-west.
TRIANGLE = [(130.0, 42.0), (131.0, 43.0), (130.0, 43.0)]
SQUARE = [(130.0, 42.0), (131.0, 42.0), (131.0, 43.0), (130.0, 43.0)]
HALF = [(130.6026, 42.0), (131.0, 42.0), (131.0, 43.0), (130.6026, 43.0)]  # east of the site


@pytest.fixture
def site():
    return facilities_frame(facility_at("tumangang", *SITE))


def test_bbox_covering_the_site_is_not_coverage(site, tmp_path):
    assert Polygon(TRIANGLE).bounds == (130.0, 42.0, 131.0, 43.0)
    areas = facility_areas(site)
    assert overlaps(Polygon(TRIANGLE), areas) == []
    (facility_id, share), = overlaps(Polygon(HALF), areas)
    assert facility_id == "tumangang" and share == pytest.approx(0.5, abs=0.01)
    doc = {"type": "FeatureCollection", "features": [
        _item("triangle", TRIANGLE), _item("half", HALF), _item("square", SQUARE)]}
    batch = scenes_in_window([raw_file(tmp_path, "mem://fc.json", doc)], site,
                          date(2023, 10, 1), date(2023, 10, 8))
    (result,) = batch.results
    assert sorted(result.rows["scene_id"]) == ["half", "square"]
    assert result.rows_filtered == 1 and result.rows_read == 3
    links = batch.related[SCENE_FACILITIES_TABLE].sort("scene_id")
    assert links["scene_id"].to_list() == ["half", "square"]
    assert links["overlap_fraction"].to_list() == pytest.approx([0.5, 1.0], abs=0.01)


def test_window_and_duplicates_are_filtered_not_lost(site, tmp_path):
    first = [_item("a", SQUARE), _item("early", SQUARE, day="2023-09-30"),
             _item("late", SQUARE, day="2023-10-08")]
    # Same scene again in another file, and the same Sentinel-2 acquisition under Earth
    # Search's id and collection: both are later copies.
    es = _item("S2A_52TFM_20231006_0_L2A", SQUARE, day="2023-10-06", collection="sentinel-2-l2a-es")
    pc = _item("S2A_MSIL2A_20231006T021609_R003_T52TFM_20231006T060000", SQUARE, day="2023-10-06")
    l1c = _item("S2A_52TFM_20231006_0_L1C", SQUARE, day="2023-10-06", collection="sentinel-2-l1c")
    raws = [raw_file(tmp_path, "mem://one.json", first),
            raw_file(tmp_path, "mem://two.json", [_item("a", SQUARE), es]),
            raw_file(tmp_path, "mem://three.json", {"type": "FeatureCollection",
                                                    "features": [pc, l1c]})]
    batch = scenes_in_window(raws, site, date(2023, 10, 1), date(2023, 10, 8))
    one, two, three = batch.results
    assert one.rows["scene_id"].to_list() == ["a"] and one.rows_filtered == 2
    assert two.rows["scene_id"].to_list() == ["S2A_52TFM_20231006_0_L2A"]
    assert two.rows_filtered == 1 and two.warnings
    assert three.rows["scene_id"].to_list() == ["S2A_52TFM_20231006_0_L1C"]
    assert three.rows_filtered == 1
    for r in batch.results:
        r.check_accounting()
        assert r.rows["source_uri"].unique().to_list() in ([r.source_uri], [])
    scenes = pl.concat([r.rows for r in batch.results])
    assert scenes.select("collection", "scene_id").is_unique().all()
    days = scenes["acquired_on"].to_list()
    assert days == [date(2023, 10, 5), date(2023, 10, 6), date(2023, 10, 6)]


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    for rel in ("staging/stg_imagery__scenes.sql", "staging/stg_imagery__scene_facilities.sql",
                "quarantine/stg_imagery__scenes.sql"):
        con.execute((SQL / rel).read_text())
    return con


def test_staged_frames_fit_the_ddl(site, tmp_path):
    bad = b'{"type": "Feature",'
    batch = scenes_in_window([raw_file(tmp_path, "mem://x.json", [_item("a", SQUARE)]),
                           raw_file(tmp_path, "mem://bad.json", bad)],
                          site, date(2023, 10, 1), date(2023, 10, 8))
    con = _warehouse()
    scenes = pl.concat([r.rows for r in batch.results])
    con.register("_s", scenes.to_arrow())
    con.execute("insert into staging.stg_imagery__scenes by name select * from _s")
    con.register("_f", batch.related[SCENE_FACILITIES_TABLE].to_arrow())
    con.execute("insert into staging.stg_imagery__scene_facilities by name select * from _f")
    q = batch.results[1].quarantine.with_columns(
        sha256=pl.lit("0" * 64),
        window_start=pl.lit(date(2023, 10, 1)),
        window_end=pl.lit(date(2023, 10, 8)),
    )
    con.register("_q", q.to_arrow())
    con.execute("insert into quarantine.stg_imagery__scenes by name select * from _q")
    row = con.execute(
        "select bbox, acquired_at, acquired_on from staging.stg_imagery__scenes"
    ).fetchone()
    assert list(row[0]) == [130.0, 42.0, 131.0, 43.0]
    assert row[1].isoformat() == "2023-10-05T02:16:09+00:00" and row[2] == date(2023, 10, 5)
    quarantined = con.execute("select line_number from quarantine.stg_imagery__scenes").fetchall()
    assert quarantined == [(0,)]


def _coverage(con, threshold) -> list[tuple]:
    con.execute((SQL / "curated" / "imagery_coverage_daily.sql").read_text(),
                {"clear_cloud_max": threshold})
    return con.execute("select * from curated.imagery_coverage_daily").fetchall()


def test_coverage_daily_counts_scenes_and_clear_ones():
    con = _warehouse()
    at = datetime(2023, 10, 5, 2, 16)
    rows = [  # scene_id, collection, facility_id, acquired_on, acquired_at, cloud_cover, overlap
        ("s2", "c", "tumangang", date(2023, 10, 5), at, 35.0, 1.0),
        ("s1", "c", "tumangang", date(2023, 10, 5), at, 12.0, 0.4),
        ("s3", "c", "tumangang", date(2023, 10, 5), at, None, 1.0),
        ("s1", "c", "khasan", date(2023, 10, 5), at, 12.0, 1.0),
        ("s4", "c", "tumangang", date(2023, 10, 10), at, 20.0, 1.0),
        ("s5", "c", "tumangang", date(2023, 10, 15), at, 80.0, 1.0),
    ]
    con.executemany(
        "insert into staging.stg_imagery__scene_facilities values (?, ?, ?, ?, ?, ?, ?)", rows
    )
    assert _coverage(con, 20.0) == [
        ("khasan", date(2023, 10, 5), 1, 1, 12.0, ["s1"]),
        ("tumangang", date(2023, 10, 5), 3, 1, 12.0, ["s1", "s2", "s3"]),
        ("tumangang", date(2023, 10, 10), 1, 1, 20.0, ["s4"]),
        ("tumangang", date(2023, 10, 15), 1, 0, 80.0, ["s5"]),
    ]
    stricter = {(r[0], r[1]): r[3] for r in _coverage(con, 10.0)}
    assert stricter[("tumangang", date(2023, 10, 5))] == 0
    assert stricter[("tumangang", date(2023, 10, 10))] == 0
    looser = {(r[0], r[1]): r[3] for r in _coverage(con, 50.0)}
    assert looser[("tumangang", date(2023, 10, 5))] == 2  # unknown cloud cover is never clear


def test_suites_pass_on_good_rows_and_catch_bad_ones(site, tmp_path):
    from assets.core.validation import run_suite

    sql = REPO / "sql"
    batch = scenes_in_window([raw_file(tmp_path, "mem://x.json", [_item("a", SQUARE),
                                                             _item("b", HALF, cloud=None)])],
                          site, date(2023, 10, 1), date(2023, 10, 8))
    scenes = batch.results[0].rows.drop("bbox")
    params = {"today": "2026-01-01", "known_facilities": ["tumangang"]}
    outcome = run_suite(scenes, sql / "staging" / "stg_imagery__scenes.expectations.json", params)
    assert outcome.success, outcome.summary()
    broken = pl.concat([scenes, scenes.head(1).with_columns(cloud_cover=pl.lit(150.0))])
    failed = {r.expectation for r in run_suite(broken, sql / "staging" / "stg_imagery__scenes.expectations.json",
                                               params).failed}
    assert {"expect_compound_columns_to_be_unique", "expect_column_values_to_be_between"} <= failed
    future = run_suite(scenes, sql / "staging" / "stg_imagery__scenes.expectations.json",
                       {**params, "today": "2023-10-01"})
    assert not future.success

    coverage = pl.DataFrame({
        "facility_id": ["tumangang", "tumangang"],
        "acquired_on": [date(2023, 10, 5), date(2023, 10, 6)],
        "n_scenes": [2, 1], "n_clear": [1, 2], "best_cloud_cover": [3.5, None],
    })
    result = run_suite(coverage, sql / "curated" / "imagery_coverage_daily.expectations.json", params)
    failed = [r.expectation for r in result.failed]
    assert failed == ["expect_column_pair_values_a_to_be_greater_than_b"]
    good = run_suite(coverage.head(1), sql / "curated" / "imagery_coverage_daily.expectations.json", params)
    assert good.success, good.summary()
