"""The DuckLake the warehouse lives in: where it is (LakeConfig), opening it, and retried transactions.

A DuckLake keeps tables as Parquet files plus a catalog of snapshots (SQLite for one machine,
PostgreSQL beyond). Every connection is an in-memory DuckDB with the lake attached as `lake` and
made the default database, so SQL written for the old single-file warehouse (`staging.x`,
`curated.x`, ...) runs unchanged. Writers commit snapshots; readers see the last committed one
and never block a writer.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import duckdb
import polars as pl
import stamina

T = TypeVar("T")

LAKE = "lake"  # the attached catalog's name: SQL and table_columns() rely on it
METADATA = f"__ducklake_metadata_{LAKE}"  # where DuckLake exposes its catalog tables

# Environment variables read at connect time for an s3:// data path (never stored or logged).
S3_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


class LakeBusyError(RuntimeError):
    """The catalog stayed busy through every retry (another process kept it locked)."""


# cli.py still catches the old name; a lake has no file lock, only a busy catalog.
WarehouseLockedError = LakeBusyError


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class LakeConfig:
    """Where the lake is: a catalog and a data path. Holds no credentials.

    catalog: `sqlite:/abs/path/catalog.sqlite` or `postgres:dbname=... host=... port=... user=...`
    (put a PostgreSQL password in PGPASSWORD or ~/.pgpass, not here; if one is here anyway it is
    redacted from describe(), repr() and errors). data_path: an absolute folder or
    `s3://bucket/prefix`; S3 settings come from AWS_* environment variables when connecting.
    extension_dir: where DuckDB keeps its extension copies (default: a per-user temp folder).
    """

    catalog: str
    data_path: str
    extension_dir: str | None = None

    def __post_init__(self) -> None:
        kind, _, rest = self.catalog.partition(":")
        if kind not in ("sqlite", "postgres") or not rest:
            raise ValueError(
                "the lake catalog must be `sqlite:/absolute/path.sqlite` or "
                f"`postgres:dbname=... host=...`, not {_redact(self.catalog)!r}"
            )
        if kind == "sqlite" and not Path(rest).is_absolute():
            raise ValueError(f"the SQLite catalog path must be absolute: {rest!r}")
        if not (self.is_s3 or Path(self.data_path).is_absolute()):
            raise ValueError(
                f"the lake data path must be an absolute folder or s3://bucket/prefix, not {self.data_path!r}"
            )
        # DuckLake joins file names onto the data path: keep exactly one trailing slash.
        object.__setattr__(self, "data_path", self.data_path.rstrip("/") + "/")

    @classmethod
    def embedded(cls, home: str | Path, extension_dir: str | None = None) -> LakeConfig:
        """The one-machine default: SQLite catalog home/lake/catalog.sqlite, Parquet in home/lake/data/."""
        lake = Path(home).resolve() / "lake"
        return cls(f"sqlite:{lake / 'catalog.sqlite'}", str(lake / "data"), extension_dir)

    @classmethod
    def from_env(cls, home: str | Path, environ: Mapping[str, str] | None = None) -> LakeConfig:
        """BORDERWATCH_LAKE_CATALOG and BORDERWATCH_LAKE_DATA_PATH if both are set, else embedded(home)."""
        env = os.environ if environ is None else environ
        catalog, data = env.get("BORDERWATCH_LAKE_CATALOG"), env.get("BORDERWATCH_LAKE_DATA_PATH")
        if catalog and data:
            return cls(catalog, data)
        if catalog or data:
            raise ValueError(
                "set both BORDERWATCH_LAKE_CATALOG and BORDERWATCH_LAKE_DATA_PATH, or neither"
            )
        return cls.embedded(home)

    @property
    def catalog_kind(self) -> str:
        return self.catalog.partition(":")[0]

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.catalog.partition(":")[2]) if self.catalog_kind == "sqlite" else None

    @property
    def is_embedded(self) -> bool:
        """The one-machine layout: data/ beside a SQLite catalog in the same folder."""
        path = self.sqlite_path
        return path is not None and self.data_path == f"{path.parent / 'data'}/"

    @property
    def is_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    def describe(self) -> str:
        """One line safe to print or log: no password, no key."""
        text = f"DuckLake catalog {_redact(self.catalog)}, data {self.data_path}"
        if self.is_s3:
            endpoint = os.environ.get("AWS_ENDPOINT_URL") or "the AWS default endpoint"
            keyed = "with" if os.environ.get("AWS_ACCESS_KEY_ID") else "without"
            text += f" (S3 at {_redact(endpoint)}, {keyed} credentials from the environment)"
        return text

    def __repr__(self) -> str:
        return f"LakeConfig({self.describe()})"


_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('[^']*'|[^\s'\"]+)")
_URI_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _redact(text: str) -> str:
    """The text with passwords and secret environment values replaced by ***."""
    text = _PASSWORD.sub(r"\1***", text)
    text = _URI_PASSWORD.sub(r"\1***@", text)
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _redacted(exc: duckdb.Error) -> duckdb.Error:
    """The same DuckDB error type with a redacted message (the original may echo the catalog)."""
    try:
        return type(exc)(_redact(str(exc)))
    except Exception:  # an exception type that takes other arguments
        return duckdb.Error(_redact(str(exc)))


# --- errors worth retrying -------------------------------------------------------------------

# The catalog is momentarily unavailable: another process holds SQLite's lock, or a snapshot
# query raced a commit. Seen here: "Failed to query most recent snapshot for DuckLake: ...
# database is locked" on ATTACH and on reads while another process commits.
_TRANSIENT = (
    "Failed to query most recent snapshot for DuckLake",
    "database is locked",
    "database table is locked",
    "SQLITE_BUSY",
)
# Two transactions changed the same thing. PostgreSQL catalog: "Failed to commit DuckLake
# transaction.\nTransaction conflict - attempting to delete from file with index "0" - but
# another transaction has deleted from it". A SQLite catalog reports the same situation at COMMIT
# as "Failed to flush changes into DuckLake: database is locked" (its snapshot went stale).
_CONFLICT = ("Transaction conflict", "write-write conflict")


def is_transient(exc: BaseException) -> bool:
    """A catalog hiccup: retrying the same call is safe and likely to succeed."""
    return isinstance(exc, duckdb.Error) and any(s in str(exc) for s in _TRANSIENT)


def is_conflict(exc: BaseException) -> bool:
    """A write-write conflict (or its SQLite form): the whole transaction must be redone."""
    if not isinstance(exc, duckdb.Error):
        return False
    text = str(exc)
    return any(s in text for s in _CONFLICT) or (
        "Failed to commit DuckLake transaction" in text and "database is locked" in text
    )


def is_retryable(exc: BaseException) -> bool:
    """A write worth redoing whole: a conflict, or a transient catalog error (which aborts a
    transaction as surely as a conflict does)."""
    return is_conflict(exc) or is_transient(exc)


# --- connecting ------------------------------------------------------------------------------

_EXTENSIONS = {"sqlite": "sqlite", "postgres": "postgres"}  # catalog kind -> extension package
_ATTEMPTS = 6  # connect and read retries: waits of 0.05 s doubling to 0.8 s, about 2 s in all


def _default_extension_dir() -> Path:
    # Per user and DuckDB version, outside the project (the extension copies are ~35 MB each).
    return Path(tempfile.gettempdir()) / f"borderwatch-duckdb-{duckdb.__version__}-{os.getuid()}"


def _quote(text: str) -> str:
    """A SQL string literal, for the one place DuckDB takes no parameter: ATTACH's path."""
    if any(ch in text for ch in "\0\n\r"):
        raise ValueError("the lake catalog string contains a control character")
    return "'" + text.replace("'", "''") + "'"


