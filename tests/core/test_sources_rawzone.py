"""Source stores (local folder, S3 through boto3 on moto), the raw zone and partition writes."""

from datetime import date

import boto3
import duckdb
import polars as pl
import pytest

from assets.core.parsing import ParseResult, quarantine_frame
from assets.core.rawzone import RawZone, fetch_to_raw, raw_files_from_manifest
from assets.core.sources import LocalSourceStore, S3SourceStore, SourceError, open_source_store
from assets.core.warehouse import WarehouseLockedError, connect, ensure_tables, load_partition


def test_local_store_lists_recursively_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "reported" / "b").mkdir(parents=True)
    (tmp_path / "reported" / "z.csv").write_text("z")
    (tmp_path / "reported" / "b" / "a.csv").write_text("a")
    (tmp_path / "reported" / ".hidden").write_text("h")
    store = LocalSourceStore(tmp_path)
    assert [o.key for o in store.list("reported/")] == ["reported/b/a.csv", "reported/z.csv"]
    assert store.read("reported/z.csv") == b"z"
    assert list(LocalSourceStore(tmp_path / "missing").list()) == []


def test_local_read_error_names_the_file(tmp_path):
    with pytest.raises(SourceError, match="nope.csv"):
        LocalSourceStore(tmp_path).read("nope.csv")


@pytest.fixture
def moto_s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    client = boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="test",
        aws_secret_access_key="test", region_name="us-east-1",
    )
    client.create_bucket(Bucket="drops")
    yield client
    server.stop()


def test_s3_store_paginates_and_strips_the_prefix(moto_s3):
    for i in range(1005):
        moto_s3.put_object(Bucket="drops", Key=f"feed/reported/{i:04d}.csv", Body=b"x")
    moto_s3.put_object(Bucket="drops", Key="feed/imagery/a.json", Body=b"{}")
    store = open_source_store("s3://drops/feed")
    assert isinstance(store, S3SourceStore)
    keys = [o.key for o in store.list("reported/")]
    assert len(keys) == 1005 and keys[0] == "reported/0000.csv"
    assert store.read("imagery/a.json") == b"{}"
    assert store.list_common_prefixes("") == ["imagery/", "reported/"]
    with pytest.raises(SourceError, match="s3://drops/feed/missing"):
        store.read("missing")


def test_raw_zone_keeps_bytes_once_and_replays(tmp_path):
    src = tmp_path / "src"
    (src / "reported").mkdir(parents=True)
    (src / "reported" / "a.csv").write_text("one")
    store = LocalSourceStore(src)
    zone = RawZone(tmp_path / "raw")
    con = duckdb.connect()
    files = fetch_to_raw(store, list(store.list("reported/")), zone, con)
    again = fetch_to_raw(store, list(store.list("reported/")), zone, con)
    assert files[0].sha256 == again[0].sha256
    assert con.execute("select count(*) from raw.manifest").fetchone()[0] == 1
    (src / "reported" / "a.csv").write_text("two")  # the file changes upstream
    fetch_to_raw(store, list(store.list("reported/")), zone, con)
    assert con.execute("select count(*) from raw.manifest").fetchone()[0] == 2
    (src / "reported" / "a.csv").unlink()  # and vanishes: the raw zone still has it
    replayed = raw_files_from_manifest(con, zone, "reported/")
    assert len(replayed) == 1 and replayed[0].read() in {b"one", b"two"}
    assert len(list((tmp_path / "raw").rglob("*"))) == 4  # two folders, two files


def _result(uri, days, bad_lines=()):
    rows = pl.DataFrame(
        {"day": days, "v": list(range(len(days)))}, schema={"day": pl.Date, "v": pl.Int64}
    )
    q = quarantine_frame(
        [{"source_uri": uri, "line_number": n, "raw_line": "x", "reason": "bad"} for n in bad_lines]
    )
    return ParseResult(uri, rows, q, rows_read=len(days) + len(bad_lines))


def test_load_partition_is_idempotent_and_audited(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    ensure_tables(con, "staging/load_audit.sql")
    con.execute("create table staging.t (day date, v bigint)")
    con.execute(
        "create schema quarantine; create table quarantine.t (source_uri varchar, sha256 varchar, "
        "line_number bigint, raw_line varchar, reason varchar, primary key (source_uri, sha256, line_number))"
    )
    con.execute("insert into staging.t values ('2020-12-31', 99)")  # outside: must survive
    days = [date(2021, 1, 1), date(2021, 1, 2)]
    for _ in range(2):
        load_partition(
            con,
            "staging.t",
            "day",
            date(2021, 1, 1),
            date(2021, 1, 3),
            [_result("f.csv", days, bad_lines=[7])],
            {"f.csv": "abc"},
        )
    assert con.execute("select count(*) from staging.t").fetchone()[0] == 3
    assert con.execute("select count(*) from quarantine.t").fetchone()[0] == 1
    audit = con.execute(
        "select rows_read, rows_loaded, rows_quarantined from staging.load_audit"
    ).fetchall()
    assert audit == [(3, 2, 1)]


def test_bad_accounting_is_refused(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    result = _result("f.csv", [date(2021, 1, 1)])
    result.rows_read = 5
    with pytest.raises(AssertionError, match="rows_read=5"):
        load_partition(
            con, "staging.t", "day", date(2021, 1, 1), date(2021, 1, 2), [result], {"f.csv": "a"}
        )


def test_locked_warehouse_names_the_holder(tmp_path, lock_holder):
    with lock_holder(tmp_path / "w.duckdb") as pid:
        with pytest.raises(WarehouseLockedError, match=rf"locked by process {pid}"):
            connect(tmp_path / "w.duckdb")


def test_manifest_store_lists_what_was_fetched_relative_to_its_namespace(tmp_path):
    from assets.core.rawzone import ManifestStore

    src = tmp_path / "src"
    (src / "gdelt").mkdir(parents=True)
    (src / "gdelt" / "20231006120000.gkg.csv").write_text("a")
    (src / "feeds.rss").write_text("b")
    store = LocalSourceStore(src)
    zone = RawZone(tmp_path / "raw")
    con = duckdb.connect()
    fetch_to_raw(store, list(store.list()), zone, con, namespace="news")
    replay = ManifestStore(con, zone, "news")
    assert [o.key for o in replay.list()] == ["feeds.rss", "gdelt/20231006120000.gkg.csv"]
    assert [o.key for o in replay.list("gdelt/")] == ["gdelt/20231006120000.gkg.csv"]
    assert replay.read("feeds.rss") == b"b"
    assert next(replay.list("feeds")).uri == str(src / "feeds.rss")
    assert list(ManifestStore(con, zone, "imagery").list()) == []
