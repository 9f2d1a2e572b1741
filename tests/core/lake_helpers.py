"""Helpers for the lake tests: start tests/core/lake_worker.py processes and collect what they did."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from assets.core.lake import LakeConfig

WORKER = Path(__file__).with_name("lake_worker.py")


def config_json(config: LakeConfig) -> str:
    return json.dumps({"catalog": config.catalog, "data_path": config.data_path})


_started: list[subprocess.Popen] = []


def start_worker(role: str, config: LakeConfig, **options) -> subprocess.Popen:
    """Start tests/core/lake_worker.py in its own process (it inherits the AWS_* environment)."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), role, config_json(config), json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started.append(proc)
    return proc


def kill_leftover_workers() -> None:
    """Kill, by PID, every worker this process started that is still running (a failed test)."""
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def finish(proc: subprocess.Popen, timeout: float = 300) -> dict:
    """Wait for a worker and return its JSON summary; its stderr is the failure message."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # never leave a worker behind
        proc.communicate()
        raise
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


def start_together(role: str, config: LakeConfig, keys: list[str], tmp: Path, **options) -> list:
    """One worker per key, released at once when every one of them has connected."""
    go = tmp / "go"
    procs = [
        start_worker(role, config, key=key, ready=str(tmp / f"ready-{key}"), go=str(go), **options)
        for key in keys
    ]
    while not all((tmp / f"ready-{key}").exists() for key in keys):
        for proc in procs:
            if proc.poll() is not None:  # died before it was ready: finish() shows why
                finish(proc)
        time.sleep(0.01)
    go.touch()
    return procs
