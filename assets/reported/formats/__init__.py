"""Reported counts in the formats publishers use (UN Comtrade+ API JSON, monthly customs tables,
analyst event lists), read through a declarative mapping per publisher
(`data/publishers/<publisher_id>/publisher.toml`) into the rows of assets.reported.parse.

Entry points for the reported asset:

    publishers = load_publishers(PROJECT_ROOT / "data" / "publishers")
    result = parse_publisher_file(raw.read(), raw.source_uri, raw.key, publishers,
                                  facility_ids, metrics, window_start, window_end, today)
    if result is None:  # no publisher claims the key: a plain reported CSV drop
        result = parse_reported_file(...)

and for the drop sensor, the days a publisher file's rows fall on (publisher_file_days).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from assets.core.parsing import FileError, ParseResult, quarantine_frame
from assets.reported.formats.mapping import (
    FORMATS,
    Publisher,
    PublisherError,
    load_publisher,
    load_publishers,
)
from assets.reported.formats.readers import READERS
from assets.reported.formats.rows import records_to_rows
from assets.reported.parse import ROW_SCHEMA

__all__ = [
    "FORMATS",
    "Publisher",
    "PublisherError",
    "claiming_publisher",
    "load_publisher",
    "load_publishers",
    "parse_publisher_file",
    "publisher_file_days",
]


def _whole_file(source_uri: str, reason: str) -> ParseResult:
    """A file that cannot be used at all: one quarantined row (line 0) so the audit adds up."""
    bad = {"source_uri": source_uri, "line_number": 0, "raw_line": None, "reason": reason}
    return ParseResult(
        source_uri, pl.DataFrame(schema=ROW_SCHEMA), quarantine_frame([bad]), rows_read=1
    )


def claiming_publisher(key: str, publishers: list[Publisher]) -> list[Publisher]:
    """The publishers whose file pattern matches a source-store key (normally none or one)."""
    return [p for p in publishers if p.claims(key)]


def parse_publisher_file(
    data: bytes,
    source_uri: str,
    key: str,
    publishers: list[Publisher],
    known_facilities: set[str],
    known_metrics: set[str],
    window_start: date,
    window_end: date,
    today: date,
) -> ParseResult | None:
    """One publisher file as observation rows; None when no publisher's pattern matches `key`.

    Rows observed outside [window_start, window_end) are filtered. A file that cannot be read
    at all (not JSON, a Comtrade error response, a missing column, two mappings claiming it)
    is one quarantined row at line 0 whose reason names the file."""
    claimants = claiming_publisher(key, publishers)
    if not claimants:
        return None
    if len(claimants) > 1:
        paths = ", ".join(str(p.path) for p in claimants)
        return _whole_file(
            source_uri,
            f"{source_uri}: claimed by more than one publisher mapping ({paths}); make their "
            "file patterns distinct",
        )
    publisher = claimants[0]
    try:
        records = READERS[publisher.format](data, source_uri, publisher)
    except FileError as exc:
        return _whole_file(source_uri, str(exc))
    return records_to_rows(
        records,
        publisher,
        source_uri,
        known_facilities,
        known_metrics,
        window_start,
        window_end,
        today,
    )


def publisher_file_days(data: bytes, key: str, publishers: list[Publisher]) -> set[date] | None:
    """The observed_on days of a publisher file's rows, read by its publisher's reader and
    mapping as a run reads them; None when no publisher's pattern matches `key`.

    Lenient: a file a run would quarantine whole (unreadable, claimed by two mappings) names no
    day, nor does a record whose period cannot be read; records the mapping filters in every
    window (not selected by [match], facility or metric keys the lookups do not list, values
    declared missing) name none either. Facilities and metrics are not checked against the
    reference files here: a row they reject is quarantined by the run of its day.
    """
    claimants = claiming_publisher(key, publishers)
    if not claimants:
        return None
    if len(claimants) > 1:
        return set()
    publisher = claimants[0]
    try:
        records = READERS[publisher.format](data, key, publisher)
    except FileError:
        return set()
    days: set[date] = set()
    # Every day is inside this window and before this "today": each row is loaded or
    # quarantined, and names its day.
    records_to_rows(records, publisher, key, set(), set(), date.min, date.max, date.max, days)
    return days
