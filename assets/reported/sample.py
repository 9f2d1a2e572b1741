"""Write the synthetic baseline of the reported-counts sample (deterministic; every row synthetic=true).

Irregular Tumangang and Khasan railcar counts from 2018 to September 2023. The Tumangang series
peaks at exactly 20 before 2023-10-05 (CSIS: "at most 20 at any one time in the previous five
years"), so the published ratio of 73 / 20 = 3.65 comes out of the data. Counts wander slowly and
spread widely enough that no earlier observation is half again over its own prior maximum or
far out on its robust z-score (tests check both on the built warehouse).

    uv run python -m assets.reported.sample data/sample
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

SYNTHETIC_SOURCE = "borderwatch synthetic baseline"
SYNTHETIC_URL = "https://synthetic.invalid/borderwatch/reported/baseline"
START, END = date(2018, 1, 8), date(2023, 9, 25)
PEAK = {"tumangang": (date(2021, 4, 12), 20), "khasan": (date(2020, 9, 14), 18)}


def series(facility_id: str, seed: int, low: int, high: int) -> list[tuple[date, int]]:
    rng = random.Random(seed)
    rows, day = [], START + timedelta(days=rng.randrange(0, 9))
    peak_day, peak = PEAK[facility_id]
    while day <= END:
        rows.append((day, rng.randint(low, high)))
        day += timedelta(days=rng.choice([9, 12, 16, 19, 23, 30]))
    # Put the published peak on its day (replacing any count there) so the maximum is exact.
    rows = [(d, v) for d, v in rows if d != peak_day] + [(peak_day, peak)]
    return sorted(rows)


def write(root: Path) -> Path:
    out = root / "reported" / "synthetic_baseline.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            [
                "facility_id",
                "observed_on",
                "metric",
                "value",
                "source",
                "source_url",
                "method",
                "published_on",
                "confidence",
                "imagery_provider",
                "notes",
                "synthetic",
            ]
        )
        for facility_id, seed, low, high in (("tumangang", 7304, 4, 17), ("khasan", 1129, 3, 16)):
            for day, value in series(facility_id, seed, low, high):
                writer.writerow(
                    [
                        facility_id,
                        day.isoformat(),
                        "railcars",
                        value,
                        SYNTHETIC_SOURCE,
                        SYNTHETIC_URL,
                        "synthetic: generated for the bundled sample",
                        "",
                        "synthetic",
                        "",
                        "SYNTHETIC - not an observation; generated baseline for the bundled sample",
                        "true",
                    ]
                )
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else "data/sample")))
