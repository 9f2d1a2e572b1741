"""Property tests per parser: random bytes and mutated corpus files never raise, always add up.

Kept fast (modest max_examples, no deadline) so they run with the unit tests. Each property is
what the pipeline relies on: an entry point returns a result for any bytes, rows_read equals
loaded + filtered + quarantined, quarantine reasons are real (no "internal error"), and raw
lines stay under the cap. A link reader never hands out bytes from outside its store.
"""

from __future__ import annotations

import json
import random
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.core.limits import DEFAULT_LIMITS
from assets.core.parsing import ParseResult
from assets.core.sources import LocalSourceStore, SourceError
from assets.imagery.backends import StoreLinkReader
from assets.imagery.scenes import scenes_in_window
from assets.imagery.stac import LinkRefused, parse_stac_document
from assets.news.articles import news_in_window
from assets.news.gdelt import read_events, read_gkg, read_mentions
from assets.reference.facilities import read_facilities
from assets.reported.parse import parse_reported_file, parse_value, read_metrics

CORPUS = Path(__file__).resolve().parent
REPO = CORPUS.parents[1]
WINDOW = (date(2023, 10, 1), date(2023, 11, 1))
FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the link store is read-only: sharing it is fine
    ],
    derandomize=True,  # the same examples every run: a failure here is reproducible
)


@cache
def facilities():
    return read_facilities(REPO / "data" / "reference" / "facilities.csv")


@cache
def corpus_files(source: str, suffixes: tuple[str, ...]) -> list[bytes]:
    files = sorted(p for p in (CORPUS / source / "files").rglob("*") if p.is_file())
    return [p.read_bytes() for p in files if p.name.lower().endswith(suffixes)]


def check(result: ParseResult) -> None:
    result.check_accounting()
    for row in result.quarantine.iter_rows(named=True):
        assert row["reason"] and "internal error" not in row["reason"], row["reason"]
        assert row["raw_line"] is None or len(row["raw_line"]) <= DEFAULT_LIMITS.raw_line_chars


# Mutations that model real damage: cuts, stray bytes, duplicated or dropped lines, stray
# quotes, separators and line breaks, a foreign encoding.
TOKENS = [b'"', b",", b"\n", b"\r", b"\t", b"\x00", b"\xff", b"\xe9", b"PK\x03\x04", b"{", b"]"]


@st.composite
def mutated(draw, source: str, suffixes: tuple[str, ...]) -> bytes:
    files = corpus_files(source, suffixes)
    data = bytearray(files[draw(st.integers(0, len(files) - 1))])
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 4))):
        kind = rng.randrange(6)
        at = rng.randrange(len(data) + 1)
        if kind == 0:
            del data[at : at + rng.randrange(1, 64)]
        elif kind == 1:
            data[at:at] = rng.choice(TOKENS)
        elif kind == 2 and data:
            data[at % len(data)] ^= 1 << rng.randrange(8)
        elif kind == 3:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif kind == 4:
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[rng.randrange(len(lines))])
            data = bytearray(b"\n".join(lines))
        else:
            data = data[:at]
    return bytes(data)


# --- reported --------------------------------------------------------------------------------

def parse_reported(data: bytes) -> ParseResult:
    return parse_reported_file(
        data, "prop.csv", {"tumangang", "khasan"}, read_metrics(REPO / "data/reference/metrics.csv"),
        date(2023, 1, 1), date(2024, 1, 1), date(2026, 1, 1),
    )  # fmt: skip


@FAST
@given(st.binary(max_size=2000))
def test_reported_random_bytes(data):
    check(parse_reported(data))


@FAST
@given(mutated("reported", (".csv",)))
def test_reported_mutated_files(data):
    result = parse_reported(data)
    check(result)
    lines = result.rows["line_number"].to_list()
    assert len(lines) == len(set(lines)) and all(n >= 1 for n in lines)


@FAST
@given(st.floats(min_value=0, max_value=1e15, allow_nan=False))
def test_grouped_numbers_read_back_exactly(x):
    """Anything written with ',' thousands and '.' decimals reads back as itself."""
    assert parse_value(f"{x:,}") == x and parse_value(repr(x)) == x


@FAST
@given(st.from_regex(r"\A[0-9]{1,3},[0-9]{1,2}\Z|\A[0-9]{1,3},[0-9]{4,6}\Z"))
def test_a_comma_not_followed_by_three_digits_is_ambiguous(text):
    with pytest.raises(ValueError, match="ambiguous"):
        parse_value(text)


