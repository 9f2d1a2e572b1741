"""The analyst's report: one self-contained HTML page (a summary, charts, a map per facility,
alerts, evidence) and PNG charts.

The page embeds Vega, Vega-Lite and Vega-Embed inline (the bundle shipped with vl-convert), so
it opens offline and from a mail attachment; maps are drawn from GeoJSON with no tiles. It reads
curated tables (and the scene footprints in staging.stg_imagery__scenes) and writes nothing
that depends on the clock: "the last 90 days" end at the latest data date, so the same tables
give the same bytes.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import altair as alt
import duckdb
import polars as pl
import vl_convert as vlc
from shapely import affinity, box
from shapely.geometry import mapping, shape

from assets.core.export import facilities_geojson

WIDTH = 860
HISTORY_YEARS = 7
ZOOM_DAYS = 60
MAP_SIZE = 320
RECENT_DAYS = 90  # the summary's "anomalies in the last 90 days", counted back from the data date
SCENE_COLOURS = {"clear": "#2ca02c", "cloudy": "#7f7f7f", "cloud cover unknown": "#bcbd22"}
# Vega-Lite version of the bundled JS; the specs Altair writes follow the same major version.
VL_VERSION = "_".join(alt.SCHEMA_VERSION.split(".")[:2])

SERIES_COLOURS = {
    "reported count": "#1f77b4",
    "prior maximum (5 years)": "#ff7f0e",
    "prior median (5 years)": "#7f7f7f",
    "anomaly": "#d62728",
}


@dataclass
class ReportResult:
    path: Path
    facilities: list[str]
    n_alerts: int


def _rows(con, sql: str, params: dict | None = None) -> list[dict]:
    """Rows as dicts; a table not built yet (e.g. no imagery loaded) reads as empty."""
    try:
        cursor = con.execute(sql, params or {})
    except duckdb.CatalogException:
        return []
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _facilities(con, wanted: list[str] | None) -> list[dict]:
    rows = _rows(
        con,
        """
        select b.facility_id, coalesce(f.name, b.facility_id) as name, count(*) as n
        from curated.activity_baselines as b
        left join curated.facilities as f using (facility_id)
        group by all
        order by b.facility_id
        """,
    )
    if wanted is not None:
        rows = [r for r in rows if r["facility_id"] in set(wanted)]
    return rows


def _primary_metric(con, facility_id: str) -> str | None:
    """railcars when reported, else the facility's most reported metric."""
    rows = _rows(
        con,
        """
        select metric from curated.activity_baselines where facility_id = $f
        group by metric order by metric = 'railcars' desc, count(*) desc, metric limit 1
        """,
        {"f": facility_id},
    )
    return rows[0]["metric"] if rows else None


def _facility_data(con, facility_id: str) -> dict:
    metric = _primary_metric(con, facility_id)
    series = _rows(
        con,
        """
        select b.observed_on, b.value, b.source, b.prior_max, b.prior_median,
            b.ratio_to_prior_max, b.robust_z, b.is_anomaly,
            a.alert_id, a.severity, a.summary
        from curated.activity_baselines as b
        left join curated.alerts as a using (facility_id, metric, observed_on)
        where b.facility_id = $f and b.metric = $m
        order by b.observed_on, b.source
        """,
        {"f": facility_id, "m": metric},
    )
    clear_days = _rows(
        con,
        """
        select acquired_on, n_clear, best_cloud_cover from curated.imagery_coverage_daily
        where facility_id = $f and n_clear > 0 order by acquired_on
        """,
        {"f": facility_id},
    )
    news = _rows(
        con,
        """
        select published_on, n_articles, attention_z from curated.news_attention_daily
        where facility_id = $f order by published_on
        """,
        {"f": facility_id},
    )
    return {"metric": metric, "series": series, "clear_days": clear_days, "news": news}


def _records(rows: list[dict], date_key: str) -> list[dict]:
    out = []
    for row in rows:
        rec = {k: _iso(v) for k, v in row.items()}
        rec["date"] = rec.pop(date_key)
        if row.get("alert_id"):
            rec["href"] = f"#alert-{row['alert_id']}"
        out.append(rec)
    return out


