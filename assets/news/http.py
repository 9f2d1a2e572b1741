"""GDELT 2.0 over HTTP: slot files streamed into the raw zone (md5 checked, retried, in parallel).

A run never downloads GDELT's master file list (hundreds of MB a year). File URLs are built from
the 15-minute slot times (`{base}{YYYYMMDDHHMMSS}.export.CSV.zip`, `.mentions.CSV.zip`,
`.gkg.csv.zip`, and `.translation.` variants), and `lastupdate.txt` (three lines) says which slot
is the newest published. Each file is streamed to a temporary file in the raw zone, hashed on the
way and renamed to its sha256 name, so memory stays at one chunk per download whatever the window.
Files the caller already holds are skipped through its `already_have(url)` callback; this module
never touches the warehouse. The master list is read (streamed, line by line) only by
`gaps_from_master_list`, when a caller asks which slots GDELT never published.

A slot whose file answers 404/410 is a gap: recorded, not an error. A slot after the newest one
in lastupdate.txt is not published yet: neither fetched nor a gap. Connection errors, timeouts,
cut-short bodies, 429 and 5xx are retried with backoff (stamina); anything else, and a file whose
md5 differs from the listed one, is an error naming the URL.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple

import polars as pl
import stamina

from assets.core.rawzone import DigestMismatch, RawFile, RawZone
from assets.news.gdelt import GAP_SCHEMA, KINDS, SLOT_MINUTES, TS_FORMAT, parse_slot_name

DEFAULT_BASE_URL = "http://data.gdeltproject.org/gdeltv2/"
MASTER_LIST = "masterfilelist.txt"
LAST_UPDATE = "lastupdate.txt"
TRANSLATION_MASTER_LIST = "masterfilelist-translation.txt"
TRANSLATION_LAST_UPDATE = "lastupdate-translation.txt"
# GDELT's own spelling: Events and Mentions upper-case CSV, GKG lower-case.
SUFFIXES = {"export": "export.CSV.zip", "mentions": "mentions.CSV.zip", "gkg": "gkg.csv.zip"}
MANIFEST_PREFIX = "news/gdelt/"
USER_AGENT = "borderwatch-gdelt-fetch/1"
CHUNK_BYTES = 1 << 20
SLOT = timedelta(minutes=SLOT_MINUTES)

# FetchRecord.status values.
FETCHED, HELD, GAP, UNPUBLISHED = "fetched", "held", "gap", "unpublished"


class GdeltHttpError(RuntimeError):
    """A list or file could not be used; the message names the URL."""


@dataclass(frozen=True)
class FileListEntry:
    """One `size md5 url` line of a GDELT file list (masterfilelist.txt, lastupdate.txt)."""

    size: int
    md5: str
    url: str
    kind: str
    slot_at: datetime
    translation: bool


def parse_file_list_line(line: str) -> FileListEntry | None:
    """`150383 297a16b493de7cf6ca809a7cc31d0b93 http://.../20150218230000.export.CSV.zip`
    -> FileListEntry; None for a line that does not name a slot file."""
    parts = line.split()
    if len(parts) != 3:
        return None
    size, md5, url = parts
    slot = parse_slot_name(url)
    if slot is None or not size.isdigit():
        return None
    return FileListEntry(int(size), md5.lower(), url, slot.kind, slot.slot_at, slot.translation)


def parse_file_list(text: str) -> list[FileListEntry]:
    """Entries of a GDELT file list; lines that do not name a slot file are skipped."""
    return [e for e in map(parse_file_list_line, text.splitlines()) if e is not None]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for one request (stamina): exponential from wait_initial up to wait_max, with
    jitter, at most `attempts` tries and `timeout` seconds in all. A server's Retry-After is
    honoured up to wait_max."""

    attempts: int = 5
    timeout: float = 300.0
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class SlotRef:
    """One file GDELT may publish: its URL and, when a list gave them, its size and md5."""

    url: str
    kind: str
    slot_at: datetime
    translation: bool = False
    size: int | None = None
    md5: str | None = None


