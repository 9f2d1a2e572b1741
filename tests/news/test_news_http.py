"""GDELT over HTTP, the small parts: slot names and times, file lists, gaps, errors naming URLs.

The streaming fetch itself is tested in test_news_live_fetch.py against the same local server.
"""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta

import pytest

from assets.news.gdelt import parse_slot_name
from assets.news.http import (
    FETCHED,
    GAP,
    HELD,
    FetchRecord,
    GdeltHttpError,
    RetryPolicy,
    gaps_frame,
    gaps_from_master_list,
    latest_slot,
    parse_file_list,
    slot_files,
    slot_url,
    slots_between,
)
from tests.servers import GdeltServer

T0 = datetime(2023, 10, 6, tzinfo=UTC)
FAST = RetryPolicy(attempts=2, timeout=10, wait_initial=0.01, wait_max=0.02, wait_jitter=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("kind", "translation", "name"),
    [
        ("export", False, "20231006121500.export.CSV.zip"),
        ("mentions", False, "20231006121500.mentions.CSV.zip"),
        ("gkg", False, "20231006121500.gkg.csv.zip"),
        ("export", True, "20231006121500.translation.export.CSV.zip"),
        ("mentions", True, "20231006121500.translation.mentions.CSV.zip"),
        ("gkg", True, "20231006121500.translation.gkg.csv.zip"),
    ],
)
def test_slot_urls_use_gdelt_names_and_parse_back(kind, translation, name):
    at = datetime(2023, 10, 6, 12, 15, tzinfo=UTC)
    url = slot_url("http://data.gdeltproject.org/gdeltv2", at, kind, translation)
    assert url == f"http://data.gdeltproject.org/gdeltv2/{name}"
    parsed = parse_slot_name(url)
    assert (parsed.kind, parsed.slot_at, parsed.translation) == (kind, at, translation)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown GDELT kind 'gkg2'"):
        slot_url("http://x/", T0, "gkg2")


def test_slots_between_is_every_quarter_hour_of_the_half_open_window():
    day = slots_between(date(2023, 10, 6), date(2023, 10, 7))
    assert len(day) == 96 and day[0] == T0 and day[-1] == T0 + timedelta(hours=23, minutes=45)
    # A start between slots begins at the next one; naive datetimes are UTC.
    assert slots_between(datetime(2023, 10, 6, 0, 1), datetime(2023, 10, 6, 0, 31)) == [
        T0 + timedelta(minutes=15),
        T0 + timedelta(minutes=30),
    ]
    assert slots_between(T0, T0) == []
    files = slot_files("http://x/", day[:2], kinds=("gkg",), translation=True)
    assert [f.url.rsplit("/", 1)[-1] for f in files] == [
        "20231006000000.gkg.csv.zip",
        "20231006000000.translation.gkg.csv.zip",
        "20231006001500.gkg.csv.zip",
        "20231006001500.translation.gkg.csv.zip",
    ]


def test_file_list_lines_name_slots():
    text = (
        "150383 297a16b493de7cf6ca809a7cc31d0b93 "
        "http://data.gdeltproject.org/gdeltv2/20150218230000.export.CSV.zip\n"
        "not a list line\n"
        "12 ABCDEF http://data.gdeltproject.org/gdeltv2/README.txt\n"
        "318084 bb27f78ba45f69a17ea6ed7755e9f8ff "
        "http://data.gdeltproject.org/gdeltv2/20150218230000.translation.gkg.csv.zip\n"
    )
    entries = parse_file_list(text)
    assert [(e.kind, e.translation, e.size) for e in entries] == [
        ("export", False, 150383),
        ("gkg", True, 318084),
    ]
    assert entries[0].slot_at == datetime(2015, 2, 18, 23, tzinfo=UTC)


def test_a_slot_is_a_gap_only_when_no_stream_of_it_arrived():
    def rec(kind, minute, status, translation=False):
        return FetchRecord("u", kind, T0 + timedelta(minutes=minute), translation, status)

    gaps = gaps_frame(
        [
            rec("gkg", 0, GAP),
            rec("gkg", 0, FETCHED, translation=True),  # the translated file covers the slot
            rec("gkg", 15, GAP),
            rec("gkg", 15, GAP, translation=True),
            rec("export", 15, HELD),
            rec("export", 30, GAP),
        ]
    )
    assert gaps.rows() == [
        ("export", T0 + timedelta(minutes=30), date(2023, 10, 6)),
        ("gkg", T0 + timedelta(minutes=15), date(2023, 10, 6)),
    ]


def test_unreachable_lists_are_errors_naming_the_list():
    base = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(GdeltHttpError, match="lastupdate.txt"):
        latest_slot(base, timeout=2, retry=FAST)
    with pytest.raises(GdeltHttpError, match="masterfilelist.txt"):
        gaps_from_master_list(base, T0, T0 + timedelta(hours=1), timeout=2, retry=FAST)


def test_an_empty_lastupdate_is_an_error_naming_it(tmp_path):
    with GdeltServer(tmp_path) as server:  # nothing published yet
        with pytest.raises(GdeltHttpError, match=r"lastupdate\.txt names no slot file"):
            latest_slot(server.base_url, retry=FAST)


def test_a_cut_short_list_is_read_again(tmp_path):
    with GdeltServer(tmp_path) as server:
        server.add_slot(T0)
        server.cut("lastupdate.txt")
        assert latest_slot(server.base_url, retry=FAST).slot_at == T0
        assert server.requests["lastupdate.txt"] == 2
