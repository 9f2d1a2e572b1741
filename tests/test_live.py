"""Running it live: the GDELT follower, the drop sensors (folder and SeaweedFS S3), the run-failure
webhook, the news step's streamed GDELT path, alerts in chat formats, and the daemon end to end.

Sensors are evaluated with dg.build_sensor_context against the real definitions and real local
servers (GdeltServer, SeaweedFS, a webhook receiver); the slow test runs `dagster dev` and lets
its daemon do everything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from assets.imagery.drops import days_touched as imagery_days
from assets.news.drops import feed_days_touched, gdelt_days_touched, new_slot_window, window_days
from assets.reported.drops import days_touched as reported_days
from orchestration.kit.jobs import RANGE_END_TAG, RANGE_START_TAG
from orchestration.kit.resource import Borderwatch
from orchestration.kit.sensors import day_ranges, partition_days, root_cause
from tests.servers import GdeltServer, WebhookReceiver

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
PUBLISHER_FIXTURES = REPO / "tests" / "fixtures" / "publishers"
SLOT = timedelta(minutes=15)
HEADER = "facility_id,observed_on,metric,value,source,source_url,method,synthetic\n"


def _csv_row(day: str, value: int, facility: str = "tumangang") -> str:
    return (
        f"{facility},{day},railcars,{value},borderwatch live test,"
        "https://example.invalid/live-test,satellite imagery hand count,true\n"
    )


def _keys(*names: str) -> set[dg.AssetKey]:
    return {dg.AssetKey.from_user_string(n) for n in names}


# Everything downstream of each step, as the README's graph has it.
REPORTED_RUN = _keys(
    "stg_reported__observations",
    "quarantine/stg_reported__observations",
    "staging/load_audit",
    "raw/manifest",
    "observations",
    "activity_baselines",
    "crossing_indicators_weekly",
    "evidence",
    "alerts",
    "alert_notifications",
    "crossing_report",
)
NEWS_RUN = _keys(
    "stg_news__articles",
    "stg_news__article_facilities",
    "stg_news__events",
    "stg_news__mentions",
    "gdelt_slot_gaps",
    "quarantine/stg_news__articles",
    "quarantine/stg_news__events",
    "quarantine/stg_news__mentions",
    "staging/load_audit",
    "raw/manifest",
    "news_attention_daily",
    "crossing_indicators_weekly",
    "evidence",
    "alerts",
    "alert_notifications",
    "crossing_report",
)


@pytest.fixture(scope="module")
def definitions():
    from orchestration.definitions import defs

    return defs


def _sensor(definitions, name: str):
    return next(s for s in definitions.sensors if s.name == name)


def _evaluate(definitions, name: str, resource: Borderwatch, cursor: str | None = None):
    """One evaluation of sensor `name`, as the daemon does it: (run requests, new cursor, skip)."""
    sensor = _sensor(definitions, name)
    with (
        dg.instance_for_test() as instance,
        # The resource has a per-run lifecycle: the context sets it up and tears it down.
        dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            repository_def=definitions.get_repository_def(),
            resources={"borderwatch": resource},
        ) as context,
    ):
        data = sensor.evaluate_tick(context)
    skip = data.skip_message
    return list(data.run_requests or []), data.cursor, skip


def _range(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


# ---------------------------------------------------------------------------------------------
# Pure parts: which days a file touches, which slots are new, how days become runs


def test_reported_days_touched_are_the_observed_on_days():
    data = (HEADER + _csv_row("2023-10-05", 40) + _csv_row("2023-10-05", 41, "khasan")).encode()
    assert reported_days("reported/new.csv", data) == {date(2023, 10, 5)}
    # Bad dates name no day; a quoted note spanning lines does not confuse the columns.
    messy = (
        "\ufeff" + HEADER.replace(",synthetic", ",notes")
        + _csv_row("2023-13-01", 1).replace(",true", ',"two\nlines"')
        + _csv_row("2023-10-07", 2).replace(",true", ",ok")
        + _csv_row("not a date", 3)
    ).encode()  # fmt: skip
    assert reported_days("reported/messy.CSV", messy) == {date(2023, 10, 7)}
    assert reported_days("reported/readme.txt", data) == set()
    assert reported_days("reported/no_date.csv", b"facility_id,value\nx,1\n") == set()
    utf16 = (HEADER + _csv_row("2023-10-08", 5)).encode("utf-16")
    assert reported_days("reported/utf16.csv", utf16) == {date(2023, 10, 8)}


# The days of each publisher fixture's rows that a run loads or quarantines (see
# tests/reported/test_formats.py for what happens to each record).
PUBLISHER_DAYS = {
    # a record dated 2023.13 names no day, Japan is not in the lookup, ".." is filtered
    "customs_dprk_monthly_example/customs_synthetic_2023.csv": {
        date(2023, 8, 31), date(2023, 9, 30), date(2023, 10, 31), date(2023, 11, 30),
        date(2024, 1, 31),
    },
    # "5 October" (no year) and the unlisted type "parade" name no day; the unknown facility
    # and the event without a URL are quarantined on theirs
    "analyst_events_example/events_synthetic.csv": {
        date(2022, 12, 31), date(2023, 10, 5), date(2023, 10, 8), date(2023, 10, 9),
    },
    # monthly periods end on the month's last day, the annual 2022 figure on 2022-12-31
    "un_comtrade_dprk/comtrade_synthetic_202309.json": {
        date(2022, 12, 31), date(2023, 9, 30), date(2023, 10, 31),
    },
}  # fmt: skip


def test_reported_days_touched_of_publisher_files():
    from assets.reported.assets import PUBLISHERS_DIR
    from assets.reported.drops import current_publishers, is_reported_drop

    publishers = current_publishers(PUBLISHERS_DIR)
    for name, expected in PUBLISHER_DAYS.items():
        data = (PUBLISHER_FIXTURES / name).read_bytes()
        assert is_reported_drop(f"reported/{name}", publishers), name
        assert reported_days(f"reported/{name}", data, publishers) == expected, name
        # Without the mappings a publisher's file is a plain CSV (no observed_on) or ignored.
        assert reported_days(f"reported/{name}", data) == set(), name
    # A file its publisher cannot read names no day, nor does one two mappings claim.
    comtrade = "reported/un_comtrade_dprk/broken.json"
    assert reported_days(comtrade, b"{not json", publishers) == set()
    error = json.dumps({"count": 0, "data": None, "error": "Rate limit"}).encode()
    assert reported_days(comtrade, error, publishers) == set()
    data = (PUBLISHER_FIXTURES / "un_comtrade_dprk/comtrade_synthetic_202309.json").read_bytes()
    assert reported_days(comtrade, data, [*publishers, publishers[-1]]) == set()
    # A publisher's pattern stays within its folder.
    assert not is_reported_drop("reported/un_comtrade_dprk/old/2023.json", publishers)


def test_imagery_days_touched_are_the_items_acquisition_days():
    item = next(SAMPLE.glob("imagery/**/*.json"))
    doc = json.loads(item.read_text())
    acquired = datetime.fromisoformat(doc["properties"]["datetime"].replace("Z", "+00:00"))
    assert imagery_days("imagery/x/item.json", item.read_bytes()) == {acquired.date()}
    collection = {"type": "FeatureCollection", "features": [doc, {**doc, "id": "other"}]}
    other = dict(
        doc, id="later", properties={**doc["properties"], "datetime": "2023-10-09T02:00:00Z"}
    )
    collection["features"][1] = other
    days = imagery_days("imagery/page.json", json.dumps(collection).encode())
    assert days == {acquired.date(), date(2023, 10, 9)}
    assert imagery_days("imagery/broken.json", b"{not json") == set()
    assert imagery_days("imagery/preview.png", item.read_bytes()) == set()


def test_news_days_touched():
    assert gdelt_days_touched("news/gdelt/20231006120000.gkg.csv.zip") == {date(2023, 10, 6)}
    # Within two hours after midnight a slot can hold the previous day's articles.
    assert gdelt_days_touched("news/gdelt/20231007003000.translation.export.CSV.zip") == {
        date(2023, 10, 6),
        date(2023, 10, 7),
    }
    assert gdelt_days_touched("news/gdelt/masterfilelist.txt") == set()
    feed = SAMPLE / "news" / "feeds" / "sample.rss"
    days = feed_days_touched("news/feeds/sample.rss", feed.read_bytes())
    assert days and all(isinstance(d, date) for d in days)
    assert feed_days_touched("news/feeds/notes.txt", feed.read_bytes()) == set()
    assert feed_days_touched("news/feeds/broken.rss", b"<html>not a feed") == set()


def test_new_slot_window():
    t = datetime(2023, 10, 6, 12, tzinfo=UTC)
    last = date(2023, 10, 10)
    assert new_slot_window(None, t, last, 7) == (t, t)
    assert new_slot_window(t, t, last, 7) is None  # the same slot again
    assert new_slot_window(t, t + 3 * SLOT, last, 7) == (t + SLOT, t + 3 * SLOT)
    # A slot of a day that is not a partition yet waits; the slots before it do not.
    late = datetime(2023, 10, 11, 1, tzinfo=UTC)
    end_of_last = datetime(2023, 10, 10, 23, 45, tzinfo=UTC)
    assert new_slot_window(t, late, last, 7) == (t + SLOT, end_of_last)
    assert new_slot_window(end_of_last, late, last, 7) is None
    assert new_slot_window(None, late, last, 7) == (end_of_last, end_of_last)
    # Off for a month: only the last 7 days are caught up.
    first, newest = new_slot_window(t - timedelta(days=30), t, last, 7)
    assert newest == t and first == t - timedelta(days=7) + SLOT
    assert window_days(datetime(2023, 10, 7, 0, 15, tzinfo=UTC), t + timedelta(days=1)) == (
        date(2023, 10, 6),
        date(2023, 10, 7),
    )


def test_day_ranges():
    d = date(2023, 10, 5)
    assert day_ranges([]) == []
    assert day_ranges([d, d]) == [(d, d)]
    days = [d, d + timedelta(days=1), d + timedelta(days=5)]
    assert day_ranges(days) == [(d, d + timedelta(days=1)), (d + timedelta(days=5),) * 2]
    many = [d + timedelta(days=2 * i) for i in range(10)]
    assert day_ranges(many) == [(many[0], many[-1])]  # one span rather than ten runs


def test_backfill_days_per_run(monkeypatch):
    """How the daemon splits a backfill (read when the definitions load): one run by default,
    runs of N days with BORDERWATCH_BACKFILL_DAYS_PER_RUN=N."""
    from orchestration.kit.partitions import BACKFILL_DAYS_ENV, backfill_policy_from_env

    monkeypatch.delenv(BACKFILL_DAYS_ENV, raising=False)
    assert backfill_policy_from_env() == dg.BackfillPolicy.single_run()
    monkeypatch.setenv(BACKFILL_DAYS_ENV, "30")
    assert backfill_policy_from_env() == dg.BackfillPolicy.multi_run(30)
    for wrong in ("0", "a week", "-1"):
        monkeypatch.setenv(BACKFILL_DAYS_ENV, wrong)
        with pytest.raises(ValueError, match=BACKFILL_DAYS_ENV):
            backfill_policy_from_env()


def test_root_cause_is_the_innermost_sentence():
    def info(cls, message, cause=None):  # the shape of Dagster's SerializableErrorInfo
        return SimpleNamespace(message=message, stack=[], cls_name=cls, cause=cause)

    inner = info("ValueError", "ValueError: the lake catalog is gone\nmore lines\n")
    outer = info("DagsterExecutionStepExecutionError", "Error occurred while executing", inner)
    assert root_cause(outer) == "the lake catalog is gone"
    assert root_cause(info("KeyError", "")) == "KeyError"
    assert root_cause(None) == ""


# ---------------------------------------------------------------------------------------------
# The GDELT follower against a GDELT-shaped server


@pytest.mark.integration
def test_gdelt_sensor_requests_one_run_per_new_slot(tmp_path, bw_env, definitions):
    t = datetime(2023, 10, 6, 12, tzinfo=UTC)
    with GdeltServer(tmp_path / "gdeltv2") as server:
        server.add_slot(t)
        resource = Borderwatch.from_env(gdelt_base_url=server.base_url)
        requests, cursor, _ = _evaluate(definitions, "gdelt_lastupdate", resource)
        assert len(requests) == 1 and cursor == t.isoformat()
        (request,) = requests
        assert _range(request) == ("2023-10-06", "2023-10-06")
        assert request.run_key == f"gdelt_lastupdate:{t.isoformat()}"
        assert set(request.asset_selection) == NEWS_RUN
        assert request.tags["borderwatch/gdelt_slot"] == t.isoformat()

        # The same slot again: nothing, and the cursor stays.
        again, same_cursor, skip = _evaluate(definitions, "gdelt_lastupdate", resource, cursor)
        assert again == [] and same_cursor in (None, cursor) and "no GDELT slot after" in skip

        # Two new slots since: one run, keyed by the newest.
        server.add_slot(t + SLOT)
        server.add_slot(t + 2 * SLOT)
        (request,), cursor, _ = _evaluate(definitions, "gdelt_lastupdate", resource, cursor)
        assert request.run_key == f"gdelt_lastupdate:{(t + 2 * SLOT).isoformat()}"
        assert _range(request) == ("2023-10-06", "2023-10-06")

        # Just after midnight a slot may carry the previous day's articles: both days.
        midnight = datetime(2023, 10, 7, 0, 15, tzinfo=UTC)
        server.add_slot(midnight)
        (request,), cursor, _ = _evaluate(definitions, "gdelt_lastupdate", resource, cursor)
        assert _range(request) == ("2023-10-06", "2023-10-07")
        assert cursor == midnight.isoformat()


@pytest.mark.integration
def test_gdelt_sensor_skips_without_a_url_and_waits_for_a_day_to_be_a_partition(
    tmp_path, bw_env, definitions
):
    requests, cursor, skip = _evaluate(definitions, "gdelt_lastupdate", Borderwatch.from_env())
    assert requests == [] and cursor is None and "BORDERWATCH_GDELT_URL is not set" in skip
    # The last partition's last slot is requested already; a slot of a later day waits.
    _, last_day = partition_days()
    done = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) - SLOT
    with GdeltServer(tmp_path / "gdeltv2") as server:
        server.add_slot(done + 2 * SLOT)
        resource = Borderwatch.from_env(gdelt_base_url=server.base_url)
        requests, cursor, skip = _evaluate(
            definitions, "gdelt_lastupdate", resource, done.isoformat()
        )
    assert requests == [] and cursor in (None, done.isoformat()) and "not a partition yet" in skip


# ---------------------------------------------------------------------------------------------
# Drop sensors on a folder and on S3


def _source_copy(tmp_path: Path, *parts: str) -> Path:
    """A source store holding a copy of the sample's `parts` folders."""
    source = tmp_path / "source"
    for part in parts:
        shutil.copytree(SAMPLE / part, source / part)
    return source


