"""Every sql/queries/*.sql on the demo's five-year warehouse, in milliseconds, with README parameters.

Parameters come from the README's worked examples (`borderwatch query sql/queries/X.sql --param
k=v ...`), typed as the CLI types them; a query the README does not show runs without any. The
warehouse is the one the graph section's demo left in bench/out/demo-home (or one built here by
`borderwatch demo` when there is none). Each query runs once to warm up, then N times; the median
is reported with the rows it returned.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from assets.core.export import typed_param
from bench.common import REPO, Row, median

QUERIES = REPO / "sql" / "queries"
EXAMPLE = re.compile(r"borderwatch query (sql/queries/[\w.]+\.sql)((?:\s+--param\s+\S+)*)")


def readme_params(readme: Path = REPO / "README.md") -> dict[str, dict]:
    """{file name: {param: value}} from the README's `borderwatch query` examples."""
    out: dict[str, dict] = {}
    for path, params in EXAMPLE.findall(readme.read_text(encoding="utf-8")):
        pairs = re.findall(r"--param\s+(\w+)=(\S+)", params)
        out[Path(path).name] = {k: typed_param(v) for k, v in pairs}
    return out


def connect_read_only(home: Path):
    """The demo's warehouse as the project stores it now (DuckLake) or did (one DuckDB file)."""
    if (home / "lake" / "catalog.sqlite").exists():
        from assets.core import warehouse

        return warehouse.connect(warehouse.LakeConfig.embedded(home), read_only=True)
    files = sorted(home.rglob("*.duckdb"))
    if not files:
        raise FileNotFoundError(f"no warehouse under {home}")
    import duckdb

    con = duckdb.connect(str(files[0]), read_only=True)
    con.execute("set timezone = 'UTC'")
    return con


def time_queries(home: Path, repeats: int) -> list[dict]:
    params = readme_params()
    con = connect_read_only(home)
    results = []
    try:
        for path in sorted(QUERIES.glob("*.sql")):
            sql = path.read_text(encoding="utf-8")
            bound = params.get(path.name, {})
            try:
                rows = len(con.execute(sql, bound).fetchall())  # warm-up, and the row count
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    con.execute(sql, bound).fetchall()
                    times.append(time.perf_counter() - start)
                results.append({"query": path.name, "params": bound, "rows": rows, "times": times})
            except Exception as exc:  # one broken query is a row of the table, not the end of it
                results.append({"query": path.name, "params": bound, "error": str(exc)[:200]})
    finally:
        con.close()
    return results


def rows_for(home: Path, repeats: int, note: str = "") -> list[Row]:
    out = []
    for r in time_queries(home, repeats):
        if "error" in r:
            out.append(Row("queries", r["query"], detail=f"failed: {r['error']}"))
            continue
        shown = " ".join(f"{k}={v}" for k, v in r["params"].items()) or "no parameters"
        out.append(
            Row(
                "queries",
                r["query"],
                wall_s=median(r["times"]),
                detail=f"rows {r['rows']}; {shown}; min {min(r['times']) * 1000:.1f} ms, "
                f"max {max(r['times']) * 1000:.1f} ms over {repeats}{note}",
            )
        )
    return out
