"""The GDELT HTTP file-list backend against a local http.server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime

import pytest

from assets.news.http import GdeltHttpError, GdeltHttpFiles, fetch_window


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gdelt_server(tmp_path_factory, zip_member):
    root = tmp_path_factory.mktemp("gdeltv2")
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    listed = []
    for ts in ("20231006000000", "20231006001500", "20231006003000"):
        name = f"{ts}.gkg.csv.zip"
        data = zip_member(name[:-4], b"x\ty\n")
        if ts != "20231006003000":  # listed but never served: a gap
            (root / name).write_bytes(data)
        listed.append(f"{len(data)} {hashlib.md5(data).hexdigest()} {base}{name}")
    other_day = zip_member("20231007000000.gkg.csv", b"z\n")
    (root / "20231007000000.gkg.csv.zip").write_bytes(other_day)
    listed.append(
        f"{len(other_day)} {hashlib.md5(other_day).hexdigest()} {base}20231007000000.gkg.csv.zip"
    )
    listed.append(f"12 0123456789abcdef0123456789abcdef {base}20231006000000.export.CSV.zip")
    (root / "20231006000000.export.CSV.zip").write_bytes(b"not what the list says")
    (root / "masterfilelist.txt").write_text("\n".join(listed) + "\n")
    (root / "lastupdate.txt").write_text(listed[1] + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "masterfilelist.txt", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("local http.server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_window_download_verifies_md5_and_reports_gaps(gdelt_server):
    files, gaps = fetch_window(gdelt_server, date(2023, 10, 6), date(2023, 10, 7), kinds=("gkg",))
    names = [url.rsplit("/", 1)[-1] for url, _ in files]
    assert names == ["20231006000000.gkg.csv.zip", "20231006001500.gkg.csv.zip"]
    assert all(data[:2] == b"PK" for _, data in files)
    # 96 slots a day; two downloaded; the listed-but-missing 00:30 slot is one of the gaps.
    assert gaps.height == 94
    assert datetime(2023, 10, 6, 0, 30, tzinfo=UTC) in gaps["slot_at"].to_list()
    assert set(gaps["kind"]) == {"gkg"}


def test_last_update_selects_the_latest_slot(gdelt_server):
    entries = GdeltHttpFiles(gdelt_server).select(
        date(2023, 10, 6), date(2023, 10, 8), kinds=("gkg",), use_last_update=True
    )
    assert [e.slot_at for e in entries] == [datetime(2023, 10, 6, 0, 15, tzinfo=UTC)]


def test_md5_mismatch_is_an_error_naming_the_file(gdelt_server):
    files = GdeltHttpFiles(gdelt_server)
    entries = files.select(date(2023, 10, 6), date(2023, 10, 7), kinds=("export",))
    with pytest.raises(GdeltHttpError, match="20231006000000.export.CSV.zip"):
        list(files.download(entries))


def test_unreachable_base_url_names_the_list(gdelt_server):
    port = _free_port()
    with pytest.raises(GdeltHttpError, match="masterfilelist.txt"):
        GdeltHttpFiles(f"http://127.0.0.1:{port}/", timeout=2).file_list()