def _ensure_wal(path: Path) -> None:
    """Put the SQLite catalog in WAL mode (creating the file if new).

    In SQLite's default rollback-journal mode a reader's shared lock makes a writer's COMMIT fail
    with "database is locked"; with two writers both could fail. In WAL mode readers never block
    the writer and the first of two overlapping writers always commits. The mode is stored in
    the file, so this is a cheap no-op after the first time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10)
    try:
        if con.execute("pragma journal_mode").fetchone()[0].lower() != "wal":
            con.execute("pragma journal_mode=wal")
    finally:
        con.close()


def _s3_secret(con: duckdb.DuckDBPyConnection, scope: str) -> None:
    """An in-memory S3 secret for the data path, from the AWS_* environment variables."""
    env = os.environ
    options: dict[str, object] = {"SCOPE": scope}
    if env.get("AWS_ACCESS_KEY_ID"):
        options["KEY_ID"] = env["AWS_ACCESS_KEY_ID"]
        options["SECRET"] = env.get("AWS_SECRET_ACCESS_KEY", "")
        if env.get("AWS_SESSION_TOKEN"):
            options["SESSION_TOKEN"] = env["AWS_SESSION_TOKEN"]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["REGION"] = region
    if env.get("AWS_ENDPOINT_URL"):
        endpoint = urlparse(env["AWS_ENDPOINT_URL"])
        options["ENDPOINT"] = endpoint.netloc or endpoint.path
        options["USE_SSL"] = endpoint.scheme != "http"
        # MinIO, SeaweedFS and most non-AWS endpoints address buckets by path.
        options["URL_STYLE"] = "path"
    # Option names are fixed words from the dict above; every value is a bound parameter.
    body = ", ".join(f"{name} ${name.lower()}" for name in options)
    con.execute(
        f"CREATE OR REPLACE TEMPORARY SECRET borderwatch_lake (TYPE s3, {body})",
        {name.lower(): value for name, value in options.items()},
    )


def _as_of_option(as_of: int | str | datetime | date) -> tuple[str, object]:
    """(ATTACH option, bound value) pinning a snapshot id or a point in time (naive = UTC)."""
    if isinstance(as_of, bool):
        raise TypeError("as_of must be a snapshot id or a timestamp, not a bool")
    if isinstance(as_of, str):
        text = as_of.strip()
        as_of = int(text) if text.isdigit() else datetime.fromisoformat(text)
    if isinstance(as_of, int):
        if as_of < 0:
            raise ValueError(f"a snapshot id is never negative: {as_of}")
        return "SNAPSHOT_VERSION", as_of
    if isinstance(as_of, date) and not isinstance(as_of, datetime):
        as_of = datetime(as_of.year, as_of.month, as_of.day)
    if isinstance(as_of, datetime):
        return "SNAPSHOT_TIME", as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    raise TypeError(f"as_of must be a snapshot id or a timestamp, not {type(as_of).__name__}")


@stamina.retry(
    on=is_transient,
    attempts=_ATTEMPTS,
    timeout=30,
    wait_initial=0.05,
    wait_max=1.0,
    wait_jitter=0.1,
)
def _open(
    config: LakeConfig, read_only: bool, as_of: int | str | datetime | date | None
) -> duckdb.DuckDBPyConnection:
    from duckdb_extensions import import_extension

    ext_dir = Path(config.extension_dir) if config.extension_dir else _default_extension_dir()
    ext_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A fresh DuckDB per attempt: a failed ATTACH can leave the metadata catalog half attached.
    con = duckdb.connect(
        config={
            # Offline: never download or auto-load; the pinned wheels carry the extensions.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "extension_directory": str(ext_dir),
        }
    )
    try:
        needed = ["ducklake", _EXTENSIONS[config.catalog_kind]]
        if config.is_s3:
            needed.append("httpfs")
        for name in needed:
            import_extension(name, con=con)
            con.execute(f"LOAD {name}")
        con.execute("SET timezone = 'UTC'")
        if config.is_s3:
            bucket = urlparse(config.data_path).netloc
            _s3_secret(con, f"s3://{bucket}")
        options, params = ["DATA_PATH $data_path"], {"data_path": config.data_path}
        if config.is_embedded:
            # The embedded lake is the folder beside its catalog: a home moved or copied keeps
            # working (files are recorded relative to the data path).
            options.append("OVERRIDE_DATA_PATH true")
        if read_only or as_of is not None:
            options.append("READ_ONLY")
        if as_of is not None:
            name, value = _as_of_option(as_of)
            options.append(f"{name} $as_of")
            params["as_of"] = value
        con.execute(
            f"ATTACH {_quote('ducklake:' + config.catalog)} AS {LAKE} ({', '.join(options)})",
            params,
        )
        con.execute(f"USE {LAKE}")
        return con
    except duckdb.Error as exc:
        con.close()
        error = _redacted(exc)
    except BaseException:
        con.close()
        raise
    # Raised outside the except block, so the unredacted original is not even its __context__.
    raise error


def connect(
    config: LakeConfig, read_only: bool = False, as_of: int | str | datetime | date | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as `lake` and in use, timezone UTC.

    read_only: no writes through this connection. as_of: a snapshot id, or a timestamp (ISO text,
    datetime or date; naive means UTC), to see the lake as it was then (implies read_only).
    A missing embedded lake opened for reading raises FileNotFoundError; a catalog that stays
    busy through the retries raises LakeBusyError.
    """
    if not isinstance(config, LakeConfig):
        raise TypeError(
            f"connect() takes a LakeConfig (e.g. LakeConfig.embedded(home)), not {type(config).__name__}"
        )
    path = config.sqlite_path
    if path is not None:
        if read_only or as_of is not None:
            if not path.exists():
                raise FileNotFoundError(
                    f"no warehouse at {path.parent}: run `borderwatch demo` or "
                    "`borderwatch materialize` first"
                )
        else:
            _ensure_wal(path)
    if not config.is_s3 and not (read_only or as_of is not None):
        Path(config.data_path).mkdir(parents=True, exist_ok=True)
    try:
        return _open(config, read_only, as_of)
    except duckdb.Error as exc:
        if is_transient(exc):
            raise LakeBusyError(
                f"the lake catalog ({_redact(config.catalog)}) stayed busy through "
                f"{_ATTEMPTS} attempts: {exc}; try again"
            ) from exc
        raise


