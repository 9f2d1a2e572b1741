"""Source stores: one small interface over a local folder and an S3 bucket prefix (boto3)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse


class SourceError(RuntimeError):
    """A source store could not be read; the message names the store and what went wrong."""


# Why a listed object is not read (it still gets an audit row: nothing under a prefix is lost).
UNRECOGNISED = "skipped: not a recognised file name"
SYMLINK = "skipped: a symbolic link; links are never followed out of the source store"
HIDDEN = "skipped: a hidden file or folder (name starts with '.')"
NOT_A_FILE = "skipped: not a regular file"


@dataclass(frozen=True)
class SourceObject:
    """One file in a source store."""

    key: str  # path relative to the store root, '/'-separated
    uri: str  # where it lives: an absolute file path or s3://bucket/key
    size: int
    etag: str | None = None
    # Set when the object is listed but must not be read (a symlink, a hidden file, a name no
    # parser claims): the reason becomes its audit row's warning.
    skip_reason: str | None = None


class Listing(list):
    """What a source lists for a window: a list of the objects to fetch and parse, plus
    `.skipped`: objects under the same prefix that are accounted for (an audit row each, with
    the reason) but never read."""

    def __init__(self, fetch=(), skipped=()):
        super().__init__(fetch)
        self.skipped: list[SourceObject] = list(skipped)


def split_listing(objects, claims) -> Listing:
    """Objects a parser claims (`claims(key) -> bool`) to fetch; the rest, and any the store
    refused (skip_reason set), as skipped with their reason."""
    fetch, skipped = [], []
    for obj in objects:
        if obj.skip_reason:
            skipped.append(obj)
        elif claims(obj.key):
            fetch.append(obj)
        else:
            skipped.append(replace(obj, skip_reason=UNRECOGNISED))
    return Listing(sorted(fetch, key=lambda o: o.key), sorted(skipped, key=lambda o: o.key))


class SourceStore(Protocol):
    uri: str

    def list(self, prefix: str = "") -> Iterator[SourceObject]:
        """Every object whose key starts with `prefix`, recursively, sorted by key."""
        ...

    def read(self, key: str) -> bytes: ...


class LocalSourceStore:
    """A folder on disk. A missing folder is an empty store, not an error.

    Symbolic links are listed (skipped, with the reason) and never read or walked into: a link in
    a source folder once copied /etc/passwd into the raw zone. Hidden files and folders are
    listed as skipped too, so every entry under a prefix is accounted for.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def _skipped(self, path: Path, reason: str, folder: bool = False) -> SourceObject:
        key = path.relative_to(self.root).as_posix() + ("/" if folder else "")
        return SourceObject(key=key, uri=str(path), size=0, etag=None, skip_reason=reason)

    def list(self, prefix: str = "") -> Iterator[SourceObject]:
        if not self.root.is_dir():
            return
        base = self.root / prefix if prefix else self.root
        # The prefix may end inside a name (s3 semantics); walk from its folder and filter.
        start = base if base.is_dir() and not base.is_symlink() else base.parent
        if not start.is_dir() or not start.resolve().is_relative_to(self.root):
            return
        start = start.resolve()
        found: list[SourceObject] = []
        for folder, dirs, files in os.walk(start, followlinks=False):
            here = Path(folder)
            for name in list(dirs):
                path = here / name
                if path.is_symlink():
                    found.append(self._skipped(path, SYMLINK, folder=True))
                    dirs.remove(name)
                elif name.startswith("."):
                    found.append(self._skipped(path, HIDDEN, folder=True))
                    dirs.remove(name)
            for name in files:
                path = here / name
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    found.append(self._skipped(path, SYMLINK))
                elif name.startswith("."):
                    found.append(self._skipped(path, HIDDEN))
                elif not stat.S_ISREG(st.st_mode):
                    found.append(self._skipped(path, NOT_A_FILE))
                else:
                    key = path.relative_to(self.root).as_posix()
                    found.append(SourceObject(key=key, uri=str(path), size=st.st_size))
        yield from sorted((o for o in found if o.key.startswith(prefix)), key=lambda o: o.key)

    def list_level(self, prefix: str = "") -> tuple[list[SourceObject], list[str]]:
        """The objects directly in folder `prefix` ('' or ending in '/') and its sub-folders'
        prefixes, without walking below (what an S3 listing with a delimiter gives)."""
        folder = self.root / prefix if prefix else self.root
        if folder.is_symlink() or not folder.is_dir():
            return [], []
        objects, prefixes = [], []
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = Path(entry.path)
                if entry.is_symlink():
                    objects.append(self._skipped(path, SYMLINK, folder=entry.is_dir()))
                elif entry.name.startswith("."):
                    objects.append(self._skipped(path, HIDDEN, folder=entry.is_dir()))
                elif entry.is_dir(follow_symlinks=False):
                    prefixes.append(f"{prefix}{entry.name}/")
                elif entry.is_file(follow_symlinks=False):
                    key = path.relative_to(self.root).as_posix()
                    size = entry.stat(follow_symlinks=False).st_size
                    objects.append(SourceObject(key=key, uri=str(path), size=size))
                else:
                    objects.append(self._skipped(path, NOT_A_FILE))
        return objects, prefixes

    def _path(self, key: str) -> Path:
        """The file behind `key`, refusing anything that leaves the root or passes a symlink."""
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise SourceError(f"refused {key!r} in {self.root}: not a plain key inside the store")
        path = self.root
        for part in parts:
            path = path / part
            if path.is_symlink():
                raise SourceError(f"refused {path}: {SYMLINK.removeprefix('skipped: ')}")
        return path

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):  # a FIFO would block the open below
                raise SourceError(f"refused {path}: not a regular file")
            # O_NOFOLLOW: a link swapped in after the check above still is not followed.
            flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            fd = os.open(path, flags)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise SourceError(f"refused {path}: not a regular file")
            try:
                return fh.read()
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


