"""The bridge from Great Expectations suites (kept in sql/ beside each table's SQL) to Dagster
asset checks, and the sentence a failed suite gives."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from assets.core.validation import ERROR, SuiteOutcome, run_suite
from assets.core.warehouse import SQL_DIR

SUITE_CHECK = "expectations"


class SuiteMissingError(FileNotFoundError):
    """A table has no suite: every table must have one, so definitions refuse to load."""


def suite_path(layer: str, table: str) -> Path:
    """sql/<layer>/<table>.expectations.json; raises SuiteMissingError when it is not there."""
    path = SQL_DIR / layer / f"{table}.expectations.json"
    if not path.is_file():
        raise SuiteMissingError(
            f"{layer}.{table} has no Great Expectations suite: add {path.relative_to(SQL_DIR.parent)}"
        )
    return path


def suite_check_spec(asset_key: str | dg.AssetKey, suite: Path) -> dg.AssetCheckSpec:
    """A blocking check: its expectations run before the write is committed."""
    return dg.AssetCheckSpec(
        name=SUITE_CHECK,
        asset=dg.AssetKey.from_coercible(asset_key),
        blocking=True,
        description=f"Great Expectations suite {suite.name}: run inside the writing transaction; "
        "a failed error-level expectation rolls the write back",
    )


def validation_frame(df: pl.DataFrame) -> pl.DataFrame:
    """GX validates pandas frames of scalars: list and struct columns are checked as JSON text."""
    nested = [c for c, t in df.schema.items() if isinstance(t, pl.List | pl.Array | pl.Struct)]
    if not nested:
        return df
    return df.with_columns(
        pl.col(c).map_elements(_json_text, return_dtype=pl.String).alias(c) for c in nested
    )


def _json_text(value) -> str:
    import json

    return json.dumps(value if not hasattr(value, "to_list") else value.to_list(), default=str)


def validate(df: pl.DataFrame, suite: Path, parameters: dict | None = None) -> SuiteOutcome:
    return run_suite(validation_frame(df), suite, parameters)


def check_result(
    asset_key: str | dg.AssetKey, outcome: SuiteOutcome, suite: Path
) -> dg.AssetCheckResult:
    failed_errors = [r for r in outcome.failed if r.severity == ERROR]
    severity = dg.AssetCheckSeverity.ERROR if failed_errors else dg.AssetCheckSeverity.WARN
    table = "\n".join(
        [
            "| expectation | column | severity | result | unexpected | examples |",
            "|---|---|---|---|---|---|",
        ]
        + [
            f"| {r.expectation} | {r.column or ''} | {r.severity} | {'pass' if r.success else 'FAIL'} "
            f"| {r.unexpected_count if r.unexpected_count is not None else ''} "
            f"| {', '.join(map(str, r.partial_unexpected[:5])) or (r.exception or '')} |"
            for r in outcome.results
        ]
    )
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey.from_coercible(asset_key),
        check_name=SUITE_CHECK,
        passed=outcome.success,
        severity=severity,
        description=outcome.summary(),
        metadata={
            "suite": suite.name,
            "rows_validated": outcome.rows,
            "expectations": len(outcome.results),
            "failed": len(outcome.failed),
            "results": dg.MetadataValue.md(table),
            "failures": dg.MetadataValue.json([r.as_dict() for r in outcome.failed]),
        },
    )


def failure_text(asset_key: str, outcome: SuiteOutcome) -> str:
    """What a blocked write says: the asset, then one line per failed error-level expectation
    with its column, the unexpected count and a few values."""
    lines = [f"{asset_key}: expectations failed, nothing was published"]
    for r in outcome.failed:
        if r.severity != ERROR:
            continue
        values = ", ".join(map(repr, r.partial_unexpected[:5]))
        lines.append(
            f"  {r.expectation} on {r.column or '(table)'}: "
            + (f"{r.unexpected_count} unexpected" if r.unexpected_count is not None else "failed")
            + (f" (e.g. {values})" if values else "")
            + (f" [{r.exception}]" if r.exception else "")
        )
    return "\n".join(lines)


class ExpectationsFailed(dg.Failure):
    """An asset's suite failed inside its transaction: the write was rolled back."""

    def __init__(self, asset_key: str, outcome: SuiteOutcome, suite: Path):
        super().__init__(
            description=failure_text(asset_key, outcome),
            metadata={
                "suite": suite.name,
                "failures": dg.MetadataValue.json(
                    [r.as_dict() for r in outcome.failed if r.severity == ERROR]
                ),
            },
        )
