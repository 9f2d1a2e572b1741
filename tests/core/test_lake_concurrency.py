"""Several processes on one lake: readers never block a writer, and two writers of one table
both finish with nothing lost or duplicated (conflicts are retried), on the embedded lake and
(integration) on PostgreSQL + S3."""

from __future__ import annotations

from assets.core import warehouse as wh
from tests.core.lake_helpers import finish, start_together, start_worker

BATCH = 250  # lake_worker.BATCH
N = 20


def _tables(config) -> None:
    con = wh.connect(config)
    con.execute("create schema if not exists staging")
    con.execute("create table staging.lake_t (k varchar not null, i integer not null, v bigint)")
    con.execute("create table staging.lake_log (k varchar not null, i integer not null)")
    con.execute("create table staging.lake_counter (value bigint not null)")
    con.execute("insert into staging.lake_counter values (0)")
    con.close()


def _log(config) -> list[tuple[str, int]]:
    con = wh.connect(config, read_only=True)
    try:
        return con.execute("select k, i from staging.lake_log order by all").fetchall()
    finally:
        con.close()


def test_readers_never_block_a_writer(lake_config, tmp_path):
    _tables(lake_config)
    con = wh.connect(lake_config, read_only=True)
    first = wh.current_snapshot(con)
    con.close()
    stop = tmp_path / "stop"
    reader = start_worker("reader", lake_config, stop=str(stop))
    try:
        writer = start_worker("window", lake_config, key="a", n=N)
        wrote = finish(writer)
    finally:
        stop.touch()  # the reader makes one last read, then reports
    read = finish(reader)

    # Every commit landed, once, in order...
    assert wrote["commits"] == N
    assert _log(lake_config) == [("a", i) for i in range(N)]
    con = wh.connect(lake_config, read_only=True)
    assert con.execute("select count(*), min(i), max(i) from staging.lake_t").fetchone() == (
        BATCH,
        N - 1,
        N - 1,
    )
    assert wh.current_snapshot(con) >= first + N
    con.close()
    # ...and every read saw whole batches: never a half-replaced window.
    assert read["reads"] >= 1 and read["bad"] == []
    assert read["batches_seen"] >= 1  # the last read, after the writer finished, saw batch N-1


def test_two_writers_of_one_row_lose_no_update(lake_config, tmp_path):
    """Both processes read, delete and re-insert the same counter row: on a SQLite catalog every
    overlap is a write-write conflict, and only redoing the whole transaction keeps every
    increment; on a PostgreSQL catalog the writers take turns."""
    _tables(lake_config)
    writers = start_together("counter", lake_config, ["x", "y"], tmp_path, n=N, hold=0.05)
    done = [finish(w) for w in writers]

    assert [d["commits"] for d in done] == [N, N]
    if lake_config.catalog_kind == "postgres":
        # The writers' lock: each transaction begins after the other's committed.
        assert sum(d["attempts"] for d in done) == 2 * N, done
    else:
        assert sum(d["attempts"] for d in done) > 2 * N, done  # conflicts, retried
    con = wh.connect(lake_config, read_only=True)
    assert con.execute("select list(value) from staging.lake_counter").fetchone()[0] == [2 * N]
    con.close()
    assert _log(lake_config) == sorted([(k, i) for k in ("x", "y") for i in range(N)])


def test_two_writers_replacing_their_windows_of_one_table_both_land(lake_config, tmp_path):
    _tables(lake_config)
    stop = tmp_path / "stop"
    reader = start_worker("reader", lake_config, stop=str(stop))
    try:
        writers = start_together("window", lake_config, ["a", "b"], tmp_path, n=N)
        done = [finish(w) for w in writers]
    finally:
        stop.touch()
    read = finish(reader)

    assert [d["commits"] for d in done] == [N, N]
    assert _log(lake_config) == sorted([(k, i) for k in ("a", "b") for i in range(N)])
    con = wh.connect(lake_config, read_only=True)
    assert con.execute(
        "select k, count(*), min(i), max(i) from staging.lake_t group by k order by k"
    ).fetchall() == [("a", BATCH, N - 1, N - 1), ("b", BATCH, N - 1, N - 1)]
    con.close()
    assert read["bad"] == []


def test_two_writers_inserting_a_missing_key_insert_it_once(lake_config, tmp_path):
    """A check-then-insert ("insert the key unless it is there", as raw.manifest and shared
    quarantine rows are written) from two processes at once. DuckLake commits two concurrent
    inserts into one table side by side, so both would insert the key; on a PostgreSQL catalog
    the writers' lock makes the second transaction begin after the first committed, and a
    SQLite catalog refuses the second commit, which is redone."""
    _tables(lake_config)
    writers = start_together("upsert", lake_config, ["x", "y"], tmp_path, shared="k", hold=1.0)
    done = [finish(w) for w in writers]
    assert _log(lake_config) == [("k", 0)]
    if lake_config.catalog_kind == "postgres":
        assert sorted(d["found_missing"] for d in done) == [0, 1], done
        assert sum(d["attempts"] for d in done) == 2, done  # they took turns: nothing redone
