"""Dagster definitions for the curated tables (declared once below, one SQL file and suite each)
and the deliveries built on them: alert notifications and the report."""

import base64
import hashlib

import dagster as dg

from assets.core import warehouse
from assets.indicators import alerts as alerts_module
from assets.indicators import report as report_module
from assets.indicators.alerts import (
    WebhookError,
    mask_url,
    new_alerts,
    post_alerts,
    report_links,
    webhook_format,
)
from assets.indicators.report import build_report, chart_png
from orchestration.kit.checks import (
    ExpectationsFailed,
    check_result,
    suite_check_spec,
    suite_path,
    validate,
)
from orchestration.kit.columns import column_schema_metadata, table_comments
from orchestration.kit.curated import CuratedTable, curated_assets
from orchestration.kit.resource import Borderwatch, source_definitions
from orchestration.kit.versions import content_version
from orchestration.kit.writing import table_frame

NOTIFICATIONS_SUITE = suite_path("ops", "alert_notifications")
# Posting is a side effect outside the lake's transaction: alert_notifications posts each alert
# once because no two runs execute it at once. Its pool is its own, at one step at a time (every
# shipped instance config leaves it there), so the lake writers' pool can be raised beyond one
# machine without ever posting an alert twice.
ALERT_POOL = "alert_delivery"

CURATED = [
    CuratedTable(
        key="observations",
        deps=("stg_reported__observations", "facilities"),
        description="curated.observations: every reported count, normalised, with its provenance.",
    ),
    CuratedTable(
        key="imagery_coverage_daily",
        deps=("stg_imagery__scenes", "stg_imagery__scene_facilities", "facilities"),
        description="curated.imagery_coverage_daily: facility x UTC day with at least one scene "
        "whose footprint covers the facility's area: scenes, clear scenes, best cloud cover.",
    ),
    CuratedTable(
        key="news_attention_daily",
        deps=("stg_news__articles", "stg_news__article_facilities", "facilities"),
        description="curated.news_attention_daily: facility x day: matched articles, sources, "
        "languages, mean tone, attention z-score against the trailing 90 days, top URLs.",
    ),
    CuratedTable(
        key="activity_baselines",
        deps=("observations", "imagery_coverage_daily"),
        description="curated.activity_baselines: each observation against its trailing five-year "
        "history (prior count, max, median, MAD, ratio, robust z, clear-imagery days, anomaly flag).",
        counts={"anomalies": "select count(*) from curated.activity_baselines where is_anomaly"},
    ),
    CuratedTable(
        key="crossing_indicators_weekly",
        deps=("activity_baselines", "imagery_coverage_daily", "news_attention_daily", "facilities"),
        description="curated.crossing_indicators_weekly: facility x ISO week: reported counts "
        "against their baselines, imagery coverage, news attention and a status (normal, "
        "elevated, anomalous, no_data) by the rule in the SQL header and the README.",
    ),
    CuratedTable(
        key="evidence",
        deps=(
            "activity_baselines",
            "observations",
            "stg_imagery__scene_facilities",
            "stg_news__articles",
            "stg_news__article_facilities",
            "facilities",
        ),
        description="curated.evidence: for each anomalous observation, the report, the scenes "
        "around it and the matched articles after it; one row per piece of evidence.",
    ),
    CuratedTable(
        key="alerts",
        deps=("evidence", "activity_baselines", "observations", "facilities"),
        description="curated.alerts: one row per anomaly with a stable alert_id, severity and a "
        "one-line summary.",
    ),
]
curated_tables = curated_assets(CURATED)


@dg.asset(
    key="alert_notifications",
    group_name="delivery",
    deps=["alerts"],
    code_version=content_version(
        warehouse.SQL_DIR / "ops" / "alert_notifications.sql", alerts_module
    ),
    pool=ALERT_POOL,
    kinds={"duckdb"},
    description="ops.alert_notifications: each alert emitted once (logged, and posted to "
    "BORDERWATCH_ALERT_WEBHOOK when set, as generic JSON, Slack or Teams per "
    "BORDERWATCH_ALERT_FORMAT, with links to its reports); re-runs emit nothing already sent.",
    check_specs=[suite_check_spec("alert_notifications", NOTIFICATIONS_SUITE)],
    metadata=column_schema_metadata("ops", "alert_notifications"),
)
def alert_notifications(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    with borderwatch.connect() as con:
        warehouse.ensure_tables(con, "ops/alert_notifications.sql")
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
        url = borderwatch.alert_webhook_url
        # A wrong BORDERWATCH_ALERT_FORMAT stops here, before anything is posted or recorded.
        fmt = webhook_format(url, borderwatch.alert_format or None) if url else None
        if url and fresh.height:
            # Each message links the reports behind its alert, so a reader can check the source.
            evidence = con.execute(
                "select alert_id, evidence_kind, title, ref from curated.evidence "
                "where alert_id in (select unnest($ids)) "
                "order by alert_id, days_from_observation, ref",
                {"ids": fresh["alert_id"].to_list()},
            ).pl()
            try:
                posted = post_alerts(fresh, url, fmt=fmt, links=report_links(evidence))
            except WebhookError as exc:  # its message names the webhook masked, never the URL
                error = str(exc)
                posted = list(exc.posted)
        # Without a webhook an alert is emitted by being logged; with one, only once it was accepted.
        emitted = posted if url else fresh["alert_id"].to_list()
        channel = "webhook" if url else "log"

        def record(con):
            table_comments(con, "ops", "alert_notifications")
            for alert_id in emitted:
                con.execute(
                    "insert into ops.alert_notifications values ($id, $run, $channel)",
                    {"id": alert_id, "run": context.run_id, "channel": channel},
                )
            outcome = validate(table_frame(con, "ops.alert_notifications"), NOTIFICATIONS_SUITE)
            if not outcome.success:
                raise ExpectationsFailed("alert_notifications", outcome, NOTIFICATIONS_SUITE)
            return outcome

        outcome = warehouse.transact(con, record)
    if error:
        raise dg.Failure(description=error, metadata={"posted": len(posted)})
    return dg.MaterializeResult(
        metadata={
            "new_alerts": fresh.height,
            "emitted": len(emitted),
            "already_sent": len(sent),
            # The webhook URL is a secret: say where it points only as mask_url shows it.
            "channel": channel,
            **({"webhook": mask_url(url), "format": fmt} if url else {}),
        },
        check_results=[check_result("alert_notifications", outcome, NOTIFICATIONS_SUITE)],
    )


@dg.asset(
    key="crossing_report",
    group_name="delivery",
    deps=[
        "alerts",
        "evidence",
        "crossing_indicators_weekly",
        "news_attention_daily",
        "imagery_coverage_daily",
    ],
    code_version=content_version(report_module),
    kinds={"html"},
    description="The analyst's report: $BORDERWATCH_HOME/report/index.html (offline, "
    "self-contained); the charts of facilities with alerts are attached here as PNG.",
)
def crossing_report(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    out = borderwatch.paths.report / "index.html"
    with borderwatch.connect(read_only=True) as con:
        result = build_report(con, out, cache_dir=borderwatch.paths.cache)
        ids = [
            r[0]
            for r in con.execute(
                "select distinct facility_id from curated.alerts order by facility_id"
            ).fetchall()
        ]
        charts = {}
        for facility_id in ids:
            png = chart_png(con, facility_id, cache_dir=borderwatch.paths.cache)
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


defs = source_definitions(*curated_tables, alert_notifications, crossing_report)