def _coloured(chart: alt.Chart, label: str) -> alt.Chart:
    """Colour a layer by a constant series label, so all layers share one legend."""
    return chart.transform_calculate(series=json.dumps(label)).encode(
        color=alt.Color(
            "series:N",
            scale=alt.Scale(domain=list(SERIES_COLOURS), range=list(SERIES_COLOURS.values())),
            legend=alt.Legend(title=None, orient="top"),
        )
    )


def facility_spec(
    data: dict, name: str, domain: tuple[date, date], key: str, width: int = WIDTH
) -> dict:
    """The Vega-Lite spec of one facility's panels (counts, clear scenes, news) over `domain`."""
    x_scale = alt.Scale(domain=[domain[0].isoformat(), domain[1].isoformat()])
    x = alt.X("date:T", scale=x_scale, title=None)
    metric = data["metric"] or "value"
    series = alt.Data(values=_records(data["series"], "observed_on"))
    zoom = alt.selection_interval(bind="scales", encodings=["x"], name=f"zoom_{key}")
    base = alt.Chart(series)
    counts = _coloured(
        base.mark_line(clip=True, strokeWidth=1.2).encode(x=x, y=alt.Y("value:Q", title=metric)),
        "reported count",
    )
    points = _coloured(
        base.mark_point(clip=True, filled=True, size=28)
        .encode(
            x=x,
            y="value:Q",
            tooltip=[
                alt.Tooltip("date:T", title="observed on"),
                alt.Tooltip("value:Q", title=metric),
                alt.Tooltip("source:N"),
                alt.Tooltip("prior_max:Q", title="prior max"),
            ],
        )
        .add_params(zoom),
        "reported count",
    )
    prior_max = _coloured(
        base.mark_line(clip=True, interpolate="step-after", strokeWidth=1.5).encode(
            x=x, y="prior_max:Q"
        ),
        "prior maximum (5 years)",
    )
    prior_median = _coloured(
        base.mark_line(clip=True, strokeDash=[4, 3], strokeWidth=1).encode(x=x, y="prior_median:Q"),
        "prior median (5 years)",
    )
    anomalies = _coloured(
        base.transform_filter("datum.is_anomaly")
        .mark_point(clip=True, filled=True, size=180, cursor="pointer", opacity=1)
        .encode(
            x=x,
            y="value:Q",
            href="href:N",
            tooltip=[
                alt.Tooltip("date:T", title="observed on"),
                alt.Tooltip("value:Q", title=metric),
                alt.Tooltip("prior_max:Q", title="prior max"),
                alt.Tooltip("ratio_to_prior_max:Q", title="ratio to prior max"),
                alt.Tooltip("robust_z:Q", title="robust z"),
                alt.Tooltip("severity:N"),
                alt.Tooltip("summary:N"),
            ],
        ),
        "anomaly",
    )
    top = alt.layer(prior_max, prior_median, counts, points, anomalies).properties(
        width=width, height=240, name=f"counts_{key}", title=f"{name}: reported {metric}"
    )
    scenes = (
        alt.Chart(alt.Data(values=_records(data["clear_days"], "acquired_on")))
        .mark_tick(clip=True, thickness=2, color="#2ca02c")
        .encode(
            x=x,
            tooltip=[
                alt.Tooltip("date:T", title="clear scene"),
                alt.Tooltip("n_clear:Q", title="clear scenes"),
                alt.Tooltip("best_cloud_cover:Q", title="best cloud cover %"),
            ],
        )
        .properties(width=width, height=24, name=f"scenes_{key}", title="clear-scene days")
    )
    news = (
        alt.Chart(alt.Data(values=_records(data["news"], "published_on")))
        .mark_bar(clip=True, color="#9467bd", width=2)
        .encode(
            x=x,
            y=alt.Y("n_articles:Q", title="articles"),
            tooltip=[
                alt.Tooltip("date:T", title="published on"),
                alt.Tooltip("n_articles:Q", title="articles"),
                alt.Tooltip("attention_z:Q", title="attention z", format=".1f"),
            ],
        )
        .properties(width=width, height=70, name=f"news_{key}", title="news attention")
    )
    chart = alt.vconcat(top, scenes, news, spacing=8).resolve_scale(x="shared")
    return chart.to_dict()


