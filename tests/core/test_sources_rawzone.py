"""Source stores (local folder, S3 through boto3 on moto), the raw zone and partition writes."""

from datetime import date

import boto3
import duckdb
import polars as pl
import pytest

from assets.core.parsing import ParseResult, quarantine_frame
from assets.core.rawzone import RawZone, fetch_to_raw, raw_files_from_manifest
from assets.core.sources import LocalSourceStore, S3SourceStore, SourceError, open_source_store
from assets.core.warehouse import LakeConfig, connect, ensure_tables, load_partition, transact


def test_local_store_lists_recursively_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "reported" / "b").mkdir(parents=True)
    (tmp_path / "reported" / "z.csv").write_text("z")
    (tmp_path / "reported" / "b" / "a.csv").write_text("a")
    (tmp_path / "reported" / ".hidden").write_text("h")
    store = LocalSourceStore(tmp_path)
    listed = list(store.list("reported/"))
    assert [o.key for o in listed if not o.skip_reason] == ["reported/b/a.csv", "reported/z.csv"]
    # Was: hidden files vanished from the listing. Now listed as skipped, so audited, not read.
    assert [(o.key, o.skip_reason.split(" (")[0]) for o in listed if o.skip_reason] == [
        ("reported/.hidden", "skipped: a hidden file or folder")]
    assert store.read("reported/z.csv") == b"z"
    assert list(LocalSourceStore(tmp_path / "missing").list()) == []


def test_local_store_lists_symlinks_as_skipped_and_never_reads_them(tmp_path):
    """A link in a source folder once copied /etc/passwd into the raw zone."""
    src = tmp_path / "src"
    (src / "reported").mkdir(parents=True)
    (src / "reported" / "ok.csv").write_text("ok")
    (src / "reported" / "passwd.csv").symlink_to("/etc/passwd")
    (src / "reported" / "etc").symlink_to("/etc")
    (tmp_path / "secret.csv").write_text("secret")
    (src / "reported" / "inside.csv").symlink_to(src / "reported" / "ok.csv")
    store = LocalSourceStore(src)
    listed = {o.key: o.skip_reason for o in store.list("reported/")}
    assert listed["reported/ok.csv"] is None
    for key in ("reported/passwd.csv", "reported/etc/", "reported/inside.csv"):
        assert listed[key].startswith("skipped: a symbolic link"), key
    assert not any(k.startswith("reported/etc/") and k != "reported/etc/" for k in listed)
    for key in ("reported/passwd.csv", "reported/etc/passwd", "reported/inside.csv",
                "reported/../../secret.csv", "../secret.csv"):
        with pytest.raises(SourceError, match="refused"):
            store.read(key)
    objects, prefixes = store.list_level("reported/")
    assert prefixes == [] and {o.key for o in objects if o.skip_reason} == {
        "reported/passwd.csv", "reported/etc/", "reported/inside.csv"}


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
    con = connect(LakeConfig.embedded(tmp_path))
    ensure_tables(con, "staging/load_audit.sql")
    con.execute("create table staging.t (day date, v bigint)")
    con.execute(
        "create schema quarantine; create table quarantine.t (source_uri varchar, sha256 varchar, "
        "line_number bigint, raw_line varchar, reason varchar, window_start date, window_end date)"
    )
    con.execute("insert into staging.t values ('2020-12-31', 99)")  # outside: must survive
    days = [date(2021, 1, 1), date(2021, 1, 2)]
    for _ in range(2):
        transact(
            con,
            lambda c: load_partition(
                c,
                "staging.t",
                "day",
                date(2021, 1, 1),
                date(2021, 1, 3),
                [_result("f.csv", days, bad_lines=[7])],
                {"f.csv": "abc"},
            ),
        )
    assert con.execute("select count(*) from staging.t").fetchone()[0] == 3
    assert con.execute("select count(*) from quarantine.t").fetchone()[0] == 1
    audit = con.execute(
        "select rows_read, rows_loaded, rows_quarantined from staging.load_audit"
    ).fetchall()
    assert audit == [(3, 2, 1)]


def test_rerunning_a_window_after_a_fix_replaces_its_quarantine_and_audit(tmp_path):
    con = connect(LakeConfig.embedded(tmp_path))
    ensure_tables(con, "staging/load_audit.sql")
    con.execute("create table staging.t (day date, v bigint)")
    con.execute(
        "create schema quarantine; create table quarantine.t (source_uri varchar, sha256 varchar, "
        "line_number bigint, raw_line varchar, reason varchar, window_start date, window_end date)"
    )
    days = [date(2021, 1, 1), date(2021, 1, 2)]
    window = (date(2021, 1, 1), date(2021, 1, 3))

    def load(result, sha):
        transact(
            con, lambda c: load_partition(c, "staging.t", "day", *window, [result], {"f.csv": sha})
        )

    load(_result("f.csv", days, bad_lines=[7]), "version-1")  # line 7 is bad
    assert con.execute("select count(*) from quarantine.t").fetchone()[0] == 1
    load(_result("f.csv", [*days, date(2021, 1, 2)]), "version-2")  # fixed: line 7 loads now
    assert con.execute("select count(*) from quarantine.t").fetchone()[0] == 0
    audit = con.execute(
        "select sha256, rows_read, rows_loaded, rows_quarantined from staging.load_audit"
    ).fetchall()
    assert audit == [("version-2", 3, 3, 0)]
    # A smaller window inside a bigger one: the bigger run's rows for other days stay.
    load(_result("f.csv", days, bad_lines=[7]), "version-3")
    transact(
        con,
        lambda c: load_partition(
            c, "staging.t", "day", date(2021, 1, 1), date(2021, 1, 2),
            [_result("f.csv", days[:1])], {"f.csv": "version-3"},
        ),
    )  # fmt: skip
    rows = con.execute("select window_start, window_end from quarantine.t").fetchall()
    assert rows == [(date(2021, 1, 1), date(2021, 1, 3))]
    assert con.execute("select count(*) from staging.load_audit").fetchone()[0] == 2


def test_bad_accounting_is_refused(tmp_path):
    con = connect(LakeConfig.embedded(tmp_path))
    result = _result("f.csv", [date(2021, 1, 1)])
    result.rows_read = 5
    with pytest.raises(AssertionError, match="rows_read=5"):
        load_partition(
            con, "staging.t", "day", date(2021, 1, 1), date(2021, 1, 2), [result], {"f.csv": "a"}
        )


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
