"""Runs that never wedge: a run started by the CLI records which process runs it; a later command
finds runs whose process died (SIGKILL, OOM, a reboot), marks them failed and frees their pool
slots, so the next run does not wait forever for a slot nobody will release."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

PID_TAG = "borderwatch/pid"
PID_START_TAG = "borderwatch/pid_started"
HOST_TAG = "borderwatch/host"
POOLS = ("duckdb",)
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): with the
    PID it names one process, even after the PID is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run it executes in-process."""
    pid = os.getpid()
    return {
        PID_TAG: str(pid),
        PID_START_TAG: _process_start(pid) or "",
        HOST_TAG: socket.gethostname(),
    }


def _alive(tags: dict[str, str]) -> bool | None:
    """True/False for a run this host's CLI executes in-process; None when it cannot tell (a run
    launched elsewhere: the daemon's run monitoring looks after those)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return None
    started = _process_start(int(tags[PID_TAG]))
    return started is not None and started == tags.get(PID_START_TAG)


@dataclass(frozen=True)
class Released:
    run_id: str
    pid: str
    slots: int


def release_dead_runs(instance: dg.DagsterInstance) -> list[Released]:
    """Mark failed every in-progress CLI run of this host whose process is gone, and free the pool
    slots held by such runs or by runs that are no longer in progress at all."""
    released: list[Released] = []
    dead: set[str] = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        if _alive(run.tags) is False:
            dead.add(run.run_id)
            instance.report_run_failed(
                run,
                message=f"the process running it (pid {run.tags.get(PID_TAG)}) is gone; "
                "marked failed by borderwatch before the next run",
            )
    storage = instance.event_log_storage
    for pool in POOLS:
        info = storage.get_concurrency_info(pool)
        holders = {slot.run_id for slot in info.claimed_slots} | {
            step.run_id for step in info.pending_steps
        }
        for run_id in sorted(holders):
            run = instance.get_run_by_id(run_id)
            finished = run is None or run.status not in IN_PROGRESS
            if run_id in dead or finished:
                slots = sum(1 for s in info.claimed_slots if s.run_id == run_id)
                storage.free_concurrency_slots_for_run(run_id)
                released.append(
                    Released(run_id, (run.tags if run else {}).get(PID_TAG, "?"), slots)
                )
    for run_id in sorted(dead - {r.run_id for r in released}):
        released.append(Released(run_id, "?", 0))
    return released
