"""Lake fixtures: the embedded lake (SQLite + folder) and, for integration tests, PostgreSQL + SeaweedFS S3."""

from __future__ import annotations

import itertools

import pytest

from assets.core.lake import LakeConfig
from tests.core.lake_helpers import kill_leftover_workers

_names = itertools.count()


@pytest.fixture(params=["embedded", pytest.param("postgres_s3", marks=pytest.mark.integration)])
def lake_config(request, tmp_path) -> LakeConfig:
    """A fresh, empty lake on each backend: embedded, and PostgreSQL catalog + S3 data."""
    if request.param == "embedded":
        return LakeConfig.embedded(tmp_path / "home")
    pg = request.getfixturevalue("pg_s3")
    name = f"lake{next(_names)}"
    return LakeConfig("postgres:" + pg.create_database(name), f"s3://lake/{name}")


@pytest.fixture(autouse=True)
def _no_leftover_workers():
    """A test that fails half-way must not leave lake_worker processes running."""
    yield
    kill_leftover_workers()