def _all_dates(data: dict) -> list[date]:
    return (
        [r["observed_on"] for r in data["series"]]
        + [r["acquired_on"] for r in data["clear_days"]]
        + [r["published_on"] for r in data["news"]]
    )


def history_domain(data: dict) -> tuple[date, date]:
    """The last HISTORY_YEARS of the facility's data, with a little room on the right."""
    days = _all_dates(data)
    last = max(days)
    first = max(min(days), date(last.year - HISTORY_YEARS, last.month, min(last.day, 28)))
    return first - timedelta(days=15), last + timedelta(days=30)


PNG_CACHE_FILES = 64


def render_png(spec: dict, scale: float = 1.0, cache_dir: Path | None = None) -> bytes:
    """The Vega-Lite `spec` drawn as PNG by vl-convert. With `cache_dir`, a drawing is kept under
    the sha256 of the spec, the scale and both versions, so a chart whose data did not change is
    not drawn again (drawing takes about half a second); the `PNG_CACHE_FILES` most recently
    used drawings are kept."""
    if cache_dir is None:
        return vlc.vegalite_to_png(spec, scale=scale, vl_version=VL_VERSION)
    key = hashlib.sha256(
        json.dumps([spec, scale, VL_VERSION, vlc.__version__], sort_keys=True).encode()
    ).hexdigest()
    folder = Path(cache_dir) / "charts"
    path = folder / f"{key}.png"
    try:
        png = path.read_bytes()
        os.utime(path)  # most recently used
        return png
    except OSError:
        pass
    png = vlc.vegalite_to_png(spec, scale=scale, vl_version=VL_VERSION)
    _write_whole(path, png)
    used = []
    for kept in folder.glob("*.png"):
        try:
            used.append((kept.stat().st_mtime, kept.name, kept))
        except FileNotFoundError:  # pruned by a concurrent run
            continue
    for _, _, old in sorted(used, reverse=True)[PNG_CACHE_FILES:]:
        old.unlink(missing_ok=True)
    return png


