"""One news load window: GDELT files and feeds -> facility-relevant articles, events, mentions.

Rules (rows_read == loaded + filtered + quarantined for every file):
* articles (GKG rows and feed items) are kept when published_on is in [start, end), the document
  is a web URL, and they match at least one facility (assets.news.matching); anything else is
  filtered. The same article (article_id = hash of the normalised URL) seen again, in the same or
  a later file (files taken in key order: slot time order), is filtered.
* events are kept when event_on (UTC date GDELT added them) is in the window and their ActionGeo
  point lies within the match distance of a facility; a repeated GLOBALEVENTID is filtered.
* mentions are kept when mention_on is in the window and either their MentionIdentifier is the
  URL of an article kept in this batch or staged outside the window, or their event is kept in
  this batch or staged outside it (StagedNews: a mention just after midnight often cites the
  article of the slot before, an event mentioned today was often added days ago). A window's own
  articles and events take precedence over staged rows with the same key.
* gaps: if the store holds gdelt/masterfilelist.txt, its slots in the window are the expected ones
  (a listed slot with no file is a gap); otherwise every 15-minute slot of the window is expected
  for each kind that has at least one file in the listing.
* every file gets a result (an audit row): a name no reader claims (under gdelt/: not a slot
  file nor the master list; under feeds/: not .rss/.atom/.xml) or an object the store refused
  (a symlink) is "skipped" with rows_read=0 and never read; a file that cannot be read at all
  (not a zip, an HTML page or an empty file saved as .rss, over a cap) is one quarantined
  whole-file row (line 0) with the reason; nothing raises out of news_in_window.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import polars as pl

from assets.core.limits import DEFAULT_LIMITS, Limits
from assets.core.parsing import (
    UNRECOGNISED,
    FileError,
    ParseResult,
    StagedBatch,
    clip_raw_lines,
    quarantine_frame,
    skipped_result,
)
from assets.core.sources import Listing
from assets.core.warehouse import held_tables
from assets.news.feeds import FEED_SUFFIXES, read_feed
from assets.news.gdelt import (
    LOCATION_SCHEMA,
    gdelt_slot_gaps,
    parse_slot_name,
    read_events,
    read_gkg,
    read_mentions,
)
from assets.news.http import MASTER_LIST, parse_file_list
from assets.news.matching import (
    DEFAULT_DISTANCE_KM,
    build_matcher,
    gkg_rows_may_match,
    location_matches,
    match_articles,
)

GDELT_PREFIX = "gdelt/"
FEEDS_PREFIX = "feeds/"
# GKG rows carry the page's own publication time, which can precede its slot: a file up to this
# long after the window may still hold in-window articles (rows outside are filtered anyway).
SLOT_MARGIN = timedelta(hours=2)

ARTICLE_SCHEMA = {
    "article_id": pl.String,
    "document_url": pl.String,
    "source_name": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
    "published_on": pl.Date,
    "language": pl.String,
    "title": pl.String,
    "tone": pl.Float64,
    "themes": pl.List(pl.String),
    "translated": pl.Boolean,
    "record_id": pl.String,
    "source_kind": pl.String,
    "source_uri": pl.String,
    "synthetic": pl.Boolean,
}
ARTICLE_FACILITY_SCHEMA = {
    "article_id": pl.String,
    "facility_id": pl.String,
    "published_on": pl.Date,
    "match_kind": pl.String,
    "matched_text": pl.String,
    "distance_km": pl.Float64,
}
EVENT_SCHEMA = {
    "global_event_id": pl.Int64,
    "event_on": pl.Date,
    "date_added_at": pl.Datetime("us", "UTC"),
    "event_date": pl.Date,
    "event_code": pl.String,
    "event_base_code": pl.String,
    "event_root_code": pl.String,
    "quad_class": pl.Int64,
    "goldstein_scale": pl.Float64,
    "is_root_event": pl.Boolean,
    "actor1_code": pl.String,
    "actor1_name": pl.String,
    "actor1_country_code": pl.String,
    "actor2_code": pl.String,
    "actor2_name": pl.String,
    "actor2_country_code": pl.String,
    "actor1_geo_country_code": pl.String,
    "actor2_geo_country_code": pl.String,
    "action_geo_type": pl.Int64,
    "action_geo_fullname": pl.String,
    "action_geo_country_code": pl.String,
    "action_geo_adm1_code": pl.String,
    "action_geo_lat": pl.Float64,
    "action_geo_lon": pl.Float64,
    "action_geo_feature_id": pl.String,
    "num_mentions": pl.Int64,
    "num_sources": pl.Int64,
    "num_articles": pl.Int64,
    "avg_tone": pl.Float64,
    "source_url": pl.String,
    "facility_ids": pl.List(pl.String),
    "nearest_facility_id": pl.String,
    "distance_km": pl.Float64,
    "source_uri": pl.String,
    "line_number": pl.Int64,
}
MENTION_SCHEMA = {
    "global_event_id": pl.Int64,
    "mention_identifier": pl.String,
    "mention_on": pl.Date,
    "mention_at": pl.Datetime("us", "UTC"),
    "event_at": pl.Datetime("us", "UTC"),
    "mention_type": pl.Int64,
    "mention_source_name": pl.String,
    "sentence_id": pl.Int64,
    "confidence": pl.Int64,
    "mention_doc_len": pl.Int64,
    "mention_doc_tone": pl.Float64,
    "language": pl.String,
    "translated": pl.Boolean,
    "article_id": pl.String,
    "facility_ids": pl.List(pl.String),
    "source_uri": pl.String,
    "line_number": pl.Int64,
}
GAP_COLUMNS = ["kind", "slot_at", "slot_on"]


@dataclass
class NewsBatches:
    articles: StagedBatch  # staging.stg_news__articles (+ stg_news__article_facilities)
    events: StagedBatch  # staging.stg_news__events
    mentions: StagedBatch  # staging.stg_news__mentions
    gaps: pl.DataFrame  # kind, slot_at, slot_on -> staging.gdelt_slot_gaps


def normalise_url(url: str) -> str:
    """Scheme-less of http/https, lower-case host without www., no fragment, no utm_ params,
    no trailing slash: the same page under trivially different URLs gets one id."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a malformed port ("host:80x")
    except ValueError:
        return text  # not a URL we can normalise: its own text is its identity
    host = (parts.hostname or "").lower().removeprefix("www.")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.startswith("utm_")
        ]
    )
    path = parts.path.rstrip("/") or ""
    return urlunsplit(("https", host, path, query, ""))


