"""The raw zone: every fetched file stored once under its sha256, with a manifest row per source URI."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from assets.core.lake import transact
from assets.core.sources import SourceObject, SourceStore


@dataclass(frozen=True)
class RawFile:
    """A source file as kept in the raw zone."""

    source_uri: str
    key: str  # key inside the source store, e.g. reported/csis.csv
    sha256: str
    bytes: int
    etag: str | None
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


# Temporary files of writes in progress. A writer holds an exclusive flock on its file from
# creation until it is renamed or removed; a process that dies (SIGKILL, out of memory) holds
# none, so RawZone.sweep_incoming can tell a dead writer's leftover from a live one's file.
INCOMING_PREFIX = ".incoming-"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a crash after it must not bring the old name back)."""
    with contextlib.suppress(OSError):  # some filesystems refuse to open or sync a folder
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class RawZone:
    """Content-addressed, write-once file store: raw/<sha[:2]>/<sha>.

    Crash-safe: bytes go to a locked temporary file `.incoming-*` in the zone's root, are
    fsynced, then renamed to their sha256 name (and the folder fsynced), so a file under a hash
    name is always whole. A writer killed half-way leaves only its temporary file, which the
    zone's first write in the next process removes (sweep_incoming); a file another live
    process is writing is never touched.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._swept = False

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    # -- temporary files

    def _incoming(self) -> tuple[int, str]:
        """A new temporary file in the root, open and locked; the caller closes the descriptor
        (releasing the lock) only after the file was renamed or removed."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        if not self._swept:
            self._swept = True
            self.sweep_incoming()
        while True:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=INCOMING_PREFIX)
            fcntl.flock(fd, fcntl.LOCK_EX)  # a sweeper holds it only for an instant
            if os.fstat(fd).st_nlink > 0:
                return fd, tmp
            os.close(fd)  # swept between mkstemp and flock: take another name

    def sweep_incoming(self) -> list[Path]:
        """Remove temporary files whose writer died (no lock held on them); return them.

        Looks in the root and its two-character folders (where earlier versions wrote them)."""
        import fcntl

        if not self.root.is_dir():
            return []
        folders = [self.root]
        with os.scandir(self.root) as entries:
            folders += [
                Path(e.path)
                for e in entries
                if len(e.name) == 2 and e.is_dir(follow_symlinks=False)
            ]
        removed: list[Path] = []
        for folder in folders:
            with os.scandir(folder) as entries:
                names = [e.name for e in entries if e.name.startswith(INCOMING_PREFIX)]
            for name in names:
                path = folder / name
                try:
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                except OSError:
                    continue  # renamed or removed meanwhile, or a link: not ours to touch
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live writer holds it
                    opened, now = os.fstat(fd), os.lstat(path)
                    if (opened.st_dev, opened.st_ino) != (now.st_dev, now.st_ino):
                        continue
                    os.unlink(path)
                    removed.append(path)
                except OSError:
                    continue
                finally:
                    os.close(fd)
        return removed

    def _keep(self, tmp: str, sha_hex: str, size: int) -> Path:
        """Give the (fsynced) temporary file its sha256 name, unless a whole copy is there."""
        path = self.path_for(sha_hex)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            held = path.stat().st_size == size
        except FileNotFoundError:
            held = False
        if held:
            os.unlink(tmp)  # write-once: the same bytes are already held
        else:
            # Missing, or short (a copy from before writes were synced): replaced whole.
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        return path

    # -- writes

    def put(self, data: bytes) -> tuple[str, Path]:
        sha = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == len(data):
                return sha, path
        # Write beside, sync, then rename: a crash never leaves a half file under a valid hash.
        fd, tmp = self._incoming()
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            path = self._keep(tmp, sha, len(data))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)
        return sha, path

    def put_stream(
        self,
        chunks: Iterable[bytes],
        *,
        expected_md5: str | None = None,
        expected_size: int | None = None,
        label: str = "stream",
    ) -> StreamedFile:
        """Write chunks to disk as they come, hashing on the way; keep them under their sha256.

        Memory stays at one chunk whatever the file's size. The bytes go to a temporary file in
        the zone's root (same filesystem, so the final rename is atomic) and are renamed to
        their sha256 name only once every chunk arrived and `expected_md5`/`expected_size`
        (when given) match; on any failure, including an exception raised by `chunks` itself,
        the temporary file is removed and nothing is kept. `label` (a URL, a file name) names
        the stream in errors.
        """
        sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        fd, tmp = self._incoming()
        try:
            # closefd=False: the descriptor (and its lock) stays open until the rename.
            with os.fdopen(fd, "wb", closefd=False) as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                fh.flush()
                # On disk before it gets a valid name: a crash must not leave a short file there.
                os.fsync(fh.fileno())
            md5_hex = md5.hexdigest()
            if expected_size is not None and size != expected_size:
                raise DigestMismatch(
                    f"{label}: received {size} bytes, expected {expected_size}; nothing kept"
                )
            if expected_md5 is not None and md5_hex != expected_md5.lower():
                raise DigestMismatch(
                    f"{label}: md5 {md5_hex} does not match the expected {expected_md5.lower()}; "
                    "nothing kept"
                )
            sha_hex = sha.hexdigest()
            path = self._keep(tmp, sha_hex, size)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)
        return StreamedFile(sha_hex, path, size, md5_hex)