# How S3 requests are retried: botocore's own retry modes, never a loop of ours. The settings are
# AWS's usual ones, from the environment or the profile (AWS_RETRY_MODE / retry_mode: standard,
# adaptive or legacy; AWS_MAX_ATTEMPTS / max_attempts: attempts in all, the first included), with
# these defaults. Backoff is botocore's: full jitter, doubling, at most 20 s between attempts.
# Ten attempts wait about 80 s in all on average and practically never under 10 s (six give
# up within 10 s about one time in six): enough to ride out a store restarting, whose S3 port
# answers a few seconds before its objects do (SeaweedFS: HTTP 500 "volume not found").
# A body cut short after the answer began (a server dying mid-download) is outside what
# botocore retries; such a read is handed to boto3's transfer manager (s3transfer), which
# downloads it again with its own retries, up to the same number of attempts.
S3_RETRY_MODES = ("standard", "adaptive", "legacy")
DEFAULT_S3_RETRY_MODE = "standard"
DEFAULT_S3_MAX_ATTEMPTS = 10
# Seconds to wait for a connection, and for each read of an answer (BORDERWATCH_S3_TIMEOUT).
DEFAULT_S3_TIMEOUT = 60.0


@dataclass(frozen=True)
class S3Retries:
    """The retry and timeout settings an S3 source store's client uses (see above)."""

    mode: str = DEFAULT_S3_RETRY_MODE
    max_attempts: int = DEFAULT_S3_MAX_ATTEMPTS
    timeout: float = DEFAULT_S3_TIMEOUT

    @classmethod
    def from_env(cls, scoped_config: dict | None = None) -> S3Retries:
        """AWS_RETRY_MODE / AWS_MAX_ATTEMPTS, else the profile's retry_mode / max_attempts, else
        the defaults; BORDERWATCH_S3_TIMEOUT for the timeouts. A bad value is a SourceError
        naming the setting."""
        scoped = scoped_config or {}
        mode_from = "AWS_RETRY_MODE" if os.environ.get("AWS_RETRY_MODE") else "retry_mode"
        mode = (os.environ.get("AWS_RETRY_MODE") or scoped.get("retry_mode") or "").strip()
        mode = mode.lower() or DEFAULT_S3_RETRY_MODE
        if mode not in S3_RETRY_MODES:
            raise SourceError(
                f"{mode_from} {mode!r} is not a retry mode: use one of {', '.join(S3_RETRY_MODES)}"
            )
        attempts_from = "AWS_MAX_ATTEMPTS" if os.environ.get("AWS_MAX_ATTEMPTS") else "max_attempts"
        raw = str(os.environ.get("AWS_MAX_ATTEMPTS") or scoped.get("max_attempts") or "").strip()
        attempts = DEFAULT_S3_MAX_ATTEMPTS
        if raw:
            if not raw.isdigit() or int(raw) < 1:
                raise SourceError(
                    f"{attempts_from} {raw!r} is not a number of attempts: use a whole number "
                    "of at least 1 (1 means no retry)"
                )
            attempts = int(raw)
        timeout = DEFAULT_S3_TIMEOUT
        raw_timeout = os.environ.get("BORDERWATCH_S3_TIMEOUT", "").strip()
        if raw_timeout:
            try:
                timeout = float(raw_timeout)
            except ValueError:
                timeout = -1.0
            if not timeout > 0:
                raise SourceError(
                    f"BORDERWATCH_S3_TIMEOUT {raw_timeout!r} is not a number of seconds above 0"
                )
        return cls(mode, attempts, timeout)