def article_id(url: str) -> str:
    return hashlib.sha256(normalise_url(url).encode("utf-8")).hexdigest()[:32]


def gdelt_name_claimed(name: str) -> bool:
    """A name the GDELT readers take: a slot file (parse_slot_name) or the master file list."""
    return name == MASTER_LIST or parse_slot_name(name) is not None


def feed_name_claimed(name: str) -> bool:
    return name.lower().endswith(FEED_SUFFIXES)


def _claimed(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    if key.startswith(GDELT_PREFIX):
        return gdelt_name_claimed(name)
    return feed_name_claimed(name)


def list_news_objects(store, start: date, end: date) -> Listing:
    """What the window reads, as a Listing (keys relative to the news root, gdelt/... and
    feeds/...): GDELT slot files whose slot lies in [start, end + SLOT_MARGIN), the master list
    if any, and every feed file. `.skipped` holds everything else under gdelt/ and feeds/ that
    no reader claims or the store refused (symlinks), each with skip_reason: pass them to
    news_in_window with the fetched files so each gets its audit row. Slot files of other
    windows are neither: their own window accounts for them."""
    lo = datetime.combine(start, time(0), tzinfo=UTC)
    hi = datetime.combine(end, time(0), tzinfo=UTC) + SLOT_MARGIN
    fetch, skipped = [], []
    for obj in list(store.list(GDELT_PREFIX)) + list(store.list(FEEDS_PREFIX)):
        name = obj.key.rsplit("/", 1)[-1]
        if getattr(obj, "skip_reason", None):
            skipped.append(obj)
        elif not _claimed(obj.key):
            skipped.append(replace(obj, skip_reason=UNRECOGNISED))
        elif obj.key.startswith(GDELT_PREFIX) and name != MASTER_LIST:
            slot = parse_slot_name(name)
            if lo <= slot.slot_at < hi:
                fetch.append(obj)
        else:
            fetch.append(obj)
    return Listing(sorted(fetch, key=lambda o: o.key), sorted(skipped, key=lambda o: o.key))


def _uri(raw) -> str:
    return getattr(raw, "source_uri", None) or raw.uri


def _key(raw) -> str:
    return getattr(raw, "key", None) or _uri(raw)


def own_buffers(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with buffers of its own. Polars strings filtered or sliced from a file's text
    keep the whole text's buffers alive: rows kept for the whole window are copied out (a
    pickle round trip serialises only the bytes they use; tens of microseconds for a few
    rows), so memory does not grow with the number of files read."""
    if frame.height == 0:
        return frame
    return pickle.loads(pickle.dumps(frame))


def _in_window(column: str, start: date, end: date) -> pl.Expr:
    return (pl.col(column) >= start) & (pl.col(column) < end)


@dataclass
class _FileArticles:
    """One file's matched articles before de-duplication across files: everything that needs
    no other file, so it is made by whichever thread read the file."""

    source_uri: str
    rows: pl.DataFrame  # row_nr + ARTICLE_SCHEMA, in file order
    links: pl.DataFrame  # row_nr + ARTICLE_FACILITY_SCHEMA
    quarantine: pl.DataFrame
    rows_read: int
    warnings: list[str]


def _file_articles(
    source_uri: str,
    frame: pl.DataFrame,
    locations: pl.DataFrame | None,
    quarantine: pl.DataFrame,
    rows_read: int,
    warnings: list[str],
    matcher,
    start: date,
    end: date,
) -> _FileArticles:
    frame = frame.with_columns(pl.col("published_at").dt.date().alias("published_on"))
    eligible = frame.filter(
        _in_window("published_on", start, end) & pl.col("document_url").str.contains(r"^https?://")
    )
    matches = match_articles(eligible, locations, matcher)
    matched = eligible.filter(pl.col("row_nr").is_in(matches["row_nr"].unique().implode()))
    ids = [article_id(u) for u in matched["document_url"].to_list()]
    matched = matched.with_columns(pl.Series("article_id", ids, dtype=pl.String))
    rows = matched.with_columns(pl.lit(source_uri).alias("source_uri")).select(
        pl.col("row_nr"),
        *(
            pl.col(c).cast(t)
            if c in matched.columns or c == "source_uri"
            else pl.lit(None, t).alias(c)
            for c, t in ARTICLE_SCHEMA.items()
        ),
    )
    links = (
        matches.join(
            matched.select("row_nr", "article_id", "published_on"), on="row_nr", how="inner"
        )
        .select("row_nr", *ARTICLE_FACILITY_SCHEMA)
        .cast(ARTICLE_FACILITY_SCHEMA)
    )
    return _FileArticles(
        source_uri,
        own_buffers(rows),
        own_buffers(links),
        own_buffers(quarantine),
        rows_read,
        warnings,
    )


class _Articles:
    """Accumulates articles across files so duplicates are filtered where they repeat."""

    def __init__(self, matcher, start: date, end: date):
        self.matcher, self.start, self.end = matcher, start, end
        self.seen: set[str] = set()
        self.results: list[ParseResult] = []
        self.links: list[pl.DataFrame] = []
        self.url_to_article: dict[str, str] = {}

    def prepare(self, source_uri, frame, locations, quarantine, rows_read, warnings):
        """_file_articles for this window: safe to call from any thread."""
        return _file_articles(
            source_uri,
            frame,
            locations,
            quarantine,
            rows_read,
            warnings,
            self.matcher,
            self.start,
            self.end,
        )

    def add(self, f: _FileArticles) -> None:
        """Takes files in key order: an article already seen (in this or an earlier file) is
        filtered. Light work only (the reading threads made the rest)."""
        keep = []
        for aid in f.rows["article_id"].to_list():
            keep.append(aid not in self.seen)
            self.seen.add(aid)
        rows, links = f.rows, f.links
        if not all(keep):
            rows = rows.filter(pl.Series(keep, dtype=pl.Boolean))
            links = links.filter(pl.col("row_nr").is_in(rows["row_nr"].implode()))
        rows, links = rows.drop("row_nr"), links.drop("row_nr")
        self.url_to_article.update(
            zip(rows["document_url"].to_list(), rows["article_id"].to_list(), strict=True)
        )
        self.links.append(links)
        self.results.append(
            ParseResult(
                source_uri=f.source_uri,
                rows=rows,
                quarantine=f.quarantine,
                rows_read=f.rows_read,
                rows_filtered=f.rows_read - f.quarantine.height - rows.height,
                warnings=f.warnings,
            )
        )

    def facility_links(self) -> pl.DataFrame:
        if not self.links:
            return pl.DataFrame(schema=ARTICLE_FACILITY_SCHEMA)
        return pl.concat(self.links).sort("article_id", "facility_id", "match_kind")


def _gkg_to_articles(g) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = g.rows.with_columns(
        pl.lit("gdelt_gkg").alias("source_kind"),
    )
    return rows, g.locations


def _feed_to_articles(f) -> pl.DataFrame:
    return f.rows.with_row_index("row_nr").with_columns(
        pl.lit(None, pl.Float64).alias("tone"),
        pl.lit([], pl.List(pl.String)).alias("themes"),
        pl.lit(False).alias("translated"),
        pl.lit("feed").alias("source_kind"),
    )


def _whole_file_failure(
    source_uri: str, exc: Exception | str, schema=ARTICLE_SCHEMA
) -> ParseResult:
    if isinstance(exc, Exception) and not isinstance(exc, FileError | ValueError):
        # Not a reader's own message: say what broke, so a parser bug is visible in quarantine.
        exc = f"{source_uri}: internal error while reading ({type(exc).__name__}: {exc})"
    return ParseResult(
        source_uri=source_uri,
        rows=pl.DataFrame(schema=schema),
        quarantine=quarantine_frame(
            [{"source_uri": source_uri, "line_number": 0, "raw_line": None, "reason": str(exc)}]
        ),
        rows_read=1,
        rows_filtered=0,
    )


_XML_PROLOG = re.compile(
    rb"\A(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^>\[]|\[.*?\])*>)*", re.S | re.I
)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
FEED_ROOTS = {"rss", "feed", "rdf"}


def feed_root(data: bytes) -> str | None:
    """The root element's name of an XML document, from its first 64 KB (None if there is no
    element). UTF-16 is decoded first; other encodings keep tags in ASCII."""
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="replace").encode("utf-8")
    head = head.removeprefix(b"\xef\xbb\xbf")
    prolog = _XML_PROLOG.match(head)
    m = _ROOT.match(head, prolog.end() if prolog else 0)
    return m.group(1).decode("ascii", "replace") if m else None


def read_feed_file(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS):
    """read_feed, guarded: a FeedFrame, or raises FileError with a reason for a file that is not
    a feed at all (empty, an HTML page or other XML saved as .rss, unreadable, over the cap).
    A real feed with no items is not an error: it reads as zero rows, with a warning."""
    if len(data) > limits.file_bytes:
        raise FileError(f"{source_uri}: {limits.file_reason()} ({len(data)} bytes)")
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise FileError(f"{source_uri}: empty file, not an RSS or Atom feed")
    root = feed_root(data)
    local = (root or "").rsplit(":", 1)[-1].lower()
    what = f"its root element is <{root}>" if root else "it has no XML root element"
    if local == "html":
        what = "it is an HTML page (root element <html>)"
    try:
        f = read_feed(data, source_uri)
    except FileError as exc:
        if local not in FEED_ROOTS:
            raise FileError(f"{source_uri}: not an RSS or Atom feed: {what}") from exc
        raise
    if f.rows_read == 0:
        if local not in FEED_ROOTS:
            raise FileError(f"{source_uri}: not an RSS or Atom feed: {what}")
        f.warnings.append(f"{source_uri}: the feed has no items")
    f.quarantine = clip_raw_lines(f.quarantine, limits.raw_line_chars)
    return f


def read_in_order(files: list, read, workers: int | None = None):
    """(file, read(file) or the exception it raised) for each file, in the files' order.

    With more than one worker, files are read by a thread pool (inflating and Polars release
    the GIL) with at most 2 x workers files in flight, so memory stays that of a few files
    whatever their number. None: one worker per core."""
    workers = min(workers or os.cpu_count() or 1, len(files))

    def attempt(f):
        try:
            return read(f)
        except Exception as exc:
            return exc

    if workers <= 1:
        for f in files:
            yield f, attempt(f)
        return
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="news-read") as pool:
        try:
            for f in files:
                pending.append((f, pool.submit(attempt, f)))
                if len(pending) >= 2 * workers:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:  # a consumer that stops early: start nothing more
                future.cancel()


@dataclass(frozen=True)
class StagedNews:
    """Articles and events staged outside a load window, which its mentions may cite."""

    articles: dict[str, tuple[str, list[str]]]  # document URL -> (article_id, facility ids)
    events: dict[int, list[str]]  # GLOBALEVENTID -> facility ids

    @classmethod
    def none(cls) -> StagedNews:
        return cls({}, {})


def staged_news(con, start: date, end: date) -> StagedNews:
    """The articles (with their facilities) and events the warehouse holds outside [start, end):
    what a window's mentions may cite besides the window's own. Empty before the first load."""
    needed = {
        "staging.stg_news__articles",
        "staging.stg_news__article_facilities",
        "staging.stg_news__events",
    }
    if not needed <= held_tables(con):
        return StagedNews.none()  # no news staged yet
    bounds = {"start": start, "end": end}
    articles = con.execute(
        """
        select a.document_url, a.article_id,
            coalesce(list(distinct f.facility_id order by f.facility_id)
                filter (where f.facility_id is not null), []) as facility_ids
        from staging.stg_news__articles as a
        left join staging.stg_news__article_facilities as f on f.article_id = a.article_id
        where a.published_on < $start or a.published_on >= $end
        group by a.document_url, a.article_id
        order by a.document_url, a.article_id
        """,
        bounds,
    ).fetchall()
    events = con.execute(
        """
        select global_event_id, facility_ids from staging.stg_news__events
        where event_on < $start or event_on >= $end
        order by global_event_id
        """,
        bounds,
    ).fetchall()
    return StagedNews(
        {url: (aid, list(fids)) for url, aid, fids in articles},
        {gid: list(fids) for gid, fids in events},
    )


def news_in_window(
    raw_files,
    facilities: pl.DataFrame,
    start: date,
    end: date,
    match_distance_km: float = DEFAULT_DISTANCE_KM,
    limits: Limits = DEFAULT_LIMITS,
    workers: int | None = None,
    staged: StagedNews | None = None,
) -> NewsBatches:
    """Parse, match and de-duplicate one window; one result per file given, whatever it holds.

    `raw_files`: objects with .key, .source_uri and .read() (assets.core.rawzone.RawFile), keys
    relative to the news root or the store root, plus, unread, the listing's skipped objects
    (SourceObject with skip_reason; list_news_objects(...).skipped). A skipped object, or a file
    whose name no reader claims, becomes a skipped result (rows_read=0, the reason as warning,
    ParseResult.sha256 = UNREAD_SHA256) in the articles batch, and is never read.

    GDELT files are read `workers` at a time (read_in_order; None: one per core) and taken in
    key order. GKG rows that cannot match a facility (matching.gkg_rows_may_match) are counted
    as filtered without being typed; malformed rows are quarantined whatever they mention.

    `staged`: articles and events already in the warehouse outside the window (staged_news),
    which the window's mentions may cite too."""
    matcher = build_matcher(facilities, match_distance_km)
    files = sorted(raw_files, key=_key)
    gkg, events_files, mention_files, feed_files = [], [], [], []
    present, expected = [], None
    skipped: list[ParseResult] = []
    for raw in files:
        name = _key(raw).rsplit("/", 1)[-1]
        reason = getattr(raw, "skip_reason", None)
        if reason:
            skipped.append(skipped_result(_uri(raw), reason, ARTICLE_SCHEMA))
            continue
        if name == MASTER_LIST:
            try:
                listed = parse_file_list(raw.read().decode("utf-8", errors="replace"))
            except Exception as exc:  # the list only sets expectations: note it, go on
                skipped.append(_whole_file_failure(raw.source_uri, exc))
                continue
            expected = (expected or []) + [(e.kind, e.slot_at) for e in listed]
            skipped.append(
                ParseResult(
                    raw.source_uri,
                    pl.DataFrame(schema=ARTICLE_SCHEMA),
                    warnings=[f"GDELT file list: {len(listed)} slot file(s) listed"],
                )
            )
            continue
        slot = parse_slot_name(name)
        if slot is not None:
            present.append((slot.kind, slot.slot_at))
            {"gkg": gkg, "export": events_files, "mentions": mention_files}[slot.kind].append(raw)
        elif feed_name_claimed(name):
            feed_files.append(raw)
        else:
            skipped.append(skipped_result(_uri(raw), UNRECOGNISED, ARTICLE_SCHEMA))

    articles = _Articles(matcher, start, end)
    articles.results.extend(skipped)
    may_match = partial(gkg_rows_may_match, matcher=matcher)

    def read_one(raw):
        g = read_gkg(raw.read(), raw.source_uri, limits, may_match)
        rows, locations = _gkg_to_articles(g)
        return articles.prepare(
            raw.source_uri, rows, locations, g.quarantine, g.rows_read, g.warnings
        )

    for raw, prepared in read_in_order(gkg, read_one, workers):
        if isinstance(prepared, Exception):  # one file's failure is its quarantine row
            articles.results.append(_whole_file_failure(raw.source_uri, prepared))
            continue
        articles.add(prepared)
    for raw in feed_files:
        try:
            f = read_feed_file(raw.read(), raw.source_uri, limits)
        except Exception as exc:
            articles.results.append(_whole_file_failure(raw.source_uri, exc))
            continue
        articles.add(
            articles.prepare(
                raw.source_uri,
                _feed_to_articles(f),
                pl.DataFrame(schema=LOCATION_SCHEMA),
                f.quarantine,
                f.rows_read,
                f.warnings,
            )
        )

    links = articles.facility_links()
    article_facilities = dict(
        links.group_by("article_id").agg(pl.col("facility_id").unique().sort()).iter_rows()
    )
    staged = staged or StagedNews.none()
    url_facilities = {
        **staged.articles,
        **{
            url: (aid, article_facilities.get(aid, []))
            for url, aid in articles.url_to_article.items()
        },
    }
    event_results, kept_events = _events_in_window(
        events_files, matcher, start, end, limits, workers
    )
    mention_results = _mentions_in_window(
        mention_files, start, end, url_facilities, {**staged.events, **kept_events}, limits, workers
    )

    kinds = sorted({k for k, _ in present} | {k for k, _ in expected or []})
    gaps = gdelt_slot_gaps(present, start, end, kinds=kinds, expected=expected)
    return NewsBatches(
        articles=StagedBatch(
            articles.results,
            {"staging.stg_news__article_facilities": links},
        ),
        events=StagedBatch(event_results),
        mentions=StagedBatch(mention_results),
        gaps=gaps.select(GAP_COLUMNS),
    )


