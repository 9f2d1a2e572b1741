"""Dagster assets for the indicator tables (thin: their logic is one SQL file each)."""

import base64
import hashlib
from pathlib import Path

import dagster as dg

from assets.core import warehouse
from assets.indicators.alerts import WebhookError, new_alerts, post_alerts
from assets.indicators.report import build_report, chart_png
from orchestration.curated import curated_sql_asset
from orchestration.resources import Borderwatch

SUITES = Path(__file__).with_name("suites")
REPORTED_SUITES = Path(__file__).parents[1] / "reported" / "suites"


activity_baselines = curated_sql_asset(
    key="activity_baselines",
    group="indicators",
    deps=["observations", "imagery_coverage_daily"],
    description="curated.activity_baselines: each observation against its trailing five-year "
    "history (prior count, max, median, MAD, ratio, robust z, clear-imagery days, anomaly flag).",
    suite_dir=REPORTED_SUITES,
    counts={"anomalies": "select count(*) from curated.activity_baselines where is_anomaly"},
)


def _curated_asset(key: str, deps: list[str], description: str) -> dg.AssetsDefinition:
    return curated_sql_asset(
        key=key, group="indicators", deps=deps, description=description, suite_dir=SUITES
    )


crossing_indicators_weekly = _curated_asset(
    "crossing_indicators_weekly",
    ["activity_baselines", "imagery_coverage_daily", "news_attention_daily", "facilities"],
    "curated.crossing_indicators_weekly: facility x ISO week: reported counts against their "
    "baselines, imagery coverage, news attention and a status (normal, elevated, anomalous, "
    "no_data) by the rule in the SQL header and the README.",
)
evidence = _curated_asset(
    "evidence",
    [
        "activity_baselines",
        "observations",
        "stg_imagery__scenes",
        "stg_news__articles",
        "facilities",
    ],
    "curated.evidence: for each anomalous observation, the report, the scenes around it and the "
    "matched articles after it; one row per piece of evidence.",
)
alerts = _curated_asset(
    "alerts",
    ["evidence", "activity_baselines", "facilities"],
    "curated.alerts: one row per anomaly with a stable alert_id, severity and a one-line summary.",
)


@dg.asset(
    key="alert_notifications",
    group_name="indicators",
    deps=["alerts"],
    code_version="1",
    pool="duckdb",
    kinds={"duckdb"},
    description="ops.alert_notifications: each alert emitted once (logged, and POSTed to "
    "BORDERWATCH_ALERT_WEBHOOK when set); re-runs emit nothing already sent.",
)
def alert_notifications(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    with borderwatch.connect() as con:
        warehouse.run_sql_file(con, "ops/alert_notifications.sql")
        sent = {
            r[0] for r in con.execute("select alert_id from ops.alert_notifications").fetchall()
        }
        fresh = new_alerts(con.execute("select * from curated.alerts").pl(), sent)
        for row in fresh.iter_rows(named=True):
            context.log.warning(
                f"new alert {row['alert_id']} [{row['severity']}]: {row['summary']}"
            )
        posted: list[str] = []
        error = None
        if borderwatch.alert_webhook_url and fresh.height:
            try:
                posted = post_alerts(fresh, borderwatch.alert_webhook_url)
            except WebhookError as exc:
                error = str(exc)
                posted = list(exc.posted)
        # Without a webhook an alert is emitted by being logged; with one, only once it was accepted.
        emitted = posted if borderwatch.alert_webhook_url else fresh["alert_id"].to_list()
        for alert_id in emitted:
            con.execute(
                "insert into ops.alert_notifications values ($id, $run, $url)",
                {
                    "id": alert_id,
                    "run": context.run_id,
                    "url": borderwatch.alert_webhook_url or None,
                },
            )
    if error:
        raise dg.Failure(description=error, metadata={"posted": len(posted)})
    return dg.MaterializeResult(
        metadata={
            "new_alerts": fresh.height,
            "emitted": len(emitted),
            "already_sent": len(sent),
            "webhook": borderwatch.alert_webhook_url or "(none)",
        }
    )


@dg.asset(
    key="crossing_report",
    group_name="indicators",
    deps=[
        "alerts",
        "evidence",
        "crossing_indicators_weekly",
        "news_attention_daily",
        "imagery_coverage_daily",
    ],
    code_version="1",
    kinds={"html"},
    description="The analyst's report: $BORDERWATCH_HOME/report/index.html (offline, "
    "self-contained); the charts of facilities with alerts are attached here as PNG.",
)
def crossing_report(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    out = borderwatch.paths.report / "index.html"
    with borderwatch.connect(read_only=True) as con:
        result = build_report(con, out)
        ids = [
            r[0]
            for r in con.execute(
                "select distinct facility_id from curated.alerts order by facility_id"
            ).fetchall()
        ]
        charts = {}
        for facility_id in ids:
            png = chart_png(con, facility_id)
            charts[f"chart_{facility_id}"] = dg.MetadataValue.md(
                f"![{facility_id}](data:image/png;base64,{base64.b64encode(png).decode()})"
            )
    context.log.info(f"report written to {out}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out)),
            "facilities": len(result.facilities),
            "alerts": result.n_alerts,
            "content_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
            **charts,
        }
    )
