"""The report page and PNG charts: self-contained, deterministic, rendered by a real Chromium."""

import json
import os
import re
import shutil
import subprocess
from datetime import date

import pytest
from shapely.geometry import Point, shape

from assets.indicators.report import (
    build_report,
    chart_png,
    facility_map_geojson,
    map_scenes,
    map_specs,
    summary_section,
)
from assets.reference.geometry import aoi_polygon

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
]


def _alert_ids(con, facility_id=None):
    rows = con.execute(
        "select alert_id from curated.alerts where $f is null or facility_id = $f "
        "order by alert_id",
        {"f": facility_id},
    ).fetchall()
    return [r[0] for r in rows]


# Synthetic footprints for the fixture's scenes: a whole tile over the Tumen crossing, and for
# the cloudy scene of 2023-10-08 a partial one whose edge runs through Tumangang's area.
FULL_TILE = "POLYGON ((129.9 41.5, 131.3 41.5, 131.3 42.9, 129.9 42.9, 129.9 41.5))"
EDGE_TILE = "POLYGON ((130.45 41.5, 131.3 41.5, 131.3 42.9, 130.693 42.9, 130.45 41.5))"


@pytest.fixture
def mapped(warehouse):
    """The fixture warehouse with what the maps read: aoi_wkt and the scenes' footprints."""
    con = warehouse
    con.execute("alter table curated.facilities add column aoi_wkt varchar")
    for fid, lat, lon, radius in con.execute(
        "select facility_id, lat, lon, aoi_radius_m from curated.facilities"
    ).fetchall():
        con.execute(
            "update curated.facilities set aoi_wkt = $w where facility_id = $f",
            {"w": aoi_polygon(lat, lon, radius).wkt, "f": fid},
        )
    con.execute(
        f"""
        create table staging.stg_imagery__scenes as
        select distinct scene_id, collection,
            case when scene_id = 'S2_T52TFM_20231008' then '{EDGE_TILE}' else '{FULL_TILE}' end
                as footprint_wkt
        from staging.stg_imagery__scene_facilities
        """
    )
    return con


def _specs(page: str) -> dict:
    found = re.search(r"const specs = (\{.*?\});\nfor", page, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_report_is_self_contained_and_deterministic(warehouse, tmp_path):
    result = build_report(warehouse, tmp_path / "a" / "report.html")
    page = result.path.read_text(encoding="utf-8")
    assert result.facilities == ["khasan", "tumangang"]
    assert result.n_alerts == 2
    # No external scripts, stylesheets or frames: everything is inline.
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<(iframe|img)[^>]*src\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "vegaEmbed" in page
    assert "Tumangang rail facility" in page and "Khasan station" in page
    for alert_id in _alert_ids(warehouse):
        assert page.count(f'id="alert-{alert_id}"') == 1
        assert f'href="#alert-{alert_id}"' in page
    # The data date is the latest date any source reached (an article of 2023-10-25), not today.
    assert "Data through 2023-10-25." in page
    summary = re.search(r'<section class="summary".*?</section>', page, re.S).group(0)
    assert '<span class="figure">3</span> facilities monitored; 2 with reported counts' in summary
    assert (
        '<span class="figure">1</span> anomaly in the last 90 days of data '
        "(2023-07-28 to 2023-10-25), 2 in all" in summary
    )
    assert "73 railcars on 2023-10-05" in summary and "15 railcars" not in summary
    freshness = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", summary
    )
    assert freshness == [
        ("reported counts", "38 North", "2022-11-29", "330"),
        ("reported counts", "CSIS Beyond Parallel", "2023-10-05", "20"),
        ("reported counts", "fixture baseline", "2023-09-20", "35"),
        ("imagery", "sentinel-2-l2a", "2023-10-13", "12"),
        ("news", "feed", "2023-10-25", "0"),
    ]
    assert 'href="https://www.rd.nl/artikel/1037517"' in page
    again = build_report(warehouse, tmp_path / "b" / "report.html")
    assert again.path.read_bytes() == result.path.read_bytes()
    # The JavaScript bundle, built once into a cache folder, gives the same page from the cache.
    cache = tmp_path / "cache"
    first = build_report(warehouse, tmp_path / "c" / "report.html", cache_dir=cache)
    (bundle,) = cache.glob("vega-bundle-*.js")
    assert bundle.read_text(encoding="utf-8") in page
    assert not list(cache.glob(".*"))  # no partial file left
    bundle.write_text(bundle.read_text(encoding="utf-8") + "\n// from the cache\n")
    cached = build_report(warehouse, tmp_path / "d" / "report.html", cache_dir=cache)
    assert first.path.read_bytes() == result.path.read_bytes()
    assert "// from the cache" in cached.path.read_text(encoding="utf-8")


