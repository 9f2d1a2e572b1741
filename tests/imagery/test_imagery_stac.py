"""STAC parsing: every real sample file parses or is quarantined, and hand-made edge cases."""

import json
from datetime import date

import pytest
from shapely.geometry import shape

from assets.core.limits import Limits
from assets.core.sources import LocalSourceStore
from assets.imagery.backends import StoreLinkReader
from assets.imagery.scenes import scenes_in_window
from assets.imagery.stac import parse_stac_document
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
    # Catalog links are read through the store the files sit in, as the pipeline does.
    reader = StoreLinkReader(LocalSourceStore(realdata / "stac"))
    for path in files:
        doc = parse_stac_document(path.read_bytes(), str(path), reader)
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
    batch = scenes_in_window(raws, facilities, date(2015, 1, 1), date(2026, 1, 1), reader)
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
    recorded = []
    reader = StoreLinkReader(LocalSourceStore(realdata / "stac"),
                             record=lambda obj, data: recorded.append(obj.key))
    doc = parse_stac_document(path.read_bytes(), str(path), reader)
    assert sorted(s.scene_id for s in doc.scenes) == [
        "LC80140332018166LGN00", "LC80150322018141LGN00",
        "LC80150332018189LGN00", "LC80300332018166LGN00",
    ]
    assert {s.collection for s in doc.scenes} == {"landsat-8-l1"}
    assert sorted(s.line_number for s in doc.scenes) == [1, 2, 3, 4]
    assert all(s.item_href.endswith(f"{s.scene_id}.json") for s in doc.scenes)
    # Every linked document went through the store (for the raw zone): the collection and items.
    assert "pystac-example-catalog/landsat-8-l1/collection.json" in recorded
    assert sum(k.endswith("LGN00.json") for k in recorded) == 4
    # Without a reader nothing outside the document is read: the link is quarantined instead.
    alone = parse_stac_document(path.read_bytes(), str(path))
    assert alone.scenes == [] and len(alone.quarantine) == 1
    assert "no link reader" in alone.quarantine[0]["reason"]


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
    cap = Limits().raw_line_chars
    assert len(doc.quarantine[-1]["raw_line"]) <= cap
    assert doc.quarantine[-1]["raw_line"].endswith("characters in all]")  # clipped, and says so
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


# --- Catalog links: read inside the source store only, through the raw zone -----------------


def _write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _catalog(hrefs: list[str]) -> dict:
    return {"type": "Catalog", "stac_version": "1.0.0", "id": "corpus", "description": "test",
            "links": [{"rel": "item", "href": h} for h in hrefs]}


def test_links_that_leave_the_store_are_refused_and_quarantined(tmp_path):
    root = tmp_path / "store"
    _write(root / "cat" / "items" / "a.json", _item("a"))
    for name in ("outside", "other", "third"):
        _write(tmp_path / f"{name}.json", _item(name))
    outside = tmp_path / "outside.json"
    (root / "cat" / "link.json").symlink_to(outside)
    hrefs = ["items/a.json", "../../outside.json", str(tmp_path / "other.json"),
             f"file://{tmp_path / 'third.json'}",
             "s3://another-bucket/x.json", "https://example.invalid/x.json", "link.json",
             "missing.json"]
    _write(root / "cat" / "catalog.json", _catalog(hrefs))
    recorded = []
    reader = StoreLinkReader(LocalSourceStore(root), lambda obj, data: recorded.append(obj.key))
    doc = parse_stac_document((root / "cat" / "catalog.json").read_bytes(),
                              str(root / "cat" / "catalog.json"), reader)
    assert [s.scene_id for s in doc.scenes] == ["a"]
    reasons = {q["line_number"]: q["reason"] for q in doc.quarantine}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert all("refused" in reasons[n] and "leaves the source store" in reasons[n]
               for n in (2, 3, 4, 5))  # a `..` escape, absolute paths, another bucket
    assert "refused" in reasons[6] and "outside the source store" in reasons[6]  # https
    assert "symbolic link" in reasons[7]
    assert "cannot read" in reasons[8]
    assert recorded == ["cat/items/a.json"]  # only what was read went to the raw zone


def test_bucket_links_stay_in_the_bucket_and_prefix():
    class Bucket:
        uri, bucket, prefix = "s3://corpus-bucket/stac", "corpus-bucket", "stac"
        files = {"cat/items/a.json": json.dumps(_item("a")).encode()}

        def read(self, key):
            return self.files[key]

    reader = StoreLinkReader(Bucket())
    base = "s3://corpus-bucket/stac/cat/catalog.json"
    hrefs = ["items/a.json", "../../../elsewhere/x.json", "s3://another-bucket/stac/x.json",
             "/stac/cat/items/a.json"]
    doc = parse_stac_document(json.dumps(_catalog(hrefs)).encode(), base, reader)
    assert [s.scene_id for s in doc.scenes] == ["a"]
    assert [q["line_number"] for q in doc.quarantine] == [2, 3]
    assert all("leaves the source store" in q["reason"] for q in doc.quarantine)


