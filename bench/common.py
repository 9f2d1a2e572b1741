"""What every benchmark section shares: the machine, measured subprocesses, medians and the table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


def machine() -> dict:
    """Cores, memory, Python and the versions that decide the numbers."""
    info = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n")
        kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        info["memory_gb"] = None
    for name in ("duckdb", "dagster", "polars", "pandas", "isal"):
        try:
            from importlib.metadata import version

            info[name] = version(name)
        except Exception:  # a missing package is a fact to print, not a failure
            info[name] = "absent"
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().split("\n")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    return info


def machine_line(info: dict) -> str:
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB RAM, "
        f"Python {info['python']}, duckdb {info['duckdb']}, dagster {info['dagster']}, "
        f"polars {info['polars']}, pandas {info['pandas']}, isal {info['isal']}"
    )


@dataclass
class Measured:
    """One subprocess: wall clock seen by the parent, CPU and peak RSS from wait4."""

    wall_s: float
    cpu_s: float
    # The largest single process of the tree: wait4 reports a maximum, not a sum.
    peak_rss_mb: float
    returncode: int
    result: dict = field(default_factory=dict)  # the JSON the child wrote, if any
    stdout: str = ""
    stderr: str = ""


def run_measured(
    args: list[str],
    *,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    replace_env: bool = False,
) -> Measured:
    """Run a command in its own process and measure it with os.wait4 (this child only).

    The child may write a JSON result to the path in $BENCH_RESULT. CPU covers the child and
    the descendants it waited for (a process pool's workers); peak RSS is the largest of them.
    `env` adds to this process's environment, or replaces it with replace_env.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        base = {} if replace_env else dict(os.environ)
        full_env = {**base, **(env or {}), "BENCH_RESULT": str(result_path)}
        with out_path.open("wb") as out, err_path.open("wb") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(args, env=full_env, cwd=cwd or REPO, stdout=out, stderr=err)
            deadline = None if timeout is None else start + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if deadline is not None and time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.01)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        return Measured(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,
            returncode=proc.returncode,
            result=result,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
        )


def write_result(result: dict) -> None:
    """A measured child's answer to its parent (see run_measured); printed when run by hand."""
    path = os.environ.get("BENCH_RESULT")
    if path:
        Path(path).write_text(json.dumps(result, default=str))
    else:
        print(json.dumps(result, indent=1, default=str))


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def python_cmd(module: str, *args: str) -> list[str]:
    """The same interpreter as the bench (the project's venv), running a module of this package."""
    return [sys.executable, "-m", module, *args]


@dataclass
class Row:
    """One line of the printed table. Unused cells stay None and print as blanks."""

    section: str
    case: str
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    rows_per_s: float | None = None
    mb_per_s: float | None = None
    ratio: str = ""
    detail: str = ""


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.{digits}f}"


COLUMNS = ("section", "case", "wall", "CPU", "peak RSS", "rows/s", "MB/s", "ratio", "detail")


def table_cells(row: Row) -> list[str]:
    return [
        row.section,
        row.case,
        fmt_time(row.wall_s),
        fmt_time(row.cpu_s),
        "" if row.peak_rss_mb is None else f"{row.peak_rss_mb:,.0f} MB",
        fmt_num(row.rows_per_s),
        fmt_num(row.mb_per_s, 0),
        row.ratio,
        row.detail,
    ]


def render_markdown(rows: list[Row]) -> str:
    """A markdown table (also readable in a terminal): one line per row, detail last."""
    cells = [list(COLUMNS)] + [table_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS) - 1)]

    def line(c):
        padded = [c[i].ljust(widths[i]) for i in range(len(widths))] + [c[-1]]
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|---|"
    return "\n".join([line(cells[0]), sep, *[line(c) for c in cells[1:]]])
