"""Which days a reported drop touches: the days a run must reload when the file arrives. A drop
is a plain reported CSV, or a file in a publisher's own format (UN Comtrade+ JSON, a customs
table, an analyst event list) that a mapping under data/publishers/ claims."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from assets.reported.formats import Publisher, load_publishers, publisher_file_days
from assets.reported.parse import DATE_PATTERN, EARLIEST, decode_lines, is_reported_key


def is_reported_drop(key: str, publishers: Sequence[Publisher]) -> bool:
    """Whether the reported step reads this source-store key: a CSV, or a publisher's file."""
    return is_reported_key(key) or any(p.claims(key) for p in publishers)


_loaded: dict[Path, tuple[tuple, list[Publisher]]] = {}


def current_publishers(folder: str | Path) -> list[Publisher]:
    """load_publishers(folder), read again only when a publisher.toml was added, changed or
    removed: a sensor lives as long as its code server and asks for every file it lists, and
    should see a mapping as the next run will. A mistake in a mapping raises PublisherError,
    naming the file and the key, as it does in a run."""
    folder = Path(folder)
    paths = sorted(folder.glob("*/publisher.toml"))
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    cached = _loaded.get(folder)
    if cached is None or cached[0] != signature:
        cached = (signature, load_publishers(folder))
        _loaded[folder] = cached
    return cached[1]


def days_touched(key: str, data: bytes, publishers: Sequence[Publisher] = ()) -> set[date]:
    """The days a reported drop holds rows for (rows of those days are what a run loads or
    quarantines): for a file a publisher mapping claims, the days its rows are observed on, as
    that publisher's reader and mapping give them (assets.reported.formats); for a plain CSV,
    its well-formed `observed_on` days; nothing for any other file, or a CSV without that column.

    Read leniently, with the parsers' own decoding: a row or a file too broken to read names
    no day, and the run that loads the file's other days quarantines it with the reason.
    """
    publisher_days = publisher_file_days(data, key, list(publishers))
    if publisher_days is not None:
        return publisher_days
    if not is_reported_key(key):
        return set()
    lines = decode_lines(data)
    rows = csv.reader(line + "\n" for line in lines.text)
    column = None
    days: set[date] = set()
    try:
        for row in rows:
            if column is None:
                if not any(cell.strip() for cell in row):
                    continue  # the header is the first non-blank line
                header = [cell.strip() for cell in row]
                if "observed_on" not in header:
                    return set()
                column = header.index("observed_on")
                continue
            if column < len(row):
                text = row[column].strip()
                if DATE_PATTERN.match(text):
                    try:
                        day = date.fromisoformat(text)
                    except ValueError:
                        continue
                    if day >= EARLIEST:
                        days.add(day)
    except csv.Error:
        pass  # an unterminated quote at the end: the days read so far stand
    return days
