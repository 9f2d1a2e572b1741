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

It also writes a planned asset check as the one row its evaluation resolves. borderwatch's checks
are not partitioned (a suite validates a run's whole write in one evaluation, stored with no
partition; `orchestration/kit/checks.py` never gives a check a partitions definition, and
tests/test_definitions.py holds it to that). Dagster 1.13 still plans a range run's checks with
the run's partition subset, and the base class inserts one PLANNED row per day and check: rows
no evaluation ever updates (the UI shows those days' checks as still planned), about 57,000 for
the demo's 2,373 days, 80 MB and most of its planning. This storage writes one PLANNED row with
no partition, which the evaluation then marks passed or failed.

Enable it in the instance's dagster.yaml, and set DAGSTER_EVENT_BATCH_SIZE (e.g. 1000) in the
environment of the process that runs the steps:

    event_log_storage:
      module: orchestration.kit.eventlog
      class: BatchingSqliteEventLogStorage
      config:
        base_dir: /path/to/dagster_home/history/runs   # optional: that is the default

The files are the default storage's, so an existing instance keeps its history. Files it
creates have 8 KiB pages instead of SQLite's 4 KiB: a materialisation event is about 2.5 KB of
JSON, so a 4 KiB page holds one and leaves a third of itself empty (37% of the demo's event
tables); 8 KiB pages hold three. Files that exist keep their page size.
"""

from __future__ import annotations

import os
import sqlite3
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


PAGE_SIZE = 8192


def create_with_page_size(path: str, page_size: int = PAGE_SIZE) -> bool:
    """Create the empty SQLite file `path` with `page_size` (a page size holds only from a
    database's first write). False, and nothing done, when the file exists with content or
    another process holds it (the webserver, the daemon and a run can open a new instance at
    once: the one that writes first decides, and Dagster's own retries create the tables)."""
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return False
    try:
        conn = sqlite3.connect(path, timeout=0.5)
    except sqlite3.Error:
        return False
    try:
        conn.execute(f"PRAGMA page_size={int(page_size)}")
        conn.execute("VACUUM")  # writes the header, with the page size, to the empty file
    except sqlite3.OperationalError:  # "database is locked": another process is creating it
        return False
    finally:
        conn.close()
    return True


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

    def _initdb(self, engine, for_index_shard=False) -> None:
        path = engine.url.database
        if path and path != ":memory:":
            create_with_page_size(path)
        super()._initdb(engine, for_index_shard=for_index_shard)

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
            # One multi-row INSERT ... RETURNING, ids in the rows' order (SQLite >= 3.35).
            result = conn.execute(
                SqlEventLogStorageTable.insert().returning(
                    SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
            event_ids = [row[0] for row in result]
            self._store_asset_event_tags(conn, events, event_ids)
            # The base class updates the asset-key row once per event. What that leaves is, per
            # key, the columns of the last event of each event type (each type sets the same
            # columns), applied in order: only those events' values are built (building one
            # serialises the whole event again).
            has_index_cols = self._has_asset_key_index_cols_on_connection(conn)
            last: dict[tuple[str, str], int] = {}
            for i, event in enumerate(events):
                key = event.get_dagster_event().asset_key.to_string()
                last[(key, event.dagster_event_type.value)] = i
            merged: dict[str, dict] = {}
            for (key, _kind), i in sorted(last.items(), key=lambda item: item[1]):
                values = self._get_asset_entry_values(events[i], event_ids[i], has_index_cols)
                if values:
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
        with self.index_connection() as conn:
            conn.execute(
                AssetCheckExecutionsTable.insert().values(
                    asset_key=planned.asset_key.to_string(),
                    check_name=planned.check_name,
                    partition=None,  # what the evaluation is stored with: see the module notes
                    run_id=event.run_id,
                    execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
                    evaluation_event=serialize_value(event),
                    evaluation_event_timestamp=self._event_insert_timestamp(event),
                    evaluation_event_storage_id=event_id,
                )
            )