def session(base: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to `base`'s database instance (from connect()), set up as connect() sets
    its own: the lake in use, timezone UTC. Opening one costs microseconds where connect() loads
    extensions and attaches the catalog (about 0.15 s); its transactions are its own, and each
    reads the lake's latest snapshot when it starts."""
    con = base.cursor()
    try:
        con.execute("SET timezone = 'UTC'")
        con.execute(f"USE {LAKE}")
    except BaseException:
        con.close()
        raise
    return con


# --- reading ---------------------------------------------------------------------------------


@stamina.retry(
    on=is_transient,
    attempts=_ATTEMPTS,
    timeout=30,
    wait_initial=0.05,
    wait_max=1.0,
    wait_jitter=0.1,
)
def read_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict | list | None = None
) -> pl.DataFrame:
    """Run a read and fetch it as a Polars frame, retrying transient catalog errors.

    Call it outside an explicit transaction: a retry inside one would run in an aborted transaction.
    """
    return con.execute(sql, params or {}).pl()


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int | None:
    """The id of the snapshot this connection sees: the latest commit, or the one pinned by as_of.

    None on a connection without the lake (a plain DuckDB database keeps no snapshots).
    """
    attached = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = $lake AND type = 'ducklake'",
        {"lake": LAKE},
    ).fetchone()[0]
    if not attached:
        return None
    return int(read_frame(con, f"SELECT id FROM {LAKE}.current_snapshot()").item())


