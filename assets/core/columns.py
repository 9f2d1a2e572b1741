"""Every table's columns, declared once: `meta.columns` (and `meta.description`) in the table's
Great Expectations suite, sql/<layer>/<table>.expectations.json. GX reads only the suite's
`expectations`, so the extra meta keys do not change validation.

From that one declaration come the lake's COMMENT ON TABLE / COLUMN text, the Dagster column
schema (orchestration/kit/columns.py), the README's table reference and a check that the lake
holds what is declared. No Dagster here.

    python -m assets.core.columns --write-readme   # regenerate the README's "Tables" reference
    python -m assets.core.columns --check-readme   # exit 1 when the README differs from it
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from assets.core.warehouse import PROJECT_ROOT, SQL_DIR

LAYERS = ("staging", "curated", "quarantine", "raw", "ops")
README = PROJECT_ROOT / "README.md"
START, END = "<!-- tables:start -->", "<!-- tables:end -->"

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as DuckDB spells it in information_schema.columns.data_type, e.g. VARCHAR[]
    description: str


class DeclarationError(ValueError):
    """A suite's `meta.columns` is missing or malformed."""


def suite_file(layer: str, table: str) -> Path:
    if layer not in LAYERS or not _IDENT.match(table):
        raise ValueError(f"not a declared table: {layer}.{table}")
    return SQL_DIR / layer / f"{table}.expectations.json"


def declared_tables() -> list[tuple[str, str]]:
    """(layer, table) of every table with a suite, in the README's order."""
    found = [
        (p.parent.name, p.name.removesuffix(".expectations.json"))
        for layer in LAYERS
        for p in (SQL_DIR / layer).glob("*.expectations.json")
    ]
    return sorted(found, key=_readme_order)


@cache
def _meta(layer: str, table: str) -> dict:
    path = suite_file(layer, table)
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("meta") or {}
    except FileNotFoundError:
        raise DeclarationError(f"{layer}.{table} has no suite at {_rel(path)}") from None
    where = f"{_rel(path)} meta"
    description = meta.get("description")
    if not _one_line(description):
        raise DeclarationError(f"{where}.description: one non-empty line describing the table")
    columns = meta.get("columns")
    if not isinstance(columns, list) or not columns:
        raise DeclarationError(f"{where}.columns: a list of {{name, type, description}} is needed")
    seen = set()
    for i, c in enumerate(columns):
        if not isinstance(c, dict) or set(c) != {"name", "type", "description"}:
            raise DeclarationError(f"{where}.columns[{i}]: exactly name, type and description")
        if not isinstance(c["name"], str) or not _IDENT.match(c["name"]):
            raise DeclarationError(f"{where}.columns[{i}]: name {c['name']!r} is not a column name")
        if c["name"] in seen:
            raise DeclarationError(f"{where}.columns: {c['name']} is declared twice")
        seen.add(c["name"])
        if not _one_line(c["type"]) or not _one_line(c["description"]):
            raise DeclarationError(
                f"{where}.columns[{i}] ({c['name']}): type and description must be one line each"
            )
    return meta


def _one_line(value) -> bool:
    return (
        isinstance(value, str) and bool(value.strip()) and not any(ch in value for ch in "\0\r\n")
    )


def _rel(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def declared_columns(layer: str, table: str) -> list[Column]:
    """The columns declared for <layer>.<table>, in table order."""
    return [Column(**c) for c in _meta(layer, table)["columns"]]


def table_description(layer: str, table: str) -> str:
    """One line: what one row of the table is."""
    return _meta(layer, table)["description"]


# --- COMMENT ON ------------------------------------------------------------------------------


def sql_literal(text: str) -> str:
    """A SQL string literal for COMMENT ON, which takes no bound parameter.

    DuckDB's grammar wants a string constant after IS: `COMMENT ON TABLE t IS $1` (or `?`) is a
    parser error (checked on DuckDB 1.5.5 with DuckLake), so the text is quoted here. A standard
    SQL literal: single quotes doubled, nothing else special (DuckDB takes backslashes literally
    in '...'). Control characters are refused outright, though declarations are one line anyway.
    """
    if any(ch in text for ch in "\0\r\n"):
        raise ValueError("a comment must be one line without control characters")
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    # Declared names match _IDENT; quoted anyway, since some (value, source, ref) are keywords.
    if not _IDENT.match(name):
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'


def comment_targets(layer: str, table: str) -> list[tuple[str | None, str]]:
    """(column, text) for each comment: (None, table description) first, then each column."""
    return [(None, table_description(layer, table))] + [
        (c.name, c.description) for c in declared_columns(layer, table)
    ]


def comment_statement(layer: str, table: str, column: str | None, text: str) -> str:
    target = f"{_ident(layer)}.{_ident(table)}"
    if column is None:
        return f"COMMENT ON TABLE {target} IS {sql_literal(text)}"
    return f"COMMENT ON COLUMN {target}.{_ident(column)} IS {sql_literal(text)}"


def comment_statements(layer: str, table: str) -> list[tuple[str, dict]]:
    """(sql, parameters) to set the table's and every column's comment from the declaration.

    The parameters are always empty: COMMENT ON cannot take a bound value (see sql_literal).
    """
    return [
        (comment_statement(layer, table, col, text), {})
        for col, text in comment_targets(layer, table)
    ]


# --- the lake against the declaration ---------------------------------------------------------


def _norm_type(t: str) -> str:
    return re.sub(r"\s+", " ", t.strip()).upper()


def check_declared(con, layer: str, table: str) -> list[str]:
    """Where <layer>.<table> in the connection's database (`lake` on the lake) differs from its
    declaration: the table missing, columns missing, extra or of another type, or their order.
    Empty when they agree."""
    name = f"{layer}.{table}"
    actual = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = $s and table_name = $t "
        "order by ordinal_position",
        {"s": layer, "t": table},
    ).fetchall()
    if not actual:
        return [f"{name}: table not found in the lake"]
    declared = declared_columns(layer, table)
    have = dict(actual)
    want = {c.name: c.type for c in declared}
    problems = [
        f"{name}.{c.name}: declared {c.type} but missing from the lake"
        for c in declared
        if c.name not in have
    ]
    problems += [
        f"{name}.{col}: in the lake ({typ}) but not declared"
        for col, typ in actual
        if col not in want
    ]
    problems += [
        f"{name}.{c.name}: declared {c.type}, the lake has {have[c.name]}"
        for c in declared
        if c.name in have and _norm_type(c.type) != _norm_type(have[c.name])
    ]
    common_lake = [col for col, _ in actual if col in want]
    common_declared = [c.name for c in declared if c.name in have]
    if not problems and common_lake != common_declared:
        problems.append(f"{name}: columns in another order: the lake has {', '.join(common_lake)}")
    return problems