# --- GDELT -----------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=3000), st.sampled_from([read_gkg, read_events, read_mentions]),
       st.booleans())  # fmt: skip
def test_gdelt_readers_random_bytes(data, reader, as_zip):
    g = reader(data, "mem://20231006120000.x.csv" + (".zip" if as_zip else ""))
    assert g.rows_read == g.rows.height + g.quarantine.height
    check(ParseResult("mem://x", g.rows.head(0), g.quarantine, g.quarantine.height))


@FAST
@given(mutated("gdelt", (".csv", ".zip")))
def test_gdelt_mutated_files_through_the_window(data):
    class Raw:
        key, source_uri = "gdelt/20231006120000.gkg.csv.zip", "mem://prop.gkg.csv.zip"

        def read(self):
            return data

    batches = news_in_window([Raw()], facilities(), *WINDOW)
    (result,) = batches.articles.results
    check(result)


# --- STAC ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["type", "id", "geometry", "coordinates", "properties", "datetime",
                         "bbox", "links", "rel", "href", "features", "eo:cloud_cover", "x"]),
        children, max_size=5),  # fmt: skip
    max_leaves=30,
)


@cache
def good_item() -> dict:
    return json.loads((CORPUS / "stac" / "files" / "item-version-1.0.0.json").read_text())


@st.composite
def damaged_items(draw) -> list:
    """Good Items with keys dropped or replaced by random JSON, anywhere in the tree."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        item = json.loads(json.dumps(good_item()))
        for _ in range(draw(st.integers(1, 3))):
            node = item
            path = draw(st.sampled_from([("geometry",), ("geometry", "coordinates"),
                                         ("properties",), ("properties", "datetime"),
                                         ("properties", "eo:cloud_cover"), ("bbox",), ("id",),
                                         ("type",), ("links",), ("stac_version",)]))  # fmt: skip
            for key in path[:-1]:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                if draw(st.booleans()):
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = draw(json_values)
        items.append(item)
    return items


@FAST
@given(st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_stac_random_documents(data):
    doc = parse_stac_document(data, "mem://prop.json")
    assert doc.items_read == len(doc.scenes) + len(doc.quarantine)
    assert all("internal error" not in q["reason"] for q in doc.quarantine)


class _Raw:
    def __init__(self, data: bytes):
        self.key, self.source_uri, self.data = "prop.json", "mem://prop.json", data

    def read(self) -> bytes:
        return self.data


@FAST
@given(damaged_items())
def test_stac_damaged_items_through_the_window(items):
    data = json.dumps({"type": "FeatureCollection", "features": items}).encode()
    (result,) = scenes_in_window([_Raw(data)], facilities(), *WINDOW).results
    check(result)
    assert result.rows_read == len(items)


@pytest.fixture(scope="module")
def link_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    (root / "store" / "cat" / "items").mkdir(parents=True)
    (root / "store" / "cat" / "items" / "a.json").write_text('{"inside": true}')
    (root / "secret.json").write_text('{"secret": true}')
    (root / "store" / "cat" / "link.json").symlink_to(root / "secret.json")
    return root


@FAST
@given(st.lists(st.sampled_from(["..", ".", "cat", "items", "a.json", "secret.json", "link.json",
                                 "", "store", "%2e%2e"]), max_size=8),  # fmt: skip
       st.sampled_from(["", "/", "file://", "s3://bucket/", "https://corpus.example.invalid/"]))
def test_a_link_reader_never_reads_outside_its_store(link_store, parts, prefix):
    store = LocalSourceStore(link_store / "store")
    from assets.imagery.stac import resolve_href

    href = resolve_href(str(link_store / "store" / "cat" / "catalog.json"), prefix + "/".join(parts))
    try:
        data = StoreLinkReader(store)(href)
    except (LinkRefused, SourceError):
        return
    assert data == b'{"inside": true}'


# --- feeds -----------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=2000) | mutated("feeds", (".rss", ".atom", ".xml")))
def test_feed_files_through_the_window(data):
    class Raw:
        key, source_uri = "feeds/prop.rss", "mem://feeds/prop.rss"

        def read(self):
            return data

    (result,) = news_in_window([Raw()], facilities(), *WINDOW).articles.results
    check(result)
