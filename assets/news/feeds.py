"""Read RSS 2.0 and Atom feeds (declared or undeclared encodings) into article rows (feedparser).

feedparser decodes the bytes (declared encoding, then sniffing) and parses most dates into UTC
struct_time. A date it cannot read ("5 октября 2023 г.", "2023년 10월 5일", "3. Januar 2018 14:05
+0100") is read by dateparser, the item's or feed's language first. An item with no usable date,
or with a date missing its year, is quarantined: line_number is the 1-based item index. The
language is the feed's <language> or xml:lang, normalised to ISO 639-1.
"""

from __future__ import annotations

import calendar
import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import polars as pl

from assets.core.parsing import FileError, quarantine_frame
from assets.news.gdelt import iso639_3_to_1

FEED_SUFFIXES = (".rss", ".atom", ".xml")
FEED_ROW_SCHEMA = {
    "item_index": pl.Int64,
    "record_id": pl.String,
    "document_url": pl.String,
    "title": pl.String,
    "source_name": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
    "language": pl.String,
    "synthetic": pl.Boolean,
}
# dateparser settings for feed dates feedparser cannot read. Why each one:
DATE_SETTINGS = {
    # a date that names no offset is taken as UTC, and every result is returned in UTC
    "TIMEZONE": "UTC",
    "TO_TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": True,
    # absolute dates only: "yesterday" or "2 hours ago" would be read against the wall clock
    "PARSERS": ["absolute-time"],
    # a date missing its year (or day or month) is no date: dateparser would otherwise complete
    # it from today, and the same feed would give different rows next year
    "REQUIRE_PARTS": ["day", "month", "year"],
}


@cache
def _date_languages() -> tuple[str, ...]:
    """Languages tried when the feed's own language does not read a date: every language of
    languages.csv that dateparser knows (a bounded list keeps guesses plausible and fast)."""
    from dateparser.data.languages_info import language_order

    known = set(language_order)
    return tuple(sorted(set(iso639_3_to_1().values()) & known))


@cache
def _date_parser(languages: tuple[str, ...]):
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=list(languages), settings=DATE_SETTINGS, try_previous_locales=False
    )


_CJK_NUMERALS = frozenset("〇零一二三四五六七八九十")


def parse_loose_date(text: str | None, language: str | None = None) -> datetime | None:
    """A date feedparser cannot read, written the way its language writes dates
    ('5 октября 2023 г.', '2023년 10월 5일', '5. Oktober 2023 14:05 +0100'), in UTC.

    The feed's language is tried first, then every language of languages.csv. None when no
    language reads a complete absolute date (year, month and day)."""
    if not text or not text.strip():
        return None
    if not any(ch.isdigit() or ch in _CJK_NUMERALS for ch in text):
        # No year can be read from text without a numeral (trying every language takes seconds).
        return None
    text = " ".join(text.split())
    hint = normalise_language(language)
    attempts = [(hint,)] if hint in _date_languages() else []
    attempts.append(_date_languages())
    for languages in attempts:
        found = _date_parser(languages).get_date_data(text).date_obj
        if found is not None:
            return found.astimezone(UTC)
    return None


def normalise_language(code: str | None) -> str | None:
    """'pt-PT' -> 'pt', 'fra' -> 'fr', 'en_GB' -> 'en'; None when unknown."""
    if not code:
        return None
    base = re.split(r"[-_\s]", code.strip().lower())[0]
    if len(base) == 2 and base.isalpha():
        return base
    if len(base) == 3:
        return iso639_3_to_1().get(base)
    return None


def _struct_to_utc(value) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)


# W3C-DTF allows "2023" and "2023-10"; feedparser completes them to the first day, which would
# date an article to a day nobody wrote.
_REDUCED_PRECISION = re.compile(r"^\s*\d{4}(-\d{2})?\s*$")


def entry_date(raw: str | None, parsed, language: str | None) -> datetime | None:
    """An item's date in UTC from feedparser's reading of it, else dateparser's.

    Text with non-ASCII characters goes to dateparser only: feedparser's own handlers misread
    dates such as '2023년 10월 5일' (as 2023-11-01). A year or year-month alone is no date."""
    if raw and not raw.isascii():
        return parse_loose_date(raw, language)
    if raw and _REDUCED_PRECISION.match(raw):
        return None
    return _struct_to_utc(parsed) or parse_loose_date(raw, language)


def _is_true(value) -> bool:
    return str(value or "").strip().lower() in {"true", "1", "yes"}


@dataclass
class FeedFrame:
    rows: pl.DataFrame  # FEED_ROW_SCHEMA, only items with a date
    quarantine: pl.DataFrame
    rows_read: int
    warnings: list[str]


