"""The warehouse on a DuckLake: the project's DDL, partition writes in transactions, conflicts,
time travel, export, maintenance and orphan files, on the embedded lake and (integration) on a
PostgreSQL catalog with S3 data."""

from __future__ import annotations

import hashlib
import signal
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.core import lake as lake_module
from assets.core import warehouse as wh
from assets.core.lake import LakeConfig, is_conflict
from assets.core.parsing import ParseResult, quarantine_frame
from assets.core.rawzone import MANIFEST_DDL, RawZone, record_raw
from tests.core.lake_helpers import finish, start_worker

DDL = sorted(
    f"{folder}/{p.name}"
    for folder in ("staging", "quarantine", "ops")
    for p in (wh.SQL_DIR / folder).glob("*.sql")
)


def _scenes(day: date, n: int) -> pl.DataFrame:
    """Rows for staging.stg_imagery__scenes, bbox as the parser types it (a fixed-size array)."""
    at = datetime(day.year, day.month, day.day, 2, 30, tzinfo=UTC)
    return pl.DataFrame(
        {
            "scene_id": [f"S2_{day:%Y%m%d}_{i}" for i in range(n)],
            "collection": ["sentinel-2-l2a"] * n,
            "acquired_at": [at] * n,
            "acquired_on": [day] * n,
            "cloud_cover": [float(i) for i in range(n)],
            "footprint_wkt": ["POLYGON ((0 0, 1 0, 1 1, 0 0))"] * n,
            "bbox": [[0.0, 0.0, 1.0, 1.0]] * n,
            "source_uri": ["s3://drops/a.json"] * n,
            "synthetic": [True] * n,
        },
        schema_overrides={"bbox": pl.Array(pl.Float64, 4), "acquired_at": pl.Datetime("us", "UTC")},
    )


def _result(uri: str, rows: pl.DataFrame, bad_lines=()) -> ParseResult:
    q = quarantine_frame(
        [
            {"source_uri": uri, "line_number": n, "raw_line": "{}", "reason": "no geometry"}
            for n in bad_lines
        ]
    )
    return ParseResult(uri, rows, q, rows_read=rows.height + len(bad_lines))


def _load(con, day: date, n: int, bad_lines=(7,)):
    uri = "s3://drops/a.json"
    return wh.load_partition(
        con,
        "staging.stg_imagery__scenes",
        "acquired_on",
        day,
        day + timedelta(days=1),
        [_result(uri, _scenes(day, n), bad_lines)],
        {uri: "ab" * 32},
        run_id="run-1",
    )


