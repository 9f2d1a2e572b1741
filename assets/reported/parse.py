"""Parse reported-count CSV drops into typed rows; bad rows go to quarantine with the reason."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import polars as pl

from assets.core.parsing import FileError, ParseResult, quarantine_frame

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
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0", ""}

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


def _date(text: str) -> date:
    return date.fromisoformat(text.strip())


def _decode(data: bytes, source_uri: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError(
            f"{source_uri}, line {line}: not UTF-8 ({exc.reason}); save the file as UTF-8"
        ) from exc


def parse_reported_csv(
    data: bytes,
    source_uri: str,
    known_facilities: set[str],
    known_metrics: set[str],
    window_start: date,
    window_end: date,
    today: date,
) -> ParseResult:
    """One CSV drop. Rows dated outside [window_start, window_end) count as filtered.

    Hard rules (quarantined, with the reason): unparseable dates or numbers, negative values,
    unknown facility or metric, empty provenance, a source_url that is not http(s), a date in the
    future or before 2000, and a repeat of (facility_id, observed_on, metric, source) in the file.
    """
    text = _decode(data, source_uri)
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        return ParseResult(source_uri, pl.DataFrame(schema=ROW_SCHEMA), warnings=["empty file"])
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise FileError(
            f"{source_uri}, line 1: missing required column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    warnings = [f"ignored unknown column(s): {', '.join(unknown)}"] if unknown else []

    good, bad, filtered, seen = [], [], 0, {}
    rows_read = 0
    start_line = reader.line_num + 1
    for record in reader:
        end_line = reader.line_num
        line_no = start_line
        raw_line = "\n".join(lines[start_line - 1 : end_line])
        start_line = end_line + 1
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue  # blank line: not a row
        rows_read += 1
        reasons = []
        if None in record:  # more fields than the header
            reasons.append(f"{len(header) + len(record[None])} fields, header has {len(header)}")
        row = {k: (record.get(k) or "").strip() for k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
        observed = None
        try:
            observed = _date(row["observed_on"])
        except ValueError:
            reasons.append(f"observed_on {row['observed_on']!r} is not a YYYY-MM-DD date")
        if observed is not None and not (window_start <= observed < window_end):
            filtered += 1
            continue
        published = None
        if row["published_on"]:
            try:
                published = _date(row["published_on"])
            except ValueError:
                reasons.append(f"published_on {row['published_on']!r} is not a YYYY-MM-DD date")
        if observed is not None and not (date(2000, 1, 1) <= observed <= today):
            reasons.append(f"observed_on {observed} is outside 2000-01-01..{today}")
        value = None
        try:
            value = float(row["value"].replace(",", ""))
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            if value < 0:
                reasons.append(f"value {row['value']} is negative")
        except ValueError:
            reasons.append(f"value {row['value']!r} is not a number")
        if row["facility_id"] not in known_facilities:
            reasons.append(
                f"unknown facility_id {row['facility_id']!r} (not in the facilities file)"
            )
        if not METRIC_PATTERN.match(row["metric"]) or row["metric"] not in known_metrics:
            reasons.append(f"unknown metric {row['metric']!r} (see data/reference/metrics.csv)")
        for col in ("source", "method"):
            if not row[col]:
                reasons.append(f"{col} is empty")
        if not URL_PATTERN.match(row["source_url"]):
            reasons.append(f"source_url {row['source_url']!r} is not an http(s) URL")
        synthetic_word = row["synthetic"].lower()
        if synthetic_word not in TRUE_WORDS | FALSE_WORDS:
            reasons.append(f"synthetic {row['synthetic']!r} is not true/false")
        key = (row["facility_id"], observed, row["metric"], row["source"])
        if not reasons and key in seen:
            reasons.append(
                f"duplicate of line {seen[key]} (same facility_id, observed_on, metric, source)"
            )
        if reasons:
            bad.append(
                {
                    "source_uri": source_uri,
                    "line_number": line_no,
                    "raw_line": raw_line,
                    "reason": "; ".join(reasons),
                }
            )
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
        quarantine=quarantine_frame(bad),
        rows_read=rows_read,
        rows_filtered=filtered,
        warnings=warnings,
    )


def parse_reported_file(data: bytes, source_uri: str, *args, **kwargs) -> ParseResult:
    """parse_reported_csv, with a file that cannot be used at all kept as one quarantined row
    (line 0, the reason naming the file) so the load goes on and the audit still adds up."""
    try:
        return parse_reported_csv(data, source_uri, *args, **kwargs)
    except FileError as exc:
        bad = {"source_uri": source_uri, "line_number": 0, "raw_line": None, "reason": str(exc)}
        return ParseResult(
            source_uri, pl.DataFrame(schema=ROW_SCHEMA), quarantine_frame([bad]), rows_read=1
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
            )
        out.append(result)
    return out
