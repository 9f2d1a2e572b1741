"""The three ways of ingesting GDELT-scale days that the bench compares, one per subprocess.

- ingest: the project's own pure code, end to end: assets.news.articles.news_in_window (inflate,
  split, type, match against assets.reference.facilities.read_facilities, de-duplicate) and
  assets.core.warehouse.load_partition into a fresh warehouse (the embedded DuckLake when the
  project has it, else a DuckDB file): staging rows, article-facility links, gaps, audit.
- floor: what no ingest can beat on this machine: every member inflated with isal (raw deflate,
  wbits -15, one call per member) on all cores with a process pool, then DuckDB's read_csv
  counting the rows of the same bytes (an unzipped copy made once, outside the measurement).
- pandas: the plain way: zipfile + pandas.read_csv(sep='\\t', header=None, quoting=3) + a filter
  on the location and name columns (aliases anywhere in them, or a location within the match
  distance), matched rows loaded into DuckDB.

Run one by hand: `uv run python -m bench.gdelt_ingest ingest bench/out/gdelt/<...>/2023-10-05`
(several day folders make one window); `--profile FILE.html` wraps it in pyinstrument.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench.common import REPO, write_result

FACILITIES = REPO / "data" / "reference" / "facilities.csv"
MATCH_KM = 25.0


@dataclass(frozen=True)
class SlotFile:
    """A cached slot as the project's readers want it (like assets.core.rawzone.RawFile)."""

    key: str
    source_uri: str
    path: Path
    sha256: str

    def read(self) -> bytes:
        return self.path.read_bytes()


def load_days(folders: list[Path]) -> tuple[list[SlotFile], date, date, dict]:
    """The slot files of consecutive cached days, the window [start, end) and their totals."""
    files, days, totals = (
        [],
        [],
        {"rows": 0, "unzipped_bytes": 0, "zipped_bytes": 0, "tumangang_rows": 0},
    )
    for folder in folders:
        folder = Path(folder).resolve()
        manifest = json.loads((folder / "manifest.json").read_text())
        days.append(date.fromisoformat(manifest["day"]))
        for f in manifest["files"]:
            path = folder / f["name"]
            files.append(SlotFile(f"gdelt/{f['name']}", path.as_uri(), path, f["sha256"]))
            for k in totals:
                totals[k] += f[k]
    return files, min(days), max(days) + timedelta(days=1), totals


# --- the project's ingest -------------------------------------------------------------------


def _open_warehouse(warehouse, path: Path):
    """A fresh warehouse as the project opens it now: the DuckLake (embedded: SQLite catalog and
    Parquet under `path`) when assets.core.warehouse has it, else a DuckDB file."""
    if hasattr(warehouse, "LakeConfig"):
        return warehouse.connect(warehouse.LakeConfig.embedded(path))
    return warehouse.connect(path / "borderwatch.duckdb")


def run_ingest(folders: list[Path], db_dir: Path) -> dict:
    from assets.core import warehouse
    from assets.news.articles import news_in_window
    from assets.reference.facilities import read_facilities

    files, start, end, totals = load_days(folders)
    t0 = time.perf_counter()
    facilities = read_facilities(FACILITIES)
    batches = news_in_window(files, facilities, start, end, MATCH_KM)
    t1 = time.perf_counter()
    articles = batches.articles
    related = {
        "staging.stg_news__article_facilities": (
            "published_on",
            articles.related["staging.stg_news__article_facilities"],
        ),
        "staging.gdelt_slot_gaps": ("slot_on", batches.gaps),
    }
    sha_by_uri = {f.source_uri: f.sha256 for f in files}

    def load(c):
        return warehouse.load_partition(
            c,
            "staging.stg_news__articles",
            "published_on",
            start,
            end,
            articles.results,
            sha_by_uri,
            run_id="bench",
            related=related,
        )

    con = _open_warehouse(warehouse, db_dir)
    warehouse.ensure_tables(
        con,
        warehouse.AUDIT_DDL,
        "staging/stg_news__articles.sql",
        "quarantine/stg_news__articles.sql",
        "staging/stg_news__article_facilities.sql",
        "staging/gdelt_slot_gaps.sql",
    )
    # The lake's load_partition runs inside the caller's transaction; the older one made its own.
    summary = warehouse.transact(con, load) if hasattr(warehouse, "transact") else load(con)
    links = con.execute("select count(*) from staging.stg_news__article_facilities").fetchone()[0]
    tumangang = con.execute(
        "select count(distinct article_id) from staging.stg_news__article_facilities "
        "where facility_id = 'tumangang'"
    ).fetchone()[0]
    con.close()
    t2 = time.perf_counter()
    return {
        **totals,
        "files": len(files),
        "rows_read": summary.rows_read,
        "rows_loaded": summary.rows_loaded,
        "rows_filtered": summary.rows_filtered,
        "rows_quarantined": summary.rows_quarantined,
        "links": int(links),
        "tumangang_articles": int(tumangang),
        "gaps": batches.gaps.height,
        "parse_match_s": t1 - t0,
        "load_s": t2 - t1,
    }


# --- the floor --------------------------------------------------------------------------------


def _inflate_one(path: str) -> tuple[int, int]:
    """Inflate a one-member zip's raw deflate stream with isal in one call; keep only counts."""
    from isal import isal_zlib

    data = Path(path).read_bytes()
    _, method, csize, name_len, extra_len = struct.unpack("<2xHH8xI4xHH", data[4:30])
    start = 30 + name_len + extra_len
    body = isal_zlib.decompress(data[start : start + csize], wbits=-15)
    return len(body), body.count(b"\n")


def unzipped_dir(folder: Path) -> Path:
    return Path(folder).resolve().with_name(Path(folder).name + ".unzipped")