def _bump_mtime(path: Path) -> None:
    # Some filesystems keep whole-second mtimes: make a rewrite visibly newer.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


@pytest.mark.integration
def test_reported_drop_sensor_on_a_folder(tmp_path, bw_env, definitions):
    source = _source_copy(tmp_path, "reported")
    resource = Borderwatch.from_env(source=str(source))

    # First look: records what is there, requests nothing.
    requests, cursor, skip = _evaluate(definitions, "reported_drops", resource)
    assert requests == [] and "first look" in skip
    assert set(json.loads(cursor)) == {
        "reported/published_counts.csv",
        "reported/synthetic_baseline.csv",
    }
    assert _evaluate(definitions, "reported_drops", resource, cursor)[0] == []

    # A CSV for 2023-10-05: exactly that day, the reported step and what is built on it.
    drop = source / "reported" / "analyst_2023-10-05.csv"
    drop.write_text(HEADER + _csv_row("2023-10-05", 60), encoding="utf-8")
    requests, cursor, _ = _evaluate(definitions, "reported_drops", resource, cursor)
    assert len(requests) == 1
    (request,) = requests
    assert _range(request) == ("2023-10-05", "2023-10-05")
    assert set(request.asset_selection) == REPORTED_RUN
    assert request.tags["borderwatch/sensor"] == "reported_drops"
    assert "reported/analyst_2023-10-05.csv" in json.loads(cursor)

    # Unchanged: nothing. Changed (a second day added): both days, again.
    assert _evaluate(definitions, "reported_drops", resource, cursor)[0] == []
    with drop.open("a", encoding="utf-8") as fh:
        fh.write(_csv_row("2023-10-06", 61))
    _bump_mtime(drop)
    (again,), cursor2, _ = _evaluate(definitions, "reported_drops", resource, cursor)
    assert _range(again) == ("2023-10-05", "2023-10-06")
    assert again.run_key != request.run_key  # a new change is a new run, not a duplicate key
    assert _evaluate(definitions, "reported_drops", resource, cursor2)[0] == []

    # A file that is not a reported drop, and a deleted file: no run; the deletion is forgotten.
    (source / "reported" / "notes.txt").write_text("not data")
    drop.unlink()
    requests, cursor3, _ = _evaluate(definitions, "reported_drops", resource, cursor2)
    assert requests == [] and "reported/analyst_2023-10-05.csv" not in json.loads(cursor3)