def test_a_replay_reads_linked_items_from_the_raw_zone_alone(tmp_path, facilities):
    """Live: the catalog is fetched, its items are read through the store and recorded. Replay:
    the source is gone; the same listing and reader over the raw zone give the same scenes."""
    import shutil

    import duckdb

    from assets.core.rawzone import ManifestStore, RawZone, fetch_to_raw, record_raw
    from assets.imagery.backends import list_imagery_objects

    root = tmp_path / "imagery"
    square = [[[130.0, 42.0], [131.0, 42.0], [131.0, 43.0], [130.0, 43.0], [130.0, 42.0]]]
    for n in range(3):
        item = _item(f"scene-{n}", **{"datetime": f"2023-10-0{n + 1}T02:00:00Z"})
        item["geometry"]["coordinates"] = square
        _write(root / "cat" / "items" / f"scene-{n}.geojson", item)  # not listed: linked only
    _write(root / "cat" / "catalog.json",
           _catalog([f"items/scene-{n}.geojson" for n in range(3)]))
    zone, con = RawZone(tmp_path / "raw"), duckdb.connect()

    def record(obj, data):
        record_raw(con, zone, obj.uri, f"imagery/{obj.key}", data)

    def run(store):
        listing = list_imagery_objects(store, facilities, date(2023, 10, 1), date(2023, 11, 1))
        raws = fetch_to_raw(store, list(listing), zone, con, namespace="imagery")
        batch = scenes_in_window([*raws, *listing.skipped], facilities, date(2023, 10, 1),
                                 date(2023, 11, 1), StoreLinkReader(store, record))
        for r in batch.results:
            r.check_accounting()
        return sorted(s for r in batch.results for s in r.rows["scene_id"]), batch

    live, live_batch = run(LocalSourceStore(root))
    assert live == ["scene-0", "scene-1", "scene-2"]
    skipped = [r for r in live_batch.results if r.skipped]
    assert [r.warnings for r in skipped] == [["skipped: not a recognised file name"]] * 3
    shutil.rmtree(root)
    replayed, _ = run(ManifestStore(con, zone, "imagery"))
    assert replayed == live


def test_footprints_outside_wgs84_are_quarantined_not_counted():
    """Was: a footprint at longitude 500 loaded and counted as coverage."""
    far = _item("far")
    far["geometry"]["coordinates"] = [[[500, 42], [501, 42], [501, 43], [500, 43], [500, 42]]]
    far["bbox"] = [500, 42, 501, 43]
    south = _item("south")
    south["geometry"]["coordinates"] = [[[130, -95], [131, -95], [131, -91], [130, -95]]]
    box = _item("box")
    box["bbox"] = [130, 42, 131, 430]
    doc = parse_stac_document(json.dumps([far, south, box, _item("ok")]).encode(), "mem://w.json")
    assert [s.scene_id for s in doc.scenes] == ["ok"]
    reasons = [q["reason"] for q in doc.quarantine]
    assert "longitude 501 outside -180..180" in reasons[0]
    assert "latitude -95 outside -90..90" in reasons[1]
    assert "bbox latitude outside" in reasons[2]


def test_json_nested_too_deep_is_one_quarantine_row():
    """Was: RecursionError out of json.loads dropped the whole source."""
    doc = parse_stac_document(b"[" * 200_000 + b"]" * 200_000, "mem://deep.json")
    assert doc.scenes == [] and len(doc.quarantine) == 1
    assert doc.quarantine[0]["line_number"] == 0
    assert "JSON nested deeper than 64 levels" in doc.quarantine[0]["reason"]
    shallow = parse_stac_document(json.dumps([_item(nested={"a": [[[[1]]]]})]).encode(), "mem://n")
    assert len(shallow.scenes) == 1


def test_a_store_reached_through_a_symlinked_path_follows_its_own_links(realdata, tmp_path):
    """The folder store resolves its root: a catalog read through a symlink to the same store
    still links inside it, while a folder inside the store that links elsewhere still leaves it."""
    source = realdata / "stac" / "pystac-example-catalog"
    if not source.exists():
        pytest.skip(f"static catalog not found: {source}")
    import shutil

    store_dir = tmp_path / "store"
    shutil.copytree(source, store_dir / "catalog")
    (tmp_path / "via").symlink_to(store_dir)
    via = tmp_path / "via" / "catalog" / "catalog.json"
    reader = StoreLinkReader(LocalSourceStore(tmp_path / "via"))
    doc = parse_stac_document(via.read_bytes(), str(via), reader)
    assert doc.items_read == 4 and len(doc.scenes) == 4 and not doc.quarantine

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(source, elsewhere)
    (store_dir / "linked").symlink_to(elsewhere)
    inner = store_dir / "linked" / "catalog.json"
    doc = parse_stac_document(inner.read_bytes(), str(inner), StoreLinkReader(LocalSourceStore(store_dir)))
    assert not doc.scenes
    assert doc.quarantine and all("leaves the source store" in q["reason"] for q in doc.quarantine)