# --- the README -------------------------------------------------------------------------------

# Curated tables in the order they are built (the rest of a layer is alphabetical).
_CURATED_ORDER = (
    "facilities",
    "observations",
    "imagery_coverage_daily",
    "news_attention_daily",
    "activity_baselines",
    "crossing_indicators_weekly",
    "evidence",
    "alerts",
)
# Staging tables grouped by the source that writes them, then the bookkeeping of every load.
_STAGING_ORDER = (
    "stg_reported__observations",
    "stg_imagery__scenes",
    "stg_imagery__scene_facilities",
    "stg_news__articles",
    "stg_news__article_facilities",
    "stg_news__events",
    "stg_news__mentions",
    "gdelt_slot_gaps",
    "load_audit",
)
_SECTIONS = (
    ("Reference and curated", ("curated",)),
    ("Staging", ("staging",)),
    ("Quarantine, raw zone and operational state", ("quarantine", "raw", "ops")),
)
_README_LAYERS = ("curated", "staging", "quarantine", "raw", "ops")


def _readme_order(key: tuple[str, str]) -> tuple:
    layer, table = key
    order = {"curated": _CURATED_ORDER, "staging": _STAGING_ORDER}.get(layer, ())
    rank = order.index(table) if table in order else len(order)
    return (_README_LAYERS.index(layer), rank, table)


def _cell(text: str) -> str:
    # Inside a Markdown table: a | ends the cell, <word> would be taken for an HTML tag and
    # *_usd ... *_kg for emphasis.
    for ch in "|<*":
        text = text.replace(ch, "\\" + ch)
    return text


def readme_tables_markdown() -> str:
    """The README's table reference: for each table, what a row is and every column with its
    type and description, generated from the declarations (between the README's markers)."""
    tables = declared_tables()
    out = [
        "<!-- Generated from meta.description and meta.columns in sql/<layer>/<table>.expectations.json",
        "     by `uv run python -m assets.core.columns --write-readme`: edit those files, not this. -->",
        "",
        "Every table's columns are declared once, in its suite "
        "(`sql/<layer>/<table>.expectations.json`, `meta.columns`); the same text is each "
        "column's comment in the lake (`select * from duckdb_columns()`) and its column schema "
        "in the Dagster UI. Types are DuckDB's. A test checks the declarations against a "
        "materialised lake.",
    ]
    for title, layers in _SECTIONS:
        section = [t for t in tables if t[0] in layers]
        if not section:
            continue
        out += ["", f"{title}:", "", "| table | one row is | columns |", "|---|---|---|"]
        out += [
            f"| `{layer}.{table}` | {_cell(table_description(layer, table))} "
            f"| {len(declared_columns(layer, table))} |"
            for layer, table in section
        ]
        for layer, table in section:
            cols = declared_columns(layer, table)
            out += [
                "",
                f"<details><summary><code>{layer}.{table}</code></summary>",
                "",
                "| column | type | description |",
                "|---|---|---|",
            ]
            out += [f"| `{c.name}` | `{c.type}` | {_cell(c.description)} |" for c in cols]
            out += ["", "</details>"]
    return "\n".join(out) + "\n"


def readme_with_tables(readme: str) -> str:
    """The README text with what lies between the markers replaced by the generated reference."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md needs {START} and, after it, {END}")
    return readme[: start + len(START)] + "\n" + readme_tables_markdown() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write-readme"]:
        text = README.read_text(encoding="utf-8")
        new = readme_with_tables(text)
        if new != text:
            README.write_text(new, encoding="utf-8")
        print(f"{_rel(README)}: table reference {'updated' if new != text else 'already current'}")
        return 0
    if args == ["--check-readme"]:
        text = README.read_text(encoding="utf-8")
        if readme_with_tables(text) != text:
            print(
                f"{_rel(README)} is out of date: run python -m assets.core.columns --write-readme"
            )
            return 1
        return 0
    print("usage: python -m assets.core.columns --write-readme | --check-readme", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
