"""What the folder/bucket backend lists: Sentinel-2 layout by tile and month, else every .json."""

from datetime import date

import pytest

from assets.core.sources import LocalSourceStore
from assets.imagery.backends import (
    facility_tiles,
    list_imagery_objects,
    months_touching,
    s2_layout_base,
    s2_tile_prefix,
)
from tests.imagery.imagery_helpers import facilities_frame, facility_at


def test_months_and_tile_prefixes():
    months = months_touching(date(2023, 11, 20), date(2024, 2, 1))
    assert months == [(2023, 11), (2023, 12), (2024, 1)]
    assert months_touching(date(2023, 10, 5), date(2023, 10, 6)) == [(2023, 10)]
    assert months_touching(date(2023, 10, 5), date(2023, 10, 5)) == []
    assert s2_tile_prefix("52TFM") == "52/T/FM/"
    assert s2_tile_prefix("01CCV") == "1/C/CV/"
    with pytest.raises(ValueError):
        s2_tile_prefix("52TIM")


def test_tiles_come_from_the_gazetteer_or_the_point(facilities):
    assert facility_tiles(facilities) == ["51TXE", "52TEN", "52TFM"]
    anywhere = facilities_frame(facility_at("rotterdam", 51.95, 4.05))
    assert facility_tiles(anywhere) == ["31UET"]


def test_other_layouts_list_every_json_file(realdata, facilities):
    store = LocalSourceStore(realdata / "stac")
    assert s2_layout_base(store) is None
    objects = list_imagery_objects(store, facilities, date(2023, 1, 1), date(2023, 2, 1))
    keys = [o.key for o in objects]
    expected = sorted(p.relative_to(realdata / "stac").as_posix()
                      for p in (realdata / "stac").rglob("*.json"))
    assert keys == expected and "pystac-example-catalog/catalog.json" in keys


def test_local_layout_lists_only_tile_months(tmp_path, facilities):
    from assets.imagery import sample

    sample.write(tmp_path, date(2023, 9, 1), date(2023, 12, 1), tiles=("52TFM", "52TEN"))
    # Beside the layout: a loose item is read (it used to be dropped silently), other files are
    # listed as skipped so they get an audit row.
    (tmp_path / "imagery" / "notes.json").write_text("{}")
    (tmp_path / "imagery" / "README.txt").write_text("about this bucket")
    store = LocalSourceStore(tmp_path / "imagery")
    assert s2_layout_base(store) == "sentinel-s2-l2a-cogs/"
    objects = list_imagery_objects(store, facilities, date(2023, 10, 30), date(2023, 11, 2))
    assert [o.key for o in objects if "/" not in o.key] == ["notes.json"]
    assert [(o.key, o.skip_reason) for o in objects.skipped] == [
        ("README.txt", "skipped: not a recognised file name")]
    objects = [o for o in objects if o.key != "notes.json"]
    months = {tuple(o.key.split("/")[1:6]) for o in objects}
    assert months == {("52", "T", "FM", "2023", "10"), ("52", "T", "FM", "2023", "11"),
                      ("52", "T", "EN", "2023", "10"), ("52", "T", "EN", "2023", "11")}
    rooted = LocalSourceStore(tmp_path / "imagery" / "sentinel-s2-l2a-cogs")
    assert s2_layout_base(rooted) == ""
    again = list_imagery_objects(rooted, facilities, date(2023, 10, 30), date(2023, 11, 2))
    assert len(again) == len(objects)
