"""The bench's pieces at tiny sizes: what they produce is right (no test here asserts a time)."""

import sys
import zipfile
from pathlib import Path

import pytest

from bench import common, gdelt_data, gdelt_ingest, graph, queries

TINY = {"rows_per_slot": 40, "share": 0.2, "slots": 3}


@pytest.fixture
def tiny_day(tmp_path, monkeypatch):
    monkeypatch.setattr(gdelt_data, "OUT", tmp_path / "out")
    return gdelt_data.ensure_days(1, TINY["rows_per_slot"], TINY["share"], slots=TINY["slots"])[0]


def _members(day) -> list[tuple[str, list[str]]]:
    out = []
    for f in day.files:
        with zipfile.ZipFile(day.folder / f["name"]) as zf:
            (member,) = zf.namelist()
            text = zf.read(member).decode("utf-8")
        out.append((member, text.split("\n")[:-1]))
    return out


def test_generated_day_is_gkg_shaped_marked_and_counted(tiny_day):
    names = [f["name"] for f in tiny_day.files]
    assert names == [
        "20231005000000.gkg.csv.zip",
        "20231005001500.gkg.csv.zip",
        "20231005003000.gkg.csv.zip",
    ]
    tumangang = 0
    for (member, lines), f in zip(_members(tiny_day), tiny_day.files, strict=True):
        assert member == f["name"].removesuffix(".zip")
        assert len(lines) == f["rows"] == TINY["rows_per_slot"]
        slot = member[:14]
        for line in lines:
            fields = line.split("\t")
            assert len(fields) == 27
            assert fields[1] == slot and fields[0].startswith(slot + "-")
            assert fields[26].startswith("<BORDERWATCH_SYNTHETIC>true</BORDERWATCH_SYNTHETIC>")
            if fields[4].startswith("http"):
                assert ".synthetic.invalid" in fields[4].split("/")[2]
            tumangang += "42.42#130.60" in line or any(
                t in line for t in gdelt_data.TUMANGANG_TITLES
            )
        assert len({line.split("\t")[4] for line in lines}) == len(lines)  # distinct documents
    assert tumangang == tiny_day.total("tumangang_rows") > 0


def test_generation_is_deterministic_and_cached(tiny_day, tmp_path, monkeypatch):
    first = {f["name"]: f["sha256"] for f in tiny_day.files}
    again = gdelt_data.ensure_days(1, TINY["rows_per_slot"], TINY["share"], slots=TINY["slots"])[0]
    assert again.folder == tiny_day.folder  # served from the cache
    monkeypatch.setattr(gdelt_data, "OUT", tmp_path / "elsewhere")
    fresh = gdelt_data.ensure_days(1, TINY["rows_per_slot"], TINY["share"], slots=TINY["slots"])[0]
    assert fresh.folder != tiny_day.folder
    assert {f["name"]: f["sha256"] for f in fresh.files} == first


def test_synthetic_templates_have_gkg_shape(monkeypatch, tmp_path):
    monkeypatch.setattr(gdelt_data, "REAL_GKG", tmp_path / "absent.csv")
    rows, kind = gdelt_data.template_rows()
    assert kind == "synthetic" and rows
    assert all(r.count(b"\t") == 26 for r in rows)


def test_the_three_workloads_agree_on_a_tiny_day(tiny_day, tmp_path):
    expected = tiny_day.total("tumangang_rows")
    total = tiny_day.total("rows")
    ingest = gdelt_ingest.run_ingest([tiny_day.folder], tmp_path / "lake")
    assert ingest["rows_read"] == total
    assert ingest["rows_loaded"] == ingest["tumangang_articles"] == expected
    assert ingest["rows_quarantined"] == 0
    assert ingest["rows_loaded"] + ingest["rows_filtered"] == total

    gdelt_ingest.ensure_unzipped(tiny_day.folder)
    floor = gdelt_ingest.run_floor([tiny_day.folder], workers=1)
    assert floor["rows_counted"] == floor["newlines"] == total
    assert floor["inflated_bytes"] == tiny_day.total("unzipped_bytes")

    plain = gdelt_ingest.run_pandas([tiny_day.folder], tmp_path)
    assert plain["rows_read"] == total
    assert plain["rows_loaded"] == expected


