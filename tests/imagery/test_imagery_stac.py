"""STAC parsing: every real sample file parses or is quarantined, and hand-made edge cases."""

import json
from datetime import date

import pytest
from shapely.geometry import shape

from assets.imagery.stac import RAW_LINE_MAX, parse_stac_document
from assets.imagery.stage import stage_imagery
from tests.imagery.imagery_helpers import facilities_frame, facility_at, raw_file

# Items per real file (SOURCES.md): the catalog and its collection both reach the same 4 Items.
EXPECTED_ITEMS = {
    "cassette_TestCLISearch.test_filter.interaction1.response.json": 10,
    "sample-item-collection.json": 10,
    "sentinel-2-l2a-pc.json": 4,
    "sentinel-2-item.json": 1,
    "eo-sentinel2-item.json": 1,
    "example-sentinel2.json": 1,
    "catalog.json": 4,
    "collection.json": 4,
}


def _item(item_id="S2A_MSIL2A_20231005T021609_R003_T52TFM_20231005T060000", **props):
    properties = {"datetime": "2023-10-05T02:16:09Z", "platform": "sentinel-2a",
                  "eo:cloud_cover": 12.5, **props}
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "sentinel-2-l2a",
        "geometry": {"type": "Polygon", "coordinates": [[[130, 42], [131, 42], [131, 43],
                                                         [130, 43], [130, 42]]]},
        "bbox": [130, 42, 131, 43], "properties": properties, "links": [], "assets": {},
    }


def test_every_real_stac_file_parses_or_is_quarantined(realdata, tmp_path):
    files = sorted((realdata / "stac").rglob("*.json"))
    assert files, "no STAC files in realdata/stac"
    raws, total = [], 0
    for path in files:
        doc = parse_stac_document(path.read_bytes(), str(path))
        assert doc.items_read >= 1 or doc.warnings, path.name
        assert all(q["reason"] for q in doc.quarantine), path.name
        if path.name in EXPECTED_ITEMS:
            assert doc.items_read == EXPECTED_ITEMS[path.name], path.name
        for scene in doc.scenes:
            assert scene.acquired_at.tzinfo is not None and scene.footprint.is_valid
            assert len(scene.bbox) == 4 and scene.scene_id and scene.collection
        total += doc.items_read
        raws.append(raw_file(tmp_path / "raw", str(path), path.read_bytes()))

    # A facility inside one real footprint (Greenland, 2022-06-12): only that scene stages.
    item = json.loads((realdata / "stac" / "sentinel-2-item.json").read_text())
    inside = shape(item["geometry"]).representative_point()
    facilities = facilities_frame(
        facility_at("greenland_site", inside.y, inside.x, 1000),
        facility_at("tumangang", 42.4217, 130.6026),
    )
    batch = stage_imagery(raws, facilities, date(2015, 1, 1), date(2026, 1, 1))
    loaded = sum(r.rows_loaded for r in batch.results)
    filtered = sum(r.rows_filtered for r in batch.results)
    quarantined = sum(r.rows_quarantined for r in batch.results)
    assert loaded + filtered + quarantined == total
    for result in batch.results:
        result.check_accounting()
    staged = [row for r in batch.results for row in r.rows.iter_rows(named=True)]
    assert [s["scene_id"] for s in staged] == [item["id"]]
    assert staged[0]["mgrs_tile"] == "24XWR"
    assert staged[0]["cloud_cover"] == pytest.approx(30.529344)
    links = batch.related["staging.stg_imagery__scene_facilities"]
    assert links["facility_id"].to_list() == ["greenland_site"]
    assert links["overlap_fraction"][0] == pytest.approx(1.0)


def test_static_catalog_yields_its_four_items(realdata):
    path = realdata / "stac" / "pystac-example-catalog" / "catalog.json"
    if not path.exists():
        pytest.skip(f"static catalog not found: {path}")
    doc = parse_stac_document(path.read_bytes(), str(path))
    assert sorted(s.scene_id for s in doc.scenes) == [
        "LC80140332018166LGN00", "LC80150322018141LGN00",
        "LC80150332018189LGN00", "LC80300332018166LGN00",
    ]
    assert {s.collection for s in doc.scenes} == {"landsat-8-l1"}
    assert sorted(s.line_number for s in doc.scenes) == [1, 2, 3, 4]
    assert all(s.item_href.endswith(f"{s.scene_id}.json") for s in doc.scenes)


