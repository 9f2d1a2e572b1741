"""GDELT's HTTP file lists (masterfilelist.txt, lastupdate.txt): pick a window, download, check md5.

Used only when a GDELT base URL is configured. Each list line is `size md5 url`. A slot of the
window that the list does not hold, or whose file cannot be downloaded, is a gap, not an error;
a file whose bytes do not match the listed md5 is an error (the mirror is corrupt).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import polars as pl

from assets.news.gdelt import KINDS, gdelt_slot_gaps, parse_slot_name

DEFAULT_BASE_URL = "http://data.gdeltproject.org/gdeltv2/"
MASTER_LIST = "masterfilelist.txt"
LAST_UPDATE = "lastupdate.txt"
TRANSLATION_MASTER_LIST = "masterfilelist-translation.txt"


class GdeltHttpError(RuntimeError):
    """A list or file could not be used; the message names the URL."""


@dataclass(frozen=True)
class FileListEntry:
    size: int
    md5: str
    url: str
    kind: str
    slot_at: datetime
    translation: bool


def parse_file_list(text: str) -> list[FileListEntry]:
    """Entries of a GDELT file list; lines that do not name a slot file are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        size, md5, url = parts
        slot = parse_slot_name(url)
        if slot is None or not size.isdigit():
            continue
        out.append(
            FileListEntry(int(size), md5.lower(), url, slot.kind, slot.slot_at, slot.translation)
        )
    return out


def _get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - configured http(s) base
        return resp.read()


class GdeltHttpFiles:
    """The file lists under one base URL (GDELT's, or a mirror)."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout: float = 60.0):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout

    def file_list(self, name: str = MASTER_LIST) -> list[FileListEntry]:
        url = self.base_url + name
        try:
            return parse_file_list(_get(url, self.timeout).decode("utf-8", errors="replace"))
        except (urllib.error.URLError, OSError) as exc:
            raise GdeltHttpError(f"cannot read GDELT file list {url}: {exc}") from exc

    def select(
        self,
        start: date,
        end: date,
        kinds=KINDS,
        use_last_update: bool = False,
        translation: bool = False,
    ) -> list[FileListEntry]:
        """Listed files of `kinds` whose slot lies in [start, end), sorted by slot and URL."""
        names = [LAST_UPDATE] if use_last_update else [MASTER_LIST]
        if translation and not use_last_update:
            names.append(TRANSLATION_MASTER_LIST)
        lo = datetime.combine(start, time(0), tzinfo=UTC)
        hi = datetime.combine(end, time(0), tzinfo=UTC)
        entries = []
        for name in names:
            entries.extend(
                e for e in self.file_list(name) if e.kind in kinds and lo <= e.slot_at < hi
            )
        return sorted(entries, key=lambda e: (e.slot_at, e.url))

    def download(self, entries: list[FileListEntry]) -> Iterator[tuple[str, bytes | None]]:
        """(url, bytes) per entry, md5 verified; bytes None when the server has no such file."""
        for entry in entries:
            try:
                data = _get(entry.url, self.timeout)
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 410):
                    yield entry.url, None
                    continue
                raise GdeltHttpError(f"cannot download {entry.url}: HTTP {exc.code}") from exc
            except (urllib.error.URLError, OSError) as exc:
                raise GdeltHttpError(f"cannot download {entry.url}: {exc}") from exc
            digest = hashlib.md5(data).hexdigest()
            if digest != entry.md5:
                raise GdeltHttpError(
                    f"{entry.url}: md5 {digest} does not match the listed {entry.md5}"
                )
            yield entry.url, data


def fetch_window(
    base_url: str, start: date, end: date, kinds=KINDS, timeout: float = 60.0
) -> tuple[list[tuple[str, bytes]], pl.DataFrame]:
    """Download every listed file of the window; gaps = slots never listed or not downloadable."""
    files = GdeltHttpFiles(base_url, timeout)
    entries = files.select(start, end, kinds)
    got = []
    present = []
    by_url = {e.url: e for e in entries}
    for url, data in files.download(entries):
        if data is None:
            continue
        got.append((url, data))
        present.append((by_url[url].kind, by_url[url].slot_at))
    return got, gdelt_slot_gaps(present, start, end, kinds=kinds)