@dataclass(frozen=True)
class FetchRecord:
    """What happened to one slot file; small enough to keep one per file of a year's run.

    status: "fetched" (now in the raw zone: sha256, path, bytes, md5 set), "held" (skipped,
    already_have said so), "gap" (the server answered 404/410), "unpublished" (after the newest
    slot of lastupdate.txt: not fetched, not a gap).
    """

    url: str
    kind: str
    slot_at: datetime
    translation: bool
    status: str
    sha256: str | None = None
    path: Path | None = None
    bytes: int | None = None
    md5: str | None = None

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def manifest_key(self) -> str:
        """The raw.manifest source_key: news/gdelt/<file name>, what a replay lists."""
        return MANIFEST_PREFIX + self.name

    def raw_file(self) -> RawFile:
        """The fetched file as the staging code reads raw files."""
        if self.status != FETCHED or self.sha256 is None or self.path is None:
            raise ValueError(f"{self.url} was not fetched (status {self.status})")
        return RawFile(self.url, self.manifest_key, self.sha256, self.bytes or 0, None, self.path)


class LatestSlot(NamedTuple):
    """The newest published slot and the files lastupdate.txt lists for it (with md5s)."""

    slot_at: datetime
    files: list[FileListEntry]


class MasterListWindow(NamedTuple):
    """What the master list(s) say about a window: the listed files (with md5s, to pass to
    fetch_slots as `listed`) and the slots never published (GAP_SCHEMA frame)."""

    listed: list[FileListEntry]
    gaps: pl.DataFrame


# ---------------------------------------------------------------------------------------------
# Slots and URLs


def _as_utc(t: date | datetime) -> datetime:
    if isinstance(t, datetime):
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return datetime.combine(t, time(0), tzinfo=UTC)