@pytest.mark.integration
def test_reported_drop_sensor_reads_publisher_formats(tmp_path, bw_env, definitions):
    source = _source_copy(tmp_path, "reported")
    resource = Borderwatch.from_env(source=str(source))
    _, cursor, skip = _evaluate(definitions, "reported_drops", resource)
    assert "first look" in skip

    # Each publisher's file, dropped where its mapping's pattern claims it: the days its rows
    # fall on (consecutive days one range, more than three ranges one span), the reported
    # step and the curated tables built on it.
    for name, days in PUBLISHER_DAYS.items():
        target = source / "reported" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PUBLISHER_FIXTURES / name, target)
        requests, cursor, _ = _evaluate(definitions, "reported_drops", resource, cursor)
        expected = [(a.isoformat(), b.isoformat()) for a, b in day_ranges(days)]
        assert sorted(_range(r) for r in requests) == expected, name
        assert all(set(r.asset_selection) == REPORTED_RUN for r in requests), name
        assert f"reported/{name}" in json.loads(cursor)
        assert _evaluate(definitions, "reported_drops", resource, cursor)[0] == [], name
    runs = {name.split("/")[0]: len(day_ranges(days)) for name, days in PUBLISHER_DAYS.items()}
    assert runs == {  # three separate days are three runs; five are one span
        "customs_dprk_monthly_example": 1,
        "analyst_events_example": 3,
        "un_comtrade_dprk": 3,
    }

    # A broken Comtrade response is recorded and asks for nothing (its run-time quarantine
    # happens when a run of any day reads it); a file in a folder no pattern claims is ignored.
    (source / "reported" / "un_comtrade_dprk" / "rate_limited.json").write_text(
        json.dumps({"count": 0, "data": None, "error": "Rate limit"})
    )
    (source / "reported" / "un_comtrade_dprk" / "old").mkdir()
    shutil.copyfile(
        PUBLISHER_FIXTURES / "un_comtrade_dprk/comtrade_synthetic_202309.json",
        source / "reported" / "un_comtrade_dprk" / "old" / "2023.json",
    )
    requests, cursor, skip = _evaluate(definitions, "reported_drops", resource, cursor)
    assert requests == [] and "no day to load" in skip
    seen = json.loads(cursor)
    assert "reported/un_comtrade_dprk/rate_limited.json" in seen
    assert "reported/un_comtrade_dprk/old/2023.json" not in seen


