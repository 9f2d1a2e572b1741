"""Manifest rows of streamed GDELT files are written in batches, and none is lost on an error."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from assets.core import rawzone
from assets.core.rawzone import ManifestWriter, RawFile


def _raw(i: int) -> RawFile:
    return RawFile(
        f"http://gdelt.test/gdeltv2/2023100600{i:04d}.gkg.csv.zip",
        f"news/gdelt/2023100600{i:04d}.gkg.csv.zip",
        f"{i:064x}",
        100 + i,
        None,
        Path("unused"),
    )


def _count(con) -> int:
    return con.execute("select count(*) from raw.manifest").fetchone()[0]


def test_rows_are_written_in_batches_and_the_rest_on_close(monkeypatch):
    con = duckdb.connect()
    batches = []
    write = rawzone.record_manifest_rows

    def counted(c, rows):
        batches.append(len(rows))
        write(c, rows)

    monkeypatch.setattr(rawzone, "record_manifest_rows", counted)
    with ManifestWriter(con, every=4, seconds=3600) as manifest:
        for i in range(10):
            manifest.add(_raw(i))
            assert sum(batches) == (i + 1) // 4 * 4  # only whole batches so far
    assert batches == [4, 4, 2]  # one commit per batch, not one per file
    rows = con.execute("select source_uri, sha256, bytes from raw.manifest order by 1").fetchall()
    assert rows == [(r.source_uri, r.sha256, r.bytes) for r in map(_raw, range(10))]


def test_an_error_in_the_loop_still_writes_what_was_fetched_and_is_the_one_raised():
    con = duckdb.connect()
    with pytest.raises(RuntimeError, match="download failed"):
        with ManifestWriter(con, every=100) as manifest:
            manifest.add(_raw(1))
            manifest.add(_raw(2))
            raise RuntimeError("download failed")
    assert _count(con) == 2


def test_a_row_already_held_is_kept_as_it_is():
    con = duckdb.connect()
    with ManifestWriter(con) as manifest:
        manifest.add(_raw(1))
    first = con.execute("select fetched_at from raw.manifest").fetchall()
    with ManifestWriter(con) as manifest:
        manifest.add(_raw(1))
        manifest.add(_raw(1))
    assert con.execute("select fetched_at from raw.manifest").fetchall() == first


def test_a_slow_trickle_is_written_once_the_batch_is_old_enough():
    con = duckdb.connect()
    with ManifestWriter(con, every=100, seconds=0) as manifest:
        for i in range(3):
            manifest.add(_raw(i))
            assert _count(con) == i + 1
