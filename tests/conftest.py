"""Shared fixtures: a temporary borderwatch home with a real Dagster instance, and the realdata path."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(
            f"real public sample files not found at {REALDATA} (the shared/ folder beside the repo)"
        )
    return REALDATA


@pytest.fixture
def bw_env(tmp_path, monkeypatch):
    """BORDERWATCH_* pointing at a fresh home; the source stays the bundled sample unless changed."""
    home = tmp_path / "home"
    monkeypatch.setenv("BORDERWATCH_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("BORDERWATCH_") and name not in {
            "BORDERWATCH_HOME",
            "BORDERWATCH_REQUIRE_BROWSER",
        }:
            monkeypatch.delenv(name)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return home


def lake(home: Path, read_only: bool = True):
    """A connection to the embedded lake under a borderwatch home (tables as staging.x, ...)."""
    from assets.core.warehouse import LakeConfig, connect

    return connect(LakeConfig.embedded(home), read_only=read_only)


def lake_rows(home: Path, sql: str, params=None) -> list[tuple]:
    con = lake(home)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def curated_hashes(con) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the rows in a fixed order) of every curated table: equal tables, equal hashes."""
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'lake' "
            "and table_schema = 'curated' order by 1"
        ).fetchall()
    ]
    return {
        t: con.execute(
            "select count(*), md5(string_agg(cast(x as varchar), '|' order by cast(x as varchar)))"
            f" from (select * from curated.{t}) as x"
        ).fetchone()
        for t in tables
    }


@pytest.fixture(scope="module")
def pg_s3(tmp_path_factory):
    """A PostgreSQL cluster and a SeaweedFS S3 endpoint (bucket `lake`) on 127.0.0.1, with the
    AWS_* variables set for this module's tests and the processes they start."""
    import boto3

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
