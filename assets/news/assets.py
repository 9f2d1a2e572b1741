"""Dagster definitions for news metadata (thin: parsing and matching are in gdelt, feeds, matching,
articles).

One partitioned step writes the five news staging tables and declares each as an asset with its
own suite: a range run records one materialisation per day and asset, so one step (not five)
keeps the bookkeeping of a long backfill to one set of events per day.

With BORDERWATCH_GDELT_URL set, GDELT comes from that server slot by slot, streamed into the raw
zone (assets.news.http), and the sensor gdelt_lastupdate follows its lastupdate.txt. Files dropped
under news/feeds/ and news/gdelt/ have drop sensors (orchestration.kit.sensors).
"""

from collections import Counter
from datetime import UTC, date, datetime, time

import dagster as dg

from assets.core.parsing import StagedBatch
from assets.core.rawzone import ManifestWriter, manifest_files_between
from assets.core.sources import Listing
from assets.news import articles, feeds, gdelt, matching
from assets.news.articles import (
    SLOT_MARGIN,
    feed_name_claimed,
    list_news_objects,
    news_in_window,
    staged_news,
)
from assets.news.drops import (
    feed_days_touched,
    gdelt_days_touched,
    new_slot_window,
    window_days,
)
from assets.news.gdelt import TS_FORMAT, parse_slot_name
from assets.news.http import (
    FETCHED,
    HELD,
    MANIFEST_PREFIX,
    RetryPolicy,
    fetch_slots,
    gaps_frame,
    latest_slot,
    slots_between,
)
from assets.reference.facilities import load_facilities
from orchestration.kit.jobs import all_assets_job
from orchestration.kit.resource import Borderwatch, source_definitions
from orchestration.kit.sensors import (
    DEFAULT_GDELT_POLL_SECONDS,
    GDELT_POLL_ENV,
    SENSOR_TAG,
    drop_sensor,
    env_seconds,
    partition_days,
    range_run_request,
    selected_keys,
)
from orchestration.kit.writing import StagingTable, load_window, publish_window, staging_step

ARTICLES = StagingTable(
    "stg_news__articles",
    "published_on",
    "staging.stg_news__articles: GDELT 2.0 GKG rows and RSS/Atom items under news/ that match a "
    "facility by location or a multilingual alias, one row per article, partitioned on the UTC "
    "publication date. Bad rows go to quarantine.stg_news__articles.",
    quarantine=True,
)
ARTICLE_FACILITIES = StagingTable(
    "stg_news__article_facilities",
    "published_on",
    "staging.stg_news__article_facilities: which article concerns which facility, and why "
    "(location within the match distance, or an alias in the title, URL or a location name).",
)
EVENTS = StagingTable(
    "stg_news__events",
    "event_on",
    "staging.stg_news__events: GDELT 2.0 events whose ActionGeo point lies within the match "
    "distance of a facility. Bad rows go to quarantine.stg_news__events.",
    quarantine=True,
)
MENTIONS = StagingTable(
    "stg_news__mentions",
    "mention_on",
    "staging.stg_news__mentions: GDELT 2.0 mentions of a staged article or event. Bad rows go "
    "to quarantine.stg_news__mentions.",
    quarantine=True,
)
SLOT_GAPS = StagingTable(
    "gdelt_slot_gaps",
    "slot_on",
    "staging.gdelt_slot_gaps: 15-minute GDELT slots that were expected but are not held: a gap "
    "to report, not an error.",
)
TABLES = [ARTICLES, ARTICLE_FACILITIES, EVENTS, MENTIONS, SLOT_GAPS]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _gdelt_over_http(context, borderwatch: Borderwatch, con, start: date, end: date):
    """GDELT's own files for the window, built from the slot times (no master list per run).

    Files raw.manifest already holds (read once, here) are read from the raw zone, never
    downloaded again; new ones are streamed to the raw zone and their manifest rows written in
    batches as they arrive (ManifestWriter: one commit per batch, not per file), so a later
    failure keeps every file already fetched. Like a folder's listing, the window also reads
    the slots up to SLOT_MARGIN after it (GKG rows can precede their slot); its gaps are its
    own slots' only. Nothing holds more than one file in memory.
    """
    base = borderwatch.gdelt_base_url.rstrip("/") + "/"
    zone = borderwatch.raw_zone()
    lo, hi = _midnight(start), _midnight(end)
    until = hi + SLOT_MARGIN
    held = manifest_files_between(
        con,
        zone,
        f"{MANIFEST_PREFIX}{lo:{TS_FORMAT}}",
        f"{MANIFEST_PREFIX}{until:{TS_FORMAT}}",
        base,
    )

    def already_have(url: str) -> bool:
        raw = held.get(url)
        return raw is not None and raw.path.exists()  # a lost copy is fetched again

    files, in_window, counts = [], [], Counter()
    with ManifestWriter(con) as manifest:
        for record in fetch_slots(base, slots_between(lo, until), zone, already_have):
            counts[record.status] += 1
            if record.slot_at < hi:
                in_window.append(record)
            if record.status == FETCHED:
                raw = record.raw_file()
                manifest.add(raw)
                files.append(raw)
            elif record.status == HELD:
                files.append(held[record.url])
    gaps = gaps_frame(in_window)
    context.log.info(
        f"GDELT from {base}: {counts['fetched']} file(s) fetched, {counts['held']} already held, "
        f"{counts['gap']} not found (gaps), {counts['unpublished']} not published yet"
    )
    return files, gaps