def _write_whole(path: Path, data: bytes) -> None:
    """Write `path` through a temporary name and a rename: whole or absent for a concurrent
    reader (another run building the same report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(data)
    partial.replace(path)


def chart_png(
    con,
    facility_id: str,
    alert_id: str | None = None,
    scale: float = 1.0,
    cache_dir: Path | None = None,
) -> bytes:
    """The facility's chart as PNG (around `alert_id` ± 60 days when given), for asset metadata;
    `cache_dir` keeps drawings of unchanged charts (see render_png)."""
    names = {r["facility_id"]: r["name"] for r in _facilities(con, [facility_id])}
    if facility_id not in names:
        raise ValueError(
            f"no observations for facility {facility_id!r} in curated.activity_baselines"
        )
    data = _facility_data(con, facility_id)
    domain = history_domain(data)
    if alert_id is not None:
        found = _rows(
            con, "select observed_on from curated.alerts where alert_id = $a", {"a": alert_id}
        )
        if not found:
            raise ValueError(f"no alert {alert_id!r} in curated.alerts")
        day = found[0]["observed_on"]
        domain = (day - timedelta(days=ZOOM_DAYS), day + timedelta(days=ZOOM_DAYS))
    spec = facility_spec(data, names[facility_id], domain, key="png")
    return render_png(spec, scale=scale, cache_dir=cache_dir)


def _facility_row(con, facility_id: str) -> dict | None:
    rows = _rows(con, "select * from curated.facilities where facility_id = $f", {"f": facility_id})
    return rows[0] if rows else None


def map_scenes(con, facility_id: str) -> list[dict]:
    """The scenes over the facility within the evidence window of any of its anomalies (the
    'scene' rows of curated.evidence, ±7 days), with their footprints from staging."""
    return _rows(
        con,
        """
        select e.ref as scene_id, e.evidence_on as acquired_on, e.cloud_cover, e.is_clear,
            min(e.observed_on) as near_observed_on,
            min(s.collection) as collection, min(s.footprint_wkt) as footprint_wkt
        from curated.evidence as e
        join staging.stg_imagery__scenes as s on s.scene_id = e.ref
        where e.evidence_kind = 'scene' and e.evidence_facility_id = $f
        group by e.ref, e.evidence_on, e.cloud_cover, e.is_clear
        order by acquired_on, scene_id
        """,
        {"f": facility_id},
    )


def _scene_status(scene: dict) -> str:
    if scene.get("cloud_cover") is None:
        return "cloud cover unknown"
    return "clear" if scene.get("is_clear") else "cloudy"


def facility_map_geojson(facility: dict, scenes: list[dict]) -> dict:
    """The facility's point and area and its scenes' footprints (export.facilities_geojson),
    each scene tagged clear/cloudy and with the anomaly date it is near."""
    columns = ["facility_id", "name", "kind", "country", "crossing_id", "lat", "lon"]
    columns += [c for c in ("aoi_radius_m", "aoi_wkt") if c in facility]
    facilities = pl.DataFrame([{c: facility.get(c) for c in columns}])
    scene_frame = (
        pl.DataFrame(
            [{**s, "facility_id": facility["facility_id"]} for s in scenes],
            schema_overrides={"footprint_wkt": pl.String, "cloud_cover": pl.Float64},
        )
        if scenes
        else None
    )
    collection = facilities_geojson(facilities, scene_frame)
    by_id = {(s["scene_id"], _iso(s["acquired_on"])): s for s in scenes}
    for feature in collection["features"]:
        props = feature["properties"]
        if props["kind"] == "scene":
            scene = by_id[(props["scene_id"], props["acquired_on"])]
            props["status"] = _scene_status(scene)
            props["near_observed_on"] = _iso(scene["near_observed_on"])
    return collection


def _stretched(geometry: dict, x_factor: float) -> dict:
    """Longitudes times cos(latitude): with Vega's planar identity projection a degree of
    longitude then spans its true width at the site, so a circle stays a circle. (Vega's
    spherical projections would need clockwise rings; a planar one does not care.)"""
    geom = affinity.scale(shape(geometry), xfact=x_factor, yfact=1.0, origin=(0, 0))
    return json.loads(json.dumps(mapping(geom)))


def _map_layers(
    collection: dict, x_factor: float, window=None, frame=None
) -> dict[str, list[dict]]:
    """Features by layer, in stretched coordinates. With a window (a shapely box in lon/lat),
    footprints are cut to it and their edges kept apart, so the site map shows where a
    footprint's edge crosses the area rather than the window's own border. `frame` (a box) is
    drawn as a dashed outline: the site map's extent, shown on the region map too."""
    layers: dict[str, list[dict]] = {k: [] for k in ("fill", "edge", "frame", "area", "point")}
    for feature in collection["features"]:
        props, geometry = feature["properties"], feature["geometry"]
        if geometry is None:
            continue
        kind = props["kind"]
        if kind in ("facility", "area"):
            layer = "point" if kind == "facility" else "area"
            layers[layer].append({**feature, "geometry": _stretched(geometry, x_factor)})
            continue
        footprint = shape(geometry)
        fill, edge = footprint, footprint.boundary
        if window is not None:
            fill, edge = footprint.intersection(window), footprint.boundary.intersection(window)
        for layer, geom in (("fill", fill), ("edge", edge)):
            if not geom.is_empty:
                stretched = _stretched(mapping(geom), x_factor)
                layers[layer].append(
                    {"type": "Feature", "geometry": stretched, "properties": props}
                )
    if frame is not None:
        outline = {"type": "Feature", "properties": {"kind": "frame"}}
        layers["frame"].append({**outline, "geometry": _stretched(mapping(frame), x_factor)})
    return layers


