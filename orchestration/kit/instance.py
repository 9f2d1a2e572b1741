"""The project's Dagster instance: created under BORDERWATCH_HOME from the shipped dagster.yaml."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.kit.resource import Paths

INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "dagster.yaml"


def instance_yaml(dagster_home: Path) -> str:
    """The shipped dagster.yaml for an instance folder (its event log's files live inside it)."""
    text = INSTANCE_TEMPLATE.read_text(encoding="utf-8")
    return text.replace("@DAGSTER_HOME@", str(Path(dagster_home).resolve()))


def prepare_instance(paths: Paths) -> Path:
    """Create the instance folder with the shipped dagster.yaml; point DAGSTER_HOME at it."""
    paths.dagster_home.mkdir(parents=True, exist_ok=True)
    target = paths.dagster_home / "dagster.yaml"
    if not target.exists():
        target.write_text(instance_yaml(paths.dagster_home), encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(paths.dagster_home)
    # A single-run backfill otherwise writes one "planned" event per partition and asset before
    # it starts: about 7,000 SQLite writes (a minute and a half) for the demo's six years.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    # The shipped event log storage writes materialisations in batches of this many.
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")
    return paths.dagster_home