def _s3_client(anonymous: bool | None = None):
    import boto3
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    profile = os.environ.get("AWS_PROFILE") or None
    try:
        core = botocore.session.Session(profile=profile)
        scoped = core.get_scoped_config()
    except ProfileNotFound as exc:
        raise SourceError(f"cannot use the S3 source store: {exc}") from None
    session = boto3.Session(botocore_session=core)
    retries = S3Retries.from_env(scoped)
    if anonymous is None:
        anonymous = os.environ.get("BORDERWATCH_S3_ANONYMOUS", "").lower() in {"1", "true", "yes"}
        if not anonymous and session.get_credentials() is None:
            anonymous = True  # no credentials anywhere: public buckets still work
    config = Config(
        signature_version=UNSIGNED if anonymous else None,
        s3={"addressing_style": "path" if os.environ.get("AWS_ENDPOINT_URL") else "auto"},
        # total_max_attempts counts the first attempt, as AWS_MAX_ATTEMPTS does (botocore's
        # "max_attempts" key in this dict would count retries only).
        retries={"mode": retries.mode, "total_max_attempts": retries.max_attempts},
        connect_timeout=retries.timeout,
        read_timeout=retries.timeout,
    )
    # boto3 reads AWS_ENDPOINT_URL itself; passing it keeps older botocore releases right too.
    return session.client(
        "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, config=config
    )


def _client_attempts(client) -> int:
    """Attempts in all that `client` makes per request (its botocore retry configuration)."""
    retries = getattr(getattr(getattr(client, "meta", None), "config", None), "retries", None)
    retries = retries or {}
    if retries.get("total_max_attempts"):
        return int(retries["total_max_attempts"])
    if retries.get("max_attempts") is not None:
        return int(retries["max_attempts"]) + 1
    return DEFAULT_S3_MAX_ATTEMPTS