@staging_step(
    name="news_articles",
    tables=TABLES,
    group="news",
    code=[
        articles,
        gdelt,
        feeds,
        matching,
        gdelt.LANGUAGES_CSV,
        feeds.FEED_ENCODINGS_CSV,
        matching.COUNTRY_CODES_CSV,
    ],
)
def news_articles(context: dg.AssetExecutionContext, borderwatch: Borderwatch):
    start, end = load_window(context)
    with borderwatch.connect() as con:
        store = borderwatch.store(con, borderwatch.source_location("news"), "news")
        facilities = load_facilities(con)
        objects = list_news_objects(store, start, end)
        http_gaps = None
        if borderwatch.gdelt_base_url and not borderwatch.replay:
            # GDELT comes over HTTP: the store's gdelt/ folder is not read, its feeds are.
            objects = Listing(
                [o for o in objects if not o.key.startswith("gdelt/")], objects.skipped
            )
            raw_files = borderwatch.fetch(con, store, objects, "news", log=context.log.info)
            gdelt_files, http_gaps = _gdelt_over_http(context, borderwatch, con, start, end)
            raw_files += gdelt_files
        else:
            raw_files = borderwatch.fetch(con, store, objects, "news", log=context.log.info)
        batches = news_in_window(
            [*raw_files, *objects.skipped],
            facilities,
            start,
            end,
            borderwatch.news_match_distance_km,
            staged=staged_news(con, start, end),
        )
        gaps = http_gaps if http_gaps is not None else batches.gaps
        if gaps.height:
            context.log.warning(
                f"{gaps.height} GDELT slot(s) expected but not held: see staging.gdelt_slot_gaps"
            )
        yield from publish_window(
            context,
            con,
            window=(start, end),
            tables=TABLES,
            outputs={
                ARTICLES.name: StagedBatch(batches.articles.results),
                ARTICLE_FACILITIES.name: batches.articles.related[
                    "staging.stg_news__article_facilities"
                ],
                EVENTS.name: batches.events,
                MENTIONS.name: batches.mentions,
                SLOT_GAPS.name: gaps,
            },
            raw_files=raw_files,
            suite_parameters={
                "known_facilities": sorted(facilities["facility_id"].to_list()),
                "today": borderwatch.today().isoformat(),
            },
        )


# The news step and everything built on it: what a new GDELT slot or news file must refresh.
DOWNSTREAM = dg.AssetSelection.assets(news_articles).downstream()
MAX_CATCHUP_DAYS = 7  # a follower switched off for longer leaves older days to the schedules
# A tick has about a minute: two quick tries, then the next tick tries again.
LASTUPDATE_RETRY = RetryPolicy(attempts=2, timeout=30, wait_initial=1, wait_max=5)


@dg.sensor(
    name="gdelt_lastupdate",
    job=all_assets_job,
    minimum_interval_seconds=env_seconds(GDELT_POLL_ENV, DEFAULT_GDELT_POLL_SECONDS),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Follows GDELT's lastupdate.txt at BORDERWATCH_GDELT_URL: each new 15-minute "
    "slot requests a run of its day (the news step and everything downstream: attention, "
    "alerts, notifications). Cursor: the newest slot requested (ISO time).",
)
def gdelt_lastupdate(context: dg.SensorEvaluationContext, borderwatch: Borderwatch):
    if not borderwatch.gdelt_base_url:
        return dg.SkipReason("BORDERWATCH_GDELT_URL is not set: there is no GDELT server to follow")
    latest = latest_slot(borderwatch.gdelt_base_url, timeout=20, retry=LASTUPDATE_RETRY).slot_at
    previous = datetime.fromisoformat(context.cursor) if context.cursor else None
    _, last_day = partition_days()
    window = new_slot_window(previous, latest, last_day, MAX_CATCHUP_DAYS)
    if window is None:
        if previous is not None and latest <= previous:
            return dg.SkipReason(f"no GDELT slot after {previous.isoformat()}")
        return dg.SkipReason(
            f"GDELT slot {latest.isoformat()} is on a day that is not a partition yet (the daily "
            f"partitions end at {last_day}): it is loaded once its day is one"
        )
    first, newest = window
    start, end = window_days(first, newest)
    context.log.info(f"new GDELT slot(s) {first.isoformat()}..{newest.isoformat()}: {start}..{end}")
    request = range_run_request(
        start,
        end,
        run_key=f"gdelt_lastupdate:{newest.isoformat()}",
        asset_keys=selected_keys(context, DOWNSTREAM),
        tags={SENSOR_TAG: "gdelt_lastupdate", "borderwatch/gdelt_slot": newest.isoformat()},
    )
    return dg.SensorResult(run_requests=[request], cursor=newest.isoformat())


def _gdelt_over_http_instead(borderwatch: Borderwatch) -> str | None:
    if borderwatch.gdelt_base_url:
        return (
            "BORDERWATCH_GDELT_URL is set: GDELT comes over HTTP (sensor gdelt_lastupdate) and "
            "files under news/gdelt/ are not read"
        )
    return None


news_feed_drops = drop_sensor(
    name="news_feed_drops",
    prefix="news/feeds/",
    days_touched=feed_days_touched,
    selection=DOWNSTREAM,
    claims=feed_name_claimed,
    description="New or changed RSS/Atom feeds under news/feeds/ in the source store request a "
    "run of the days their items were published: the news step and everything downstream.",
)
news_gdelt_drops = drop_sensor(
    name="news_gdelt_drops",
    prefix="news/gdelt/",
    days_touched=gdelt_days_touched,
    selection=DOWNSTREAM,
    claims=lambda key: parse_slot_name(key) is not None,
    reads_data=False,
    inactive=_gdelt_over_http_instead,
    description="GDELT slot files dropped under news/gdelt/ in the source store request a run "
    "of their slot's day: the news step and everything downstream.",
)

defs = dg.Definitions.merge(
    source_definitions(news_articles),
    dg.Definitions(sensors=[gdelt_lastupdate, news_feed_drops, news_gdelt_drops]),
)
