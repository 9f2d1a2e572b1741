"""The synthetic imagery sample: deterministic, marked synthetic, in the bucket layout."""

import json
from datetime import date
from pathlib import Path

import pytest
from shapely.geometry import box, shape

from assets.core.sources import LocalSourceStore
from assets.imagery import sample
from assets.imagery.backends import list_imagery_objects
from assets.imagery.scenes import scenes_in_window
from assets.reference.geometry import aoi_polygon
from tests.imagery.imagery_helpers import raw_file

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def test_generator_is_deterministic_and_marks_every_item_synthetic(tmp_path):
    window = (date(2023, 9, 1), date(2023, 11, 1))
    sample.write(tmp_path / "a", *window)
    sample.write(tmp_path / "b", *window)
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert first and first == second
    # 3 tiles, one scene every 5 days over 61 days
    assert 3 * 12 <= len(first) <= 3 * 13
    items = [json.loads(b) for b in first.values()]
    assert all(i["properties"]["borderwatch:synthetic"] is True for i in items)
    assert all("SYNTHETIC" in i["properties"]["description"] for i in items)
    for key, item in zip(first, items, strict=True):
        p = item["properties"]
        day = date.fromisoformat(p["datetime"][:10])
        assert key == (f"imagery/sentinel-s2-l2a-cogs/{p['sentinel:utm_zone']}/"
                       f"{p['sentinel:latitude_band']}/{p['sentinel:grid_square']}/{day.year}/"
                       f"{day.month}/{item['id']}/{item['id']}.json")
        assert shape(item["geometry"]).is_valid
    # A shorter range gives the same bytes for the same items (draws do not depend on the range).
    sample.write(tmp_path / "c", date(2023, 10, 1), date(2023, 11, 1))
    third = _tree(tmp_path / "c")
    assert third and all(first[k] == v for k, v in third.items())


def test_partial_swaths_make_bbox_and_footprint_differ():
    site = aoi_polygon(42.4217, 130.6026, 2000)
    items = sample.items_for_tile("52TFM", date(2018, 1, 1), date(2024, 7, 1))
    bbox_only = [i["id"] for i in items
                 if box(*i["bbox"]).intersects(site) and not shape(i["geometry"]).intersects(site)]
    assert bbox_only, "no partial-swath scene whose bbox but not footprint covers Tumangang"
    def clouds(months):
        return [i["properties"]["eo:cloud_cover"] for i in items
                if i["properties"]["datetime"][5:7] in months]

    summer, winter = clouds(("07", "08")), clouds(("12", "01"))
    assert sum(summer) / len(summer) > 2 * sum(winter) / len(winter)


def test_bundled_sample_has_a_clear_scene_over_tumangang_on_2023_10_05(facilities, tmp_path):
    root = REPO / "data" / "sample" / "imagery"
    if not (root / "sentinel-s2-l2a-cogs").is_dir():
        pytest.skip(f"imagery sample not generated at {root} "
                    "(uv run python -m assets.imagery.sample data/sample)")
    store = LocalSourceStore(root)
    start, end = date(2023, 10, 2), date(2023, 10, 9)
    objects = list_imagery_objects(store, facilities, start, end)
    assert objects and all(o.key.startswith("sentinel-s2-l2a-cogs/") for o in objects)
    assert {o.key.split("/")[5] for o in objects} == {"10"}  # only October was listed
    raws = [raw_file(tmp_path, o.uri, store.read(o.key)) for o in objects]
    batch = scenes_in_window(raws, facilities, start, end)
    links = batch.related["staging.stg_imagery__scene_facilities"]
    clear = links.filter(facility_id="tumangang", acquired_on=date(2023, 10, 5))
    assert clear["scene_id"].to_list() == ["S2A_52TFM_20231005_0_L2A"]
    assert clear["cloud_cover"][0] <= 20
    scenes = [row for r in batch.results for row in r.rows.iter_rows(named=True)]
    assert scenes and all(s["synthetic"] for s in scenes)