def _public_endpoint(url: str | None) -> str:
    """The endpoint as it may be shown: scheme, host, port and path, never user:password@."""
    if not url:
        return "AWS"
    parts = urlparse(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def _s3_failure(exc: BaseException, attempts: int) -> str:
    """Why an S3 call failed, in words; the retried kinds say how often they were tried."""
    from botocore import exceptions as bx

    try:
        from s3transfer.exceptions import RetriesExceededError
    except ImportError:  # pragma: no cover - s3transfer comes with boto3
        RetriesExceededError = ()  # noqa: N806
    if RetriesExceededError and isinstance(exc, RetriesExceededError):
        exc = exc.last_exception or exc
    tried = f"tried {attempts} time(s)"
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode")
        code = error.get("Code") or "an error"
        message = (error.get("Message") or "").strip().rstrip(".")
        said = (
            f"the server answered HTTP {status} {code}" if status else f"the server answered {code}"
        )
        if message and message != code:
            said += f" ({message})"
        if status is not None and (int(status) >= 500 or int(status) == 429):
            said += f", {tried}"
        return said
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return "no usable credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or BORDERWATCH_S3_ANONYMOUS=1 for a public bucket)"
    if isinstance(exc, bx.ReadTimeoutError | bx.ConnectTimeoutError | TimeoutError):
        return f"the endpoint did not answer in time, {tried}"
    if isinstance(exc, bx.EndpointConnectionError):
        return f"the endpoint could not be reached, {tried}"
    if isinstance(
        exc,
        bx.ConnectionClosedError
        | bx.ResponseStreamingError
        | bx.IncompleteReadError
        | bx.ConnectionError
        | ConnectionError,
    ):
        return f"the connection broke before the whole answer arrived, {tried}"
    return f"{type(exc).__name__}: {exc}"


class S3SourceStore:
    """A bucket prefix read through boto3 (AWS, SeaweedFS, MinIO, R2, ...).

    Requests are retried by botocore (S3Retries: AWS_RETRY_MODE, AWS_MAX_ATTEMPTS); a read whose
    body breaks off is retried by s3transfer up to the same number of attempts. A failure that
    outlasts them is a SourceError of one sentence naming the object, the store and the
    endpoint, and saying what happened."""

    def __init__(self, uri: str, client=None, anonymous: bool | None = None):
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise SourceError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.client = client or _s3_client(anonymous)
        self.attempts = _client_attempts(self.client)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, verb: str, full: str, exc: BaseException) -> SourceError:
        """The sentence for a failed call. Raised `from None`: the CLI shows a failed step's
        innermost cause, which must be this sentence, not botocore's (summarised in it)."""
        endpoint = _public_endpoint(getattr(self.client.meta, "endpoint_url", None))
        return SourceError(
            f"cannot {verb} s3://{self.bucket}/{full} in the S3 source store {self.uri} at "
            f"{endpoint}: {_s3_failure(exc, self.attempts)}"
        )

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
            raise self._error("list", full, exc) from None

    def list_level(self, prefix: str = "") -> tuple[list[SourceObject], list[str]]:
        """Objects directly under `prefix` and its immediate sub-prefixes (keys relative to the
        store root): one delimited listing, never the whole bucket."""
        full = self._full(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        objects, prefixes = [], []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                prefixes.extend(p["Prefix"][strip:] for p in page.get("CommonPrefixes", []))
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith("/"):
                        continue
                    objects.append(
                        SourceObject(
                            key=obj["Key"][strip:],
                            uri=f"s3://{self.bucket}/{obj['Key']}",
                            size=obj["Size"],
                            etag=obj.get("ETag", "").strip('"') or None,
                        )
                    )
        except Exception as exc:  # botocore raises many types; name the store in all of them
            raise self._error("list", full, exc) from None
        return objects, prefixes

    def list_common_prefixes(self, prefix: str) -> list[str]:
        """Immediate sub-prefixes below `prefix` (keys relative to the store root)."""
        return self.list_level(prefix)[1]

    def read(self, key: str) -> bytes:
        """The object's bytes. The GET is retried by botocore; a body that breaks off after the
        answer began (which botocore does not retry) is downloaded again by s3transfer, the
        transfer manager boto3's download_fileobj uses, with its own retries."""
        import io

        from boto3.s3.transfer import TransferConfig
        from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS

        full = self._full(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
            try:
                return body.read()
            except S3_RETRYABLE_DOWNLOAD_ERRORS:
                body.close()
                buffer = io.BytesIO()
                config = TransferConfig(
                    use_threads=False, num_download_attempts=max(1, self.attempts - 1)
                )
                self.client.download_fileobj(self.bucket, full, buffer, Config=config)
                return buffer.getvalue()
        except Exception as exc:
            raise self._error("read", full, exc) from None


def open_source_store(uri: str | Path, anonymous: bool | None = None) -> SourceStore:
    """A local folder path or an s3://bucket/prefix URI."""
    text = str(uri)
    if text.startswith("s3://"):
        return S3SourceStore(text, anonymous=anonymous)
    if "://" in text and not text.startswith("file://"):
        raise SourceError(f"unsupported source store {text!r}: use a folder or s3://bucket/prefix")
    return LocalSourceStore(text.removeprefix("file://"))
