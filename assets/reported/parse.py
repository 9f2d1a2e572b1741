"""Parse reported-count CSV drops into typed rows; bad rows go to quarantine with the reason.

How a file is read (every problem quarantines only what it must, naming the file and line):

* Encoding: UTF-8, with or without a BOM. A file that starts with a UTF-16 BOM, or whose first
  bytes are plainly UTF-16 (a NUL beside every ASCII byte), is read as UTF-16. Lines are decoded
  one by one, so a line that does not decode (one Latin-1 byte) is quarantined alone
  ("not UTF-8 ...") and the file's other rows load.
* CSV: comma-separated, double-quote quoting with "" as an escaped quote (RFC 4180, what
  Python's csv writes). A quoted field may span lines (notes with line breaks). Text after a
  closing quote (`"7"5`) quarantines the row rather than being glued on. A quote left open
  is never merged silently: when it runs to the end of the file, or when a later line reads as
  a row of its own (the header's number of fields and a YYYY-MM-DD observed_on), the line that
  opened it is quarantined ("unterminated quote") and reading resumes on the next line, so the
  rows it would have swallowed still load.
* Caps (assets.core.limits.Limits): a field longer than `field_chars` quarantines its row
  ("field over N characters"), a file over `file_bytes` is quarantined whole, and raw_line in
  quarantine is clipped to `raw_line_chars` with a marker.
* Header: the first non-blank line. A missing required column or a column named twice (which
  `value` would win?) quarantines the whole file (line_number 0) with a reason naming the column.
  Unknown columns are ignored with a warning.
* Numbers (`value`): the dot is the only decimal mark; a comma is accepted only as a thousands
  separator in exact groups of three before any dot. So `1234`, `1234.5`, `1,234`, `1,234,567.5`
  and `1.5e6` are numbers; `7,5`, `1.234,5`, `1,23,456` and `12,3456` are ambiguous (a decimal
  comma or a mistyped grouping?) and quarantined with that reason, never guessed.
* Dates: `YYYY-MM-DD` only, between 2000-01-01 and today. These rules, and the row's shape,
  are checked before the window: a row dated 2099 is quarantined in every window, not filtered.
  A well-formed row dated outside [window_start, window_end) is filtered.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from assets.core.limits import DEFAULT_LIMITS, Limits, clip_text
from assets.core.parsing import (
    FileError,
    ParseResult,
    quarantine_frame,
    skipped_results,
    whole_file_failure,
)
from assets.core.sources import Listing, SourceStore, split_listing

REQUIRED_COLUMNS = [
    "facility_id",
    "observed_on",
    "metric",
    "value",
    "source",
    "source_url",
    "method",
]
OPTIONAL_COLUMNS = ["published_on", "confidence", "imagery_provider", "notes", "synthetic"]
METRIC_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
URL_PATTERN = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
DATE_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# [0-9], not \d: \d also matches other scripts' digits, which float() would quietly accept.
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
GROUPED_NUMBER = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0", ""}
EARLIEST = date(2000, 1, 1)

ROW_SCHEMA = {
    "facility_id": pl.String,
    "observed_on": pl.Date,
    "metric": pl.String,
    "value": pl.Float64,
    "source": pl.String,
    "source_url": pl.String,
    "method": pl.String,
    "published_on": pl.Date,
    "confidence": pl.String,
    "imagery_provider": pl.String,
    "notes": pl.String,
    "synthetic": pl.Boolean,
    "source_uri": pl.String,
    "line_number": pl.Int64,
}


def read_metrics(path: str | Path) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        return {row["metric"].strip() for row in csv.DictReader(fh) if row.get("metric")}


def is_reported_key(key: str) -> bool:
    """The file names the reported parser claims: *.csv."""
    return key.lower().endswith(".csv")


def list_reported_objects(store: SourceStore, prefix: str = "") -> Listing:
    """Every object under the reported prefix: the CSV files to fetch, and in `.skipped` the rest
    (other names, symlinks, hidden files), each to be accounted for with reported_skipped_results."""
    return split_listing(store.list(prefix), is_reported_key)


def reported_skipped_results(skipped) -> list[ParseResult]:
    """One audit-only result (rows_read=0, the skip reason as warning) per skipped object."""
    return skipped_results(skipped, ROW_SCHEMA)


def _shown(text: str) -> str:
    """A value as quoted in a reason: repr, cut to 80 characters (a field may be 1 MiB)."""
    return repr(clip_text(text, 80))


def parse_value(text: str) -> float:
    """A non-locale-guessing number (rule in the module docstring); ValueError says why not."""
    t = text.strip()
    if PLAIN_NUMBER.fullmatch(t):
        value = float(t)
    elif GROUPED_NUMBER.fullmatch(t):
        value = float(t.replace(",", ""))
    elif "," in t and re.fullmatch(r"[+-]?[0-9.,]+", t):
        raise ValueError(
            f"value {_shown(text)} is ambiguous: a comma that is not a thousands separator in groups "
            "of three (decimal comma?); write it with a dot as the decimal mark, e.g. 7.5 or 1234.5"
        )
    else:
        raise ValueError(f"value {_shown(text)} is not a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"value {_shown(text)} is not a finite number")
    return value + 0.0  # -0.0 -> 0.0


def parse_day(text: str, column: str) -> date:
    if not DATE_PATTERN.match(text):
        raise ValueError(f"{column} {_shown(text)} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{column} {_shown(text)} is not a YYYY-MM-DD date") from None


# --- decoding -------------------------------------------------------------------------------

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_LINE_BREAK_TEXT = re.compile(r"\r\n|\r|\n")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class _Lines:
    text: list[str]  # one entry per physical line (undecodable ones shown with U+FFFD)
    bad: dict[int, str]  # 0-based index -> why the line could not be decoded
    encoding: str


def _utf16_kind(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:64]
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] and head[2]:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] and head[3]:
        return "utf-16-be"
    return None


def _split_lines(text: str) -> list[str]:
    lines = _LINE_BREAK_TEXT.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def decode_lines(data: bytes) -> _Lines:
    """The file's physical lines. UTF-8 is decoded line by line (a bad byte costs its line
    only); UTF-16 as a whole, with lone surrogates passed through and flagged per line."""
    kind = _utf16_kind(data)
    if kind:
        odd = len(data) % 2
        text = data[: len(data) - odd].decode(kind, errors="surrogatepass").lstrip("\ufeff")
        lines = _split_lines(text)
        bad = {
            i: "not valid UTF-16 (a lone surrogate)"
            for i, line in enumerate(lines)
            if _LONE_SURROGATE.search(line)
        }
        for i, line in bad.items():
            lines[i] = _LONE_SURROGATE.sub("\ufffd", line)
        if odd and lines:
            bad[len(lines) - 1] = "not valid UTF-16 (the file ends inside a character)"
        return _Lines(lines, bad, "UTF-16")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw = _LINE_BREAK.split(data)
    if raw and raw[-1] == b"":
        raw.pop()
    lines, bad = [], {}
    for i, chunk in enumerate(raw):
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError as exc:
            lines.append(chunk.decode("utf-8", errors="replace"))
            bad[i] = (
                f"not UTF-8 (byte 0x{chunk[exc.start]:02x} at byte {exc.start + 1} of the line); "
                "save the file as UTF-8"
            )
    return _Lines(lines, bad, "UTF-8")


# --- records --------------------------------------------------------------------------------


@dataclass
class Record:
    """One CSV record: the physical lines it spans (1-based, inclusive) and its fields, or the
    reason it could not be split."""

    first_line: int
    last_line: int
    fields: list[str]
    raw: str
    problem: str | None = None


def _split_one_line(line: str) -> list[str] | None:
    """Fields of a line read as a record on its own; None if a quote stays open or misplaced."""
    fields, pos = [], 0
    while True:
        if pos < len(line) and line[pos] == '"':
            pos += 1
            piece = []
            while True:
                k = line.find('"', pos)
                if k < 0:
                    return None
                piece.append(line[pos:k])
                if line.startswith('"', k + 1):
                    piece.append('"')
                    pos = k + 2
                    continue
                pos = k + 1
                break
            fields.append("".join(piece))
            if pos == len(line):
                return fields
            if line[pos] != ",":
                return None
            pos += 1
        else:
            k = line.find(",", pos)
            if k < 0:
                fields.append(line[pos:])
                return fields
            fields.append(line[pos:k])
            pos = k + 1


class _RecordReader:
    """Splits decoded lines into records (see the module docstring for the quoting rules)."""

    def __init__(self, lines: _Lines, limits: Limits, looks_like_row):
        self.lines, self.limits, self.looks_like_row = lines, limits, looks_like_row
        self.header: list[str] = []  # known once the header is read; names columns in reasons

    def _raw(self, first: int, last: int) -> str:
        # Whole, so the clipping marker can say how long the record really was.
        return "\n".join(self.lines.text[first : last + 1])

    def read(self, start: int) -> tuple[Record, int]:
        """The record starting at 0-based line `start`, and the index of the line after it."""
        text, cap = self.lines.text, self.limits.field_chars
        i, line, pos = start, text[start], 0
        fields: list[str] = []
        too_long = None

        def done(problem=None):
            last = i
            malformed = problem is not None or (self.header and len(fields) > len(self.header))
            if last > start and malformed:
                # A quote that spans lines but does not close into a well-formed record was
                # most likely never meant to be closed: keep the lines after it as rows.
                return self._unterminated(
                    start, f"the record it opens is malformed where it ends, on line {last + 1}"
                )
            undecodable = [j for j in range(start, last + 1) if j in self.lines.bad]
            if problem is None and undecodable:
                j = undecodable[0]
                problem = self.lines.bad[j] if j == start else f"line {j + 1}: {self.lines.bad[j]}"
            if problem is None and too_long is not None:
                name = (
                    self.header[too_long - 1]
                    if too_long <= len(self.header)
                    else "beyond the header"
                )
                problem = f"{self.limits.field_reason()} (column {too_long}, {name})"
            if problem is None and any("\x00" in f for f in fields):
                problem = "contains a NUL character"
            raw = self._raw(start, last)
            return Record(start + 1, last + 1, fields, raw, problem), last + 1

        while True:
            if pos < len(line) and line[pos] == '"':
                pos += 1
                piece: list[str] = []
                size = 0
                while True:
                    k = line.find('"', pos)
                    if k < 0:
                        # The quoted field goes on to the next line (or was never closed).
                        size += len(line) - pos + 1
                        if size <= cap:
                            piece.append(line[pos:])
                            piece.append("\n")
                        if i + 1 >= len(text):
                            return self._unterminated(start, "it runs to the end of the file")
                        i += 1
                        line, pos = text[i], 0
                        if self.looks_like_row(line):
                            return self._unterminated(
                                start, f"line {i + 1}, which it would swallow, reads as a row"
                            )
                        continue
                    size += k - pos
                    if size <= cap:
                        piece.append(line[pos:k])
                    if line.startswith('"', k + 1):
                        size += 1
                        if size <= cap:
                            piece.append('"')
                        pos = k + 2
                        continue
                    pos = k + 1
                    break
                if size > cap:
                    too_long = too_long or len(fields) + 1
                    fields.append("")
                else:
                    fields.append("".join(piece))
                if pos == len(line):
                    return done()
                if line[pos] != ",":
                    return done(
                        f"text after the closing quote of field {len(fields)} "
                        f"({line[pos : pos + 20]!r}); quote the whole field"
                    )
                pos += 1
            else:
                k = line.find(",", pos)
                end = len(line) if k < 0 else k
                if end - pos > cap:
                    too_long = too_long or len(fields) + 1
                    fields.append("")
                else:
                    fields.append(line[pos:end])
                if k < 0:
                    return done()
                pos = k + 1

    def _unterminated(self, start: int, why: str) -> tuple[Record, int]:
        record = Record(
            start + 1,
            start + 1,
            [],
            self.lines.text[start],
            f"unterminated quote: a quoted field opened on line {start + 1} is never closed "
            f"({why}); the line is quarantined and reading resumes on line {start + 2}",
        )
        return record, start + 1

    def records(self, start: int = 0) -> Iterator[Record]:
        i = start
        while i < len(self.lines.text):
            record, i = self.read(i)
            yield record


def _cell(fields: list[str], index: int | None) -> str:
    """A column's text in a row; a short row's missing trailing columns are empty."""
    return fields[index].strip() if index is not None and index < len(fields) else ""


def _is_blank(record: Record) -> bool:
    return record.problem is None and not any(f.strip() for f in record.fields)


# --- the parser -----------------------------------------------------------------------------


def parse_reported_csv(
    data: bytes,
    source_uri: str,
    known_facilities: set[str],
    known_metrics: set[str],
    window_start: date,
    window_end: date,
    today: date,
    limits: Limits = DEFAULT_LIMITS,
) -> ParseResult:
    """One CSV drop (rules in the module docstring). Raises FileError only for a file that gives
    no rows at all (over the size cap, no usable header); parse_reported_file turns that into a
    whole-file quarantine row.

    Hard rules (quarantined, with the reason): the row's shape (unterminated quote, more fields
    than the header, a field over the cap, undecodable bytes), unparseable or out-of-range dates,
    values that are not unambiguous non-negative numbers, unknown facility or metric, empty
    provenance, a source_url that is not http(s), and a repeat of (facility_id, observed_on,
    metric, source) in the file.
    """
    if len(data) > limits.file_bytes:
        raise FileError(f"{source_uri}: {limits.file_reason()} ({len(data)} bytes)")
    lines = decode_lines(data)
    header: list[str] = []
    header_index = None
    width = 0
    observed_at = None

    def looks_like_row(line: str) -> bool:
        if header_index is None:
            return False
        fields = _split_one_line(line)
        return (
            fields is not None
            and len(fields) == width
            and bool(DATE_PATTERN.match(fields[observed_at].strip()))
        )

    reader = _RecordReader(lines, limits, looks_like_row)
    i = 0
    while i < len(lines.text):
        record, nxt = reader.read(i)
        if not _is_blank(record):
            if record.problem:
                raise FileError(
                    f"{source_uri}, line {record.first_line}: the header cannot be read: "
                    f"{record.problem}"
                )
            header = [h.strip() for h in record.fields]
            header_index = i
            i = nxt
            break
        i = nxt
    if header_index is None:
        return ParseResult(source_uri, pl.DataFrame(schema=ROW_SCHEMA), warnings=["empty file"])
    header_line = header_index + 1
    seen_columns: dict[str, list[int]] = {}
    for n, name in enumerate(header, 1):
        if name:
            seen_columns.setdefault(name, []).append(n)
    repeated = {name: cols for name, cols in seen_columns.items() if len(cols) > 1}
    if repeated:
        name, cols = next(iter(repeated.items()))
        raise FileError(
            f"{source_uri}, line {header_line}: column {_shown(name)} appears {len(cols)} times "
            f"(columns {', '.join(map(str, cols))}); a repeated column is ambiguous, so no row "
            "of the file is read"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in seen_columns]
    if missing:
        raise FileError(
            f"{source_uri}, line {header_line}: missing required column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    width = len(header)
    observed_at = header.index("observed_on")
    reader.header = header
    position = {name: cols[0] - 1 for name, cols in seen_columns.items()}
    unknown = [c for c in header if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    warnings = [f"ignored unknown column(s): {', '.join(unknown)}"] if unknown else []
    if "" in header:
        warnings.append(f"ignored {header.count('')} column(s) with an empty name")
    if lines.encoding != "UTF-8":
        warnings.append(f"read as {lines.encoding}")

    good, bad, filtered, seen = [], [], 0, {}
    rows_read = 0
    for record in reader.records(i):
        if _is_blank(record):
            continue  # a blank line (or only commas): not a row
        rows_read += 1
        line_no = record.first_line

        def quarantine(reasons: list[str], record=record) -> None:
            bad.append(
                {
                    "source_uri": source_uri,
                    "line_number": record.first_line,
                    "raw_line": record.raw,
                    "reason": "; ".join(reasons),
                }
            )

        if record.problem:
            quarantine([record.problem])
            continue
        # Shape and date rules first: they hold whatever the window.
        reasons = []
        if len(record.fields) > width:
            reasons.append(f"{len(record.fields)} fields, header has {width}")
        row = {
            c: _cell(record.fields, position.get(c)) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
        }
        observed = None
        try:
            observed = parse_day(row["observed_on"], "observed_on")
        except ValueError as exc:
            reasons.append(str(exc))
        if observed is not None and not (EARLIEST <= observed <= today):
            reasons.append(f"observed_on {observed} is outside {EARLIEST}..{today}")
        if not reasons and not (window_start <= observed < window_end):
            filtered += 1
            continue
        published = None
        if row["published_on"]:
            try:
                published = parse_day(row["published_on"], "published_on")
            except ValueError as exc:
                reasons.append(str(exc))
        value = None
        try:
            value = parse_value(row["value"])
            if value < 0:
                reasons.append(f"value {_shown(row['value'])} is negative")
        except ValueError as exc:
            reasons.append(str(exc))
        if row["facility_id"] not in known_facilities:
            reasons.append(
                f"unknown facility_id {_shown(row['facility_id'])} (not in the facilities file)"
            )
        if not METRIC_PATTERN.match(row["metric"]) or row["metric"] not in known_metrics:
            reasons.append(
                f"unknown metric {_shown(row['metric'])} (see data/reference/metrics.csv)"
            )
        for col in ("source", "method"):
            if not row[col]:
                reasons.append(f"{col} is empty")
        if not URL_PATTERN.match(row["source_url"]):
            reasons.append(f"source_url {_shown(row['source_url'])} is not an http(s) URL")
        synthetic_word = row["synthetic"].lower()
        if synthetic_word not in TRUE_WORDS | FALSE_WORDS:
            reasons.append(f"synthetic {_shown(row['synthetic'])} is not true/false")
        key = (row["facility_id"], observed, row["metric"], row["source"])
        if not reasons and key in seen:
            reasons.append(
                f"duplicate of line {seen[key]} (same facility_id, observed_on, metric, source)"
            )
        if reasons:
            quarantine(reasons)
            continue
        seen[key] = line_no
        good.append(
            {
                "facility_id": row["facility_id"],
                "observed_on": observed,
                "metric": row["metric"],
                "value": value,
                "source": row["source"],
                "source_url": row["source_url"],
                "method": row["method"],
                "published_on": published,
                "confidence": row["confidence"] or None,
                "imagery_provider": row["imagery_provider"] or None,
                "notes": row["notes"] or None,
                "synthetic": synthetic_word in TRUE_WORDS,
                "source_uri": source_uri,
                "line_number": line_no,
            }
        )
    return ParseResult(
        source_uri=source_uri,
        rows=pl.DataFrame(good, schema=ROW_SCHEMA),
        quarantine=quarantine_frame(bad, limits.raw_line_chars),
        rows_read=rows_read,
        rows_filtered=filtered,
        warnings=warnings,
    )


def parse_reported_file(data: bytes, source_uri: str, *args, **kwargs) -> ParseResult:
    """parse_reported_csv, with a file that cannot be used at all kept as one quarantined row
    (line 0, the reason naming the file) so the load goes on and the audit still adds up.
    Never raises for any bytes: an unexpected error is that file's quarantine row too."""
    try:
        return parse_reported_csv(data, source_uri, *args, **kwargs)
    except FileError as exc:
        return whole_file_failure(source_uri, str(exc), ROW_SCHEMA)
    except Exception as exc:  # a parser bug must not drop the other files of the source
        return whole_file_failure(
            source_uri,
            f"{source_uri}: internal error while parsing ({type(exc).__name__}: {exc})",
            ROW_SCHEMA,
        )


def drop_cross_file_duplicates(results: list[ParseResult]) -> list[ParseResult]:
    """The same (facility, day, metric, source) in two files: the later file's row is quarantined."""
    seen: dict[tuple, str] = {}
    out = []
    for result in results:
        keep, moved = [], []
        for row in result.rows.iter_rows(named=True):
            key = (row["facility_id"], row["observed_on"], row["metric"], row["source"])
            if key in seen:
                moved.append(
                    {
                        "source_uri": result.source_uri,
                        "line_number": row["line_number"],
                        "raw_line": None,
                        "reason": f"duplicate of a row in {seen[key]} (same facility_id, observed_on, metric, source)",
                    }
                )
            else:
                seen[key] = f"{result.source_uri}, line {row['line_number']}"
                keep.append(row)
        if moved:
            result = ParseResult(
                result.source_uri,
                pl.DataFrame(keep, schema=ROW_SCHEMA),
                pl.concat([result.quarantine, quarantine_frame(moved)]),
                result.rows_read,
                result.rows_filtered,
                result.warnings,
                result.sha256,
            )
        out.append(result)
    return out