@pytest.mark.integration
def test_drop_sensor_backfills_on_first_look_only_when_asked(
    tmp_path, bw_env, definitions, monkeypatch
):
    source = _source_copy(tmp_path, "reported")
    monkeypatch.setenv("BORDERWATCH_DROP_BACKFILL", "1")
    requests, cursor, _ = _evaluate(
        definitions, "reported_drops", Borderwatch.from_env(source=str(source))
    )
    # Hundreds of scattered days: one range run over the whole span, not hundreds of runs.
    assert len(requests) == 1
    start, end = _range(requests[0])
    assert start.startswith("2018-") and end >= "2023-10-05"
    assert len(json.loads(cursor)) == 2


@pytest.mark.integration
def test_imagery_and_news_drop_sensors_on_a_folder(tmp_path, bw_env, definitions):
    source = _source_copy(tmp_path, "imagery", "news")
    resource = Borderwatch.from_env(source=str(source))
    cursors = {}
    for name in ("imagery_drops", "news_feed_drops", "news_gdelt_drops"):
        requests, cursors[name], skip = _evaluate(definitions, name, resource)
        assert requests == [] and "first look" in skip, name

    item = next((source / "imagery").rglob("*.json"))
    doc = json.loads(item.read_text())
    doc["id"] = "S2B_52TFM_20231012_0_L2A_live"
    doc["properties"]["datetime"] = "2023-10-12T02:14:00Z"
    (item.parent / "live-item.json").write_text(json.dumps(doc))
    (request,), _, _ = _evaluate(definitions, "imagery_drops", resource, cursors["imagery_drops"])
    assert _range(request) == ("2023-10-12", "2023-10-12")
    selected = {k.to_user_string() for k in request.asset_selection}
    assert {"stg_imagery__scenes", "imagery_coverage_daily", "alerts"} <= selected
    assert not selected & {"stg_reported__observations", "stg_news__articles"}

    slot = source / "news" / "gdelt" / "20231013061500.gkg.csv.zip"
    shutil.copyfile(next((source / "news" / "gdelt").glob("*.gkg.csv.zip")), slot)
    (request,), _, _ = _evaluate(
        definitions, "news_gdelt_drops", resource, cursors["news_gdelt_drops"]
    )
    assert _range(request) == ("2023-10-13", "2023-10-13")
    assert set(request.asset_selection) == NEWS_RUN

    # With GDELT over HTTP, the folder's GDELT files are not read: that sensor stands aside.
    http = Borderwatch.from_env(source=str(source), gdelt_base_url="http://127.0.0.1:9/")
    requests, _, skip = _evaluate(
        definitions, "news_gdelt_drops", http, cursors["news_gdelt_drops"]
    )
    assert requests == [] and "BORDERWATCH_GDELT_URL is set" in skip


