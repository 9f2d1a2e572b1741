"""The one Definitions object: each source's own Definitions merged, with the project's jobs,
schedules, sensors and resource applied once, here."""

from __future__ import annotations

import os

import dagster as dg

from assets.imagery.assets import defs as imagery
from assets.indicators.alerts import run_failure_message, send_text
from assets.indicators.assets import defs as indicators
from assets.news.assets import defs as news
from assets.reference.assets import defs as reference
from assets.reported.assets import defs as reported
from orchestration.kit.audit import bookkeeping
from orchestration.kit.jobs import all_assets_job, nightly_schedule, weekly_schedule
from orchestration.kit.maintenance import (
    lake_maintenance,
    maintenance_job,
    weekly_maintenance_schedule,
)
from orchestration.kit.resource import Borderwatch
from orchestration.kit.sensors import FailedRun, run_failure_notifier

WEBHOOK_ENV = "BORDERWATCH_ALERT_WEBHOOK"
LAKE_CATALOG_ENV = "BORDERWATCH_LAKE_CATALOG"


def borderwatch_resource(**overrides) -> Borderwatch:
    """The resource from the environment, with the alert webhook as a reference to its variable:
    whoever holds the URL can post to the channel, so Dagster shows and stores the variable's
    name, never its value, and reads the value only when a run or sensor needs it."""
    if os.environ.get(WEBHOOK_ENV):
        overrides.setdefault("alert_webhook_url", dg.EnvVar(WEBHOOK_ENV))
    # A catalog string may carry a password (better kept in PGPASSWORD): the same rule.
    if os.environ.get(LAKE_CATALOG_ENV):
        overrides.setdefault("lake_catalog", dg.EnvVar(LAKE_CATALOG_ENV))
    return Borderwatch.from_env(**overrides)


def post_run_failure(borderwatch: Borderwatch, failed: FailedRun) -> None:
    """One line to the alert webhook, in its format; a refusal raises WebhookError, whose
    message names the webhook masked."""
    text = run_failure_message(failed.job_name, failed.run_id, failed.step_key, failed.root_cause)
    send_text(borderwatch.alert_webhook_url, text, borderwatch.alert_format or None)


def _definitions() -> dg.Definitions:
    merged = dg.Definitions.merge(
        reference,
        reported,
        imagery,
        news,
        indicators,
        dg.Definitions(
            assets=[bookkeeping, lake_maintenance],
            jobs=[all_assets_job, maintenance_job],
            schedules=[nightly_schedule, weekly_schedule, weekly_maintenance_schedule],
            sensors=[
                run_failure_notifier(post_run_failure, running=bool(os.environ.get(WEBHOOK_ENV)))
            ],
        ),
    )
    # Each source's Definitions carries the plain resource so that it loads on its own; the
    # merged ones use the resource whose webhook is an EnvVar.
    return dg.Definitions(
        assets=merged.assets,
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        resources={**(merged.resources or {}), "borderwatch": borderwatch_resource()},
        # Runs launched by the UI, schedules and sensors execute their steps in the run's own
        # process, as the CLI does: imports (Great Expectations alone takes seconds), the
        # definitions and the instance are loaded once per run, not once per step. Every step
        # that writes the lake waits for the one "duckdb" pool slot anyway, so separate step
        # processes would buy no parallelism.
        executor=dg.in_process_executor,
    )


defs = _definitions()