def _events_in_window(files, matcher, start: date, end: date, limits: Limits, workers=None):
    seen: set[int] = set()
    results = []
    kept: dict[int, list[str]] = {}

    def read_one(raw):
        return read_events(raw.read(), raw.source_uri, limits)

    for raw, e in read_in_order(files, read_one, workers):
        if isinstance(e, Exception):  # one file's failure is its quarantine row, not the source's
            results.append(_whole_file_failure(raw.source_uri, e, EVENT_SCHEMA))
            continue
        rows = e.rows
        eligible = rows.filter(_in_window("event_on", start, end))
        locs = eligible.select(
            "row_nr",
            pl.col("action_geo_fullname").alias("loc_fullname"),
            pl.col("action_geo_lat").alias("loc_lat"),
            pl.col("action_geo_lon").alias("loc_lon"),
        )
        near = location_matches(locs, matcher)
        per_event = (
            near.sort("row_nr", "distance_km", "facility_id")
            .group_by("row_nr", maintain_order=True)
            .agg(
                pl.col("facility_id").sort().alias("facility_ids"),
                pl.col("facility_id").first().alias("nearest_facility_id"),
                pl.col("distance_km").first(),
            )
        )
        hit = eligible.join(per_event, on="row_nr", how="inner").filter(
            pl.col("global_event_id").is_not_null()
        )
        ids = hit["global_event_id"].to_list()
        keep = []
        for i in ids:
            keep.append(i not in seen)
            seen.add(i)
        hit = hit.filter(pl.Series(keep, dtype=pl.Boolean)) if ids else hit
        out = hit.with_columns(pl.lit(raw.source_uri).alias("source_uri")).select(
            [pl.col(c).cast(t) for c, t in EVENT_SCHEMA.items()]
        )
        for gid, fids in out.select("global_event_id", "facility_ids").iter_rows():
            kept[gid] = fids
        results.append(
            ParseResult(
                raw.source_uri,
                own_buffers(out),
                own_buffers(e.quarantine),
                e.rows_read,
                e.rows_read - e.quarantine.height - out.height,
                e.warnings,
            )
        )
    return results, kept