@pytest.fixture
def seaweed(tmp_path, monkeypatch):
    from tests.servers import start_seaweedfs

    endpoint, key, secret, stop = start_seaweedfs(tmp_path / "weed")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("BORDERWATCH_S3_ANONYMOUS", raising=False)
    try:
        yield endpoint
    finally:
        stop()


@pytest.mark.integration
def test_reported_drop_sensor_on_s3(seaweed, bw_env, definitions):
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=seaweed, config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="drops")
    for path in (SAMPLE / "reported").glob("*.csv"):
        s3.put_object(
            Bucket="drops", Key=f"borderwatch/reported/{path.name}", Body=path.read_bytes()
        )
    resource = Borderwatch.from_env(source="s3://drops/borderwatch")

    requests, cursor, skip = _evaluate(definitions, "reported_drops", resource)
    assert requests == [] and "first look" in skip
    assert all(sig.startswith("etag:") for sig in json.loads(cursor).values())

    key = "borderwatch/reported/2023/analyst.csv"
    s3.put_object(Bucket="drops", Key=key, Body=(HEADER + _csv_row("2023-10-05", 60)).encode())
    (request,), cursor, _ = _evaluate(definitions, "reported_drops", resource, cursor)
    assert _range(request) == ("2023-10-05", "2023-10-05")
    assert set(request.asset_selection) == REPORTED_RUN
    assert _evaluate(definitions, "reported_drops", resource, cursor)[0] == []

    # The same key with other bytes (a new ETag) re-triggers, for the days it holds now.
    s3.put_object(Bucket="drops", Key=key, Body=(HEADER + _csv_row("2023-10-09", 61)).encode())
    (request,), cursor, _ = _evaluate(definitions, "reported_drops", resource, cursor)
    assert _range(request) == ("2023-10-09", "2023-10-09")
    assert _evaluate(definitions, "reported_drops", resource, cursor)[0] == []


# ---------------------------------------------------------------------------------------------
# Run failures told to the webhook


def _failed_run(instance: dg.DagsterInstance):
    """A run whose step `load_lake` fails with a wrapped cause, on `instance`."""

    @dg.op
    def load_lake():
        try:
            raise ValueError("the lake catalog at postgres:dbname=lake is unreachable")
        except ValueError as exc:
            raise RuntimeError("could not write the window") from exc

    @dg.job
    def borderwatch_all():
        load_lake()

    result = borderwatch_all.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    return run, failure


