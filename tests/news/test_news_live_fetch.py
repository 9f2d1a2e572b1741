"""GDELT live fetch against a GDELT-shaped http.server on 127.0.0.1: slots streamed into the raw
zone in parallel, held files skipped, retries on 503/timeouts/cut bodies, md5 errors, gaps."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest

from assets.core.rawzone import DigestMismatch, RawZone
from assets.news.gdelt import read_gkg
from assets.news.http import (
    FETCHED,
    GAP,
    HELD,
    UNPUBLISHED,
    GdeltHttpError,
    RetryPolicy,
    fetch_slots,
    gaps_frame,
    gaps_from_master_list,
    latest_slot,
    slots_between,
)
from tests.servers import GdeltServer

DAY = date(2023, 10, 6)
T0 = datetime(2023, 10, 6, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, timeout=60, wait_initial=0.01, wait_max=0.05, wait_jitter=0)
KINDS3 = ("export", "mentions", "gkg")


@pytest.fixture
def gdelt(tmp_path):
    with GdeltServer(tmp_path / "gdeltv2") as server:
        yield server


@pytest.fixture
def zone(tmp_path):
    return RawZone(tmp_path / "raw")


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _leftovers(zone: RawZone) -> list:
    return sorted(p.name for p in zone.root.rglob(".incoming-*")) if zone.root.exists() else []


def _nothing_held(url: str) -> bool:
    return False


def test_a_day_of_slots_is_streamed_in_parallel_into_the_raw_zone(gdelt, zone):
    for t in slots_between(DAY, DAY + timedelta(days=1)):
        gdelt.add_slot(t)
    gdelt.gate(4)  # the first four slot GETs are answered only once all four are in flight
    records = list(
        fetch_slots(gdelt.base_url, slots_between(DAY, DAY + timedelta(days=1)), zone,
                    _nothing_held, workers=4, retry=FAST)
    )  # fmt: skip
    assert len(records) == 96 * 3
    assert {r.status for r in records} == {FETCHED}
    assert gdelt.max_in_flight >= 4
    # In slot order, kinds in KINDS order within a slot, GDELT's own file names.
    assert [r.name for r in records[:3]] == [
        "20231006000000.gkg.csv.zip",
        "20231006000000.export.CSV.zip",
        "20231006000000.mentions.CSV.zip",
    ]
    assert [r.slot_at for r in records] == sorted(r.slot_at for r in records)
    listed = {
        e.url: e for e in gaps_from_master_list(gdelt.base_url, DAY, DAY + timedelta(1)).listed
    }
    for r in records:
        assert r.path == zone.path_for(r.sha256) and _sha256(r.path) == r.sha256
        assert r.md5 == listed[r.url].md5 and r.bytes == listed[r.url].size
        assert r.manifest_key == f"news/gdelt/{r.name}"
    assert _leftovers(zone) == []
    assert set(gdelt.requests[r.name] for r in records) == {1}
    # What landed is GDELT-shaped: the project's own GKG reader takes it.
    gkg = next(r for r in records if r.kind == "gkg")
    assert read_gkg(gkg.path.read_bytes(), gkg.url).rows.height == 2


def test_files_already_held_are_not_requested_again(gdelt, zone):
    slots = slots_between(T0, T0 + timedelta(hours=2))
    for t in slots:
        gdelt.add_slot(t)
    first = list(fetch_slots(gdelt.base_url, slots, zone, _nothing_held, retry=FAST))
    assert {r.status for r in first} == {FETCHED}
    gets = gdelt.slot_gets()
    assert gets == len(first) == 8 * 3

    # The caller's manifest says what it holds; here the URLs it recorded from the first run.
    manifest = {r.url: r.sha256 for r in first}
    calls = []

    def already_have(url: str) -> bool:
        calls.append(url)
        return url in manifest

    second = list(fetch_slots(gdelt.base_url, slots, zone, already_have, retry=FAST))
    assert gdelt.slot_gets() == gets  # not one slot file downloaded
    assert [r.status for r in second] == [HELD] * len(first)
    assert sorted(calls) == sorted(manifest)

    # A file missing from the manifest is the only one fetched.
    lost = first[5].url
    del manifest[lost]
    third = list(fetch_slots(gdelt.base_url, slots, zone, already_have, retry=FAST))
    assert [r.url for r in third if r.status == FETCHED] == [lost]
    assert gdelt.slot_gets() == gets + 1


def test_503_bursts_timeouts_and_cut_bodies_are_retried(gdelt, zone):
    gdelt.add_slot(T0)
    export, mentions, gkg = (gdelt.slot_name(T0, k) for k in KINDS3)
    gdelt.fail(export, times=3, status=503)
    gdelt.delay(mentions, seconds=5, times=1)  # longer than the client's read timeout
    gdelt.cut(gkg, times=2)
    records = list(fetch_slots(gdelt.base_url, [T0], zone, _nothing_held, timeout=0.5, retry=FAST))
    assert [r.status for r in records] == [FETCHED] * 3
    assert gdelt.requests[export] == 4
    assert gdelt.requests[mentions] == 2
    assert gdelt.requests[gkg] == 3
    for r in records:
        assert _sha256(r.path) == r.sha256
    assert _leftovers(zone) == []  # the cut-short attempts left no partial file behind


def test_retries_give_up_with_an_error_naming_the_url(gdelt, zone):
    gdelt.add_slot(T0, kinds=("gkg",))
    name = gdelt.slot_name(T0, "gkg")
    gdelt.fail(name, times=50, status=502)
    with pytest.raises(GdeltHttpError, match=f"{name}.*HTTP 502"):
        list(fetch_slots(gdelt.base_url, [T0], zone, _nothing_held, kinds=("gkg",), retry=FAST))
    assert gdelt.requests[name] == FAST.attempts
    assert _leftovers(zone) == []


def test_other_client_errors_are_not_retried(gdelt, zone):
    gdelt.add_slot(T0, kinds=("gkg",))
    name = gdelt.slot_name(T0, "gkg")
    gdelt.fail(name, times=5, status=403)
    with pytest.raises(GdeltHttpError, match=f"{name}: HTTP 403"):
        list(fetch_slots(gdelt.base_url, [T0], zone, _nothing_held, kinds=("gkg",), retry=FAST))
    assert gdelt.requests[name] == 1


def test_md5_mismatch_is_an_error_naming_the_url_and_nothing_is_kept(gdelt, zone):
    slots = slots_between(T0, T0 + timedelta(hours=1))
    for t in slots:
        gdelt.add_slot(t)
    bad = gdelt.slot_name(slots[1], "mentions")
    gdelt.wrong_md5(bad)
    listed = gaps_from_master_list(gdelt.base_url, T0, T0 + timedelta(hours=1)).listed
    received = []
    with pytest.raises(GdeltHttpError, match=f"{bad}: md5 .* does not match"):
        for record in fetch_slots(gdelt.base_url, slots, zone, _nothing_held, listed=listed,
                                  workers=1, retry=FAST):  # fmt: skip
            received.append(record)
    # Everything before the bad file was handed out (for the manifest), then at most the
    # downloads already queued behind it (2 x workers); nothing after; the bad file not kept.
    names = [r.name for r in received]
    assert names[:5] == [
        gdelt.slot_name(slots[0], "gkg"),
        gdelt.slot_name(slots[0], "export"),
        gdelt.slot_name(slots[0], "mentions"),
        gdelt.slot_name(slots[1], "gkg"),
        gdelt.slot_name(slots[1], "export"),
    ]
    assert bad not in names and len(names) <= 5 + 2
    assert gdelt.slot_gets() <= 5 + 1 + 2
    bad_sha = hashlib.sha256((gdelt.root / bad).read_bytes()).hexdigest()
    assert not zone.path_for(bad_sha).exists()
    assert gdelt.requests[bad] == 1  # a wrong md5 is not retried
    assert _leftovers(zone) == []


def test_a_404_slot_is_a_gap_and_an_unpublished_slot_is_not(gdelt, zone):
    window = slots_between(T0, T0 + timedelta(hours=2))  # 00:00 .. 01:45
    published = window[:6]  # up to 01:15
    for t in published:
        if t != window[2]:  # 00:30 never published: neither listed nor served
            gdelt.add_slot(t)
    dropped = gdelt.slot_name(window[4], "gkg")  # 01:00 gkg listed but answers 404
    gdelt.drop(dropped)
    records = list(fetch_slots(gdelt.base_url, window, zone, _nothing_held, retry=FAST))

    by_status = {}
    for r in records:
        by_status.setdefault(r.status, []).append((r.kind, r.slot_at))
    assert sorted(by_status[GAP]) == sorted([(k, window[2]) for k in KINDS3] + [("gkg", window[4])])
    assert sorted(by_status[UNPUBLISHED]) == sorted((k, t) for t in window[6:] for k in KINDS3)
    for t in window[6:]:  # after lastupdate's slot: never asked for
        assert all(gdelt.requests[gdelt.slot_name(t, k)] == 0 for k in KINDS3)
    gaps = gaps_frame(records)
    assert gaps.columns == ["kind", "slot_at", "slot_on"]
    assert sorted(zip(gaps["kind"], gaps["slot_at"], strict=True)) == sorted(by_status[GAP])
    assert set(gaps["slot_on"]) == {DAY}

    # The master list, asked for, sees the never-published slot but not the dropped file (it
    # is listed), and nothing after its newest slot.
    check = gaps_from_master_list(gdelt.base_url, T0, T0 + timedelta(hours=2))
    assert sorted(zip(check.gaps["kind"], check.gaps["slot_at"], strict=True)) == sorted(
        (k, window[2]) for k in KINDS3
    )
    assert len(check.listed) == 5 * 3


def test_a_new_slot_is_picked_up_through_lastupdate(gdelt, zone):
    gdelt.add_slot(T0)
    assert latest_slot(gdelt.base_url, retry=FAST).slot_at == T0
    t1 = T0 + timedelta(minutes=15)
    early = list(fetch_slots(gdelt.base_url, [t1], zone, _nothing_held, retry=FAST))
    assert [r.status for r in early] == [UNPUBLISHED] * 3
    assert gdelt.slot_gets() == 0

    gdelt.add_slot(t1)
    newest = latest_slot(gdelt.base_url, retry=FAST)
    assert newest.slot_at == t1
    assert [e.kind for e in newest.files] == ["export", "mentions", "gkg"]
    records = list(
        fetch_slots(gdelt.base_url, [newest.slot_at], zone, _nothing_held, listed=newest.files,
                    retry=FAST)
    )  # fmt: skip
    assert [r.status for r in records] == [FETCHED] * 3
    assert {r.url: r.md5 for r in records} == {e.url: e.md5 for e in newest.files}


def test_the_translation_stream_is_fetched_when_asked(gdelt, zone):
    gdelt.add_slot(T0)
    gdelt.add_slot(T0, kinds=("gkg",), translation=True)
    assert latest_slot(gdelt.base_url, translation=True, retry=FAST).slot_at == T0
    records = list(
        fetch_slots(gdelt.base_url, [T0], zone, _nothing_held, kinds=("gkg",), translation=True,
                    retry=FAST)
    )  # fmt: skip
    assert [(r.name, r.status) for r in records] == [
        ("20231006000000.gkg.csv.zip", FETCHED),
        ("20231006000000.translation.gkg.csv.zip", FETCHED),
    ]
    translated = read_gkg(records[1].path.read_bytes(), records[1].url).rows
    assert translated.height == 2


def test_memory_stays_flat_while_a_50_mb_slot_streams(gdelt, zone):
    size = 50 * 1024 * 1024
    (url,) = gdelt.add_slot(T0, kinds=("gkg",), payload_bytes=size)
    tracemalloc.start()
    try:
        records = list(fetch_slots(gdelt.base_url, [T0], zone, _nothing_held, kinds=("gkg",),
                                   published_until=T0, workers=1, retry=FAST))  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (record,) = records
    assert record.url == url and record.status == FETCHED
    assert record.bytes > size
    assert _sha256(record.path) == record.sha256
    # One 1 MiB chunk at a time (plus the server thread's own buffers), not 50 MB.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while streaming 50 MiB"


def test_stopping_early_leaves_no_partial_files(gdelt, zone):
    slots = slots_between(T0, T0 + timedelta(hours=3))
    for t in slots:
        gdelt.add_slot(t)
    records = fetch_slots(gdelt.base_url, slots, zone, _nothing_held, workers=4, retry=FAST)
    first = next(records)
    records.close()  # the caller stops (e.g. its manifest write failed)
    assert first.status == FETCHED
    assert gdelt.slot_gets() < len(slots) * 3  # the rest was never requested
    assert _leftovers(zone) == []


# RawZone.put_stream on its own


def test_put_stream_keeps_bytes_under_their_sha256(zone):
    data = [b"a" * 1000, b"b" * 10, b"", b"c"]
    whole = b"".join(data)
    sha, path, size, md5 = zone.put_stream(iter(data))
    assert sha == hashlib.sha256(whole).hexdigest() and path == zone.path_for(sha)
    assert path.read_bytes() == whole and size == len(whole)
    assert md5 == hashlib.md5(whole).hexdigest()
    again = zone.put_stream(iter(data), expected_md5=md5.upper(), expected_size=size)
    assert again.path == path  # write-once: the same bytes again add nothing
    assert [p for p in zone.root.rglob("*") if p.is_file()] == [path]


def test_put_stream_keeps_nothing_on_a_wrong_md5_or_a_failing_source(zone):
    with pytest.raises(DigestMismatch, match="some-file.zip: md5 .* does not match"):
        zone.put_stream(iter([b"abc"]), expected_md5="0" * 32, label="some-file.zip")
    with pytest.raises(DigestMismatch, match="received 3 bytes, expected 4"):
        zone.put_stream(iter([b"abc"]), expected_size=4)

    def broken():
        yield b"x" * 100
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        zone.put_stream(broken())
    assert [p for p in zone.root.rglob("*") if p.is_file()] == []
