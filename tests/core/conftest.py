"""Lake fixtures: the embedded lake (SQLite + folder) and, for integration tests, PostgreSQL + SeaweedFS S3."""

from __future__ import annotations

import itertools

import pytest

from assets.core.lake import LakeConfig
from tests.core.lake_helpers import kill_leftover_workers

_names = itertools.count()


@pytest.fixture(scope="module")
def pg_s3(tmp_path_factory):
    """A PostgreSQL cluster and a SeaweedFS S3 endpoint (bucket `lake`) on 127.0.0.1, with the
    AWS_* variables set for this module's tests and the processes they start."""
    boto3 = pytest.importorskip("boto3")
    from tests.servers import start_postgres, start_seaweedfs

    tmp = tmp_path_factory.mktemp("lake-servers")
    pg = start_postgres(tmp / "pg")
    try:
        endpoint, key, secret, stop_s3 = start_seaweedfs(tmp / "s3")
    except BaseException:
        pg.stop()
        raise
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": key,
                "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_REGION": "us-east-1",
            }.items():
                mp.setenv(name, value)
            boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                region_name="us-east-1",
            ).create_bucket(Bucket="lake")
            yield pg
    finally:
        stop_s3()
        pg.stop()


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
