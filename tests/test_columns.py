"""One declared schema per table (`meta.columns` in its suite): it matches the lake, becomes the
lake's comments and the Dagster column schema, and generates the README's table reference."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from assets.core import columns
from assets.core.columns import (
    check_declared,
    comment_statements,
    declared_columns,
    declared_tables,
    readme_with_tables,
    table_description,
)
from tests.conftest import lake

REPO = Path(__file__).resolve().parents[1]
BORDERWATCH = Path(sys.executable).parent / "borderwatch"
TABLES = declared_tables()
IDS = [f"{layer}.{table}" for layer, table in TABLES]
# Tables declared with column DDL (curated ones are `create or replace table ... as select`).
DDL_TABLES = [(layer, table) for layer, table in TABLES if layer != "curated"]


def test_every_table_with_a_suite_declares_its_columns():
    suites = {
        (p.parent.name, p.name.removesuffix(".expectations.json"))
        for p in (REPO / "sql").glob("*/*.expectations.json")
        if p.parent.name in columns.LAYERS
    }
    assert set(TABLES) == suites and len(TABLES) == len(suites)
    for layer, table in TABLES:
        assert table_description(layer, table)
        cols = declared_columns(layer, table)
        assert cols and all(c.type and c.description for c in cols), f"{layer}.{table}"


@pytest.mark.parametrize(("layer", "table"), DDL_TABLES, ids=[f"{a}.{b}" for a, b in DDL_TABLES])
def test_ddl_tables_match_their_declaration(layer, table):
    # Fast, without a lake: the DDL file run in a plain DuckDB gives the same names and types.
    con = duckdb.connect()
    con.execute((REPO / "sql" / layer / f"{table}.sql").read_text(encoding="utf-8"))
    assert check_declared(con, layer, table) == []


def test_check_declared_names_missing_extra_and_wrong_types():
    con = duckdb.connect()
    con.execute("create schema ops")
    con.execute("create table ops.alert_notifications (alert_id varchar, run_id bigint, extra int)")
    problems = check_declared(con, "ops", "alert_notifications")
    assert any("channel" in p and "missing" in p for p in problems)
    assert any("extra" in p and "not declared" in p for p in problems)
    assert any("run_id" in p and "BIGINT" in p for p in problems)
    assert check_declared(con, "ops", "nothing_here") == [
        "ops.nothing_here: table not found in the lake"
    ]
    con.execute(
        "create or replace table ops.alert_notifications (run_id varchar, alert_id varchar, channel varchar)"
    )
    assert check_declared(con, "ops", "alert_notifications") == [
        "ops.alert_notifications: columns in another order: the lake has run_id, alert_id, channel"
    ]


def test_readme_table_reference_is_generated_from_the_declarations():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_with_tables(readme) == readme, (
        "README.md's table reference differs from the declarations: "
        "run `uv run python -m assets.core.columns --write-readme`"
    )
    for layer, table in TABLES:
        assert f"<code>{layer}.{table}</code>" in readme


@pytest.mark.parametrize(("layer", "table"), TABLES, ids=IDS)
def test_column_schema_metadata_has_every_declared_column(layer, table):
    import dagster as dg

    from orchestration.kit.columns import column_schema_metadata

    schema = column_schema_metadata(layer, table)["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        (c.name, c.type, c.description) for c in declared_columns(layer, table)
    ]
    # Asset metadata must serialise as it is stored in the event log.
    dg.AssetSpec("x", metadata=column_schema_metadata(layer, table))


def test_comment_text_cannot_be_bound_so_it_is_quoted():
    con = duckdb.connect()
    con.execute("create table t (a int)")
    # If DuckDB ever takes a parameter here, sql_literal can go (see its docstring).
    with pytest.raises(duckdb.ParserException):
        con.execute("comment on table t is $text", {"text": "x"})
    text = "it's 'quoted' -- not a comment; \\n $x$ ¥ 철도 × …"
    con.execute(f"comment on column t.a is {columns.sql_literal(text)}")
    assert (
        con.execute("select comment from duckdb_columns() where table_name = 't'").fetchone()[0]
        == text
    )
    with pytest.raises(ValueError):
        columns.sql_literal("two\nlines")


def test_comment_statements_cover_the_table_and_every_column():
    statements = comment_statements("curated", "alerts")
    assert statements[0][0].startswith('COMMENT ON TABLE "curated"."alerts" IS ')
    assert [s.split('"."alerts".', 1)[1].split(" IS ")[0] for s, _ in statements[1:]] == [
        f'"{c.name}"' for c in declared_columns("curated", "alerts")
    ]
    assert all(params == {} for _, params in statements)


def _comments(con, layer, table) -> dict:
    got = dict(
        con.execute(
            "select column_name, comment from duckdb_columns() where database_name = current_database() "
            "and schema_name = $s and table_name = $t",
            {"s": layer, "t": table},
        ).fetchall()
    )
    got[None] = con.execute(
        "select comment from duckdb_tables() where database_name = current_database() "
        "and schema_name = $s and table_name = $t",
        {"s": layer, "t": table},
    ).fetchone()[0]
    return got


def _declared_comments(layer, table) -> dict:
    return {None: table_description(layer, table)} | {
        c.name: c.description for c in declared_columns(layer, table)
    }


def test_table_comments_commit_with_the_transaction_and_write_only_what_changed(tmp_path):
    from assets.core.warehouse import LakeConfig, connect, transact
    from orchestration.kit.columns import table_comments

    con = connect(LakeConfig.embedded(tmp_path / "home"))
    try:
        for layer, table in TABLES:  # every table, shaped as declared
            cols = ", ".join(f'"{c.name}" {c.type}' for c in declared_columns(layer, table))
            con.execute(f"create schema if not exists {layer}")
            con.execute(f"create table {layer}.{table} ({cols})")
        with pytest.raises(RuntimeError):  # a failed write takes its comments with it

            def fail(c):
                table_comments(c, "ops", "alert_notifications")
                raise RuntimeError("rolled back")

            transact(con, fail)
        assert _comments(con, "ops", "alert_notifications")[None] is None

        changed = transact(con, lambda c: {t: table_comments(c, *t) for t in TABLES})
        for (layer, table), names in changed.items():
            assert names == ["table"] + [c.name for c in declared_columns(layer, table)]
            assert _comments(con, layer, table) == _declared_comments(layer, table)

        before = con.execute("select max(snapshot_id) from lake.snapshots()").fetchone()[0]
        again = transact(con, lambda c: [table_comments(c, *t) for t in TABLES])
        assert again == [[] for _ in TABLES]  # nothing rewritten ...
        after = con.execute("select max(snapshot_id) from lake.snapshots()").fetchone()[0]
        assert after == before  # ... so no new snapshot (COMMENT ON is a schema change)
    finally:
        con.close()


# --- against a materialised lake ------------------------------------------------------------


@pytest.fixture(scope="module")
def materialised(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("columns") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    env["BORDERWATCH_HOME"] = str(home)
    done = subprocess.run(
        [str(BORDERWATCH), "materialize", "--start", "2023-10-04", "--end", "2023-10-06"],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home


@pytest.mark.integration
def test_every_declared_table_matches_the_lake(materialised):
    con = lake(materialised)
    try:
        in_lake = set(
            con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database()"
            ).fetchall()
        )
        assert in_lake == set(TABLES), "tables in the lake but not declared, or declared but absent"
        problems = [p for layer, table in TABLES for p in check_declared(con, layer, table)]
    finally:
        con.close()
    assert problems == []


@pytest.mark.integration
def test_the_lake_carries_the_declared_comments(materialised):
    # Passes once the kit writes them: table_comments() in publish_window, publish_curated,
    # the bookkeeping step and alert_notifications (see orchestration/kit/columns.py).
    con = lake(materialised)
    try:
        wrong = {}
        for layer, table in TABLES:
            have = _comments(con, layer, table)
            wrong[f"{layer}.{table}"] = [
                k or "(table)"
                for k, v in _declared_comments(layer, table).items()
                if have.get(k) != v
            ]
    finally:
        con.close()
    assert {k: v for k, v in wrong.items() if v} == {}