def snapshots(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every snapshot still kept (snapshot_id, snapshot_time, schema_version, changes, ...), oldest first."""
    return read_frame(con, f"SELECT * FROM {LAKE}.snapshots() ORDER BY snapshot_id")


# --- writing ---------------------------------------------------------------------------------


# --- one writer at a time on a PostgreSQL catalog -----------------------------------------------

# DuckLake 1.5 on a PostgreSQL catalog does not reliably serialise transactions that commit at
# the same moment (duckdb/ducklake#1094: ids and table statistics read before the commit,
# conflict checks that cannot see a concurrent commit under the catalog connection's REPEATABLE
# READ). Four runs loading days of one backfill side by side lost rows of a staging table in one
# trial out of four here, without any error. So on a PostgreSQL catalog every write transaction
# holds a PostgreSQL advisory lock from BEGIN to COMMIT: runs fetch, parse and read side by side
# and take turns only to commit, on one machine or many. A SQLite catalog needs no lock: it
# refuses a second concurrent commit itself ("database is locked"), which transact redoes.
_WRITERS_LOCK_KEY = 0x626F72646577  # pg_advisory_lock key: "bordew" in ASCII
_WRITERS_LOCK_TIMEOUT = "30min"  # a writer holding the lake longer than this is stuck
_writers_lock = threading.RLock()  # the lock's PostgreSQL session is shared by a process's threads
_lock_sessions: dict[tuple[int, str], Any] = {}  # (pid, conninfo) -> psycopg2 connection


def _postgres_catalog(con: duckdb.DuckDBPyConnection) -> str | None:
    """The libpq connection string of the lake's catalog when it is PostgreSQL, else None."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = $lake AND type = 'ducklake'",
        {"lake": LAKE},
    ).fetchone()
    path = row[0] if row else None
    return path[len("postgres:") :] if path and path.startswith("postgres:") else None