@pytest.mark.integration
def test_run_failure_sensor_posts_one_line(bw_env, definitions):
    sensor = _sensor(definitions, "run_failure_webhook")
    with WebhookReceiver() as receiver, dg.instance_for_test() as instance:
        run, failure = _failed_run(instance)

        def failure_context(resource: Borderwatch):
            # Entered with `with`: the resource has a per-run lifecycle the context runs.
            return dg.build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=run,
                resources={"borderwatch": resource},
            ).for_run_failure()

        with failure_context(Borderwatch.from_env(alert_webhook_url=receiver.url)) as context:
            sensor(context)
        (message,) = receiver.received()
        assert message == {
            "text": f"borderwatch run {run.run_id[:8]} (borderwatch_all) failed at load_lake: "
            "the lake catalog at postgres:dbname=lake is unreachable"
        }

        # Slack format by setting; and a refusing webhook is an error that hides the URL's path.
        receiver.status = 500
        slack = Borderwatch.from_env(alert_webhook_url=receiver.url, alert_format="slack")
        with failure_context(slack) as context, pytest.raises(Exception) as caught:
            sensor(context)
        assert "HTTP 500" in str(caught.value)
        assert WebhookReceiver.SECRET_PATH not in str(caught.value)
        assert receiver.received()[-1]["blocks"][0]["type"] == "section"

        # No webhook: the sensor says so and posts nothing.
        with failure_context(Borderwatch.from_env()) as quiet:
            assert isinstance(sensor(quiet), dg.SkipReason)
        assert len(receiver.received()) == 2


def test_webhook_is_an_env_var_in_the_definitions(monkeypatch):
    """Dagster shows and stores the variable's name, never the URL; the failure sensor is on by
    default only when a webhook is set."""
    code = (
        "import json; from orchestration.definitions import defs; "
        "r = defs.resources['borderwatch']; "
        "s = next(s for s in defs.sensors if s.name == 'run_failure_webhook'); "
        "print(json.dumps([repr(r.alert_webhook_url), s.default_status.value]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORDERWATCH_")}
    secret = "http://127.0.0.1:9" + WebhookReceiver.SECRET_PATH
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**env, "BORDERWATCH_ALERT_WEBHOOK": secret},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    shown, status = json.loads(done.stdout.strip().splitlines()[-1])
    assert "BORDERWATCH_ALERT_WEBHOOK" in shown and "SECRET" not in shown
    assert status == "RUNNING"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])[1] == "STOPPED"


# ---------------------------------------------------------------------------------------------
# The deployment's instance config, on a real PostgreSQL


@pytest.mark.integration
def test_the_postgres_instance_config_runs_a_job(tmp_path, monkeypatch):
    from tests.servers import start_postgres

    server = start_postgres(tmp_path / "pg")
    try:
        server.create_database("dagster")
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copyfile(REPO / "orchestration/deploy/dagster-postgres.yaml", home / "dagster.yaml")
        monkeypatch.setenv(
            "DAGSTER_PG_URL",
            f"postgresql+psycopg2://{server.user}@127.0.0.1:{server.port}/dagster",
        )

        @dg.asset(pool="duckdb")
        def one() -> int:
            return 1

        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            config = instance.get_concurrency_config()
            assert config.run_queue_config.max_concurrent_runs == 4
            assert config.pool_config.default_pool_limit == 1
            assert instance.run_monitoring_enabled and not instance.telemetry_enabled
            result = dg.materialize([one], instance=instance)
            assert result.success
            stored = instance.get_run_by_id(result.run_id)
            assert stored.status == dg.DagsterRunStatus.SUCCESS
            assert instance.get_latest_materialization_event(dg.AssetKey("one")) is not None
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# The news step over HTTP, and alerts in a chat format, through the real pipeline

BORDERWATCH = Path(sys.executable).parent / "borderwatch"
NEWS_STEP = (
    "facilities stg_news__articles stg_news__article_facilities stg_news__events "
    "stg_news__mentions gdelt_slot_gaps"
)


def _clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    return {**env, **settings}