def _map_panel(layers: dict[str, list[dict]], title, name: str, size: int) -> alt.LayerChart:
    def data(features: list[dict]) -> alt.Data:
        return alt.Data(
            values={"type": "FeatureCollection", "features": features},
            format=alt.DataFormat(property="features"),
        )

    scale = alt.Scale(domain=list(SCENE_COLOURS), range=list(SCENE_COLOURS.values()))
    legend = (
        alt.Legend(title="scenes within 7 days of an anomaly", orient="bottom", titleLimit=400)
        if layers["fill"] or layers["edge"]
        else None  # nothing to key
    )
    tooltip = [
        alt.Tooltip("properties.scene_id:N", title="scene"),
        alt.Tooltip("properties.acquired_on:N", title="acquired on"),
        alt.Tooltip("properties.cloud_cover:Q", title="cloud cover %"),
        alt.Tooltip("properties.near_observed_on:N", title="anomaly on"),
    ]
    fills = (
        alt.Chart(data(layers["fill"]))
        .mark_geoshape(fillOpacity=0.08, strokeOpacity=0)
        .encode(fill=alt.Fill("properties.status:N", scale=scale, legend=legend), tooltip=tooltip)
    )
    edges = (
        alt.Chart(data(layers["edge"]))
        .mark_geoshape(filled=False, strokeWidth=1.4, strokeOpacity=0.9)
        .encode(
            stroke=alt.Stroke("properties.status:N", scale=scale, legend=legend), tooltip=tooltip
        )
    )
    frame = alt.Chart(data(layers["frame"])).mark_geoshape(
        filled=False, stroke="#555", strokeWidth=1, strokeDash=[3, 2]
    )
    area = (
        alt.Chart(data(layers["area"]))
        .mark_geoshape(fill="#ff7f0e", fillOpacity=0.35, stroke="#d62728", strokeWidth=1.2)
        .encode(tooltip=[alt.Tooltip("properties.facility_name:N", title="area of interest")])
    )
    point = (
        alt.Chart(data(layers["point"]))
        .mark_geoshape(fill="#d62728", stroke="white", strokeWidth=1)
        .encode(tooltip=[alt.Tooltip("properties.facility_name:N", title="facility")])
    )
    return (
        alt.layer(fills, edges, frame, area, point)
        .project(type="identity", reflectY=True)
        .properties(width=size, height=size, title=title, name=name)
    )


def map_specs(collection: dict, name: str, key: str, size: int = MAP_SIZE) -> dict[str, dict]:
    """The facility's maps as separate Vega-Lite specs, each with its own projection fitted to
    its data: "site", the area with the footprints cut to a window about twice its size; and,
    when scenes covered it near an anomaly, "region", the whole footprints with the site's
    window as a dashed square."""
    point = next(f for f in collection["features"] if f["properties"]["kind"] == "facility")
    lon, lat = point["geometry"]["coordinates"]
    x_factor = math.cos(math.radians(lat))
    area = next((f for f in collection["features"] if f["properties"]["kind"] == "area"), None)
    if area is not None:
        minx, miny, maxx, maxy = shape(area["geometry"]).bounds
    else:
        minx, miny, maxx, maxy = lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02
    pad_y = (maxy - miny) * 0.6
    pad_x = pad_y / x_factor  # the same ground distance on both axes
    window = box(minx - pad_x, miny - pad_y, maxx + pad_x, maxy + pad_y)
    across_km = (window.bounds[3] - window.bounds[1]) * 111.2
    n_scenes = sum(1 for f in collection["features"] if f["properties"]["kind"] == "scene")
    specs = {}
    if n_scenes:
        specs["region"] = _map_panel(
            _map_layers(collection, x_factor, frame=window),
            alt.TitleParams(
                name, subtitle=f"{n_scenes} scene footprint(s) within 7 days of an anomaly"
            ),
            f"map_{key}",
            size,
        ).to_dict()
    specs["site"] = _map_panel(
        _map_layers(collection, x_factor, window=window, frame=window),
        alt.TitleParams(name, subtitle=f"the site, {across_km:.0f} km across"),
        f"site_{key}",
        size,
    ).to_dict()
    return specs


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.0f}" if value.is_integer() else f"{value:.2f}"
        return html.escape(text)
    if isinstance(value, list):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _link(url: str | None, label: str | None = None) -> str:
    if not url:
        return html.escape(label or "")
    text = html.escape(label or url)
    if url.startswith(("http://", "https://")):
        return f'<a href="{html.escape(url)}" rel="noreferrer">{text}</a>'
    return text