def _mentions_in_window(
    files,
    start: date,
    end: date,
    url_facilities: dict,
    kept_events: dict,
    limits: Limits,
    workers: int | None = None,
):
    seen: set[tuple] = set()
    results = []
    urls = pl.DataFrame(
        {
            "mention_identifier": list(url_facilities),
            "article_id": [a for a, _ in url_facilities.values()],
            "article_facility_ids": [f for _, f in url_facilities.values()],
        },
        schema={
            "mention_identifier": pl.String,
            "article_id": pl.String,
            "article_facility_ids": pl.List(pl.String),
        },
    )
    events = pl.DataFrame(
        {"global_event_id": list(kept_events), "event_facility_ids": list(kept_events.values())},
        schema={"global_event_id": pl.Int64, "event_facility_ids": pl.List(pl.String)},
    )

    def read_one(raw):
        return read_mentions(raw.read(), raw.source_uri, limits)

    for raw, m in read_in_order(files, read_one, workers):
        if isinstance(m, Exception):  # one file's failure is its quarantine row, not the source's
            results.append(_whole_file_failure(raw.source_uri, m, MENTION_SCHEMA))
            continue
        eligible = m.rows.filter(_in_window("mention_on", start, end))
        hit = (
            eligible.join(urls, on="mention_identifier", how="left")
            .join(events, on="global_event_id", how="left")
            .filter(pl.col("article_id").is_not_null() | pl.col("event_facility_ids").is_not_null())
        )
        keys = hit.select("global_event_id", "mention_identifier", "sentence_id").rows()
        keep = []
        for k in keys:
            keep.append(k not in seen)
            seen.add(k)
        hit = hit.filter(pl.Series(keep, dtype=pl.Boolean)) if keys else hit
        out = hit.with_columns(
            pl.concat_list(
                pl.col("article_facility_ids").fill_null(pl.lit([], pl.List(pl.String))),
                pl.col("event_facility_ids").fill_null(pl.lit([], pl.List(pl.String))),
            )
            .list.unique()
            .list.sort()
            .alias("facility_ids"),
            pl.lit(raw.source_uri).alias("source_uri"),
        ).select([pl.col(c).cast(t) for c, t in MENTION_SCHEMA.items()])
        results.append(
            ParseResult(
                raw.source_uri,
                own_buffers(out),
                own_buffers(m.quarantine),
                m.rows_read,
                m.rows_read - m.quarantine.height - out.height,
                m.warnings,
            )
        )
    return results
