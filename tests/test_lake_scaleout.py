"""The whole graph beyond one machine: the lake's catalog in PostgreSQL and its data on S3
(SeaweedFS), both started here on 127.0.0.1, gives the same curated tables as the embedded
lake, and the CLI's queries, time travel and export work on it."""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from assets.core.warehouse import LakeConfig, connect
from tests.conftest import curated_hashes, lake

pytestmark = pytest.mark.integration

BORDERWATCH = Path(sys.executable).parent / "borderwatch"
START, END = "2023-09-20", "2023-10-20"


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(BORDERWATCH), *args], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def base_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BORDERWATCH_", "DAGSTER_"))}
    env["BORDERWATCH_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def scaleout(pg_s3, tmp_path_factory):
    """The environment of a borderwatch whose lake is in PostgreSQL + S3, and that lake."""
    config = LakeConfig("postgres:" + pg_s3.create_database("borderwatch"), "s3://lake/bw/")
    env = base_env(tmp_path_factory.mktemp("scaleout") / "home")
    env.update(BORDERWATCH_LAKE_CATALOG=config.catalog, BORDERWATCH_LAKE_DATA_PATH=config.data_path)
    return env, config


def test_postgres_and_s3_give_the_same_curated_tables_as_the_embedded_lake(scaleout, tmp_path):
    env, config = scaleout
    out = run(env, "materialize", "--start", START, "--end", END)
    assert "DuckLake catalog postgres:" in out.stdout and "s3://lake/bw/" in out.stdout
    home = tmp_path / "home"
    run(base_env(home), "materialize", "--start", START, "--end", END)
    remote, local = connect(config, read_only=True), lake(home)
    try:
        assert curated_hashes(remote) == curated_hashes(local)
        assert remote.execute("select count(*) from curated.observations").fetchone()[0] > 0
        assert remote.execute("select count(*) from staging.stg_news__articles").fetchone()[0] > 0
    finally:
        remote.close()
        local.close()
    # The data really is on S3, not on local disk.
    client = boto3.client(
        "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1"
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="lake").get("Contents", [])]
    assert any(k.startswith("bw/") and k.endswith(".parquet") for k in keys)
    assert not (Path(env["BORDERWATCH_HOME"]) / "lake").exists()


def test_time_travel_and_export_on_postgres_and_s3(scaleout, tmp_path):
    env, _ = scaleout

    def scalar(*args: str) -> str:
        return run(env, "query", *args, "--format", "csv").stdout.splitlines()[1]

    late = "select count(*) as n from staging.stg_news__articles where published_on > '2023-10-20'"
    first = scalar("select max(snapshot_id) as s from lake.snapshots()")
    assert scalar(late) == "0"
    run(env, "materialize", "--start", "2023-10-21", "--end", "2023-10-25")
    assert int(scalar(late)) > 0
    assert scalar(late, "--as-of", first) == "0"  # what the lake said before that run
    export = tmp_path / "export"
    run(env, "export", "--out", str(export), "--as-of", first)
    assert (export / "borderwatch.duckdb").exists()
    assert (export / "curated" / "alerts.parquet").exists()