def _lock_session(conninfo: str):
    """This process's PostgreSQL session for the writers' lock (reopened after a fork or a lost
    connection); the password comes from PGPASSWORD or ~/.pgpass, as for the catalog."""
    import psycopg2

    key = (os.getpid(), conninfo)
    session = _lock_sessions.get(key)
    if session is None or session.closed:
        session = psycopg2.connect(conninfo, application_name="borderwatch lake writers")
        session.autocommit = True
        with session.cursor() as cur:
            cur.execute("SET lock_timeout = %s", (_WRITERS_LOCK_TIMEOUT,))
        _lock_sessions[key] = session
    return session


@contextmanager
def writers_lock(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Hold the lake's writers' lock (on a PostgreSQL catalog; nothing to hold on SQLite) for the
    statements of the `with` block: one write transaction, or one maintenance call."""
    conninfo = _postgres_catalog(con)
    if conninfo is None:
        yield
        return
    import psycopg2

    with _writers_lock:
        try:
            session = _lock_session(conninfo)
            with session.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (_WRITERS_LOCK_KEY,))
        except psycopg2.Error as exc:
            raise LakeBusyError(
                f"cannot take the lake's writers' lock on its catalog ({_redact(conninfo)}): "
                f"{_redact(str(exc).strip())}"
            ) from None
        try:
            yield
        finally:
            try:
                with session.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (_WRITERS_LOCK_KEY,))
            except psycopg2.Error:
                session.close()  # the session is gone, and its lock with it


# --- writing ---------------------------------------------------------------------------------


# Connections inside a transact's work (by id: a DuckDB connection takes no weak reference).
# DuckDB cannot be asked whether a transaction is open, and a BEGIN inside one aborts it.
_in_transact: set[int] = set()


def transact(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    attempts: int = 8,
) -> T:
    """Run work(con) between BEGIN and COMMIT and return what it returns.

    Any exception rolls the transaction back and propagates. A write-write conflict (or a
    transient catalog error) at any point, COMMIT included, rolls back and runs the whole of
    `work` again, with backoff, up to `attempts` times: so `work` must compute everything it
    writes from what it reads inside the transaction, and have no other side effects worth
    repeating. Every other error propagates at once. On a PostgreSQL catalog each attempt holds
    the writers' lock (writers_lock): what `work` reads stays true until it commits.

    Called from the work of another transact on the same connection, `work` runs in that
    transaction: the enclosing transact commits it, or redoes it whole.
    """
    if id(con) in _in_transact:
        return work(con)
    result: T
    for attempt in stamina.retry_context(
        on=is_retryable,
        attempts=attempts,
        timeout=None,  # a long backfill must not lose its retries to a wall-clock budget
        wait_initial=0.05,
        wait_max=2.0,
        wait_jitter=0.25,  # two writers retrying in lockstep would conflict again
    ):
        with attempt, writers_lock(con):
            con.execute("BEGIN TRANSACTION")
            _in_transact.add(id(con))
            try:
                result = work(con)
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
            finally:
                _in_transact.discard(id(con))
    return result


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as exc:
        # A failed COMMIT has already ended the transaction.
        if "no transaction is active" not in str(exc):
            raise