def test_run_measured_reports_the_child_and_its_result(tmp_path):
    code = (
        "import os, json; from pathlib import Path; block = bytearray(80 * 2**20); "
        "block[::4096] = b'x' * len(block[::4096]); "
        "Path(os.environ['BENCH_RESULT']).write_text(json.dumps({'ok': len(block)}))"
    )
    m = common.run_measured([sys.executable, "-c", code])
    assert m.returncode == 0
    assert m.result == {"ok": 80 * 2**20}
    assert m.peak_rss_mb >= 80
    assert m.wall_s > 0 and m.cpu_s > 0
    failed = common.run_measured([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert failed.returncode == 3 and failed.result == {}


def test_table_renders_every_row_and_column():
    rows = [
        common.Row(
            "s",
            "a",
            wall_s=1.5,
            cpu_s=0.25,
            peak_rss_mb=10,
            rows_per_s=2e5,
            mb_per_s=12,
            ratio="1.00",
            detail="d",
        ),
        common.Row("s", "b", detail="unavailable: reason"),
    ]
    lines = common.render_markdown(rows).splitlines()
    assert len(lines) == 4
    assert all(line.count("|") == len(common.COLUMNS) + 1 for line in lines)
    assert "1.50 s" in lines[2] and "250.0 ms" in lines[2] and "200k" in lines[2]
    assert lines[3].rstrip().endswith("unavailable: reason |")


def test_readme_examples_give_typed_query_parameters():
    params = queries.readme_params()
    assert set(params) <= {p.name for p in queries.QUERIES.glob("*.sql")}
    assert params["facility_history.sql"] == {"facility_id": "tumangang", "metric": "railcars"}
    assert params["scenes_near_observation.sql"]["window_days"] == 7


def test_queries_time_each_file_on_a_warehouse(tmp_path, monkeypatch):
    import duckdb

    sql = tmp_path / "queries"
    sql.mkdir()
    (sql / "one.sql").write_text("select * from t where x >= $x_min")
    (sql / "broken.sql").write_text("select * from missing_table")
    readme = tmp_path / "README.md"
    readme.write_text("uv run borderwatch query sql/queries/one.sql --param x_min=2\n")
    home = tmp_path / "home"
    home.mkdir()
    con = duckdb.connect(str(home / "borderwatch.duckdb"))
    con.execute("create table t as select range as x from range(5)")
    con.close()
    monkeypatch.setattr(queries, "QUERIES", sql)
    parse = queries.readme_params
    monkeypatch.setattr(queries, "readme_params", lambda: parse(readme))
    rows = {r.case: r for r in queries.rows_for(home, repeats=3)}
    assert rows["one.sql"].detail.startswith("rows 3; x_min=2")
    assert rows["one.sql"].wall_s is not None
    assert rows["broken.sql"].detail.startswith("failed:")


def test_graph_section_degrades_to_one_unavailable_row(monkeypatch, tmp_path):
    monkeypatch.setattr(graph, "RUN_ROOT", tmp_path)
    monkeypatch.setattr(
        graph, "command", lambda case: [sys.executable, "-c", "raise SystemExit('CLI is broken')"]
    )
    rows = graph.run_section(["1 day", "30 days"], {"1 day": 1, "30 days": 1}, log=lambda m: None)
    assert len(rows) == 1
    assert rows[0].detail == "unavailable: CLI is broken"


def _state_after(mode: str, home: Path, monkeypatch, batch_size: int) -> dict:
    from bench import eventlog_backfill

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(batch_size))
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    return eventlog_backfill.child(mode, 25, home)


def test_batching_event_log_keeps_what_the_ui_reads(tmp_path, monkeypatch):
    from orchestration.kit import eventlog

    batches = []
    original = eventlog.BatchingSqliteEventLogStorage._store_asset_batch

    def counting(self, events):
        batches.append(len(events))
        return original(self, events)

    monkeypatch.setattr(eventlog.BatchingSqliteEventLogStorage, "_store_asset_batch", counting)
    default = _state_after("default", tmp_path / "default", monkeypatch, 0)
    batching = _state_after("batching+batch", tmp_path / "batching", monkeypatch, 10)
    assert batching["storage"] == "BatchingSqliteEventLogStorage"
    assert max(batches) == 10  # batches really went through the one-transaction path
    # Dagster's own storage plans the range run's (unpartitioned) check once per day and never
    # resolves those rows; the batching storage plans it once, and the evaluation resolves it.
    assert default["state"]["check_executions"] == [["PLANNED", 25, 25], ["SUCCEEDED", 1, 0]]
    assert batching["state"]["check_executions"] == [["SUCCEEDED", 1, 0]]
    state = batching["state"]
    assert {k: v for k, v in state.items() if k != "check_executions"} == {
        k: v for k, v in default["state"].items() if k != "check_executions"
    }
    assert state["all_materialized"] and state["status_cache_partitions"] == 25
    assert state["materialization_records"] == state["index_materializations"] == 25
    assert state["asset_record_points_at_latest"] and state["asset_record_run_id_ok"]
    assert state["latest_partition"] == "2019-01-25"


def test_batching_storage_config_plumbing(tmp_path, monkeypatch):
    from dagster import DagsterInstance

    from orchestration.kit.eventlog import BatchingSqliteEventLogStorage

    (tmp_path / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nevent_log_storage:\n  module: orchestration.kit.eventlog\n"
        "  class: BatchingSqliteEventLogStorage\n  config: {}\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, BatchingSqliteEventLogStorage)
        assert storage.inst_data.class_name == "BatchingSqliteEventLogStorage"
        assert Path(storage._base_dir) == tmp_path / "history" / "runs"


def _page_size(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def test_batching_storage_creates_files_with_8k_pages_and_keeps_existing_ones(
    tmp_path, monkeypatch
):
    """Files the storage creates (index, run shards) get 8 KiB pages; an instance's existing
    files keep their 4 KiB pages and their events."""
    from bench import eventlog_backfill

    fresh = _state_after("batching+batch", tmp_path / "fresh", monkeypatch, 10)
    runs = tmp_path / "fresh" / "history" / "runs"
    files = sorted(runs.glob("*.db"))
    assert len(files) >= 2 and {_page_size(f) for f in files} == {8192}
    assert fresh["state"]["materialization_records"] == 25

    # An instance made by Dagster's own storage (4 KiB pages), then run with this one.
    old = tmp_path / "old"
    eventlog_backfill.child("default", 3, old)
    index = old / "history" / "runs" / "index.db"
    assert _page_size(index) == 4096
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "10")
    later = eventlog_backfill.child("batching+batch", 25, old)
    assert _page_size(index) == 4096
    new_shards = [f for f in (old / "history" / "runs").glob("*.db") if f.name != "index.db"]
    assert {_page_size(f) for f in new_shards} == {4096, 8192}  # the old run's, the new run's
    assert later["state"]["all_materialized"]


def test_create_with_page_size_leaves_files_with_content_alone(tmp_path):
    import sqlite3

    from orchestration.kit.eventlog import create_with_page_size

    fresh = tmp_path / "fresh.db"
    assert create_with_page_size(str(fresh), 16384) and _page_size(fresh) == 16384
    used = tmp_path / "used.db"
    conn = sqlite3.connect(used)
    conn.execute("create table t (x)")
    conn.execute("insert into t values (1)")
    conn.commit()
    conn.close()
    assert not create_with_page_size(str(used), 16384)
    assert _page_size(used) == 4096
    conn = sqlite3.connect(used)
    assert conn.execute("select x from t").fetchall() == [(1,)]
    conn.close()


def test_create_with_page_size_gives_way_to_a_process_holding_the_file(tmp_path):
    import sqlite3

    from orchestration.kit.eventlog import create_with_page_size

    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process creating the file, mid-transaction
    try:
        assert create_with_page_size(str(path), 16384) is False
    finally:
        holder.execute("ROLLBACK")
        holder.close()