def _alerts_table(alerts: list[dict]) -> str:
    head = (
        "<tr><th>severity</th><th>facility</th><th>metric</th><th>observed on</th>"
        "<th>value</th><th>prior max</th><th>ratio</th><th>robust z</th><th>first seen</th>"
        "<th>clear scenes</th><th>articles</th><th>evidence</th></tr>"
    )
    body = []
    for a in alerts:
        body.append(
            f'<tr class="severity-{_cell(a["severity"])}"><td>{_cell(a["severity"])}</td>'
            f"<td>{_cell(a['facility_name'])}</td><td>{_cell(a['metric'])}</td>"
            f"<td>{_cell(a['observed_on'])}</td><td>{_cell(a['value'])}</td>"
            f"<td>{_cell(a['prior_max'])}</td><td>{_cell(a['ratio_to_prior_max'])}</td>"
            f"<td>{_cell(a['robust_z'])}</td><td>{_cell(a['first_seen_on'])}</td>"
            f"<td>{_cell(a['n_clear_scenes'])} of {_cell(a['n_scenes'])}</td>"
            f"<td>{_cell(a['n_articles'])}</td>"
            f'<td><a href="#alert-{_cell(a["alert_id"])}">{_cell(a["alert_id"])}</a></td></tr>'
        )
    return f'<table class="alerts">{head}{"".join(body)}</table>'