def test_recent_anomalies_count_back_from_the_data_date():
    def alert(day):
        return {
            "alert_id": str(day),
            "observed_on": day,
            "summary": f"on {day}",
            "severity": "high",
        }

    data_date = date(2001, 6, 30)  # long past: only the data's own dates can matter
    alerts = [alert(date(2001, 4, 1)), alert(date(2001, 4, 2)), alert(data_date)]
    html = summary_section([], [], alerts, [], data_date)
    assert (
        "2</span> anomalies in the last 90 days of data (2001-04-02 to 2001-06-30), 3 in all"
        in html
    )
    assert "on 2001-04-02" in html and "on 2001-04-01" not in html


def test_maps_show_area_and_footprints_near_anomalies(mapped, tmp_path):
    facility = (
        mapped.execute("select * from curated.facilities where facility_id = 'tumangang'")
        .pl()
        .to_dicts()[0]
    )
    scenes = map_scenes(mapped, "tumangang")
    # evidence window ±7 days around 2023-10-05: not 09-27 or 10-13, not Khasan's scene
    assert [s["scene_id"] for s in scenes] == [
        "S2_T52TFM_20231003",
        "S2_T52TFM_20231008",
        "S2_T52TFM_20231012",
    ]
    collection = facility_map_geojson(facility, scenes)
    statuses = [
        (f["properties"]["acquired_on"], f["properties"]["status"])
        for f in collection["features"]
        if f["properties"]["kind"] == "scene"
    ]
    assert statuses == [("2023-10-03", "clear"), ("2023-10-08", "cloudy"), ("2023-10-12", "clear")]
    maps = map_specs(collection, "Tumangang rail facility", "t")
    assert set(maps) == {"region", "site"}
    fills = maps["site"]["layer"][0]["data"]["values"]["features"]
    edges = maps["site"]["layer"][1]["data"]["values"]["features"]
    assert len(fills) == 3 and len(maps["site"]["layer"]) == 5
    # Only the partial tile has an edge inside the site window, and it crosses the area.
    assert [e["properties"]["scene_id"] for e in edges] == ["S2_T52TFM_20231008"]
    area = shape(maps["site"]["layer"][3]["data"]["values"]["features"][0]["geometry"])
    assert shape(edges[0]["geometry"]).intersects(area)
    # Stretched by cos(latitude): the circular area is as wide as it is tall on the page.
    minx, miny, maxx, maxy = area.bounds
    assert (maxx - minx) == pytest.approx(maxy - miny, rel=0.01)
    assert area.contains(Point((minx + maxx) / 2, 42.4217))

    page = build_report(mapped, tmp_path / "report.html").path.read_text(encoding="utf-8")
    specs = _specs(page)
    # Khasan (0) had no scene near its anomaly: its site map only; Tumangang (1) both.
    assert {k for k in specs if k.startswith(("region-", "site-"))} == {
        "site-0",
        "region-1",
        "site-1",
    }
    assert "No scene covered the site within 7 days of an anomaly" in page
    again = build_report(mapped, tmp_path / "again.html").path.read_text(encoding="utf-8")
    assert again == page


def test_report_for_chosen_facilities(warehouse, tmp_path):
    result = build_report(warehouse, tmp_path / "report.html", facilities=["khasan"])
    page = result.path.read_text(encoding="utf-8")
    assert result.facilities == ["khasan"] and result.n_alerts == 1
    assert "Tumangang rail facility" not in page
    assert f'id="alert-{_alert_ids(warehouse, "khasan")[0]}"' in page


def test_chart_png(warehouse):
    png = chart_png(warehouse, "tumangang")
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    zoomed = chart_png(warehouse, "tumangang", alert_id=_alert_ids(warehouse, "tumangang")[0])
    assert zoomed.startswith(b"\x89PNG") and zoomed != png
    with pytest.raises(ValueError, match="nowhere"):
        chart_png(warehouse, "nowhere")


