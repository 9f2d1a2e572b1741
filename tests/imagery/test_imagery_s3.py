"""The S3 backend on a real SeaweedFS server: Sentinel-2 layout, credentials, anonymous, paging."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import boto3
import duckdb
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from assets.core.rawzone import RawZone, fetch_to_raw
from assets.core.sources import S3SourceStore, SourceError
from assets.imagery import sample
from assets.imagery.backends import list_imagery_objects
from assets.imagery.scenes import scenes_in_window
from tests.imagery.imagery_helpers import PRIVATE_BUCKET, PUBLIC_BUCKET

pytestmark = pytest.mark.integration

FILLERS = 1_050  # more than one ListObjectsV2 page (1,000 keys)
FILLER_PREFIX = "imagery/sentinel-s2-l2a-cogs/52/T/FM/2023/8/"


def _admin(server):
    return boto3.client(
        "s3", endpoint_url=server["endpoint"], aws_access_key_id=server["key"],
        aws_secret_access_key=server["secret"], region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="module")
def buckets(seaweedfs):
    """Both buckets hold the sample's Aug-Nov 2023 items with a non-JSON asset each and a decoy
    tile (52TFN); the private one also 1,050 extra JSON keys beside the 52TFM August items."""
    s3 = _admin(seaweedfs)
    objects = {}
    for tile in sample.TILES:
        for item in sample.items_for_tile(tile, date(2023, 8, 1), date(2023, 12, 1)):
            key = sample.item_key(item)  # imagery/sentinel-s2-l2a-cogs/...
            objects[key] = json.dumps(item).encode()
            objects[f"{key.rsplit('/', 1)[0]}/TCI.tif"] = b"not a tiff"
    for key, data in list(objects.items()):
        if "/52/T/FM/" in key and key.endswith(".json"):
            objects[key.replace("/52/T/FM/", "/52/T/FN/").replace("52TFM", "52TFN")] = data
    fillers = {f"{FILLER_PREFIX}filler-{i:04d}/filler-{i:04d}.json": b"{}" for i in range(FILLERS)}
    for bucket in (PUBLIC_BUCKET, PRIVATE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    puts = [(b, k, v) for b in (PUBLIC_BUCKET, PRIVATE_BUCKET) for k, v in objects.items()]
    puts += [(PRIVATE_BUCKET, k, v) for k, v in fillers.items()]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda p: s3.put_object(Bucket=p[0], Key=p[1], Body=p[2]), puts))
    return {**objects, **fillers}


@pytest.fixture
def aws_env(seaweedfs, monkeypatch, tmp_path):
    """Only the test server's endpoint; no profile or credentials from the machine."""
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "BORDERWATCH_S3_ANONYMOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweedfs["endpoint"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probe
    return monkeypatch


def _record_listings(store) -> list[dict]:
    calls = []
    store.client.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: calls.append(dict(params))
    )
    return calls


def test_credentialed_listing_touches_only_the_facility_tiles_and_months(
    buckets, seaweedfs, aws_env, facilities, tmp_path
):
    aws_env.setenv("AWS_ACCESS_KEY_ID", seaweedfs["key"])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs["secret"])
    store = S3SourceStore(f"s3://{PRIVATE_BUCKET}/imagery")
    calls = _record_listings(store)
    start, end = date(2023, 9, 28), date(2023, 10, 9)
    objects = list_imagery_objects(store, facilities, start, end)

    prefixes = {(c["Prefix"], c.get("Delimiter")) for c in calls}
    base = "imagery/sentinel-s2-l2a-cogs"
    expected = {("imagery/", "/")} | {
        (f"{base}/{path}/2023/{month}/", None)
        for path in ("52/T/FM", "51/T/XE", "52/T/EN") for month in (9, 10)
    }
    assert prefixes == expected
    assert objects and all(o.key.endswith(".json") for o in objects)
    assert not any("/52/T/FN/" in o.key or "/2023/8/" in o.key for o in objects)

    con = duckdb.connect()
    raws = fetch_to_raw(store, objects, RawZone(tmp_path / "raw"), con)
    assert all(r.source_uri.startswith(f"s3://{PRIVATE_BUCKET}/imagery/") for r in raws)
    batch = scenes_in_window(raws, facilities, start, end)
    for r in batch.results:
        r.check_accounting()
    links = batch.related["staging.stg_imagery__scene_facilities"]
    day = links.filter(facility_id="tumangang", acquired_on=date(2023, 10, 5))
    assert day["scene_id"].to_list() == ["S2A_52TFM_20231005_0_L2A"]

    wrong = S3SourceStore(f"s3://{PRIVATE_BUCKET}/imagery", client=boto3.client(
        "s3", endpoint_url=seaweedfs["endpoint"], aws_access_key_id=seaweedfs["key"],
        aws_secret_access_key="wrong", region_name="us-east-1"))
    with pytest.raises(SourceError, match=PRIVATE_BUCKET):
        list(wrong.list("imagery/"))


