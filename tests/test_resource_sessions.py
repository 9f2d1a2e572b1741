"""Within a run, the steps' lake connections are sessions on one attached lake; outside a run, and
for readers of the past, each connect() opens its own. Either way what a step sees is the lake's
latest committed state."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.core import warehouse
from orchestration.kit.resource import Borderwatch


@pytest.fixture
def counted(monkeypatch):
    calls = {"connect": 0, "session": 0, "closed_bases": 0}
    real_connect, real_session = warehouse.connect, warehouse.session

    class Counted:
        """A connection whose close() is counted (DuckDB's own objects take no attributes)."""

        def __init__(self, con):
            self._con = con

        def __getattr__(self, name):
            return getattr(self._con, name)

        def close(self):
            calls["closed_bases"] += 1
            self._con.close()

    def connect(*args, **kwargs):
        calls["connect"] += 1
        return Counted(real_connect(*args, **kwargs))

    def session(base):
        calls["session"] += 1
        return real_session(base._con)

    monkeypatch.setattr(warehouse, "connect", connect)
    monkeypatch.setattr(warehouse, "session", session)
    return calls


def test_steps_of_a_run_share_one_attached_lake(tmp_path, counted):
    seen = []

    @dg.asset
    def first(borderwatch: Borderwatch) -> None:
        with borderwatch.connect() as con:
            con.execute("create schema if not exists scratch")
            con.execute("create table scratch.t as select 41 as x")
            assert con.execute("select current_setting('timezone')").fetchone()[0] == "UTC"

    @dg.asset(deps=[first])
    def second(borderwatch: Borderwatch) -> None:
        with borderwatch.connect() as con:
            con.execute("update scratch.t set x = x + 1")
        with borderwatch.connect() as con:  # a new session sees the committed update
            seen.append(con.execute("select x from scratch.t").fetchone()[0])
        with borderwatch.connect(read_only=True) as con:  # a reader opens its own
            seen.append(con.execute("select x from scratch.t").fetchone()[0])

    resource = Borderwatch.from_env(home=str(tmp_path))
    result = dg.materialize([first, second], resources={"borderwatch": resource})
    assert result.success
    assert seen == [42, 42]
    # one attached lake for the run's writers (closed when the run ends), one for the reader
    assert counted == {"connect": 2, "session": 3, "closed_bases": 2}


def test_outside_a_run_each_connect_opens_its_own(tmp_path, counted):
    resource = Borderwatch.from_env(home=str(tmp_path))
    for _ in range(2):
        with resource.connect() as con:
            assert con.execute("select current_database()").fetchone()[0] == warehouse.LAKE
    assert counted == {"connect": 2, "session": 0, "closed_bases": 2}