def slots_between(start: date | datetime, end: date | datetime) -> list[datetime]:
    """Every 15-minute slot time in [start, end), UTC. Dates mean midnight UTC; naive datetimes
    are taken as UTC; a start between slots begins at the next slot."""
    lo, hi = _as_utc(start), _as_utc(end)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = -((epoch - lo) // SLOT)  # ceiling: the first slot at or after start
    t = epoch + steps * SLOT
    out = []
    while t < hi:
        out.append(t)
        t += SLOT
    return out


def _base(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


def slot_url(base_url: str, slot_at: datetime, kind: str, translation: bool = False) -> str:
    """`{base}20231006120000.gkg.csv.zip`, `{base}20231006120000.translation.export.CSV.zip`."""
    if kind not in SUFFIXES:
        raise ValueError(f"unknown GDELT kind {kind!r}; expected one of {', '.join(SUFFIXES)}")
    stream = "translation." if translation else ""
    return f"{_base(base_url)}{_as_utc(slot_at):{TS_FORMAT}}.{stream}{SUFFIXES[kind]}"


def slot_files(
    base_url: str, slots: Iterable[datetime], kinds=KINDS, translation: bool = False
) -> list[SlotRef]:
    """The files of `slots`, by slot, then kind in `kinds` order, English before translation."""
    streams = (False, True) if translation else (False,)
    return [
        SlotRef(slot_url(base_url, t, kind, tr), kind, _as_utc(t), tr)
        for t in sorted({_as_utc(t) for t in slots})
        for kind in kinds
        for tr in streams
    ]


# ---------------------------------------------------------------------------------------------
# HTTP with retries


class _Transient(Exception):
    """A failure worth another try (5xx, 429, a body cut short)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _retry_hook(policy: RetryPolicy) -> Callable[[Exception], bool | float]:
    def hook(exc: Exception) -> bool | float:
        if isinstance(exc, _Transient):
            return True if exc.retry_after is None else min(exc.retry_after, policy.wait_max)
        if isinstance(exc, urllib.error.HTTPError):
            return False  # turned into _Transient or a final answer before it gets here
        if isinstance(exc, urllib.error.URLError):
            # Refused, reset, DNS hiccup, timeout: all arrive wrapped as OSError reasons.
            return isinstance(exc.reason, OSError)
        return isinstance(exc, TimeoutError | ConnectionError | http.client.HTTPException)

    return hook


def _retrying(policy: RetryPolicy):
    return stamina.retry_context(
        on=_retry_hook(policy),
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    )


def _open(url: str, timeout: float):
    """The response for `url`; 404/410 raise HTTPError as is, retryable statuses _Transient."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - configured base URL
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 429 or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code}", _retry_after(exc)) from None
        raise


def _body_chunks(response, chunk_bytes: int) -> Iterator[bytes]:
    """The body in chunks; a body shorter than its Content-Length is an error (urllib's
    read(n) just returns less when the connection drops)."""
    length = response.headers.get("Content-Length")
    got = 0
    while chunk := response.read(chunk_bytes):
        got += len(chunk)
        yield chunk
    if length is not None and length.isdigit() and got != int(length):
        raise _Transient(f"connection closed after {got} of {length} bytes")


def _failure(exc: BaseException) -> str:
    if isinstance(exc, _Transient):
        return str(exc)
    return f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"


def _stream_list(
    url: str, timeout: float, retry: RetryPolicy, keep: Callable[[FileListEntry], bool]
) -> tuple[list[FileListEntry], datetime | None]:
    """The entries of a (large) list that `keep` accepts, and the newest slot of the whole list;
    only kept entries stay in memory."""
    try:
        for attempt in _retrying(retry):
            with attempt:
                kept, newest, got = [], None, 0
                with _open(url, timeout) as response:
                    length = response.headers.get("Content-Length")
                    for raw in response:
                        got += len(raw)
                        entry = parse_file_list_line(raw.decode("utf-8", errors="replace"))
                        if entry is None:
                            continue
                        if newest is None or entry.slot_at > newest:
                            newest = entry.slot_at
                        if keep(entry):
                            kept.append(entry)
                if length is not None and length.isdigit() and got != int(length):
                    raise _Transient(f"connection closed after {got} of {length} bytes")
                return kept, newest
    except urllib.error.HTTPError as exc:
        raise GdeltHttpError(f"cannot read GDELT file list {url}: HTTP {exc.code}") from exc
    except (_Transient, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise GdeltHttpError(f"cannot read GDELT file list {url}: {_failure(exc)}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Public API


def latest_slot(
    base_url: str = DEFAULT_BASE_URL,
    translation: bool = False,
    timeout: float = 30.0,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> LatestSlot:
    """The newest published slot, from lastupdate.txt (lastupdate-translation.txt with
    translation=True), with the files listed for it (their md5s let fetch_slots check them)."""
    url = _base(base_url) + (TRANSLATION_LAST_UPDATE if translation else LAST_UPDATE)
    entries, _ = _stream_list(url, timeout, retry, lambda e: True)
    if not entries:
        raise GdeltHttpError(f"GDELT list {url} names no slot file")
    newest = max(e.slot_at for e in entries)
    return LatestSlot(newest, [e for e in entries if e.slot_at == newest])


def fetch_slots(
    base_url: str,
    slots: Iterable[datetime],
    zone: RawZone,
    already_have: Callable[[str], bool],
    *,
    kinds=KINDS,
    translation: bool = False,
    published_until: datetime | None = None,
    listed: Iterable[FileListEntry] = (),
    workers: int = 4,
    timeout: float = 60.0,
    retry: RetryPolicy = DEFAULT_RETRY,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[FetchRecord]:
    """Stream the files of `slots` into `zone`; yield one FetchRecord per file, in slot order.

    - `already_have(url)`: True for a file the caller already holds (its raw.manifest row); it
      is skipped (status "held") without a request. Called from the calling thread only, so it
      may use a DuckDB connection.
    - `published_until`: the newest published slot; later slots are "unpublished" (not fetched,
      not gaps). None: read it from lastupdate.txt (and lastupdate-translation.txt) first.
    - `listed`: file-list entries (latest_slot().files, gaps_from_master_list().listed) whose
      md5 and size are then checked; other files are kept as received.
    - `workers` downloads run at once; a 404/410 is a gap; connection errors, timeouts, cut-short
      bodies, 429 and 5xx are retried per `retry`.

    On a failure (a wrong md5, another 4xx, retries exhausted) no new download starts, the ones
    running finish and are yielded, then GdeltHttpError names the URL(s). Records are yielded as
    they complete in order, so a caller that writes each to the manifest keeps every finished
    file even when a later one fails.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    refs = slot_files(base_url, slots, kinds, translation)
    known = {e.url: e for e in listed}
    if published_until is None:
        newest = {False: latest_slot(base_url, False, timeout, retry).slot_at}
        if translation:
            newest[True] = latest_slot(base_url, True, timeout, retry).slot_at
    else:
        newest = {False: _as_utc(published_until), True: _as_utc(published_until)}

    def immediate(ref: SlotRef, status: str) -> FetchRecord:
        return FetchRecord(ref.url, ref.kind, ref.slot_at, ref.translation, status)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gdelt-fetch")
    # Records leave in slot order; at most 2 x workers downloads are queued at once, so a year
    # of slots is never submitted (or held as futures) in one go.
    window: deque[FetchRecord | Future] = deque()
    queued = 0
    errors: list[str] = []
    try:
        for ref in refs:
            if errors:
                break
            entry = known.get(ref.url)
            if entry is not None:
                ref = replace(ref, size=entry.size, md5=entry.md5)
            if ref.slot_at > newest[ref.translation]:
                window.append(immediate(ref, UNPUBLISHED))
            elif already_have(ref.url):
                window.append(immediate(ref, HELD))
            else:
                window.append(pool.submit(_download, ref, zone, timeout, retry, chunk_bytes))
                queued += 1
            # Hand out what is ready at the head; wait on the head only when the queue is full.
            while window and (
                isinstance(window[0], FetchRecord) or window[0].done() or queued >= 2 * workers
            ):
                item = window.popleft()
                queued -= isinstance(item, Future)
                yield from _settle(item, errors)
        while window:
            yield from _settle(window.popleft(), errors)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise GdeltHttpError(errors[0] + more + "".join(f"\n  {e}" for e in errors[1:5]))


def _settle(item, errors: list[str]) -> Iterator[FetchRecord]:
    """Yield a record, or wait for a download; a failure is noted, not yielded."""
    if isinstance(item, FetchRecord):
        if not errors:
            yield item
        return
    try:
        record = item.result()
    except GdeltHttpError as exc:
        errors.append(str(exc))
        return
    yield record


def _download(
    ref: SlotRef, zone: RawZone, timeout: float, retry: RetryPolicy, chunk_bytes: int
) -> FetchRecord:
    url = ref.url
    try:
        for attempt in _retrying(retry):
            with attempt:
                try:
                    response = _open(url, timeout)
                except urllib.error.HTTPError as exc:
                    if exc.code in (404, 410):
                        return FetchRecord(url, ref.kind, ref.slot_at, ref.translation, GAP)
                    raise GdeltHttpError(f"cannot download {url}: HTTP {exc.code}") from None
                with response:
                    stored = zone.put_stream(
                        _body_chunks(response, chunk_bytes),
                        expected_md5=ref.md5,
                        expected_size=ref.size,
                        label=url,
                    )
                return FetchRecord(
                    url, ref.kind, ref.slot_at, ref.translation, FETCHED,
                    stored.sha256, stored.path, stored.size, stored.md5,
                )  # fmt: skip
    except DigestMismatch as exc:
        raise GdeltHttpError(f"GDELT file {exc} (the list and the file disagree)") from None
    except GdeltHttpError:
        raise
    except (_Transient, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        retried = " (gave up after retrying)" if _retry_hook(retry)(exc) is not False else ""
        raise GdeltHttpError(f"cannot download {url}{retried}: {_failure(exc)}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def gaps_frame(records: Iterable[FetchRecord]) -> pl.DataFrame:
    """staging.gdelt_slot_gaps rows (kind, slot_at, slot_on) from fetch records.

    A (kind, slot) is a gap when one of its files answered 404 and none of them (English or
    translation) was fetched or held, as a translation file counts for its kind elsewhere."""
    got, missing = set(), set()
    for r in records:
        if r.status in (FETCHED, HELD):
            got.add((r.kind, r.slot_at))
        elif r.status == GAP:
            missing.add((r.kind, r.slot_at))
    rows = [(kind, t, t.date()) for kind, t in missing - got]
    return pl.DataFrame(rows, schema=GAP_SCHEMA, orient="row").sort("kind", "slot_at")


def gaps_from_master_list(
    base_url: str,
    start: date | datetime,
    end: date | datetime,
    kinds=KINDS,
    translation: bool = False,
    timeout: float = 120.0,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> MasterListWindow:
    """Slots of [start, end) that GDELT never published, per its master list(s), read only when
    asked (a backfill audit, a sensor), streamed line by line; slots after the newest listed
    one are not gaps. Also returns the window's listed files, whose md5s fetch_slots can check.
    """
    lo, hi = _as_utc(start), _as_utc(end)

    def keep(e: FileListEntry) -> bool:
        return e.kind in kinds and lo <= e.slot_at < hi

    names = [MASTER_LIST, TRANSLATION_MASTER_LIST] if translation else [MASTER_LIST]
    listed: list[FileListEntry] = []
    newest: datetime | None = None
    for name in names:
        kept, last = _stream_list(_base(base_url) + name, timeout, retry, keep)
        listed.extend(kept)
        if last is not None and (newest is None or last > newest):
            newest = last
    present = {(e.kind, e.slot_at) for e in listed}
    until = min(hi, newest + SLOT) if newest is not None else lo
    missing = [
        (kind, t, t.date())
        for t in slots_between(lo, until)
        for kind in kinds
        if (kind, t) not in present
    ]
    gaps = pl.DataFrame(missing, schema=GAP_SCHEMA, orient="row").sort("kind", "slot_at")
    return MasterListWindow(sorted(listed, key=lambda e: (e.slot_at, e.url)), gaps)