def test_chart_png_is_drawn_once_per_distinct_chart(warehouse, tmp_path, monkeypatch):
    from assets.indicators import report

    drawn = []
    draw = report.vlc.vegalite_to_png

    def counting(spec, **kwargs):
        drawn.append(spec)
        return draw(spec, **kwargs)

    monkeypatch.setattr(report.vlc, "vegalite_to_png", counting)
    cache = tmp_path / "cache"
    uncached = chart_png(warehouse, "tumangang")
    first = chart_png(warehouse, "tumangang", cache_dir=cache)
    again = chart_png(warehouse, "tumangang", cache_dir=cache)
    assert len(drawn) == 2  # the uncached call and the first cached one
    assert first == again == uncached  # a kept drawing is the drawing
    zoomed = chart_png(
        warehouse, "tumangang", alert_id=_alert_ids(warehouse, "tumangang")[0], cache_dir=cache
    )
    assert len(drawn) == 3 and zoomed != first
    assert len(list((cache / "charts").glob("*.png"))) == 2

    # Only the most recently used drawings stay.
    monkeypatch.setattr(report, "PNG_CACHE_FILES", 1)
    chart_png(warehouse, "tumangang", scale=0.5, cache_dir=cache)
    assert len(drawn) == 4 and len(list((cache / "charts").glob("*.png"))) == 1


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if found is None:
        reason = "headless Chromium not installed (apt-get install chromium) at /usr/bin/chromium"
        if os.environ.get("BORDERWATCH_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _shapes(dom: str, group_class: str) -> int:
    match = re.search(rf'<g class="mark-shape role-mark {group_class}"[^>]*>(.*?)</g>', dom, re.S)
    assert match, f"no rendered geoshape group {group_class}"
    return len(re.findall(r'<path[^>]* d="M', match.group(1)))


def _symbols(dom: str, group_class: str) -> int:
    match = re.search(rf'<g class="mark-symbol role-mark {group_class}"[^>]*>(.*?)</g>', dom, re.S)
    assert match, f"no rendered mark group {group_class}"
    return match.group(1).count("<path")


@pytest.mark.browser
def test_report_renders_in_headless_chromium(mapped, tmp_path):
    chromium = _chromium()
    result = build_report(mapped, tmp_path / "report.html")
    url = result.path.resolve().as_uri()
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dump = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, profile, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    dom, log = dump.stdout, dump.stderr
    assert dump.returncode == 0, log[-2000:]
    assert "Uncaught" not in log, log[-2000:]
    console_errors = [line for line in log.splitlines() if "CONSOLE" in line and "rror" in line]
    assert not console_errors, console_errors
    vega_warnings = [line for line in log.splitlines() if "CONSOLE" in line and "WARN" in line]
    assert not vega_warnings, vega_warnings
    # Every chart (one history and one ±60-day zoom per alert and facility) and every map (a
    # site map per facility, a region map for Tumangang, whose anomaly had scenes) as SVG.
    assert dom.count('class="marks"') == 4 + 3
    # five layers of counts, the scene ticks and the news bars, per chart; five per map
    assert len(re.findall(r'class="mark-[a-z]+ role-mark ', dom)) == 4 * 7 + 3 * 5
    # The maps are geoshapes: 3 footprints (fill and outline), the dashed site square, the
    # area and the facility on Tumangang's region map; Khasan's site map has no footprint.
    assert [_shapes(dom, f"map_1_layer_{n}_marks") for n in range(5)] == [3, 3, 1, 1, 1]
    assert [_shapes(dom, f"site_1_layer_{n}_marks") for n in range(5)] == [3, 1, 1, 1, 1]
    assert [_shapes(dom, f"site_0_layer_{n}_marks") for n in range(5)] == [0, 0, 1, 1, 1]
    assert "map_0_layer" not in dom
    area = re.search(r'role-mark site_1_layer_3_marks"[^>]*><path[^>]* d="M([-\d.]+),', dom)
    assert area, "the area of interest is not drawn"
    # Tumangang (second facility): one red anomaly in the history chart and in its zoom.
    assert _symbols(dom, "counts_1_layer_4_marks") == 1
    assert _symbols(dom, "counts_1_0_layer_4_marks") == 1
    assert "73 railcars on 2023-10-05, 3.7× the five-year maximum of 20" in dom
    # The baseline step line and the reported counts are drawn.
    assert re.search(r'role-mark counts_1_layer_0_marks"[^>]*><path[^>]* d="M', dom)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            profile,
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            "--hide-scrollbars",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 50_000