def _count(con, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


@pytest.fixture
def lake(lake_config):
    con = wh.connect(lake_config)
    wh.ensure_tables(con, *DDL)
    con.execute(MANIFEST_DDL)
    con.execute("create schema if not exists curated")
    yield con
    con.close()


# --- the project's tables on the lake --------------------------------------------------------


def test_project_ddl_loads_reads_and_reloads_idempotently(lake, lake_config, tmp_path):
    before = wh.current_snapshot(lake)
    wh.ensure_tables(lake, *DDL)  # every run does this: an existing table adds no snapshot
    assert wh.current_snapshot(lake) == before
    assert wh.table_columns(lake, "staging.load_audit")[:2] == ["table_name", "window_start"]
    assert "bbox" in wh.table_columns(lake, "staging.stg_imagery__scenes")

    day = date(2023, 10, 5)
    for _ in range(2):  # re-running a window replaces it: no duplicates anywhere
        summary = wh.transact(lake, lambda c: _load(c, day, 3))
    assert summary.rows_loaded == 3 and summary.rows_deleted == 3
    assert _count(lake, "select count(*) from staging.stg_imagery__scenes") == 3
    assert _count(lake, "select count(*) from quarantine.stg_imagery__scenes") == 1
    assert lake.execute(
        "select rows_read, rows_loaded, rows_quarantined from staging.load_audit"
    ).fetchall() == [(4, 3, 1)]
    bbox, at = lake.execute(
        "select bbox, acquired_at from staging.stg_imagery__scenes order by scene_id limit 1"
    ).fetchone()
    assert bbox == [0.0, 0.0, 1.0, 1.0]
    assert at == datetime(2023, 10, 5, 2, 30, tzinfo=UTC)

    # A second reader process-alike (another connection) sees the committed rows.
    reader = wh.connect(lake_config, read_only=True)
    assert _count(reader, "select count(*) from staging.stg_imagery__scenes") == 3
    with pytest.raises(duckdb.Error, match="read-only"):
        reader.execute("delete from staging.stg_imagery__scenes")
    reader.close()

    # raw.manifest keeps one row per (source_uri, sha256) without a primary key.
    zone = RawZone(tmp_path / "raw")
    for data in (b"one", b"one", b"two"):
        wh.transact(
            lake, lambda c, d=data: record_raw(c, zone, "s3://drops/a.csv", "reported/a.csv", d)
        )
    assert _count(lake, "select count(*) from raw.manifest") == 2


def test_a_failed_validation_rolls_the_whole_write_back(lake):
    day = date(2023, 10, 5)
    wh.transact(lake, lambda c: _load(c, day, 2))
    before = wh.current_snapshot(lake)
    calls = []

    def write_then_validate(c):
        calls.append(1)
        _load(c, day, 5)
        assert _count(c, "select count(*) from staging.stg_imagery__scenes") == 5  # own writes
        raise ValueError("expectation failed: cloud_cover out of range")

    with pytest.raises(ValueError, match="expectation failed"):
        wh.transact(lake, write_then_validate)
    assert calls == [1]  # not a conflict: never retried
    assert wh.current_snapshot(lake) == before
    assert _count(lake, "select count(*) from staging.stg_imagery__scenes") == 2
    assert _count(lake, "select count(*) from staging.load_audit") == 1


def test_audit_rule_is_enforced_before_insert(lake):
    """load_audit's CHECK is gone from the DDL (DuckLake has none): Python refuses the row."""
    day = date(2023, 10, 5)
    broken = _result("s3://drops/a.json", _scenes(day, 2))
    broken.rows_read = 5
    with pytest.raises(AssertionError, match="rows_read=5"):
        wh.transact(
            lake,
            lambda c: wh.load_partition(
                c,
                "staging.stg_imagery__scenes",
                "acquired_on",
                day,
                day + timedelta(days=1),
                [broken],
                {broken.source_uri: "0" * 64},
            ),
        )
    with pytest.raises(AssertionError, match="accounting broken"):
        wh.check_audit(
            pl.DataFrame(
                {
                    "source_uri": ["f"],
                    "rows_read": [3],
                    "rows_loaded": [1],
                    "rows_filtered": [1],
                    "rows_quarantined": [0],
                }
            )
        )
    assert _count(lake, "select count(*) from staging.load_audit") == 0
    assert "rows_read = rows_loaded + rows_filtered + rows_quarantined" in wh.sql_text(wh.AUDIT_DDL)


def test_curated_tables_are_rebuilt_with_create_or_replace(lake):
    rows = pl.DataFrame(
        {
            "scene_id": ["a", "b", "c"],
            "collection": ["s2"] * 3,
            "facility_id": ["tumangang"] * 3,
            "acquired_on": [date(2023, 10, 5)] * 3,
            "acquired_at": [datetime(2023, 10, 5, 2, tzinfo=UTC)] * 3,
            "cloud_cover": [5.0, 30.0, None],
            "overlap_fraction": [1.0] * 3,
        }
    )
    wh.transact(lake, lambda c: wh._insert_frame(c, "staging.stg_imagery__scene_facilities", rows))
    results = []
    for limit in (20, 50):
        wh.transact(
            lake,
            lambda c, limit=limit: wh.run_sql_file(
                c, "curated/imagery_coverage_daily.sql", {"clear_cloud_max": limit}
            ),
        )
        results.append(
            lake.execute(
                "select n_scenes, n_clear, scene_ids from curated.imagery_coverage_daily"
            ).fetchall()
        )
    assert results == [[(3, 1, ["a", "b", "c"])], [(3, 2, ["a", "b", "c"])]]


# --- transactions and conflicts ---------------------------------------------------------------


def _counter_table(con) -> None:
    con.execute("create table staging.counter (value bigint not null)")
    con.execute("insert into staging.counter values (0)")


def _increment(c) -> None:
    (value,) = c.execute("select value from staging.counter").fetchone()
    c.execute("delete from staging.counter")
    c.execute("insert into staging.counter values ($v)", {"v": value + 1})


def test_a_write_write_conflict_is_reported_then_retried_whole(lake, lake_config):
    _counter_table(lake)
    other = wh.connect(lake_config)

    # Unretried, the second committer of two overlapping updates of one row fails...
    lake.execute("begin transaction")
    _increment(lake)
    wh.transact(other, _increment)
    with pytest.raises(duckdb.Error) as caught:
        lake.execute("commit")
    assert is_conflict(caught.value), str(caught.value)
    lake_module._rollback(lake)
    assert _count(lake, "select value from staging.counter") == 1

    # ...and transact() redoes the whole transaction, reading the other writer's value.
    attempts = []

    def racing(c):
        attempts.append(1)
        _increment(c)
        if len(attempts) == 1:
            wh.transact(other, _increment)  # another writer commits in between

    wh.transact(lake, racing)
    assert len(attempts) == 2
    assert _count(lake, "select value from staging.counter") == 3  # no lost update
    other.close()


def test_transact_retries_transient_errors_but_nothing_else(lake):
    _counter_table(lake)
    calls = []

    def flaky(c):
        calls.append(1)
        _increment(c)
        if len(calls) == 1:
            raise duckdb.IOException(
                "Failed to query most recent snapshot for DuckLake: database is locked"
            )

    wh.transact(lake, flaky)
    assert len(calls) == 2 and _count(lake, "select value from staging.counter") == 1

    calls.clear()

    def wrong(c):
        calls.append(1)
        _increment(c)
        c.execute("select * from staging.no_such_table")

    with pytest.raises(duckdb.CatalogException):
        wh.transact(lake, wrong)
    assert len(calls) == 1 and _count(lake, "select value from staging.counter") == 1


# --- time travel -----------------------------------------------------------------------------


def test_as_of_shows_the_older_state(lake, lake_config):
    lake.execute("create table curated.t (v integer)")
    wh.transact(lake, lambda c: c.execute("insert into curated.t select range from range(3)"))
    first = wh.current_snapshot(lake)
    first_time = wh.snapshots(lake).filter(pl.col("snapshot_id") == first)["snapshot_time"].item()
    wh.transact(lake, lambda c: c.execute("delete from curated.t where v = 0"))
    assert wh.current_snapshot(lake) > first

    for as_of in (first, str(first), first_time, first_time.isoformat()):
        old = wh.connect(lake_config, as_of=as_of)
        assert wh.current_snapshot(old) == first
        assert old.execute("select list(v order by v) from curated.t").fetchone()[0] == [0, 1, 2]
        with pytest.raises(duckdb.Error, match="read-only"):
            old.execute("insert into curated.t values (9)")
        old.close()
    assert lake.execute("select list(v order by v) from curated.t").fetchone()[0] == [1, 2]


# --- export, maintenance, orphans ------------------------------------------------------------


def _fill(con) -> None:
    """Several tables, types and small writes (inlined rows, deletes, many small files)."""
    for i in range(4):
        wh.transact(con, lambda c, i=i: _load(c, date(2023, 10, 1 + i), 3 + i))
    wh.transact(con, lambda c: _load(c, date(2023, 10, 2), 1))  # replace one day
    for n in (20000, 30000):  # a rebuilt table leaves the old one's file to expire
        con.execute(
            "create or replace table curated.wide as select range as id, "
            "[range::varchar, 'x'] as tags, {'a': range, 'b': null} as s, "
            "timestamptz '2024-01-01 00:00:00+00' + to_days(range::int) as seen_at "
            "from range($n)",
            {"n": n},
        )
    wh.transact(con, lambda c: c.execute("delete from curated.wide where id % 7 = 0"))


def _manifest(path: Path) -> dict[str, str]:
    return {
        name: sha
        for sha, name in (
            line.split("  ") for line in (path / "MANIFEST.sha256").read_text().splitlines()
        )
    }


def test_export_is_byte_stable_and_self_contained(lake, lake_config, tmp_path):
    _fill(lake)
    first = wh.export_lake(lake_config, tmp_path / "a")
    second = wh.export_lake(lake_config, tmp_path / "b")
    manifest = _manifest(first)
    assert manifest == _manifest(second)
    assert "staging/stg_imagery__scenes.parquet" in manifest and "curated/wide.parquet" in manifest
    for name, sha in manifest.items():  # the manifest tells the truth about both exports
        assert hashlib.sha256((first / name).read_bytes()).hexdigest() == sha
        assert (second / name).read_bytes() == (first / name).read_bytes()

    single = duckdb.connect(str(first / "borderwatch.duckdb"), read_only=True)
    single.execute("set timezone = 'UTC'")  # as the lake connection: Arrow names the zone
    tables = single.execute(
        "select table_schema || '.' || table_name from information_schema.tables order by 1"
    ).fetchall()
    assert [t for (t,) in tables] == sorted(
        n.removesuffix(".parquet").replace("/", ".") for n in manifest
    )
    for (table,) in tables:
        exported = single.execute(f"select * from {table} order by all").pl()
        assert exported.equals(lake.execute(f"select * from {table} order by all").pl()), table
    types = dict(
        single.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = 'stg_imagery__scenes'"
        ).fetchall()
    )
    assert types["acquired_at"] == "TIMESTAMP WITH TIME ZONE" and types["bbox"] == "DOUBLE[]"
    single.close()

    # The same rows after maintenance (merged, rewritten files) export to the same bytes.
    wh.maintain(lake, older_than=timedelta(0))
    third = wh.export_lake(lake_config, tmp_path / "a")  # replaces the earlier export
    assert _manifest(third) == manifest
    with pytest.raises(FileExistsError):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep me")
        wh.export_lake(lake_config, tmp_path / "mine")


