"""Reading GDELT-scale GKG files the fast way changes no result.

read_gkg's may_match (matching.gkg_rows_may_match) lets most rows of a file be counted as
filtered without being split into fields. Every row the full path would quarantine, or load
after matching, must still be typed: the same quarantine, the same matches, the same counts.
Also here: lines are split (without a copy) exactly as Python splits them; the latitude
shortcut of location_matches and matcher.location_pattern never miss a point within reach;
news_in_window gives the same with one or two reading threads and without the prefilter.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.core.limits import Limits
from assets.news import articles as articles_module
from assets.news.articles import news_in_window
from assets.news.gdelt import _line_table, gkg_locations, read_gkg
from assets.news.matching import (
    build_matcher,
    gkg_rows_may_match,
    location_matches,
    match_articles,
)

WINDOW = (date(2023, 10, 1), date(2023, 11, 1))
NEAR_V2 = "4#Tumangang, North Korea#KN#KN18#KN18#42.42#130.60#-1#0"
FAR_V2 = "4#Paris, Ile-de-France, France#FR#FR00#FR00#48.8566#2.3522#-1#0"
FAR_V1 = "4#Paris, Ile-de-France, France#FR#FR00#48.8566#2.3522#-1"
NEAR_V1 = "4#Tumangang, North Korea#KN#KN18#42.42#130.60#-1"

TITLES = [
    "Weather in Paris",
    "TUMANGANG freight trains",  # an alias in capitals
    "Грузовые составы на станции ТУМАНГАН",  # Cyrillic in capitals: folding finds it
    "두만강역 화물열차 증가",  # Hangul, a substring
    "Tumangáng station",  # a diacritic folding strips
    "ＴＵＭＡＮＧＡＮＧ",  # full-width letters NFKC folds
    "Tumen river floods",  # ambiguous alias: needs location evidence
    "Hasan Rouhani speaks",  # ambiguous alias of Khasan
    "It’s a “quoted” title about nothing",  # not ASCII, matches nothing
    "Rajin-Sonbong port",
    "",
]
URLS = [
    "https://example.org/news/story-1",
    "https://example.org/world/tumangang-station/2023",  # alias in the slug
    "https://example.org/TUMAN_gang.html",  # an alias with a separator, in the slug
    "https://example.org/%EB%91%90%EB%A7%8C%EA%B0%95%EC%97%AD",  # Hangul alias, encoded
    "https://example.org/%41%42-nothing",  # encoded, matches nothing
    "https://example.org/khasan%20station",
    "not-a-url",
]
V2 = [
    "",
    FAR_V2,
    NEAR_V2,
    FAR_V2 + ";" + NEAR_V2,
    "4#Rason, North Korea#KN#KN00#KN00#10.0#10.0#-1#0",  # alias as a location name, far point
    "4#Somewhere#KN#KN00#KN00#30.0#10.0#-1#0",  # North Korea: evidence for an ambiguous alias
    "4#Bad latitude#XX#XX#XX#402.42#130.60#-1#0",  # out of range: left to the formula
    "4#Exponent#XX#XX#XX#4.242e1#1.306e2#-1#0",  # parses as a point near Tumangang
    "4#Plus#XX#XX#XX#+042.4#130.6#-1#0",
    "4#Whole#XX#XX#XX#42#130.6#-1#0",  # 42.0: 47 km south of Tumangang, not near
    "4#Edge#XX#XX#XX#42.64#130.6#-1#0",  # 24 km north of Tumangang
    "4#V1 inside#XX#XX#42.42#130.60#-1",  # a V1-shaped location in the V2 field
    "4#Short#XX",
]
V1 = ["", FAR_V1, NEAR_V1]
DATES = ["20231006120000", "20231006120000", "2023-10-06", "", "20231399000000"]


def gkg(
    title: str = "Weather in Paris",
    url: str = URLS[0],
    v1: str = FAR_V1,
    v2: str = FAR_V2,
    gkg_date: str = "20231006120000",
    title_early: bool = False,
    closed: bool = True,
) -> str:
    """One GKG 2.1 line (27 fields), the title in the extras (and, if title_early, a stray
    <PAGE_TITLE> in an earlier field)."""
    f = [""] * 27
    f[0], f[1], f[2], f[3], f[4] = "20231006120000-1", gkg_date, "1", "example.org", url
    f[7], f[9], f[10] = "TAX_FNCACT;", v1, v2
    f[15] = "-1.5,2.1,3.6,5.7,20.1,0.5,700"
    f[17] = "wc:412," + ",".join(f"c{i}.1:{i}" for i in range(40))
    if title_early:
        f[5] = "<PAGE_TITLE>stray</PAGE_TITLE>"
    end = "</PAGE_TITLE>" if closed else ""
    f[26] = (
        "<PAGE_PRECISEPUBTIMESTAMP>20231006115900</PAGE_PRECISEPUBTIMESTAMP>"
        f"<PAGE_TITLE>{title}{end}"
    )
    return "\t".join(f)


@pytest.fixture(scope="module")
def matcher(facilities):
    return build_matcher(facilities)


def _matched_lines(g, matcher) -> list[int]:
    found = match_articles(g.rows, g.locations, matcher)
    return sorted(g.rows.filter(pl.col("row_nr").is_in(found["row_nr"].implode()))["line_number"])


def assert_same_as_full_read(data: bytes, matcher, limits: Limits | None = None) -> None:
    limits = limits or Limits()
    uri = "mem://20231006120000.gkg.csv"
    full = read_gkg(data, uri, limits)
    fast = read_gkg(data, uri, limits, partial(gkg_rows_may_match, matcher=matcher))
    assert full.rows_ruled_out == 0
    assert fast.rows_read == full.rows_read
    assert fast.rows_read == fast.rows.height + fast.quarantine.height + fast.rows_ruled_out
    assert fast.quarantine.equals(full.quarantine)
    assert fast.warnings == full.warnings
    assert _matched_lines(fast, matcher) == _matched_lines(full, matcher)
    typed = full.rows.filter(pl.col("line_number").is_in(fast.rows["line_number"].implode()))
    assert fast.rows.drop("row_nr").equals(typed.drop("row_nr"))


def test_each_kind_of_relevance_survives_the_prefilter(matcher):
    lines = [gkg()]  # irrelevant
    lines += [gkg(title=t) for t in TITLES]
    lines += [gkg(url=u) for u in URLS]
    lines += [gkg(v2=v) for v in V2]
    lines += [gkg(v1=NEAR_V1, v2=""), gkg(v1=NEAR_V1, v2=FAR_V2)]  # V1 counts only without V2
    lines += [gkg(title="Tumen river floods", v2=v) for v in V2]
    lines += [gkg(title="Tumangang", title_early=True), gkg(title="Tumangang", closed=False)]
    lines += [gkg()]  # the last line is always typed
    data = ("\n".join(lines) + "\n").encode()
    assert_same_as_full_read(data, matcher)
    fast = read_gkg(data, "mem://x.gkg.csv", may_match=partial(gkg_rows_may_match, matcher=matcher))
    assert fast.rows_ruled_out > 0 and fast.rows.height < len(lines)


def test_malformed_rows_that_mention_nothing_are_still_quarantined(matcher):
    irrelevant = gkg()
    lines = [
        irrelevant.encode(),
        irrelevant.rsplit("\t", 2)[0].encode(),  # ragged: 25 fields
        gkg(gkg_date="2023-10-06").encode(),  # unparseable date
        gkg(gkg_date="").encode(),
        irrelevant.replace("Weather", "Weath\xe9r").encode("latin-1"),  # not UTF-8
        gkg(title="x" * 1500).encode(),  # a field over the cap below
        b"",
        irrelevant.encode() + b"\r",
        irrelevant.encode(),
    ]
    data = b"\n".join(lines)  # no final newline: the last line is checked as a cut line
    assert_same_as_full_read(data, matcher, Limits(field_chars=1000))
    g = read_gkg(
        data, "mem://x", Limits(field_chars=1000), partial(gkg_rows_may_match, matcher=matcher)
    )
    assert g.quarantine.height == 5 and g.rows_ruled_out == 2 and g.rows.height == 1  # the last


def _line(draw) -> bytes:
    text = gkg(
        title=draw(st.sampled_from(TITLES)),
        url=draw(st.sampled_from(URLS)),
        v1=draw(st.sampled_from(V1)),
        v2=draw(st.sampled_from(V2)),
        gkg_date=draw(st.sampled_from(DATES)),
        title_early=draw(st.booleans()),
        closed=draw(st.booleans()),
    ).encode()
    mutation = draw(st.sampled_from(["none"] * 6 + ["ragged", "latin1", "crlf", "blank"]))
    if mutation == "ragged":
        text = text.replace(b"\t", b" ", 1)
    elif mutation == "latin1":
        text = text.replace(b"Weather", b"Weath\xe9r").replace(b"example", b"exampl\xe9")
    elif mutation == "crlf":
        text += b"\r"
    elif mutation == "blank":
        text = b""
    return text


@st.composite
def gkg_files(draw) -> bytes:
    lines = [_line(draw) for _ in range(draw(st.integers(1, 12)))]
    return b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gkg_files())
def test_random_files_read_the_same_with_and_without_the_prefilter(facilities, data):
    assert_same_as_full_read(data, build_matcher(facilities))


def test_news_in_window_is_the_same_with_the_prefilter_and_in_parallel(
    facilities, fake_raw, zip_member, monkeypatch
):
    # Several files, an article repeated across files (de-duplicated in key order).
    files = []
    for i in range(6):
        lines = [gkg(title=t, url=f"https://example.org/{i}/{n}") for n, t in enumerate(TITLES)]
        lines += [gkg(title="Tumangang again", url="https://example.org/same")]
        name = f"202310061{i}0000.gkg.csv"
        files.append(fake_raw(f"gdelt/{name}.zip", zip_member(name, "\n".join(lines).encode())))

    def summary(batches):
        return [
            (r.source_uri, r.rows_read, r.rows_filtered, r.rows.to_dicts(), r.quarantine.to_dicts())
            for r in batches.articles.results
        ] + [batches.articles.related["staging.stg_news__article_facilities"].to_dicts()]

    serial = summary(news_in_window(files, facilities, *WINDOW, workers=1))
    parallel = summary(news_in_window(files, facilities, *WINDOW, workers=2))
    monkeypatch.setattr(
        articles_module,
        "gkg_rows_may_match",
        lambda head, matcher: pl.Series([True] * head.height, dtype=pl.Boolean),
    )
    unfiltered = summary(news_in_window(files, facilities, *WINDOW, workers=1))
    assert serial == parallel == unfiltered
    assert sum(len(s[3]) for s in serial[:-1]) > 6  # something was loaded


def _all_pairs_within_reach(locations: pl.DataFrame, matcher) -> list[tuple]:
    """Every (row_nr, facility_id) pair the haversine formula puts within the distance,
    computed for every point against every facility (no latitude shortcut)."""
    r = 6371.0088
    fac = matcher.facilities.rename({"lat": "f_lat", "lon": "f_lon"})
    lat1, lat2 = pl.col("loc_lat").radians(), pl.col("f_lat").radians()
    dlon = (pl.col("f_lon") - pl.col("loc_lon")).radians()
    a = ((lat2 - lat1) / 2).sin().pow(2) + lat1.cos() * lat2.cos() * (dlon / 2).sin().pow(2)
    dist = 2 * r * a.clip(0.0, 1.0).sqrt().arcsin()
    near = (
        locations.drop_nulls(["loc_lat", "loc_lon"])
        .join(fac, how="cross")
        .filter(dist <= matcher.distance_km)
    )
    return sorted(set(near.select("row_nr", "facility_id").iter_rows()))


coordinates = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200, 500),
    st.sampled_from([42.42, 42.4217 + 0.2248, 42.4217 - 0.2249, 402.42, -317.58, 130.6]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(coordinates, coordinates), max_size=30))
def test_the_latitude_shortcut_finds_every_point_within_reach(facilities, points):
    matcher = build_matcher(facilities)
    locations = pl.DataFrame(
        {
            "row_nr": list(range(len(points))),
            "loc_fullname": ["x"] * len(points),
            "loc_lat": [p[0] for p in points],
            "loc_lon": [p[1] for p in points],
        },
        schema={
            "row_nr": pl.UInt32,
            "loc_fullname": pl.String,
            "loc_lat": pl.Float64,
            "loc_lon": pl.Float64,
        },  # fmt: skip
    )
    found = location_matches(locations, matcher)
    assert sorted(set(found.select("row_nr", "facility_id").iter_rows())) == (
        _all_pairs_within_reach(locations, matcher)
    )


def _reference_lines(data: bytes) -> list[str | None]:
    """What _line_table must give: split on newlines (a final one ends the last line), one
    trailing carriage return dropped per line, None for a line that is not valid UTF-8."""
    parts = data.split(b"\n")
    if data.endswith(b"\n"):
        parts.pop()
    out = []
    for p in parts:
        p = p[:-1] if p.endswith(b"\r") else p
        try:
            out.append(p.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(None)
    return out


line_bytes = st.lists(
    st.one_of(
        st.binary(max_size=30),
        st.text(max_size=30).map(lambda t: t.encode()),
        st.sampled_from([b"", b"\r", b"x" * 12, b"y" * 13, "é".encode() * 7, b"\t" * 26]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(line_bytes, st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_lines_split_as_python_splits_them(lines, newline, final):
    data = newline.join(lines) + (newline if final else b"")
    frame, _ = _line_table(data)
    assert frame["raw_line"].to_list() == _reference_lines(data)
    assert frame["line_number"].to_list() == list(range(1, frame.height + 1))


def _literal(value: float, form: str) -> str:
    """A latitude written the ways GDELT files (or broken ones) may write it."""
    return {
        "plain": f"{value}",
        "short": f"{value:.1f}",
        "long": f"{value:.6f}",
        "whole": f"{value:.0f}",
        "dot": f"{value:.0f}.",
        "plus": f"+{value}",
        "zeros": f"00{value}",
        "exponent": f"{value / 10:.5f}e1",
        "upper": f"{value * 10:.4f}E-1",
    }[form]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([42.4217, 42.43, 42.24, 40.1, 40.125, 42.95, 42.965]),
    # 25 km is 0.2248 degrees of latitude: points near the edge of reach, straight north or
    # south of a facility, are the ones a pattern too narrow would miss.
    st.one_of(st.floats(-0.3, 0.3), st.sampled_from([-0.2248, -0.2247, -0.22, 0.22, 0.2247])),
    st.one_of(st.just(0.0), st.floats(-0.3, 0.3)),
    st.sampled_from(
        ["plain", "short", "long", "whole", "dot", "plus", "zeros", "exponent", "upper"]
    ),
    st.booleans(),
)
def test_the_location_pattern_finds_every_point_within_reach(facilities, lat, dlat, dlon, form, v2):
    matcher = build_matcher(facilities)
    lons = dict(zip(facilities["lat"].to_list(), facilities["lon"].to_list(), strict=True))
    lat_text = _literal(lat + dlat, form)
    lon_text = f"{lons[lat] + dlon:.4f}"
    fields = ["4", "Somewhere", "XX", "XX00"] + (["XX00"] if v2 else [])
    location = "#".join([*fields, lat_text, lon_text, "-1"] + (["0"] if v2 else []))
    raw = FAR_V2 + ";" + location  # after another location, as in a real field
    rows = pl.DataFrame(
        {"row_nr": [0], "locations_raw": [raw]}, schema_overrides={"row_nr": pl.UInt32}
    )
    near = location_matches(gkg_locations(rows), matcher).height > 0
    found = rows.select(pl.col("locations_raw").str.contains(matcher.location_pattern)).item()
    assert found or not near, (raw, matcher.location_pattern)
