"""The contract every parser returns: typed good rows, quarantined bad rows, and the file's accounting."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

QUARANTINE_SCHEMA = {
    "source_uri": pl.String,
    "line_number": pl.Int64,  # 1-based line (or item index) in the file; 0 when the whole file failed
    "raw_line": pl.String,
    "reason": pl.String,
}


def quarantine_frame(rows: list[dict] | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows or [], schema=QUARANTINE_SCHEMA)


@dataclass
class ParseResult:
    """What one source file gave: rows_read == len(rows) + rows_filtered + len(quarantine)."""

    source_uri: str
    rows: pl.DataFrame
    quarantine: pl.DataFrame = field(default_factory=quarantine_frame)
    rows_read: int = 0
    rows_filtered: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return self.rows.height

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.height

    def check_accounting(self) -> None:
        total = self.rows_loaded + self.rows_filtered + self.rows_quarantined
        if total != self.rows_read:
            raise AssertionError(
                f"{self.source_uri}: rows_read={self.rows_read} but loaded={self.rows_loaded} "
                f"+ filtered={self.rows_filtered} + quarantined={self.rows_quarantined} = {total}"
            )


class FileError(ValueError):
    """A whole file cannot be used (missing required column, unreadable). Names the file."""


@dataclass
class StagedBatch:
    """One load window of a source: per-file results for its main staging table (rows already
    de-duplicated across files, duplicates counted as filtered) plus rows for related staging
    tables keyed by qualified table name (e.g. "staging.stg_news__article_facilities")."""

    results: list[ParseResult]
    related: dict[str, pl.DataFrame] = field(default_factory=dict)
