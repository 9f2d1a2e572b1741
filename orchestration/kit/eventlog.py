"""Dagster event log storage for the SQLite instance that writes a batch of events in one transaction.

Experiment (see bench/eventlog_backfill.py). A range run records one ASSET_MATERIALIZATION per day
and partitioned asset. Dagster hands such events to `store_event_batch` when
DAGSTER_EVENT_BATCH_SIZE > 0, but `SqliteEventLogStorage` (the default instance's event log:
one SQLite file per run plus an index file) inherits a `store_event_batch` that loops
`store_event`, and each `store_event` opens a fresh engine and commits twice (run shard, then
the index shard, where the asset-key and tag tables are updated too).

`BatchingSqliteEventLogStorage.store_event_batch` writes the same rows, in the same order, with
one transaction per database: all events of a run into its shard (one executemany), then, in
one index transaction, the mirrored events (each insert gives the id the asset tables point
at), their indexed tags, and one insert-or-update per asset key carrying what the last event of
that key would have left. Anything that is not a plain asset event (asset checks, run status)
goes through `store_event` unchanged, in order.

It also writes a planned asset check of a partitioned asset the cheap way. For a range run the
base class inserts one asset_check_executions row per partition as one multi-VALUES statement and
serialises the event again for every row: about 0.35 s per check for 2,373 days here, so 24
checks made most of a demo run's planning. The rows are the same; the event is serialised once
and inserted with executemany (about 0.04 s).

Enable it in the instance's dagster.yaml, and set DAGSTER_EVENT_BATCH_SIZE (e.g. 1000) in the
environment of the process that runs the steps:

    event_log_storage:
      module: orchestration.kit.eventlog
      class: BatchingSqliteEventLogStorage
      config:
        base_dir: /path/to/dagster_home/history/runs   # optional: that is the default

The files are the default storage's, so an existing instance keeps its history.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dagster import Field, StringSource
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value


def default_base_dir() -> str:
    """Where the default SQLite storage keeps run shards: $DAGSTER_HOME/history/runs."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError(
            "BatchingSqliteEventLogStorage needs config base_dir or DAGSTER_HOME in the environment"
        )
    return os.path.join(home, "history", "runs")


def _batchable(event: EventLogEntry) -> bool:
    """Asset events the index mirrors with no side table beyond asset keys and tags."""
    if not event.is_dagster_event:
        return False
    kind = event.dagster_event_type
    return (
        kind in ASSET_EVENTS
        and kind not in ASSET_CHECK_EVENTS
        and kind not in EVENT_TYPE_TO_PIPELINE_RUN_STATUS
        and event.get_dagster_event().asset_key is not None
    )


class BatchingSqliteEventLogStorage(SqliteEventLogStorage, ConfigurableClass):
    """SqliteEventLogStorage whose store_event_batch commits once per database, not per event."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir or default_base_dir(), inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value):
        return cls(inst_data=inst_data, **dict(config_value or {}))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        # Runs of batchable events go in one write; anything else keeps its place in the order.
        pending: list[EventLogEntry] = []
        for event in events:
            if _batchable(event):
                pending.append(event)
                continue
            self._store_asset_batch(pending)
            pending = []
            self.store_event(event)
        self._store_asset_batch(pending)

    def _store_asset_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not events:
            return
        if len(events) == 1:
            self.store_event(events[0])
            return
        # Serialise each event once: the run shard and the index hold the same row.
        rows = [self._event_to_row(event) for event in events]
        by_run: dict[str, list[dict]] = {}
        for event, row in zip(events, rows, strict=True):
            by_run.setdefault(event.run_id, []).append(row)
        for run_id, run_rows in by_run.items():
            with self.run_connection(run_id) as conn:
                conn.execute(SqlEventLogStorageTable.insert(), run_rows)

        with self.index_transaction() as conn:
            event_ids = []
            for row in rows:
                result = conn.execute(SqlEventLogStorageTable.insert().values(**row))
                event_ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, event_ids)
            # The base class updates the asset-key row once per event; applying the events'
            # values in order to one dict per key leaves the row exactly as that would.
            has_index_cols = self._has_asset_key_index_cols_on_connection(conn)
            merged: dict[str, dict] = {}
            for event, event_id in zip(events, event_ids, strict=True):
                values = self._get_asset_entry_values(event, event_id, has_index_cols)
                if values:
                    key = event.get_dagster_event().asset_key.to_string()
                    merged.setdefault(key, {}).update(values)
            for key, values in merged.items():
                updated = conn.execute(
                    AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key)
                )
                if not updated.rowcount:
                    conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))

    def _store_asset_check_evaluation_planned(
        self, event: EventLogEntry, event_id: int | None
    ) -> None:
        planned = event.get_dagster_event().event_specific_data
        partition_keys = (
            planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        )
        row = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event),
            evaluation_event_storage_id=event_id,
        )
        with self.index_connection() as conn:
            conn.execute(
                AssetCheckExecutionsTable.insert(),
                [{**row, "partition": key} for key in partition_keys],
            )
