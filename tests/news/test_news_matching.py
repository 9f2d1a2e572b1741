"""Matching articles to facilities: coordinates, aliases in Hangul, Cyrillic, Han and Latin."""

from __future__ import annotations

import pytest

from assets.news.matching import build_matcher, fold, match_article, url_slug


@pytest.fixture(scope="module")
def matcher(facilities):
    return build_matcher(facilities, distance_km=25.0)


def _facilities(df) -> set[str]:
    return set(df["facility_id"])


def _kinds(df, facility_id: str) -> set[str]:
    return set(df.filter(df["facility_id"] == facility_id)["match_kind"])


def test_korean_title_finds_tumangang(matcher):
    m = match_article(matcher, title="북한 두만강역에서 화물열차 급증", url="https://x.example/a/1")
    assert _kinds(m, "tumangang") == {"alias_title"}
    # The longest alias that matched is reported, not a shorter one inside it.
    assert m.filter(m["facility_id"] == "tumangang")["matched_text"][0] == "두만강역"


def test_russian_location_name_finds_tumangang(matcher):
    loc = {"loc_type": 4, "loc_fullname": "Туманган, Северная Корея", "loc_country_fips": "KN"}
    m = match_article(matcher, title="Грузовые составы идут в КНДР", locations=[loc])
    assert _kinds(m, "tumangang") == {"alias_location"}
    assert m["distance_km"].null_count() == m.height


def test_gkg_coordinate_finds_tumangang(matcher):
    loc = {"loc_type": 4, "loc_fullname": "Somewhere", "loc_country_fips": "KN",
           "loc_lat": 42.40, "loc_lon": 130.58}  # fmt: skip
    m = match_article(matcher, title="Rail freight", locations=[loc])
    row = m.filter(m["facility_id"] == "tumangang").row(0, named=True)
    assert row["match_kind"] == "location"
    assert 2.0 < row["distance_km"] < 4.0
    # Khasan is 3 km away and matches too; Rajin (~30 km) is beyond the distance.
    assert "khasan" in _facilities(m) and "rajin" not in _facilities(m)


def test_distance_is_configurable(facilities):
    loc = {"loc_type": 4, "loc_fullname": "Near", "loc_lat": 42.40, "loc_lon": 130.58}
    assert "tumangang" in _facilities(
        match_article(build_matcher(facilities, 25.0), "x", None, [loc])
    )
    assert "tumangang" not in _facilities(
        match_article(build_matcher(facilities, 1.0), "x", None, [loc])
    )


def test_tumen_in_an_unrelated_sense_matches_nothing(matcher):
    m = match_article(
        matcher,
        title="Tumen of ten thousand: the steppe armies of the Mongol empire",
        url="https://history.example/mongol/tumen-armies",
        locations=[{"loc_type": 4, "loc_fullname": "Ulaanbaatar, Mongolia",
                    "loc_country_fips": "MG", "loc_lat": 47.9, "loc_lon": 106.9}],
    )  # fmt: skip
    assert m.height == 0


def test_tumen_counts_with_supporting_location(matcher):
    china = {"loc_type": 1, "loc_fullname": "China", "loc_country_fips": "CH",
             "loc_lat": 35.0, "loc_lon": 105.0}  # fmt: skip
    m = match_article(matcher, title="Tumen rail bridge reopens", locations=[china])
    assert _kinds(m, "tumen") == {"alias_title"}
    # Non-ambiguous aliases need no support.
    m = match_article(matcher, title="Tumen station reopens")
    assert _kinds(m, "tumen") == {"alias_title"}


def test_word_boundaries_diacritics_and_han(matcher):
    assert match_article(matcher, title="Grason and Rasonic are not places").height == 0
    assert "sinuiju" in _facilities(match_article(matcher, title="Trade via SINŬIJU grows"))
    assert "dandong" in _facilities(match_article(matcher, title="丹东口岸货运量回升"))
    assert fold("Ёлка Sinŭiju ÉTÉ") == "елка sinuiju ete"


def test_url_slug_and_percent_encoded_korean(matcher):
    m = match_article(
        matcher, title="Freight news", url="https://x.example/news/tumangang-rail_yard.html"
    )
    assert _kinds(m, "tumangang") == {"alias_url"}
    url = "https://x.example/%EB%91%90%EB%A7%8C%EA%B0%95%EC%97%AD-freight"
    assert url_slug(url).startswith("두만강역")
    assert _kinds(match_article(matcher, title="x", url=url), "tumangang") == {"alias_url"}


def test_a_malformed_port_does_not_stop_the_window():
    from assets.news.articles import article_id, normalise_url

    assert normalise_url("https://example.invalid:80x/story") == "https://example.invalid:80x/story"
    assert article_id("https://example.invalid:80x/story") != article_id("https://example.invalid/story")
    assert normalise_url("http://www.Example.invalid:8080/a/?utm_source=x&b=2") == (
        "https://example.invalid:8080/a?b=2"
    )
