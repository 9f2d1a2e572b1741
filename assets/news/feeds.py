"""Read RSS 2.0 and Atom feeds (declared or undeclared encodings) into article rows (feedparser).

feedparser decodes the bytes (declared encoding, then sniffing) and parses most dates into UTC
struct_time. For a date it cannot read, a small fallback understands German, Portuguese, French
and Dutch month names ("3. Januar 2018 14:05 +0100"). An item with no usable date is quarantined:
line_number is the 1-based item index. The language is the feed's <language> or xml:lang,
normalised to ISO 639-1.
"""

from __future__ import annotations

import calendar
import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
MONTHS = {
    # German
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "maerz": 3, "april": 4, "mai": 5,
    "juni": 6, "juli": 7, "august": 8, "september": 9, "oktober": 10, "november": 11,
    "dezember": 12, "jan": 1, "feb": 2, "mär": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "okt": 10, "nov": 11, "dez": 12,
    # Portuguese
    "janeiro": 1, "fevereiro": 2, "março": 3, "marco": 3, "abril": 4, "maio": 5, "junho": 6,
    "julho": 7, "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12,
    "fev": 2, "abr": 4, "ago": 8, "set": 9, "out": 10,
    # French
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "juin": 6,
    "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "décembre": 12, "decembre": 12,
    # Dutch
    "januari": 1, "februari": 2, "maart": 3, "mei": 5, "augustus": 8,
}  # fmt: skip
_FALLBACK_DATE = re.compile(
    r"(?P<day>\d{1,2})\.?\s+(?:de\s+)?(?P<month>[^\W\d_]+)\.?\s+(?:de\s+)?(?P<year>\d{4})"
    r"(?:,?\s+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?)?"
    r"\s*(?P<tz>[+-]\d{2}:?\d{2}|UTC|GMT|Z)?",
    re.IGNORECASE,
)


def parse_loose_date(text: str | None) -> datetime | None:
    """A date with a non-English month name, e.g. '3. Januar 2018 14:05 +0100'; UTC."""
    if not text:
        return None
    m = _FALLBACK_DATE.search(" ".join(text.split()))
    if not m:
        return None
    month = MONTHS.get(m["month"].lower())
    if not month:
        return None
    try:
        t = datetime(
            int(m["year"]),
            month,
            int(m["day"]),
            int(m["h"] or 0),
            int(m["m"] or 0),
            int(m["s"] or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    tz = (m["tz"] or "").replace(":", "")
    if tz[:1] in "+-" and len(tz) == 5:
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
        t = t - offset if tz[0] == "+" else t + offset
    return t


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
        published = _struct_to_utc(entry.get("published_parsed")) or _struct_to_utc(
            entry.get("updated_parsed")
        )
        raw_date = entry.get("published") or entry.get("updated")
        if published is None:
            published = parse_loose_date(raw_date)
        if published is None:
            quarantine.append(
                {
                    "source_uri": source_uri,
                    "line_number": index,
                    "raw_line": f"{entry.get('title', '')} | {entry.get('link', '')} | {raw_date}",
                    "reason": "no usable date"
                    + (f": cannot parse '{raw_date}'" if raw_date else ": item has no date"),
                }
            )
            continue
        language = (
            normalise_language(
                (entry.get("title_detail") or {}).get("language") or entry.get("language")
            )
            or feed_language
        )
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