def test_store_rooted_at_the_layout_lists_the_same_prefixes(
    buckets, seaweedfs, aws_env, facilities
):
    aws_env.setenv("AWS_ACCESS_KEY_ID", seaweedfs["key"])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs["secret"])
    store = S3SourceStore(f"s3://{PRIVATE_BUCKET}/imagery/sentinel-s2-l2a-cogs")
    calls = _record_listings(store)
    objects = list_imagery_objects(store, facilities.filter(facility_id="tumangang"),
                                   date(2023, 10, 1), date(2023, 11, 1))
    # One delimited listing of the root (loose files beside the layout are read too), then
    # the tile's month: never the whole bucket.
    assert [(c["Prefix"], c.get("Delimiter")) for c in calls] == [
        ("imagery/sentinel-s2-l2a-cogs/", "/"),
        ("imagery/sentinel-s2-l2a-cogs/52/T/FM/2023/10/", None),
    ]
    assert len(objects) == 6 and all(o.key.startswith("52/T/FM/2023/10/") for o in objects)
    # The COGs beside each item are listed as skipped (an audit row each), never fetched.
    assert len(objects.skipped) == 6 and all(o.key.endswith("/TCI.tif") for o in objects.skipped)


def test_listing_pages_past_a_thousand_keys(buckets, seaweedfs, aws_env, facilities):
    aws_env.setenv("AWS_ACCESS_KEY_ID", seaweedfs["key"])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs["secret"])
    store = S3SourceStore(f"s3://{PRIVATE_BUCKET}/imagery")
    calls = _record_listings(store)
    objects = list_imagery_objects(store, facilities.filter(facility_id="tumangang"),
                                   date(2023, 8, 1), date(2023, 9, 1))
    real = [k for k in buckets if k.startswith(FILLER_PREFIX) and k.endswith(".json")]
    assert len(real) > 1000
    assert sorted(o.key for o in objects) == sorted(k.removeprefix("imagery/") for k in real)
    month_calls = [c for c in calls if c["Prefix"] == FILLER_PREFIX]
    assert len(month_calls) >= 2 and "ContinuationToken" in month_calls[-1]


def test_anonymous_reads_a_public_bucket_and_is_refused_on_a_private_one(
    buckets, aws_env, facilities
):
    # No credentials anywhere: the store goes unsigned by itself.
    public = S3SourceStore(f"s3://{PUBLIC_BUCKET}/imagery")
    assert public.client.meta.config.signature_version is UNSIGNED
    objects = list_imagery_objects(public, facilities.filter(facility_id="tumangang"),
                                   date(2023, 10, 1), date(2023, 11, 1))
    assert len(objects) == 6
    assert json.loads(public.read(objects[0].key))["properties"]["borderwatch:synthetic"] is True
    explicit = S3SourceStore(f"s3://{PUBLIC_BUCKET}/imagery", anonymous=True)
    assert [o.key for o in explicit.list("sentinel-s2-l2a-cogs/52/T/FM/2023/10/")] == [
        o.key for o in public.list("sentinel-s2-l2a-cogs/52/T/FM/2023/10/")]
    private = S3SourceStore(f"s3://{PRIVATE_BUCKET}/imagery", anonymous=True)
    with pytest.raises(SourceError, match="AccessDenied"):
        list(private.list("sentinel-s2-l2a-cogs/52/T/FM/2023/10/"))
    with pytest.raises(SourceError, match="AccessDenied"):
        private.read("sentinel-s2-l2a-cogs/52/T/FM/2023/10/x.json")