class StreamedFile(NamedTuple):
    """What RawZone.put_stream kept: unpacks as (sha256, path, size, md5)."""

    sha256: str
    path: Path
    size: int
    md5: str


class DigestMismatch(ValueError):
    """Streamed bytes did not match the md5 or size they were expected to have; nothing was kept."""


# One file per table: the manifest's DDL is sql/raw/manifest.sql.
MANIFEST_DDL = (Path(__file__).resolve().parents[2] / "sql" / "raw" / "manifest.sql").read_text(
    encoding="utf-8"
)


def record_raw(con, zone: RawZone, source_uri: str, key: str, data: bytes, etag=None) -> RawFile:
    """Keep bytes fetched from anywhere (a file, an API page) in the raw zone and the manifest."""
    sha, path = zone.put(data)
    record_manifest(con, source_uri, key, sha, len(data), etag)
    return RawFile(source_uri, key, sha, len(data), etag, path)


def record_manifest(
    con, source_uri: str, key: str, sha256: str, size: int, etag: str | None = None
) -> None:
    """The manifest row for a file already in the raw zone (streamed there by RawZone.put_stream),
    so it is recorded as it arrives rather than after a whole window. A row for the same
    (source_uri, sha256) is kept as it is: its fetched_at says when the bytes first came."""
    record_manifest_rows(con, [(source_uri, key, sha256, size, datetime.now(UTC), etag)])


def fetch_to_raw(
    store: SourceStore,
    objects: list[SourceObject],
    zone: RawZone,
    con,
    log=None,
    namespace: str = "",
) -> list[RawFile]:
    """Copy objects into the raw zone and the manifest. Bytes already held add nothing.

    `namespace` (e.g. "imagery") prefixes manifest keys that do not already carry it, so a replay
    finds a source's files whatever store they came from.
    """
    out, rows = [], []
    fetched_at = datetime.now(UTC)
    for i, obj in enumerate(objects, 1):
        key = obj.key
        if namespace and not key.startswith(namespace + "/"):
            key = f"{namespace}/{key}"
        data = store.read(obj.key)
        sha, path = zone.put(data)
        out.append(RawFile(obj.uri, key, sha, len(data), obj.etag, path))
        rows.append((obj.uri, key, sha, len(data), fetched_at, obj.etag))
        if log is not None and (i % 500 == 0 or i == len(objects)):
            log(f"fetched {i}/{len(objects)} files from {store.uri}")
    record_manifest_rows(con, rows)
    return out


def record_manifest_rows(con, rows: list[tuple]) -> None:
    """Manifest rows (source_uri, source_key, sha256, bytes, fetched_at, etag) for files already
    in the zone, in one transaction: one lake commit for a whole listing, not one per file. Rows
    whose (source_uri, sha256) the manifest holds are left as they are, also when another run
    records the same file at the same time (its transaction and this one take turns: see
    assets.core.lake.transact)."""
    if not rows:
        return
    import polars as pl

    frame = pl.DataFrame(
        rows,
        schema={
            "source_uri": pl.String,
            "source_key": pl.String,
            "sha256": pl.String,
            "bytes": pl.Int64,
            "fetched_at": pl.Datetime("us", "UTC"),
            "etag": pl.String,
        },
        orient="row",
    ).unique(subset=["source_uri", "sha256"], keep="first", maintain_order=True)
    con.register("_manifest_rows", frame.to_arrow())
    try:
        transact(con, _insert_missing_manifest_rows)
    finally:
        con.unregister("_manifest_rows")


