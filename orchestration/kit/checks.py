"""The bridge from Great Expectations suites (kept in the repo) to Dagster asset checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from assets.core.validation import ERROR, run_suite

SUITE_CHECK = "expectations"


def suite_check_spec(asset_key: str | list[str], suite_path: Path) -> dg.AssetCheckSpec:
    """A blocking check: error-severity failures stop downstream assets in the run."""
    return dg.AssetCheckSpec(
        name=SUITE_CHECK,
        asset=dg.AssetKey(asset_key),
        blocking=True,
        description=f"Great Expectations suite {suite_path.name} (error-level expectations block)",
    )


def suite_check_result(
    asset_key: str | list[str],
    df: pl.DataFrame,
    suite_path: Path,
    parameters: dict | None = None,
) -> dg.AssetCheckResult:
    outcome = run_suite(df, suite_path, parameters)
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
        asset_key=dg.AssetKey(asset_key),
        check_name=SUITE_CHECK,
        passed=outcome.success,
        severity=severity,
        description=outcome.summary(),
        metadata={
            "suite": suite_path.name,
            "rows_validated": outcome.rows,
            "expectations": len(outcome.results),
            "failed": len(outcome.failed),
            "results": dg.MetadataValue.md(table),
            "failures": dg.MetadataValue.json([r.as_dict() for r in outcome.failed]),
        },
    )