def test_export_as_of_an_older_snapshot(lake, lake_config, tmp_path):
    wh.transact(lake, lambda c: _load(c, date(2023, 10, 1), 2))
    old = wh.current_snapshot(lake)
    wh.transact(lake, lambda c: _load(c, date(2023, 10, 2), 3))
    out = wh.export_lake(lake_config, tmp_path / "old", as_of=old)
    rows = duckdb.sql(
        "select count(*) from read_parquet($p)",
        params={"p": str(out / "staging" / "stg_imagery__scenes.parquet")},
    ).fetchone()[0]
    assert rows == 2


def test_maintenance_keeps_answers_and_leaves_no_files_behind(lake, lake_config):
    _fill(lake)
    answers = lambda: (  # noqa: E731
        lake.execute("select count(*), sum(id), max(seen_at) from curated.wide").fetchone(),
        lake.execute(
            "select acquired_on, count(*) from staging.stg_imagery__scenes group by all order by all"
        ).fetchall(),
    )
    before = answers()
    assert wh.orphan_files(lake_config) == []
    summary = wh.maintain(lake, older_than=timedelta(0))
    assert summary["snapshots_expired"] > 10 and summary["files_deleted"] > 0
    assert answers() == before
    assert len(wh.snapshots(lake)) == 1  # only the latest is kept
    assert wh.orphan_files(lake_config) == []