def test_catalog_walk_resolves_relative_links_through_the_reader(realdata):
    """The same walk over a bucket: hrefs resolve against s3://..., read via the callback."""
    root = realdata / "stac" / "pystac-example-catalog"
    if not root.is_dir():
        pytest.skip(f"static catalog not found: {root}")
    base = "s3://some-bucket/stac/catalog"
    objects = {f"{base}/{p.relative_to(root).as_posix()}": p.read_bytes()
               for p in root.rglob("*.json")}
    asked = []

    def read(href: str) -> bytes:
        asked.append(href)
        return objects[href]

    doc = parse_stac_document(objects[f"{base}/catalog.json"], f"{base}/catalog.json", read)
    assert len(doc.scenes) == 4 and not doc.quarantine
    assert all(h.startswith(base + "/") for h in asked)
    assert f"{base}/landsat-8-l1/collection.json" in asked
    assert all(s.item_href.startswith(base + "/landsat-8-l1/") for s in doc.scenes)


def test_missing_cloud_cover_is_null_not_an_error(realdata):
    path = realdata / "stac" / "cassette_TestCLISearch.test_filter.interaction1.response.json"
    if not path.exists():
        pytest.skip(f"not found: {path}")
    doc = parse_stac_document(path.read_bytes(), str(path))
    radar = [s for s in doc.scenes if s.collection == "sentinel-1-grd"]
    assert len(radar) == 3 and all(s.cloud_cover is None for s in radar)
    assert not doc.quarantine


def test_bad_items_go_to_quarantine_with_index_and_reason():
    no_geometry = {**_item("a"), "geometry": None}
    no_datetime = _item("b")
    no_datetime["properties"].pop("datetime")
    bow_tie = _item("c")
    bow_tie["geometry"]["coordinates"] = [[[130, 42], [131, 43], [131, 42], [130, 43], [130, 42]]]
    cloudy = _item("d", **{"eo:cloud_cover": 150})
    point = {**_item("e"), "geometry": {"type": "Point", "coordinates": [130, 42]}}
    interval = _item("f", start_datetime="2023-10-05T00:00:00Z",
                     end_datetime="2023-10-06T00:00:00Z")
    interval["properties"].pop("datetime")
    big = _item("g", notes="x" * 5000)
    big["geometry"] = None
    features = [_item("ok"), no_geometry, no_datetime, bow_tie, cloudy, point, interval, big]
    doc = parse_stac_document(
        json.dumps({"type": "FeatureCollection", "features": features}).encode(), "mem://fc.json"
    )
    assert [s.scene_id for s in doc.scenes] == ["ok", "f"]
    reasons = {q["line_number"]: q["reason"] for q in doc.quarantine}
    assert set(reasons) == {2, 3, 4, 5, 6, 8}
    assert "geometry" in reasons[2] and "datetime" in reasons[3]
    assert "invalid footprint" in reasons[4] and "outside 0-100" in reasons[5]
    assert "Point" in reasons[6]
    assert all(q["source_uri"] == "mem://fc.json" for q in doc.quarantine)
    assert len(doc.quarantine[-1]["raw_line"]) <= RAW_LINE_MAX
    assert json.loads(doc.quarantine[0]["raw_line"])["id"] == "a"


@pytest.mark.parametrize(
    "data, reason",
    [(b'{"type": "Feature", "id": ', "invalid JSON"), (b"\xff\xfe", "invalid JSON"),
     (b'{"hello": "world"}', "not a STAC")],
)
def test_unusable_documents_are_one_quarantine_row(data, reason):
    doc = parse_stac_document(data, "mem://bad.json")
    assert doc.scenes == [] and len(doc.quarantine) == 1
    assert doc.quarantine[0]["line_number"] == 0 and reason in doc.quarantine[0]["reason"]


def test_versions_arrays_tiles_and_synthetic_flag():
    old = {**_item("S2B_52TFM_20231005_0_L2A"), "stac_version": "0.8.1"}
    old.pop("collection")
    old["properties"]["borderwatch:synthetic"] = True
    grid = _item("x-grid", **{"grid:code": "MGRS-51TXE"})
    mgrs_ext = _item("x-mgrs", **{"mgrs:utm_zone": 5, "mgrs:latitude_band": "V",
                                  "mgrs:grid_square": "MQ"})
    doc = parse_stac_document(json.dumps([old, grid, mgrs_ext, _item()]).encode(), "mem://a.json")
    assert not doc.quarantine
    by_id = {s.scene_id: s for s in doc.scenes}
    first = by_id["S2B_52TFM_20231005_0_L2A"]
    assert first.stac_version == "0.8.1" and first.synthetic and first.mgrs_tile == "52TFM"
    assert first.collection == "unknown"
    assert by_id["x-grid"].mgrs_tile == "51TXE" and not by_id["x-grid"].synthetic
    assert by_id["x-mgrs"].mgrs_tile == "05VMQ"
    assert by_id[_item()["id"]].mgrs_tile == "52TFM"
    assert first.acquired_at.isoformat() == "2023-10-05T02:16:09+00:00"
