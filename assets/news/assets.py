"""Dagster assets for news metadata (thin: parsing and matching are in gdelt, feeds, matching, stage).

One partitioned asset writes all news staging tables (articles, article-facility matches, events,
mentions, slot gaps): a range run records one materialisation per partition and asset, so fewer
partitioned assets keep a six-year backfill's bookkeeping small.
"""

from pathlib import Path

import dagster as dg

from assets.core.rawzone import record_raw
from assets.news.http import fetch_window
from assets.news.stage import list_news_objects, stage_news
from assets.reference.assets import load_facilities
from orchestration.curated import curated_sql_asset
from orchestration.loading import stage_window, staging_asset, write_window
from orchestration.partitions import load_window
from orchestration.resources import Borderwatch

SUITES = Path(__file__).with_name("suites")


def _gdelt_over_http(context, borderwatch, con, start, end):
    """GDELT's own file lists: every downloaded file goes through the raw zone like any other."""
    pages, gaps = fetch_window(borderwatch.gdelt_base_url, start, end)
    files = [
        record_raw(con, borderwatch.raw_zone(), url, f"news/gdelt/{url.rsplit('/', 1)[-1]}", data)
        for url, data in pages
    ]
    context.log.info(
        f"fetched {len(files)} GDELT files from {borderwatch.gdelt_base_url}; {gaps.height} gap(s)"
    )
    return files, gaps


@staging_asset(
    key="stg_news__articles",
    group="news",
    description="staging.stg_news__articles (+ stg_news__article_facilities, stg_news__events, "
    "stg_news__mentions, gdelt_slot_gaps): GDELT 2.0 GKG/Events/Mentions and RSS/Atom feeds under "
    "news/, matched to facilities by location and multilingual aliases, partitioned on the UTC "
    "publication date.",
    suite_path=SUITES / "stg_news__articles.json",
    kinds=("polars",),
)
def stg_news__articles(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    start, end = load_window(context)
    with borderwatch.connect() as con:
        store = borderwatch.store(con, borderwatch.source_location("news"), "news")
        facilities = load_facilities(con)
        objects = list_news_objects(store, start, end)
        http_gaps = None
        if borderwatch.gdelt_base_url and not borderwatch.replay:
            objects = [o for o in objects if not o.key.startswith("gdelt/")]
            raw_files = borderwatch.fetch(con, store, objects, "news", log=context.log.info)
            gdelt_files, http_gaps = _gdelt_over_http(context, borderwatch, con, start, end)
            raw_files += gdelt_files
        else:
            raw_files = borderwatch.fetch(con, store, objects, "news", log=context.log.info)
        batches = stage_news(raw_files, facilities, start, end, borderwatch.news_match_distance_km)
        gaps = http_gaps if http_gaps is not None else batches.gaps
        if gaps.height:
            context.log.warning(
                f"{gaps.height} GDELT slot(s) expected but not held: see staging.gdelt_slot_gaps"
            )
        sha_by_uri = {f.source_uri: f.sha256 for f in raw_files}
        for table, date_column, batch in (
            ("staging.stg_news__events", "event_on", batches.events),
            ("staging.stg_news__mentions", "mention_on", batches.mentions),
        ):
            write_window(
                context,
                con,
                table=table,
                date_column=date_column,
                window=(start, end),
                batch=batch,
                sha_by_uri=sha_by_uri,
            )
        batches.articles.related["staging.gdelt_slot_gaps"] = gaps
        ids = sorted(facilities["facility_id"].to_list())
        return stage_window(
            context,
            con,
            asset_key="stg_news__articles",
            table="staging.stg_news__articles",
            date_column="published_on",
            window=(start, end),
            batch=batches.articles,
            raw_files=raw_files,
            related_date_columns={
                "staging.stg_news__article_facilities": "published_on",
                "staging.gdelt_slot_gaps": "slot_on",
            },
            suite_path=SUITES / "stg_news__articles.json",
            suite_parameters={"known_facilities": ids, "today": borderwatch.today().isoformat()},
            extra_metadata={
                "events_loaded": sum(r.rows_loaded for r in batches.events.results),
                "mentions_loaded": sum(r.rows_loaded for r in batches.mentions.results),
                "gdelt_slot_gaps": gaps.height,
            },
        )


news_attention_daily = curated_sql_asset(
    key="news_attention_daily",
    group="curated",
    deps=["stg_news__articles", "facilities"],
    description="curated.news_attention_daily: facility x day: matched articles, sources, "
    "languages, mean tone, attention z-score against the trailing 90 days, top URLs.",
    suite_dir=SUITES,
    staging_ddls=("staging/stg_news__articles.sql", "staging/stg_news__article_facilities.sql"),
)
