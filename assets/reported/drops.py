"""Which days a reported-count CSV drop touches: the days a run must reload when the file arrives."""

from __future__ import annotations

import csv
from datetime import date

from assets.reported.parse import DATE_PATTERN, EARLIEST, decode_lines, is_reported_key


def days_touched(key: str, data: bytes) -> set[date]:
    """The well-formed `observed_on` days of a reported CSV (rows of those days are what a run
    loads or quarantines); nothing for a file the parser does not claim or without that column.

    Read leniently, with the parser's decoding: a row too broken to split still names no day,
    and the run that loads the file's other days quarantines it with the reason.
    """
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
