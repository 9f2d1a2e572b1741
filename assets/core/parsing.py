"""The contract every parser returns: typed good rows, quarantined bad rows, and the file's accounting."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from assets.core.limits import DEFAULT_LIMITS, TRUNCATION_MARKER, clip_text

QUARANTINE_SCHEMA = {
    "source_uri": pl.String,
    "line_number": pl.Int64,  # 1-based line (or item index) in the file; 0 when the whole file failed
    "raw_line": pl.String,
    "reason": pl.String,
}
# The audit reason for a file under a source prefix that no parser claims: it is listed and
# accounted for (rows_read=0), never read.
UNRECOGNISED = "skipped: not a recognised file name"
# load_audit.sha256 of a file that was listed but deliberately never read (no bytes, no hash).
UNREAD_SHA256 = "unread"


# A reason names the file, line and rule; values quoted in it are short. This bounds the rare
# reason that quotes a library's message about a huge input.
REASON_CHARS = 2000


def quarantine_frame(
    rows: list[dict] | None = None, max_raw_chars: int = DEFAULT_LIMITS.raw_line_chars
) -> pl.DataFrame:
    """Quarantine rows as a frame; every raw_line clipped to `max_raw_chars` with a marker."""
    rows = [
        {
            **r,
            "raw_line": clip_text(r.get("raw_line"), max_raw_chars),
            "reason": clip_text(r.get("reason"), REASON_CHARS),
        }
        for r in rows or []
    ]
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def clip_raw_lines(
    frame: pl.DataFrame, max_raw_chars: int = DEFAULT_LIMITS.raw_line_chars
) -> pl.DataFrame:
    """clip_text over a quarantine frame's raw_line column, done in Polars (GDELT-sized frames)."""
    if frame.height == 0:
        return frame
    length = pl.col("raw_line").str.len_chars()
    marker = (
        pl.lit(TRUNCATION_MARKER.split("{total}")[0])
        + length.cast(pl.String)
        + pl.lit(TRUNCATION_MARKER.split("{total}")[1])
    )
    keep = (pl.lit(max_raw_chars) - marker.str.len_chars()).clip(lower_bound=0)
    clipped = (pl.col("raw_line").str.slice(0, keep) + marker).str.slice(0, max_raw_chars)
    return frame.with_columns(
        pl.when(length > max_raw_chars)
        .then(clipped)
        .otherwise(pl.col("raw_line"))
        .alias("raw_line")
    )


@dataclass
class ParseResult:
    """What one source file gave: rows_read == len(rows) + rows_filtered + len(quarantine)."""

    source_uri: str
    rows: pl.DataFrame
    quarantine: pl.DataFrame = field(default_factory=quarantine_frame)
    rows_read: int = 0
    rows_filtered: int = 0
    warnings: list[str] = field(default_factory=list)
    # Set only for files that were listed but never read (UNREAD_SHA256): the audit row's sha256.
    # Every other file's sha256 comes from its raw-zone copy.
    sha256: str | None = None

    @property
    def rows_loaded(self) -> int:
        return self.rows.height

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.height

    @property
    def skipped(self) -> bool:
        return self.sha256 == UNREAD_SHA256

    def check_accounting(self) -> None:
        total = self.rows_loaded + self.rows_filtered + self.rows_quarantined
        if total != self.rows_read or min(self.rows_read, self.rows_filtered) < 0:
            raise AssertionError(
                f"{self.source_uri}: rows_read={self.rows_read} but loaded={self.rows_loaded} "
                f"+ filtered={self.rows_filtered} + quarantined={self.rows_quarantined} = {total}"
            )


class FileError(ValueError):
    """A whole file cannot be used (missing required column, unreadable). Names the file."""


def whole_file_failure(source_uri: str, reason: str, schema: dict, raw_line=None) -> ParseResult:
    """A file that gave no usable row: one quarantined row at line 0 carrying the reason."""
    bad = {"source_uri": source_uri, "line_number": 0, "raw_line": raw_line, "reason": reason}
    return ParseResult(
        source_uri, pl.DataFrame(schema=schema), quarantine_frame([bad]), rows_read=1
    )


def skipped_result(source_uri: str, reason: str, schema: dict) -> ParseResult:
    """The audit row of a file listed under a source prefix but not read: nothing read, nothing
    lost, and the reason (UNRECOGNISED, a refused symlink, ...) as its warning."""
    return ParseResult(
        source_uri,
        pl.DataFrame(schema=schema),
        rows_read=0,
        warnings=[reason],
        sha256=UNREAD_SHA256,
    )


def skipped_results(objects: Iterable, schema: dict) -> list[ParseResult]:
    """skipped_result for each listed-but-not-read object (SourceObject with skip_reason)."""
    return [
        skipped_result(obj.uri, getattr(obj, "skip_reason", None) or UNRECOGNISED, schema)
        for obj in objects
    ]


def audit_sha256_by_uri(results: Iterable[ParseResult], raw_files: Iterable) -> dict[str, str]:
    """source_uri -> the sha256 its load_audit and quarantine rows carry: the raw-zone copy's,
    or UNREAD_SHA256 for files that were listed and skipped without being read."""
    out = {f.source_uri: f.sha256 for f in raw_files}
    for r in results:
        if r.sha256 is not None:
            out[r.source_uri] = r.sha256
    return out


@dataclass
class StagedBatch:
    """One load window of a source: per-file results for its main staging table (rows already
    de-duplicated across files, duplicates counted as filtered) plus rows for related staging
    tables keyed by qualified table name (e.g. "staging.stg_news__article_facilities")."""

    results: list[ParseResult]
    related: dict[str, pl.DataFrame] = field(default_factory=dict)
