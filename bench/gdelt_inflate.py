"""How fast a GDELT slot is inflated and parsed: the project's path against the standard library.

Builds one GKG-sized slot (about 1,500 rows, ~17 MB unzipped) from the real GKG sample in
../shared/realdata when present (else from generated rows), zips it, and times, in this run:

- baseline: zipfile.ZipFile(...).read()  (the standard library's zlib)
- zlib raw: zlib.decompressobj(-15) over the member's deflate stream
- project:  assets.news.gdelt.inflate_member (isal, the path the pipeline uses)
- parse:    assets.news.gdelt.read_gkg on the zipped slot (inflate + split + typed frame)

Prints best-of-N seconds and each ratio to the baseline. Run: uv run python bench/gdelt_inflate.py
"""

from __future__ import annotations

import io
import statistics
import sys
import time
import zipfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assets.news.gdelt import inflate_member, read_gkg  # noqa: E402

REAL_GKG = REPO.parent / "shared" / "realdata" / "gdelt" / "gkg.csv"
ROWS = 1500
REPEATS = 7


def slot_text() -> bytes:
    if REAL_GKG.exists():
        lines = [line for line in REAL_GKG.read_bytes().splitlines() if line]
    else:
        lines = [
            b"\t".join(
                [
                    f"20231006120000-{i}".encode(),
                    b"20231006120000",
                    b"1",
                    b"example.org",
                    f"https://example.org/{i}".encode(),
                ]
                + [b"x" * 400] * 22
            )
            for i in range(100)
        ]
    return b"\n".join(lines[i % len(lines)] for i in range(ROWS)) + b"\n"


def best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    text = slot_text()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("20231006120000.gkg.csv", text)
    data = buffer.getvalue()
    print(
        f"slot: {ROWS} rows, {len(text) / 1e6:.1f} MB unzipped, {len(data) / 1e6:.1f} MB zipped "
        f"({'real GKG rows' if REAL_GKG.exists() else 'generated rows'})"
    )

    def baseline():
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.read(zf.namelist()[0])

    def zlib_raw():
        name_len, extra_len = (
            int.from_bytes(data[26:28], "little"),
            int.from_bytes(data[28:30], "little"),
        )
        zlib.decompressobj(-15).decompress(data[30 + name_len + extra_len :])

    def project():
        assert inflate_member(data, "bench.gkg.csv.zip").complete

    def parse():
        read_gkg(data, "bench/20231006120000.gkg.csv.zip")

    steps = [
        ("baseline zipfile.read (zlib)", baseline),
        ("zlib raw deflate stream", zlib_raw),
        ("project inflate_member (isal)", project),
        ("project read_gkg (inflate+parse)", parse),
    ]
    results = [(label, *best(fn)) for label, fn in steps]
    base_best = results[0][1]
    print(f"{'step':<34}{'best s':>10}{'median s':>10}{'ratio to baseline':>20}")
    for label, b, m in results:
        print(f"{label:<34}{b:>10.4f}{m:>10.4f}{b / base_best:>19.2f}x")


if __name__ == "__main__":
    main()