def ensure_unzipped(folder: Path) -> Path:
    """An unzipped copy of a cached day, made once, for DuckDB's scan (the floor's second half):
    DuckDB reads no zip, and writing the copy is not part of anyone's ingest."""
    import zipfile

    out = unzipped_dir(folder)
    if (out / "done").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(folder).glob("*.zip")):
        with zipfile.ZipFile(path) as zf:
            (out / path.name.removesuffix(".zip")).write_bytes(zf.read(zf.namelist()[0]))
    (out / "done").write_text("")
    return out


def run_floor(folders: list[Path], workers: int | None = None) -> dict:
    import duckdb

    files, _, _, totals = load_days(folders)
    workers = workers or os.cpu_count() or 1
    scans = [unzipped_dir(f) for f in folders]
    missing = [str(d) for d in scans if not (d / "done").exists()]
    if missing:
        raise FileNotFoundError(f"no unzipped copy (bench.gdelt_ingest.ensure_unzipped): {missing}")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        paths = [str(f.path) for f in files]
        sizes = list(pool.map(_inflate_one, paths, chunksize=max(1, len(paths) // (4 * workers))))
    t1 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"set threads = {workers}")
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(27)) + "}"
    globs = "[" + ", ".join(f"'{d}/*.csv'" for d in scans) + "]"
    counted = con.execute(
        f"select count(*) from read_csv({globs}, delim='\t', header=false, quote='', "
        f"escape='', auto_detect=false, columns={columns}, max_line_size=16777216)"
    ).fetchone()[0]
    con.close()
    t2 = time.perf_counter()
    return {
        **totals,
        "files": len(files),
        "inflated_bytes": sum(s for s, _ in sizes),
        "newlines": sum(n for _, n in sizes),
        "rows_counted": int(counted),
        "inflate_s": t1 - t0,
        "scan_s": t2 - t1,
        "workers": workers,
    }


# --- plain pandas -----------------------------------------------------------------------------


def _facility_terms() -> tuple[re.Pattern, list[tuple[float, float]]]:
    import csv

    with FACILITIES.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    names = {r["name"] for r in rows}
    for r in rows:
        names |= {a.strip() for a in r["aliases"].split("|") if a.strip()}
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)), re.I)
    return pattern, [(float(r["lat"]), float(r["lon"])) for r in rows]


def run_pandas(folders: list[Path], db_dir: Path) -> dict:
    import zipfile

    import duckdb
    import numpy as np
    import pandas as pd

    files, _, _, totals = load_days(folders)
    pattern, points = _facility_terms()
    fac = np.radians(np.array(points))
    kept, rows_read = [], 0
    for f in files:
        with zipfile.ZipFile(f.path) as zf, zf.open(zf.namelist()[0]) as fh:
            df = pd.read_csv(fh, sep="\t", header=None, quoting=3, dtype=str)
        rows_read += len(df)
        loc = df[10].fillna(df[9]).fillna("")
        title = df[26].fillna("").str.extract(r"<PAGE_TITLE>(.*?)</PAGE_TITLE>", expand=False)
        by_name = (
            loc.str.contains(pattern, regex=True)
            | title.fillna("").str.contains(pattern, regex=True)
            | df[4].fillna("").str.contains(pattern, regex=True)
        )
        # One row per location: V2 has 9 '#' fields (lat, lon at 5, 6), V1 has 7 (at 4, 5).
        parts = loc.str.split(";").explode()
        parts = parts[parts.str.len() > 0].str.split("#")
        n = parts.str.len()
        lat = pd.to_numeric(parts.str[5].where(n >= 9, parts.str[4]), errors="coerce")
        lon = pd.to_numeric(parts.str[6].where(n >= 9, parts.str[5]), errors="coerce")
        ok = lat.notna() & lon.notna()
        la, lo = np.radians(lat[ok].to_numpy()), np.radians(lon[ok].to_numpy())
        near = np.zeros(len(la), dtype=bool)
        for f_lat, f_lon in fac:
            a = (
                np.sin((f_lat - la) / 2) ** 2
                + np.cos(la) * np.cos(f_lat) * np.sin((f_lon - lo) / 2) ** 2
            )
            near |= 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1))) <= MATCH_KM
        by_location = pd.Series(False, index=df.index)
        by_location.loc[lat[ok].index[near].unique()] = True
        hit = df[(by_name | by_location) & df[4].fillna("").str.match(r"https?://")]
        kept.append(
            pd.DataFrame(
                {
                    "record_id": hit[0],
                    "gkg_date": hit[1],
                    "source_name": hit[3],
                    "document_url": hit[4],
                    "title": title[hit.index],
                    "source_uri": f.source_uri,
                }
            )
        )
    matched = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    con = duckdb.connect(str(db_dir / "pandas.duckdb"))
    con.register("matched", matched)
    con.execute("create table articles as select * from matched")
    loaded = con.execute("select count(*) from articles").fetchone()[0]
    con.close()
    return {**totals, "files": len(files), "rows_read": rows_read, "rows_loaded": int(loaded)}


WORKLOADS = {"ingest": run_ingest, "floor": run_floor, "pandas": run_pandas}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("folders", nargs="+", type=Path, help="cached day folders (one window)")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument HTML profile here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-db-") as tmp:
        kwargs = {} if args.workload == "floor" else {"db_dir": Path(tmp)}
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
        start = time.perf_counter()
        result = WORKLOADS[args.workload](args.folders, **kwargs)
        result["inner_wall_s"] = time.perf_counter() - start
        if args.profile:
            profiler.stop()
            args.profile.write_text(profiler.output_html())
            args.profile.with_suffix(".txt").write_text(
                profiler.output_text(unicode=True, color=False, show_all=False)
            )
    write_result(result)


if __name__ == "__main__":
    main()
