"""Shared fixtures: a temporary borderwatch home with a real Dagster instance, and the realdata path."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(
            f"real public sample files not found at {REALDATA} (the shared/ folder beside the repo)"
        )
    return REALDATA


@pytest.fixture
def bw_env(tmp_path, monkeypatch):
    """BORDERWATCH_* pointing at a fresh home; the source stays the bundled sample unless changed."""
    home = tmp_path / "home"
    monkeypatch.setenv("BORDERWATCH_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("BORDERWATCH_") and name not in {
            "BORDERWATCH_HOME",
            "BORDERWATCH_REQUIRE_BROWSER",
        }:
            monkeypatch.delenv(name)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


@pytest.fixture
def lock_holder():
    """Start another process that opens a DuckDB file for writing and keeps it; yields its PID."""
    import subprocess
    import sys
    from contextlib import contextmanager

    @contextmanager
    def hold(path: Path):
        code = (
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
            "print('ready', flush=True); time.sleep(120)"
        )
        holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "ready"
            yield holder.pid
        finally:
            holder.kill()
            holder.wait()

    return hold
