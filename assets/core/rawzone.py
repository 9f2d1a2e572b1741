"""The raw zone: every fetched file stored once under its sha256, with a manifest row per source URI."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


class RawZone:
    """Content-addressed, write-once file store: raw/<sha[:2]>/<sha>."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> tuple[str, Path]:
        sha = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside, then rename: a crash never leaves a half file under a valid hash.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return sha, path


MANIFEST_DDL = """
create schema if not exists raw;
create table if not exists raw.manifest (
    source_uri varchar not null,
    source_key varchar not null,
    sha256 varchar not null,
    bytes bigint not null,
    fetched_at timestamptz not null,
    etag varchar,
    primary key (source_uri, sha256)
);
"""


def record_raw(con, zone: RawZone, source_uri: str, key: str, data: bytes, etag=None) -> RawFile:
    """Keep bytes fetched from anywhere (a file, an API page) in the raw zone and the manifest."""
    con.execute(MANIFEST_DDL)
    sha, path = zone.put(data)
    con.execute(
        """
        insert into raw.manifest (source_uri, source_key, sha256, bytes, fetched_at, etag)
        values ($source_uri, $source_key, $sha256, $bytes, $fetched_at, $etag)
        on conflict do nothing
        """,
        {
            "source_uri": source_uri,
            "source_key": key,
            "sha256": sha,
            "bytes": len(data),
            "fetched_at": datetime.now(UTC),
            "etag": etag,
        },
    )
    return RawFile(source_uri, key, sha, len(data), etag, path)


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
    out = []
    for i, obj in enumerate(objects, 1):
        key = obj.key
        if namespace and not key.startswith(namespace + "/"):
            key = f"{namespace}/{key}"
        out.append(record_raw(con, zone, obj.uri, key, store.read(obj.key), obj.etag))
        if log is not None and (i % 200 == 0 or i == len(objects)):
            log(f"fetched {i}/{len(objects)} files from {store.uri}")
    return out


def raw_files_from_manifest(con, zone: RawZone, key_prefix: str) -> list[RawFile]:
    """The newest manifest version of every source file under `key_prefix`: replay without network."""
    con.execute(MANIFEST_DDL)
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