def _evidence_section(alert: dict, evidence: list[dict]) -> str:
    rows = []
    for e in evidence:
        ref = e["ref"]
        rows.append(
            f"<tr><td>{_cell(e['evidence_kind'])}</td><td>{_cell(e['evidence_on'])}</td>"
            f"<td>{_cell(e['days_from_observation'])}</td><td>{_link(ref)}</td>"
            f"<td>{_cell(e['title'])}</td><td>{_cell(e['detail'])}</td></tr>"
        )
    table = (
        '<table class="evidence"><tr><th>kind</th><th>date</th><th>days from observation</th>'
        "<th>reference</th><th>title / source</th><th>detail</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No evidence rows.</p>"
    )
    return (
        f'<section class="alert" id="alert-{_cell(alert["alert_id"])}">'
        f"<h3>{_cell(alert['summary'])}</h3>"
        f"<p>alert {_cell(alert['alert_id'])} · severity {_cell(alert['severity'])} · "
        f'first seen {_cell(alert["first_seen_on"])} · <a href="#facility-'
        f'{_cell(alert["facility_id"])}">chart</a></p>{table}</section>'
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.severity-high td:first-child { color: #b00; font-weight: bold; }
.chart { margin: 0.5rem 0; }
.zoom, .map { display: inline-block; margin-right: 1rem; vertical-align: top; }
section.facility { border-top: 2px solid #ddd; padding-top: 0.5rem; }
section.summary { background: #fafafa; border: 1px solid #ddd; padding: 0.5rem 1rem; }
section.summary ul { padding-left: 1.2rem; }
.figure { font-size: 1.4rem; font-weight: bold; }
p.caption { font-size: 0.85rem; color: #555; margin-top: 0; }
div.maps { margin-top: 1rem; }
"""


def _json_for_script(value) -> str:
    # "</" would end the script element early.
    return json.dumps(value, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")


def _monitored(con, wanted: list[str] | None) -> list[dict]:
    rows = _rows(con, "select facility_id, name from curated.facilities order by facility_id")
    return [r for r in rows if wanted is None or r["facility_id"] in set(wanted)]


def _freshness(con, facility_ids: list[str]) -> list[dict]:
    """The latest date each source reached, for the report's facilities: reported counts by
    source (observed_on, and published_on when given), imagery by collection (acquired_on),
    news by kind of source (published_on)."""
    ids = {"ids": facility_ids}
    reported = _rows(
        con,
        """
        select 'reported counts' as layer, source, max(observed_on) as latest,
            max(published_on) as latest_published, count(*) as n, 'observations' as unit
        from curated.observations where list_contains($ids, facility_id)
        group by source order by source
        """,
        ids,
    )
    imagery = _rows(
        con,
        """
        select 'imagery' as layer, collection as source, max(acquired_on) as latest,
            null as latest_published, count(distinct scene_id) as n, 'scenes' as unit
        from staging.stg_imagery__scene_facilities where list_contains($ids, facility_id)
        group by collection order by collection
        """,
        ids,
    )
    news = _rows(
        con,
        """
        select 'news' as layer, a.source_kind as source, max(a.published_on) as latest,
            null as latest_published, count(distinct a.article_id) as n, 'articles' as unit
        from staging.stg_news__articles as a
        join staging.stg_news__article_facilities as f using (article_id)
        where list_contains($ids, f.facility_id)
        group by a.source_kind order by a.source_kind
        """,
        ids,
    )
    return reported + imagery + news


def summary_section(
    monitored: list[dict],
    shown: list[dict],
    alerts: list[dict],
    freshness: list[dict],
    data_through: date | None,
) -> str:
    """The one-page summary: facilities monitored, anomalies in the last RECENT_DAYS days to the
    latest data date (never today's date: the page must not change by itself), freshness."""
    links = ", ".join(
        f'<a href="#facility-{_cell(f["facility_id"])}">{_cell(f["name"])}</a>' for f in shown
    )
    items = [
        f'<li><span class="figure">{len(monitored)}</span> facilities monitored; '
        f"{len(shown)} with reported counts: {links or 'none'}.</li>"
    ]
    if data_through is not None:
        since = data_through - timedelta(days=RECENT_DAYS - 1)
        recent = [a for a in alerts if since <= a["observed_on"] <= data_through]
        listed = "".join(
            f'<li><a href="#alert-{_cell(a["alert_id"])}">{_cell(a["summary"])}</a> '
            f"({_cell(a['severity'])})</li>"
            for a in recent
        )
        items.append(
            f'<li><span class="figure">{len(recent)}</span> '
            f"anomal{'y' if len(recent) == 1 else 'ies'} in the last {RECENT_DAYS} days of data "
            f"({since.isoformat()} to {data_through.isoformat()}), {len(alerts)} in all"
            + (f'<ul class="recent">{listed}</ul>' if listed else "")
            + "</li>"
        )
    rows = []
    for f in freshness:
        behind = (data_through - f["latest"]).days if data_through and f["latest"] else None
        rows.append(
            f"<tr><td>{_cell(f['layer'])}</td><td>{_cell(f['source'])}</td>"
            f"<td>{_cell(f['latest'])}</td><td>{_cell(behind)}</td>"
            f"<td>{_cell(f['latest_published'])}</td>"
            f"<td>{_cell(f['n'])} {_cell(f['unit'] if f['n'] != 1 else f['unit'][:-1])}</td></tr>"
        )
    table = (
        '<table class="freshness"><tr><th>layer</th><th>source</th>'
        "<th>latest observed / acquired / published</th><th>days before the data date</th>"
        "<th>latest report published</th><th>rows</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No sources loaded.</p>"
    )
    return (
        '<section class="summary" id="summary"><h2>Summary</h2>'
        f'<ul class="headline">{"".join(items)}</ul>'
        f"<h3>Data freshness per source</h3>{table}</section>"
    )


def javascript_bundle(cache_dir: Path | None = None) -> str:
    """Vega, Vega-Lite and vega-embed as one script, from vl-convert (which bundles them in about
    a second); kept in `cache_dir` under a name with both versions, so it is built once."""
    if cache_dir is None:
        return vlc.javascript_bundle(vl_version=VL_VERSION)
    path = Path(cache_dir) / f"vega-bundle-vlc{vlc.__version__}-vl{VL_VERSION}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vlc.javascript_bundle(vl_version=VL_VERSION)
    _write_whole(path, bundle.encode("utf-8"))
    return bundle


def build_report(
    con,
    out_path: Path,
    facilities: list[str] | None = None,
    cache_dir: Path | None = None,
) -> ReportResult:
    """Write the report page for `facilities` (default: every facility with observations);
    `cache_dir` keeps the built JavaScript bundle between reports."""
    out_path = Path(out_path)
    chosen = _facilities(con, facilities)
    alerts = _rows(con, "select * from curated.alerts order by observed_on, facility_id, metric")
    chosen_ids = [f["facility_id"] for f in chosen]
    alerts = [a for a in alerts if a["facility_id"] in chosen_ids]
    evidence = _rows(
        con,
        """
        select * from curated.evidence
        order by alert_id, case evidence_kind when 'report' then 1 when 'scene' then 2 else 3 end,
            evidence_on, ref, detail
        """,
    )
    specs: dict[str, dict] = {}
    sections = []
    data_through: date | None = None
    shown: list[str] = []
    for i, facility in enumerate(chosen):
        fid, name = facility["facility_id"], facility["name"]
        data = _facility_data(con, fid)
        if not data["series"]:
            continue
        shown.append(fid)
        last = max(_all_dates(data))
        data_through = last if data_through is None else max(data_through, last)
        div = f"chart-{i}"
        specs[div] = facility_spec(data, name, history_domain(data), key=str(i))
        own = [a for a in alerts if a["facility_id"] == fid]
        zooms, links = [], []
        for j, a in enumerate(own):
            day = a["observed_on"]
            zdiv = f"zoom-{i}-{j}"
            specs[zdiv] = facility_spec(
                data,
                f"{name} around {day.isoformat()}",
                (day - timedelta(days=ZOOM_DAYS), day + timedelta(days=ZOOM_DAYS)),
                key=f"{i}_{j}",
                width=420,
            )
            zooms.append(f'<div class="chart zoom" id="{zdiv}"></div>')
            links.append(
                f'<li><a href="#alert-{_cell(a["alert_id"])}">{_cell(a["summary"])}</a></li>'
            )
        alert_list = (
            f'<ul class="alert-links">{"".join(links)}</ul>' if links else ("<p>No anomalies.</p>")
        )
        map_html = ""
        facility_row = _facility_row(con, fid)
        if facility_row is not None:
            scenes = map_scenes(con, fid)
            maps = map_specs(facility_map_geojson(facility_row, scenes), name, key=str(i))
            divs = []
            for kind in ("region", "site"):
                if kind in maps:
                    specs[f"{kind}-{i}"] = maps[kind]
                    divs.append(f'<div class="chart map" id="{kind}-{i}"></div>')
            caption = (
                "The footprints of the scenes acquired within 7 days of an anomaly (outline: "
                "clear or cloudy), and the site: its area of interest in orange, the facility "
                "in red, the dashed square the extent of the site map. A line across the area "
                "is a footprint's edge: that scene saw only part of the site."
                if scenes
                else "No scene covered the site within 7 days of an anomaly: its area of "
                "interest in orange, the facility in red."
            )
            map_html = f'<div class="maps">{"".join(divs)}</div><p class="caption">{caption}</p>'
        sections.append(
            f'<section class="facility" id="facility-{_cell(fid)}"><h2>{_cell(name)}</h2>'
            f"<p>Reported {_cell(data['metric'])} against the trailing five-year maximum (step) "
            "and median (dashed); anomalies in red link to their evidence. Drag or scroll on the "
            f'top panel to zoom.</p><div class="chart" id="{div}"></div>{alert_list}'
            f"{''.join(zooms)}{map_html}</section>"
        )
    evidence_by_alert: dict[str, list[dict]] = {}
    for e in evidence:
        evidence_by_alert.setdefault(e["alert_id"], []).append(e)
    alert_sections = "".join(
        _evidence_section(a, evidence_by_alert.get(a["alert_id"], [])) for a in alerts
    )
    freshness = _freshness(con, shown)
    # The data date is the latest date any source reached (charted or not): "the last 90 days"
    # count back from it, never from today.
    dates = [d for d in [data_through, *(f["latest"] for f in freshness)] if d is not None]
    data_through = max(dates) if dates else None
    through = f"Data through {data_through.isoformat()}. " if data_through else ""
    shown_rows = [f for f in chosen if f["facility_id"] in shown]
    summary = summary_section(
        _monitored(con, facilities), shown_rows, alerts, freshness, data_through
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>borderwatch report</title>
<style>{STYLE}</style>
<script type="text/javascript">
{javascript_bundle(cache_dir)}
</script>
</head>
<body>
<h1>borderwatch: crossing activity</h1>
<p>{through}{len(sections)} facilities, {len(alerts)} alerts. Counts marked synthetic in the
evidence are generated sample data, not observations.</p>
{summary}
{"".join(sections)}
<h2 id="alerts">Alerts</h2>
{_alerts_table(alerts) if alerts else "<p>No alerts.</p>"}
<h2 id="evidence">Evidence</h2>
{alert_sections}
<script type="text/javascript">
const specs = {_json_for_script(specs)};
for (const [id, spec] of Object.entries(specs)) {{
  vegaEmbed("#" + id, spec, {{renderer: "svg", actions: false}}).catch(console.error);
}}
</script>
</body>
</html>
"""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return ReportResult(path=out_path, facilities=shown, n_alerts=len(alerts))