def _cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(BORDERWATCH), *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _query(home: Path, sql: str, params: dict | None = None) -> list[tuple]:
    resource = Borderwatch.from_env(home=str(home))
    with resource.connect(read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


@pytest.mark.integration
def test_news_step_streams_gdelt_into_the_raw_zone(tmp_path):
    home = tmp_path / "home"
    t = datetime(2023, 10, 6, 12, tzinfo=UTC)
    with GdeltServer(tmp_path / "gdeltv2") as server:
        server.add_slot(t)
        server.add_slot(t + 2 * SLOT)  # 12:15 never published: a gap
        env = _clean_env(
            BORDERWATCH_HOME=str(home),
            BORDERWATCH_GDELT_URL=server.base_url,
            TMPDIR=str(tmp_path),
        )
        _cli(
            env,
            "materialize",
            "--start",
            "2023-10-06",
            "--end",
            "2023-10-06",
            "--select",
            NEWS_STEP,
        )
        fetched_gets = server.slot_gets()
        assert fetched_gets >= 6  # two slots' three files, plus the 404s of the empty slots

        rows = _query(
            home,
            "select source_uri, source_key, sha256, bytes from raw.manifest "
            "where starts_with(source_uri, $base) order by source_key",
            {"base": server.base_url},
        )
        assert len(rows) == 6
        assert all(key == "news/gdelt/" + uri.rsplit("/", 1)[-1] for uri, key, _, _ in rows)
        for _, _, sha, size in rows:  # each manifest row names a file the raw zone holds
            path = home / "raw" / sha[:2] / sha
            assert path.stat().st_size == size
        urls = {u for (u,) in _query(home, "select document_url from staging.stg_news__articles")}
        assert f"https://gdelt-test.synthetic.invalid/{t:%Y%m%d%H%M%S}/0" in urls
        # The folder's own GDELT files are not read while GDELT comes over HTTP.
        assert not any("sample" in u for (u,) in _query(
            home, "select source_uri from staging.stg_news__articles where source_kind = 'gdelt_gkg'"
        ))  # fmt: skip
        gaps = _query(
            home,
            "select kind, slot_at from staging.gdelt_slot_gaps where slot_on = '2023-10-06' "
            "and slot_at = $t order by kind",
            {"t": t + SLOT},
        )
        assert [k for k, _ in gaps] == ["export", "gkg", "mentions"]

        # Again: what the manifest holds is read from the raw zone, never downloaded twice;
        # only the slots GDELT never published are asked for again.
        server.requests.clear()
        _cli(
            env,
            "materialize",
            "--start",
            "2023-10-06",
            "--end",
            "2023-10-06",
            "--select",
            NEWS_STEP,
        )
        held = {u.rsplit("/", 1)[-1] for u, *_ in rows}
        assert not held & set(server.requests), "a held file was downloaded again"
        assert len(_query(home, "select * from raw.manifest where starts_with(source_uri, $b)",
                          {"b": server.base_url})) == 6  # fmt: skip


@pytest.mark.integration
def test_alerts_reach_the_webhook_once_in_slack_format_with_their_reports(tmp_path):
    home = tmp_path / "home"
    with WebhookReceiver() as receiver:
        env = _clean_env(
            BORDERWATCH_HOME=str(home),
            BORDERWATCH_ALERT_WEBHOOK=receiver.url,
            BORDERWATCH_ALERT_FORMAT="slack",
            TMPDIR=str(tmp_path),
        )
        # July to the 73 railcars of 2023-10-05: five prior counts, so an anomaly.
        first = _cli(env, "materialize", "--start", "2023-07-01", "--end", "2023-10-06")
        again = _cli(env, "materialize", "--start", "2023-10-06", "--end", "2023-10-06")
        messages = receiver.received()
    assert len(messages) == 1, messages  # a re-run posts nothing already sent
    (message,) = messages
    assert message["text"].startswith("[HIGH] Tumangang rail facility: 73 railcars on 2023-10-05")
    context = json.dumps(message["blocks"])
    assert "beyondparallel.csis.org" in context  # the report behind the alert, linked
    # The URL shows only masked, in metadata; its secret path is in no output and no file.
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("alert_notifications"))
        metadata = event.asset_materialization.metadata
    assert metadata["webhook"].value == receiver.url.split("/hooks/")[0] + "/…"
    assert metadata["format"].value == "slack"
    secret = WebhookReceiver.SECRET_PATH
    assert secret not in first.stdout + first.stderr + again.stdout + again.stderr
    leaked = [str(p) for p in home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaked, leaked


# ---------------------------------------------------------------------------------------------
# The daemon end to end: nobody starts a run

WAIT_SECONDS = 480  # every wait below is bounded; a failure prints the daemon's log tail
SENSOR_QUERY = """
query ($s: SensorSelector!) {
  sensorOrError(sensorSelector: $s) {
    __typename
    ... on Sensor {
      sensorState {
        status
        typeSpecificData { ... on SensorData { lastCursor } }
        ticks(limit: 3) { status skipReason error { message } }
      }
    }
  }
}"""
START_SENSOR = """
mutation ($s: SensorSelector!) {
  startSensor(sensorSelector: $s) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
RUNS_QUERY = """
{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""


def _wait(what: str, check, dev, timeout: float = WAIT_SECONDS, every: float = 2.0):
    """check() until it returns something truthy, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}\n--- dagster dev ---\n{dev.log_tail()}"
            )
        time.sleep(every)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_daemon_keeps_the_tables_current_and_alerts_once(tmp_path):
    from tests.servers import DagsterDev

    home = tmp_path / "home"
    source = tmp_path / "source"
    shutil.copytree(SAMPLE, source)
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    # The history the new count is judged against: built once, as an analyst would, with no
    # webhook (the sample's own anomaly of 2023-10-05 is logged, not posted).
    base = _clean_env(
        BORDERWATCH_HOME=str(home), BORDERWATCH_SOURCE=str(source), TMPDIR=str(scratch)
    )
    _cli(base, "materialize", "--start", "2023-06-01", "--end", "2023-10-12", timeout=1200)
    assert (home / "dagster" / "dagster.yaml").exists()

    first_slot = datetime(2023, 10, 12, 6, tzinfo=UTC)
    new_slot = first_slot + SLOT
    with GdeltServer(tmp_path / "gdeltv2") as gdelt, WebhookReceiver() as receiver:
        gdelt.add_slot(first_slot)
        env = {
            **base,
            "DAGSTER_HOME": str(home / "dagster"),
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
            "BORDERWATCH_GDELT_URL": gdelt.base_url,
            "BORDERWATCH_ALERT_WEBHOOK": receiver.url,
            "BORDERWATCH_ALERT_FORMAT": "slack",
            "BORDERWATCH_GDELT_POLL_SECONDS": "5",
            "BORDERWATCH_DROP_POLL_SECONDS": "5",
        }
        dev = DagsterDev(env, tmp_path / "dagster-dev.log")
        try:
            dev.wait_ready()
            repository = dev.repository()

            def selector(name: str) -> dict:
                return {**repository, "sensorName": name}

            def sensor_state(name: str) -> dict:
                answer = dev.graphql(SENSOR_QUERY, {"s": selector(name)})["sensorOrError"]
                return answer["sensorState"]

            def runs() -> list[dict]:
                found = dev.graphql(RUNS_QUERY)["runsOrError"]["results"]
                return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in found]

            assert sensor_state("run_failure_webhook")["status"] == "RUNNING"  # webhook set
            for name in ("reported_drops", "gdelt_lastupdate"):
                started = dev.graphql(START_SENSOR, {"s": selector(name)})["startSensor"]
                assert started["__typename"] == "Sensor", started

            # The drop sensor's first look records the sample's files and asks for nothing.
            _wait(
                "reported_drops' first look",
                lambda: sensor_state("reported_drops")["typeSpecificData"]["lastCursor"],
                dev,
            )
            # A new GDELT slot that mentions Tumangang, and an analyst's count far above the
            # five-year maximum (73 on 2023-10-05).
            gdelt.add_slot(new_slot)
            (source / "reported" / "analyst_2023-10-12.csv").write_text(
                HEADER + _csv_row("2023-10-12", 300), encoding="utf-8"
            )

            def settled():
                found = runs()
                sensors = {r["tags"].get("borderwatch/sensor") for r in found}
                slots = {r["tags"].get("borderwatch/gdelt_slot") for r in found}
                busy = [r for r in found if r["status"] not in ("SUCCESS", "FAILURE", "CANCELED")]
                if "reported_drops" in sensors and new_slot.isoformat() in slots and not busy:
                    return found
                return None

            found = _wait("the sensors' runs to finish", settled, dev)
            sensor_runs = [r for r in found if "borderwatch/sensor" in r["tags"]]
            assert all(r["status"] == "SUCCESS" for r in sensor_runs), (sensor_runs, dev.log_tail())
            reported_runs = [
                r for r in sensor_runs if r["tags"]["borderwatch/sensor"] == "reported_drops"
            ]
            assert len(reported_runs) == 1
            assert reported_runs[0]["tags"][RANGE_START_TAG] == "2023-10-12"
            assert reported_runs[0]["tags"][RANGE_END_TAG] == "2023-10-12"

            # The new slot's article reached the attention table ...
            top = _query(
                home,
                "select n_articles, top_urls from curated.news_attention_daily "
                "where facility_id = 'tumangang' and published_on = '2023-10-12'",
            )
            assert top, "no attention row for Tumangang on 2023-10-12"
            assert any(f"/{new_slot:%Y%m%d%H%M%S}/" in url for url in top[0][1]), top
            # ... and the count is an alert, posted exactly once, in Slack's format, with the
            # report it came from.
            alerts = _query(
                home,
                "select alert_id from curated.alerts "
                "where facility_id = 'tumangang' and observed_on = '2023-10-12'",
            )
            assert len(alerts) == 1
            messages = receiver.received()
            assert len(messages) == 1, messages
            (message,) = messages
            assert "300" in message["text"] and "blocks" in message
            assert "example.invalid/live-test" in json.dumps(message)
            channel = _query(
                home,
                "select channel from ops.alert_notifications where alert_id = $id",
                {"id": alerts[0][0]},
            )
            assert channel == [("webhook",)]
        finally:
            dev.stop()
    # The webhook's secret path is nowhere: not in the lake, the raw zone, the instance's
    # event logs and run storage, nor the daemon's output.
    secret = WebhookReceiver.SECRET_PATH.encode()
    leaked = [
        str(p) for p in [*home.rglob("*"), tmp_path / "dagster-dev.log"]
        if p.is_file() and secret in p.read_bytes()
    ]  # fmt: skip
    assert not leaked, leaked
