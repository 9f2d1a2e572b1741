"""The analyst's report: one self-contained HTML page (charts, alerts, evidence) and PNG charts.

The page embeds Vega, Vega-Lite and Vega-Embed inline (the bundle shipped with vl-convert), so
it opens offline and from a mail attachment. It reads only curated tables and writes nothing
that depends on the clock: the same tables give the same bytes.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import altair as alt
import duckdb
import vl_convert as vlc

WIDTH = 860
HISTORY_YEARS = 7
ZOOM_DAYS = 60
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


def chart_png(con, facility_id: str, alert_id: str | None = None, scale: float = 1.0) -> bytes:
    """The facility's chart as PNG (around `alert_id` ± 60 days when given), for asset metadata."""
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
    return vlc.vegalite_to_png(spec, scale=scale, vl_version=VL_VERSION)


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
.zoom { display: inline-block; margin-right: 1rem; }
section.facility { border-top: 2px solid #ddd; padding-top: 0.5rem; }
"""


def _json_for_script(value) -> str:
    # "</" would end the script element early.
    return json.dumps(value, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")


def build_report(con, out_path: Path, facilities: list[str] | None = None) -> ReportResult:
    """Write the report page for `facilities` (default: every facility with observations)."""
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
        sections.append(
            f'<section class="facility" id="facility-{_cell(fid)}"><h2>{_cell(name)}</h2>'
            f"<p>Reported {_cell(data['metric'])} against the trailing five-year maximum (step) "
            "and median (dashed); anomalies in red link to their evidence. Drag or scroll on the "
            f'top panel to zoom.</p><div class="chart" id="{div}"></div>{alert_list}'
            f"{''.join(zooms)}</section>"
        )
    evidence_by_alert: dict[str, list[dict]] = {}
    for e in evidence:
        evidence_by_alert.setdefault(e["alert_id"], []).append(e)
    alert_sections = "".join(
        _evidence_section(a, evidence_by_alert.get(a["alert_id"], [])) for a in alerts
    )
    through = f"Data through {data_through.isoformat()}. " if data_through else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>borderwatch report</title>
<style>{STYLE}</style>
<script type="text/javascript">
{vlc.javascript_bundle(vl_version=VL_VERSION)}
</script>
</head>
<body>
<h1>borderwatch: crossing activity</h1>
<p>{through}{len(sections)} facilities, {len(alerts)} alerts. Counts marked synthetic in the
evidence are generated sample data, not observations.</p>
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
