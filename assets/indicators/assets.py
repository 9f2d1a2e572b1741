"""Dagster assets for the indicator tables (thin: their logic is one SQL file each)."""


from pathlib import Path

import dagster as dg

from orchestration.checks import suite_check_spec
from orchestration.loading import build_curated
from orchestration.resources import Borderwatch

SUITES = Path(__file__).with_name("suites")
REPORTED_SUITES = Path(__file__).parents[1] / "reported" / "suites"


@dg.asset(
    key="activity_baselines",
    group_name="indicators",
    deps=["observations", "imagery_coverage_daily"],
    code_version="1",
    pool="duckdb",
    kinds={"duckdb", "sql"},
    description="curated.activity_baselines: each observation against its trailing five-year "
    "history (prior count, max, median, MAD, ratio, robust z, clear-imagery days, anomaly flag).",
    check_specs=[suite_check_spec("activity_baselines", REPORTED_SUITES / "activity_baselines.json")],
)
def activity_baselines(
    context: dg.AssetExecutionContext, borderwatch: Borderwatch
) -> dg.MaterializeResult:
    with borderwatch.connect() as con:
        result = build_curated(
            context,
            con,
            asset_key="activity_baselines",
            sql_file="curated/activity_baselines.sql",
            params=borderwatch.baseline_params(),
            suite_path=REPORTED_SUITES / "activity_baselines.json",
        )
        n = con.execute("select count(*) from curated.activity_baselines where is_anomaly").fetchone()[0]
    return dg.MaterializeResult(
        asset_key="activity_baselines",
        metadata={**result.metadata, "anomalies": int(n)},
        check_results=result.check_results,
    )
