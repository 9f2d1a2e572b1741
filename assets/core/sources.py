"""Source stores: one small interface over a local folder and an S3 bucket prefix (boto3)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class SourceError(RuntimeError):
    """A source store could not be read; the message names the store and what went wrong."""


@dataclass(frozen=True)
class SourceObject:
    """One file in a source store."""

    key: str  # path relative to the store root, '/'-separated
    uri: str  # where it lives: an absolute file path or s3://bucket/key
    size: int
    etag: str | None = None


class SourceStore(Protocol):
    uri: str

    def list(self, prefix: str = "") -> Iterator[SourceObject]:
        """Every object whose key starts with `prefix`, recursively, sorted by key."""
        ...

    def read(self, key: str) -> bytes: ...


class LocalSourceStore:
    """A folder on disk. A missing folder is an empty store, not an error."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def list(self, prefix: str = "") -> Iterator[SourceObject]:
        if not self.root.is_dir():
            return
        base = self.root / prefix if prefix else self.root
        # The prefix may end inside a name (s3 semantics); walk from its folder and filter.
        start = base if base.is_dir() else base.parent
        if not start.is_dir() or not start.is_relative_to(self.root):
            return
        found = []
        for path in start.rglob("*"):
            if not path.is_file() or path.name.startswith("."):
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                found.append((key, path))
        for key, path in sorted(found):
            stat = path.stat()
            yield SourceObject(key=key, uri=str(path), size=stat.st_size, etag=None)

    def read(self, key: str) -> bytes:
        path = self.root / key
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _s3_client(anonymous: bool | None = None):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.Session(profile_name=os.environ.get("AWS_PROFILE") or None)
    if anonymous is None:
        anonymous = os.environ.get("BORDERWATCH_S3_ANONYMOUS", "").lower() in {"1", "true", "yes"}
        if not anonymous and session.get_credentials() is None:
            anonymous = True  # no credentials anywhere: public buckets still work
    config = Config(
        signature_version=UNSIGNED if anonymous else None,
        s3={"addressing_style": "path" if os.environ.get("AWS_ENDPOINT_URL") else "auto"},
        retries={"max_attempts": 5, "mode": "standard"},
    )
    # boto3 reads AWS_ENDPOINT_URL itself; passing it keeps older botocore releases right too.
    return session.client(
        "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, config=config
    )


class S3SourceStore:
    """A bucket prefix read through boto3 (AWS, SeaweedFS, MinIO, R2, ...)."""

    def __init__(self, uri: str, client=None, anonymous: bool | None = None):
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise SourceError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.client = client or _s3_client(anonymous)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str = "") -> Iterator[SourceObject]:
        full = self._full(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith("/"):
                        continue
                    yield SourceObject(
                        key=obj["Key"][strip:],
                        uri=f"s3://{self.bucket}/{obj['Key']}",
                        size=obj["Size"],
                        etag=obj.get("ETag", "").strip('"') or None,
                    )
        except Exception as exc:  # botocore raises many types; name the store in all of them
            raise SourceError(f"cannot list s3://{self.bucket}/{full}: {exc}") from exc

    def list_common_prefixes(self, prefix: str) -> list[str]:
        """Immediate sub-prefixes below `prefix` (keys relative to the store root)."""
        full = self._full(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        out = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
            out.extend(p["Prefix"][strip:] for p in page.get("CommonPrefixes", []))
        return out

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except Exception as exc:
            raise SourceError(f"cannot read s3://{self.bucket}/{self._full(key)}: {exc}") from exc


def open_source_store(uri: str | Path, anonymous: bool | None = None) -> SourceStore:
    """A local folder path or an s3://bucket/prefix URI."""
    text = str(uri)
    if text.startswith("s3://"):
        return S3SourceStore(text, anonymous=anonymous)
    if "://" in text and not text.startswith("file://"):
        raise SourceError(f"unsupported source store {text!r}: use a folder or s3://bucket/prefix")
    return LocalSourceStore(text.removeprefix("file://"))
