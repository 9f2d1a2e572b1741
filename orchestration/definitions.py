"""The one Definitions object: every source's assets, the jobs, schedules, sensors and resources."""

from __future__ import annotations

import dagster as dg

from assets.imagery import assets as imagery_assets
from assets.indicators import assets as indicator_assets
from assets.news import assets as news_assets
from assets.reference import assets as reference_assets
from assets.reported import assets as reported_assets
from orchestration.jobs import all_assets_job, nightly_schedule, weekly_schedule
from orchestration.resources import Borderwatch

ASSET_MODULES = [reference_assets, reported_assets, imagery_assets, news_assets, indicator_assets]

all_assets = dg.load_assets_from_modules(ASSET_MODULES)

defs = dg.Definitions(
    assets=all_assets,
    jobs=[all_assets_job],
    schedules=[nightly_schedule, weekly_schedule],
    resources={"borderwatch": Borderwatch.from_env()},
)
