"""The STAC API backend against a real STAC API (rustac serve) on loopback: search and paging."""

import json
from datetime import date

import pytest
from shapely.geometry import shape

from assets.imagery import sample
from assets.imagery.backends import search_area, search_stac_api
from assets.imagery.scenes import scenes_in_window
from tests.imagery.imagery_helpers import raw_file
from tests.servers import start_rustac, venv_binary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stac_api(tmp_path_factory):
    if not venv_binary("rustac").exists():
        pytest.skip(f"rustac binary not found at {venv_binary('rustac')} (dev dependency rustac)")
    folder = tmp_path_factory.mktemp("rustac")
    items = [i for tile in sample.TILES
             for i in sample.items_for_tile(tile, date(2023, 5, 1), date(2023, 11, 1))]
    # The same scenes under another collection: a search for one collection must not return them.
    other = [{**i, "id": i["id"] + "-copy", "collection": "other-collection"} for i in items[:20]]
    path = folder / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items + other}))
    url, stop = start_rustac(path, folder)
    try:
        yield url, items
    finally:
        stop()


def test_search_follows_paging_and_returns_every_matching_item(stac_api, facilities, tmp_path):
    url, items = stac_api
    start, end = date(2023, 6, 1), date(2023, 10, 1)
    area = shape(search_area(facilities))
    expected = sorted(
        i["id"] for i in items
        if start.isoformat() <= i["properties"]["datetime"][:10] < end.isoformat()
        and shape(i["geometry"]).intersects(area)
    )
    pages = list(search_stac_api(url, [sample.COLLECTION], facilities, start, end, limit=10))
    assert len(pages) == -(-len(expected) // 10) > 2
    got = sorted(f["id"] for _, body in pages for f in json.loads(body)["features"])
    assert got == expected
    uris = [u for u, _ in pages]
    assert len(set(uris)) == len(uris) and all(u.startswith(url + "/search?") for u in uris)
    again = search_stac_api(url, [sample.COLLECTION], facilities, start, end, limit=10)
    again = [u for u, _ in again]
    assert again == uris  # same request, same uris: pages land once in the raw zone

    raws = [raw_file(tmp_path, uri, body) for uri, body in pages]
    batch = scenes_in_window(raws, facilities, start, end)
    staged = sorted(s for r in batch.results for s in r.rows["scene_id"])
    for r in batch.results:
        r.check_accounting()
    # The API searched the union of the areas; staging keeps the same scenes (footprint test).
    assert staged == expected


def test_search_window_is_half_open(stac_api, facilities):
    url, _ = stac_api
    tumangang = facilities.filter(facility_id="tumangang")
    pages = list(search_stac_api(url, None, tumangang, date(2023, 10, 5), date(2023, 10, 6)))
    ids = sorted(f["id"] for _, body in pages for f in json.loads(body)["features"])
    assert ids == ["S2A_52TFM_20231005_0_L2A"]
    none = list(search_stac_api(url, None, tumangang, date(2023, 10, 6), date(2023, 10, 10)))
    assert [f for _, body in none for f in json.loads(body)["features"]] == []