FEED_ENCODINGS_CSV = Path(__file__).with_name("feed_encodings.csv")
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.S)
_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=", re.S)
_LANGUAGE = re.compile(rb"<(?:language|dc:language)>\s*([A-Za-z]{2,3})", re.I)


DETECTABLE = {
    "gb18030",
    "gb2312",
    "gbk",
    "big5",
    "cp949",
    "euc_kr",
    "shift_jis",
    "cp932",
    "euc_jp",
    "cp1251",
    "koi8_r",
    "koi8_u",
}


@cache
def _encodings_by_language() -> dict[str, list[str]]:
    with FEED_ENCODINGS_CSV.open(encoding="utf-8") as fh:
        return {row["language"]: row["encodings"].split("|") for row in csv.DictReader(fh)}


def undeclared_to_utf8(data: bytes) -> tuple[bytes, str | None]:
    """A feed that is not UTF-8 and does not say what it is: guess, transcode, declare UTF-8.

    The feed's own <language> picks the candidates first (zh: GB18030, then Big5; ru: CP1251,
    ...; assets/news/feed_encodings.csv); the first that decodes the whole file strictly wins;
    without a hint, charset-normalizer's guess when it names a CJK or Cyrillic encoding, else
    Windows-1252. Returns the bytes to parse and the encoding used (None:
    the bytes were fine as they were)."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or _DECLARED.match(data):
        return data, None
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError:
        pass
    hint = _LANGUAGE.search(data)
    language = hint.group(1).decode("ascii").lower()[:2] if hint else None
    text, used = None, None
    for encoding in _encodings_by_language().get(language, []):
        try:
            text, used = data.decode(encoding), encoding
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        # No usable hint: trust a detector only for the scripts it tells apart well (CJK and
        # Cyrillic byte patterns); otherwise Windows-1252, the web's default for legacy text.
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding in DETECTABLE:
            text, used = str(best), best.encoding
        else:
            text, used = data.decode("cp1252", errors="replace"), "cp1252"
    body = _XML_DECL.sub(b"", text.encode("utf-8"), count=1)
    return b'<?xml version="1.0" encoding="utf-8"?>' + body, used


def read_feed(data: bytes, source_uri: str) -> FeedFrame:
    """Items of one RSS/Atom file. Items without a usable date go to quarantine."""
    import feedparser

    data, guessed = undeclared_to_utf8(data)
    parsed = feedparser.parse(data)
    if parsed.bozo and not parsed.entries:
        raise FileError(f"{source_uri}: not a readable feed ({parsed.get('bozo_exception')})")
    feed = parsed.feed
    warnings = []
    if guessed:
        warnings.append(f"{source_uri}: no encoding declared and not UTF-8; read as {guessed}")
    if parsed.bozo:
        warnings.append(f"{source_uri}: feed parsed with problems: {parsed.get('bozo_exception')}")
    feed_language = normalise_language(
        feed.get("language") or (feed.get("title_detail") or {}).get("language")
    )
    source_name = (feed.get("title") or "").strip() or None
    feed_synthetic = _is_true(feed.get("borderwatch_synthetic"))
    rows, quarantine = [], []
    for index, entry in enumerate(parsed.entries, 1):
        raw_date = entry.get("published") or entry.get("updated")
        language = (
            normalise_language(
                (entry.get("title_detail") or {}).get("language") or entry.get("language")
            )
            or feed_language
        )
        published = entry_date(
            entry.get("published"), entry.get("published_parsed"), language
        ) or entry_date(entry.get("updated"), entry.get("updated_parsed"), language)
        if published is None:
            quarantine.append(
                {
                    "source_uri": source_uri,
                    "line_number": index,
                    "raw_line": f"{entry.get('title', '')} | {entry.get('link', '')} | {raw_date}",
                    "reason": "no usable date"
                    + (
                        f": cannot parse '{raw_date}' as a complete date (day, month and year;"
                        f" tried language {language or 'unknown'}, then every language of"
                        " assets/news/languages.csv)"
                        if raw_date
                        else ": item has no date"
                    ),
                }
            )
            continue
        rows.append(
            {
                "item_index": index,
                "record_id": entry.get("id") or entry.get("link"),
                "document_url": (entry.get("link") or "").strip() or None,
                "title": " ".join((entry.get("title") or "").split()) or None,
                "source_name": source_name,
                "published_at": published,
                "language": language,
                "synthetic": feed_synthetic or _is_true(entry.get("borderwatch_synthetic")),
            }
        )
    return FeedFrame(
        pl.DataFrame(rows, schema=FEED_ROW_SCHEMA),
        quarantine_frame(quarantine),
        len(parsed.entries),
        warnings,
    )