def _insert_missing_manifest_rows(con) -> None:
    con.execute(MANIFEST_DDL)
    con.execute(
        """
        insert into raw.manifest by name
        select n.* from _manifest_rows as n
        anti join raw.manifest as m using (source_uri, sha256)
        """
    )


def _ensure_manifest(con) -> None:
    """raw.manifest exists (created in a transaction of its own if not, as runs starting on a new
    lake all try to)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'raw' and table_name = 'manifest'"
    ).fetchone()[0]
    if not exists:
        transact(con, lambda c: c.execute(MANIFEST_DDL))


class ManifestWriter:
    """Manifest rows for files already in the zone (streamed there one by one), written in
    batches with record_manifest_rows: one transaction (one lake commit) per `every` files or
    after `seconds`, whichever comes first, and the rest when the writer is closed, also when
    an error ends the loop that adds them. A row per file cost a commit per file (seconds for a
    day of GDELT slots). A process killed outright loses at most the rows not yet written:
    their files stay in the zone, are fetched again by the next run and stored once.

        with ManifestWriter(con) as manifest:
            for raw in fetched:
                manifest.add(raw)
    """

    def __init__(self, con, every: int = 32, seconds: float = 10.0):
        self.con, self.every, self.seconds = con, every, seconds
        self._rows: list[tuple] = []
        self._since = 0.0

    def add(self, raw: RawFile) -> None:
        if not self._rows:
            self._since = time.monotonic()
        self._rows.append(
            (raw.source_uri, raw.key, raw.sha256, raw.bytes, datetime.now(UTC), raw.etag)
        )
        if len(self._rows) >= self.every or time.monotonic() - self._since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        rows, self._rows = self._rows, []
        record_manifest_rows(self.con, rows)

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
            return
        # Keep what can be kept, but let the error that ended the loop be the one raised.
        with contextlib.suppress(Exception):
            self.flush()


def raw_files_from_manifest(con, zone: RawZone, key_prefix: str) -> list[RawFile]:
    """The newest manifest version of every source file under `key_prefix`: replay without network."""
    _ensure_manifest(con)
    rows = con.execute(
        """
        select source_uri, source_key, sha256, bytes, etag
        from raw.manifest
        where starts_with(source_key, $prefix)
        qualify row_number() over (partition by source_uri order by fetched_at desc, sha256) = 1
        order by source_key
        """,
        {"prefix": key_prefix},
    ).fetchall()
    return [RawFile(u, k, s, b, e, zone.path_for(s)) for u, k, s, b, e in rows]


def manifest_files_between(
    con, zone: RawZone, key_from: str, key_until: str, uri_prefix: str = ""
) -> dict[str, RawFile]:
    """source_uri -> newest manifest version of each file whose key is in [key_from, key_until)
    and whose URI starts with `uri_prefix`: what a window already holds, in one query (keys that
    start with a timestamp, like GDELT's slot files, sort by time)."""
    _ensure_manifest(con)
    rows = con.execute(
        """
        select source_uri, source_key, sha256, bytes, etag
        from raw.manifest
        where source_key >= $key_from and source_key < $key_until
          and starts_with(source_uri, $uri_prefix)
        qualify row_number() over (partition by source_uri order by fetched_at desc, sha256) = 1
        order by source_key
        """,
        {"key_from": key_from, "key_until": key_until, "uri_prefix": uri_prefix},
    ).fetchall()
    return {u: RawFile(u, k, s, b, e, zone.path_for(s)) for u, k, s, b, e in rows}


class ManifestStore:
    """The raw zone seen as a source store: what was fetched under `namespace`, newest version of
    each source file. A replay lists and reads through it with the same code as a live run, so
    it selects exactly the files a live run over the same window would."""

    def __init__(self, con, zone: RawZone, namespace: str):
        self.uri = f"raw zone {zone.root} ({namespace}/)"
        self.zone = zone
        prefix = namespace.rstrip("/") + "/"
        self._files = {f.key[len(prefix) :]: f for f in raw_files_from_manifest(con, zone, prefix)}

    def list(self, prefix: str = ""):
        from assets.core.sources import SourceObject

        for key in sorted(self._files):
            if key.startswith(prefix):
                f = self._files[key]
                yield SourceObject(key=key, uri=f.source_uri, size=f.bytes, etag=f.etag)

    def read(self, key: str) -> bytes:
        return self._files[key].read()
