"""Shared fixtures for the news tests: facilities, raw-file stand-ins, the realdata folder."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from assets.reference.facilities import read_facilities

ROOT = Path(__file__).resolve().parents[2]
REALDATA = ROOT / ".." / "shared" / "realdata"


@dataclass
class FakeRaw:
    """What news_in_window needs from assets.core.rawzone.RawFile."""

    key: str
    data: bytes

    @property
    def source_uri(self) -> str:
        return f"mem://{self.key}"

    def read(self) -> bytes:
        return self.data


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="session")
def facilities() -> pl.DataFrame:
    return read_facilities(ROOT / "data" / "reference" / "facilities.csv")


@pytest.fixture(scope="session")
def nowhere_facilities(facilities) -> pl.DataFrame:
    """One facility that nothing in any real file can match (Antarctica, a made-up alias)."""
    return facilities.head(1).with_columns(
        pl.lit("nowhere").alias("facility_id"),
        pl.lit(-89.0).alias("lat"),
        pl.lit(0.0).alias("lon"),
        pl.lit(["Qzxwvplorp"]).alias("aliases"),
        pl.lit([], pl.List(pl.String)).alias("ambiguous_aliases"),
        pl.lit("AQ").alias("country"),
        pl.lit("AQ").alias("counterpart_country"),
    )


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(
            f"real public sample data not found: {REALDATA} (see shared/realdata/SOURCES.md)"
        )
    return REALDATA.resolve()


@pytest.fixture(scope="session")
def fake_raw():
    return FakeRaw


@pytest.fixture(scope="session")
def zip_member():
    return zipped