def test_a_killed_writer_leaves_orphans_that_maintenance_removes(lake, lake_config):
    lake.execute("create table staging.lake_t (k varchar, i integer, v bigint)")
    lake.execute("create table staging.lake_log (k varchar, i integer)")
    hang = start_worker("hang", lake_config, rows=20000)
    try:
        assert '"inserted"' in hang.stdout.readline()  # its Parquet file is written, not committed
    finally:
        hang.send_signal(signal.SIGKILL)
        hang.communicate(timeout=60)
    orphans = wh.orphan_files(lake_config)
    assert orphans and all(o.endswith(".parquet") for o in orphans)
    # DuckLake's own search agrees with ours.
    found = lake.execute(
        "select path from ducklake_delete_orphaned_files('lake', dry_run => true, cleanup_all => true)"
    ).fetchall()
    assert sorted(p for (p,) in found) == orphans

    # Re-run: the work lands; maintenance removes the dead run's files.
    assert finish(start_worker("window", lake_config, key="rerun", n=2))["commits"] == 2
    wh.maintain(lake, older_than=timedelta(0))
    assert wh.orphan_files(lake_config) == []
    assert lake.execute("select k, count(*) from staging.lake_t group by k").fetchall() == [
        ("rerun", 250)
    ]


# --- configuration ---------------------------------------------------------------------------


def test_config_never_shows_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    config = LakeConfig(
        "postgres:dbname=lake host=127.0.0.1 port=9 user=bw password=hunter2-pass", "s3://lake/x"
    )
    for text in (repr(config), config.describe(), str(config)):
        assert "hunter2-pass" not in text and "very-secret-value" not in text
        assert "AKIAEXAMPLEKEY" not in text and "password=***" in text
    # Nothing listens on port 9: the error names the catalog, without the password.
    with pytest.raises(duckdb.Error) as caught:
        wh.connect(config)
    assert "hunter2-pass" not in str(caught.value) and caught.value.__context__ is None
    assert "127.0.0.1" in str(caught.value)

    embedded = LakeConfig.embedded(tmp_path / "home")
    assert embedded.catalog == f"sqlite:{tmp_path / 'home' / 'lake' / 'catalog.sqlite'}"
    assert embedded.data_path == f"{tmp_path / 'home' / 'lake' / 'data'}/"
    assert LakeConfig.from_env(tmp_path / "home", {}) == embedded
    with pytest.raises(ValueError, match="catalog"):
        LakeConfig("mysql:db", "/x")
    with pytest.raises(ValueError, match="absolute"):
        LakeConfig("sqlite:relative.sqlite", "/x")


def test_a_missing_lake_read_only_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="borderwatch demo"):
        wh.connect(LakeConfig.embedded(tmp_path / "nowhere"), read_only=True)
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(TypeError, match="LakeConfig"):
        wh.connect(tmp_path / "borderwatch.duckdb")
