"""Conformance on real GDELT 2.0 and feed files: every row accounted for, formats read right."""

from __future__ import annotations

import re
from datetime import date, datetime

import polars as pl
import pytest

from assets.news.articles import news_in_window
from assets.news.feeds import read_feed
from assets.news.gdelt import read_events, read_gkg, read_mentions

WINDOW = (date(2014, 1, 1), date(2021, 1, 1))


def _gdelt(realdata, name: str) -> bytes:
    path = realdata / "gdelt" / name
    if not path.exists():
        pytest.skip(f"real GDELT sample not found: {path}")
    return path.read_bytes()


@pytest.fixture(scope="module")
def real_files(realdata, fake_raw):
    return [
        fake_raw("gdelt/20200318000000.gkg.csv", _gdelt(realdata, "gkg.csv")),
        fake_raw("gdelt/20200318000000.export.CSV", _gdelt(realdata, "events.csv")),
        fake_raw("gdelt/20200318000000.mentions.CSV", _gdelt(realdata, "mentions.csv")),
    ]


def test_every_real_row_is_accounted_for_when_nothing_matches(real_files, nowhere_facilities):
    batches = news_in_window(real_files, nowhere_facilities, *WINDOW)
    results = batches.articles.results + batches.events.results + batches.mentions.results
    assert len(results) == 3
    for r in results:
        r.check_accounting()
        assert r.rows_read == 100, r.source_uri
        assert r.rows_loaded == 0
        assert r.rows_filtered + r.rows_quarantined == 100


def test_every_real_row_is_accounted_for_with_the_gazetteer(real_files, facilities):
    batches = news_in_window(real_files, facilities, *WINDOW)
    for r in batches.articles.results + batches.events.results + batches.mentions.results:
        r.check_accounting()
        assert r.rows_read == 100


def test_real_rows_parse_typed(realdata):
    gkg = read_gkg(_gdelt(realdata, "gkg.csv"), "gkg.csv")
    assert (gkg.rows_read, gkg.rows.height, gkg.quarantine.height) == (100, 100, 0)
    # Two BBC Monitoring records carry citation text, not a URL: kept by the reader, typed.
    assert gkg.rows.filter(gkg.rows["source_collection"] == 2).height == 2
    assert gkg.locations.height > 0
    assert gkg.locations["loc_country_fips"].drop_nulls().str.len_chars().max() == 2
    titles = gkg.rows["title"].drop_nulls()
    assert "Global oil, gas producers slash spending after crude price rout" in titles.to_list()

    events = read_events(_gdelt(realdata, "events.csv"), "events.csv")
    assert (events.rows_read, events.rows.height) == (100, 100)
    codes = events.rows["event_code"].to_list()
    assert "042" in codes and all(isinstance(c, str) for c in codes)
    actors = set(events.rows["actor1_country_code"].drop_nulls())
    geos = set(events.rows["action_geo_country_code"].drop_nulls())
    assert actors and all(len(c) == 3 for c in actors)  # CAMEO
    assert geos and all(len(c) == 2 for c in geos)  # FIPS
    assert set(events.rows["event_on"].unique()) == {date(2015, 2, 18), date(2020, 3, 18)}

    mentions = read_mentions(_gdelt(realdata, "mentions.csv"), "mentions.csv")
    assert (mentions.rows_read, mentions.rows.height) == (100, 100)
    assert set(mentions.rows["language"]) == {"en"}
    assert not mentions.rows["translated"].any()


def test_translated_rows_keep_their_source_language(realdata, fake_raw, facilities):
    """The samples hold no translated row: make one from a real row, as GDELT's -T stream has."""
    lines = _gdelt(realdata, "gkg.csv").split(b"\n")
    fields = lines[60].split(b"\t")
    assert len(fields) == 27
    fields[0] = fields[0].replace(b"-", b"-T", 1)
    fields[25] = b"srclc:fra;eng:GT-FRA 1.0"
    line = b"\t".join(fields) + b"\n"
    g = read_gkg(line, "20200318120000.translation.gkg.csv")
    row = g.rows.row(0, named=True)
    assert re.search(r"-T\d+$", row["record_id"])
    assert (row["language"], row["translated"]) == ("fr", True)

    # Put a facility on the row's first location: the staged article keeps language fr.
    loc = g.locations.drop_nulls(["loc_lat"]).row(0, named=True)
    here = facilities.head(1).with_columns(
        pl.lit(loc["loc_lat"]).alias("lat"),
        pl.lit(loc["loc_lon"]).alias("lon"),
        pl.lit("here").alias("facility_id"),
    )
    assert row["document_url"].startswith("http")
    batch = news_in_window([fake_raw("gdelt/20200318120000.translation.gkg.csv", line)], here, *WINDOW)
    staged = batch.articles.results[0].rows
    assert staged.height == 1
    assert staged.row(0, named=True)["language"] == "fr"
    assert staged.row(0, named=True)["translated"] is True
    assert staged.row(0, named=True)["record_id"] == row["record_id"]

    mline = _gdelt(realdata, "mentions.csv").split(b"\n")[0].split(b"\t")
    mline[14] = b"srclc:rus;eng:GT-RUS 1.0"
    m = read_mentions(b"\t".join(mline), "x.mentions.CSV")
    assert m.rows.row(0, named=True)["language"] == "ru"


def test_feeds_parse(realdata):
    folder = realdata / "feeds"
    expected = {"guardian.rss": (55, "en"), "encoding.rss": (40, "pt"), "heise.atom": (15, None)}
    for name, (n, language) in expected.items():
        path = folder / name
        if not path.exists():
            pytest.skip(f"real feed not found: {path}")
        f = read_feed(path.read_bytes(), str(path))
        assert (f.rows_read, f.rows.height, f.quarantine.height) == (n, n, 0), name
        assert f.rows["published_at"].null_count() == 0
        if language:
            assert set(f.rows["language"]) == {language}


def test_portuguese_accents_survive_latin1(realdata):
    path = realdata / "feeds" / "encoding.rss"
    raw_text = path.read_bytes().decode("iso-8859-1")
    f = read_feed(path.read_bytes(), str(path))
    titles = f.rows["title"].to_list()
    assert titles[0] == "Mãe de utente é a nova presidente da Raríssimas"
    accented = [t for t in titles if re.search("[ãáéíóúçõêâ]", t)]
    assert len(accented) >= 10
    for t in accented:
        assert t in " ".join(raw_text.split())
        assert "\ufffd" not in t and "Ã" not in t


def test_german_atom_dates(realdata):
    path = realdata / "feeds" / "heise.atom"
    text = path.read_text(encoding="utf-8")
    raw_dates = re.findall(r"<published>([^<]+)</published>", text)
    f = read_feed(path.read_bytes(), str(path))
    assert len(raw_dates) == f.rows.height == 15
    for raw, got in zip(raw_dates, f.rows["published_at"].to_list(), strict=True):
        assert got == datetime.fromisoformat(raw.strip()), raw
