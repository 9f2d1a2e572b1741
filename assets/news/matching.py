"""Match news articles to facilities before loading: by GKG coordinates and aliases in any script.

The rule, for each article and facility:

* **location**: a GKG location (with coordinates) lies within `distance_km` (default 25 km) of
  the facility; distance_km is the nearest such location's haversine distance.
* **alias_title / alias_url / alias_location**: one of the facility's aliases appears in the
  page title, in the URL slug (path percent-decoded and split on - _ / .), or in a GKG location
  name. Text and aliases are folded the same way: Unicode NFKC, casefold, then diacritics
  stripped (NFD, drop combining marks, NFC again, which rebuilds Hangul syllables). Aliases in
  Latin or Cyrillic match on word boundaries ("Rason" does not match "Grason"); aliases holding
  Hangul or Han characters match as substrings, as those scripts do not separate words with
  spaces (두만강역에서 holds 두만강역).
* **ambiguous aliases** (the facility's `ambiguous_aliases`, e.g. "Tumen", also a river and a
  common word) count only with supporting location evidence in the same article: a GKG location
  within `distance_km` of the facility, or a GKG location whose country (FIPS, mapped to ISO2 via
  data/reference/country_codes.csv) is the facility's country or its counterpart country.
  Without it, "Tumen" in a title about something else matches nothing.

An article can match one facility in several ways: one row per (article, facility, match_kind).
The bulk step is vectorised (a Polars cross join for distances and a folded `contains_any`
pre-filter over aliases); the precise alias check runs in Python over the few candidates left.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import polars as pl

from assets.news.gdelt import LOCATION_SCHEMA

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COUNTRY_CODES_CSV = PROJECT_ROOT / "data" / "reference" / "country_codes.csv"
DEFAULT_DISTANCE_KM = 25.0
EARTH_RADIUS_KM = 6371.0088
MATCH_SCHEMA = {
    "row_nr": pl.UInt32,
    "facility_id": pl.String,
    "match_kind": pl.String,
    "matched_text": pl.String,
    "distance_km": pl.Float64,
}
_CJK = re.compile(
    r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)
_SLUG_SPLIT = re.compile(r"[-_/.]+")


def fold(text: str | None) -> str:
    """NFKC, casefold, strip diacritics (NFD, drop marks) and recompose (NFC)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", text)


def fold_expr(expr: pl.Expr) -> pl.Expr:
    """The same folding in Polars (lower-case in place of casefold) for the bulk pre-filter."""
    return (
        expr.fill_null("")
        .str.normalize("NFKC")
        .str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.normalize("NFC")
    )


def url_slug(url: str | None) -> str:
    """The URL's path, percent-decoded, split on - _ / . into space-separated words."""
    if not url:
        return ""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        path = url
    return " ".join(p for p in _SLUG_SPLIT.split(unquote(path)) if p)


@cache
def fips_to_iso2(path: str = str(COUNTRY_CODES_CSV)) -> dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        return {row["fips"]: row["iso2"] for row in csv.DictReader(fh)}


@dataclass(frozen=True)
class Alias:
    facility_id: str
    text: str  # as written in the gazetteer
    folded: str
    ambiguous: bool
    pattern: re.Pattern | None  # word-boundary pattern; None for Hangul/Han substrings

    def found_in(self, folded_text: str) -> bool:
        if self.pattern is None:
            return self.folded in folded_text
        return self.pattern.search(folded_text) is not None


@dataclass
class Matcher:
    facilities: pl.DataFrame  # facility_id, lat, lon, country, counterpart_country
    aliases: list[Alias]
    distance_km: float
    countries: dict[str, set[str]]  # facility_id -> {ISO2 of the facility and counterpart}

    @property
    def prefilter_terms(self) -> list[str]:
        terms = {a.folded for a in self.aliases if a.folded}
        polars_folded = (
            pl.Series(sorted(a.text for a in self.aliases))
            .to_frame("t")
            .select(fold_expr(pl.col("t")))["t"]
        )
        return sorted(terms | {t for t in polars_folded.to_list() if t})


def build_matcher(facilities: pl.DataFrame, distance_km: float = DEFAULT_DISTANCE_KM) -> Matcher:
    aliases = []
    countries = {}
    for row in facilities.iter_rows(named=True):
        ambiguous = {fold(a) for a in row.get("ambiguous_aliases") or []}
        names = set(row.get("aliases") or []) | set(row.get("ambiguous_aliases") or [])
        for text in sorted(names, key=lambda t: (-len(t), t)):  # longest first
            folded = fold(text)
            if not folded:
                continue
            pattern = None
            if not _CJK.search(folded):
                pattern = re.compile(rf"(?<!\w){re.escape(folded)}(?!\w)")
            aliases.append(Alias(row["facility_id"], text, folded, folded in ambiguous, pattern))
        countries[row["facility_id"]] = {
            c for c in (row.get("country"), row.get("counterpart_country")) if c
        }
    cols = ["facility_id", "lat", "lon"]
    return Matcher(facilities.select(cols), aliases, distance_km, countries)


def location_matches(locations: pl.DataFrame, matcher: Matcher) -> pl.DataFrame:
    """(row_nr, facility_id, 'location', nearest location name, distance_km) within the distance."""
    pts = locations.filter(pl.col("loc_lat").is_not_null() & pl.col("loc_lon").is_not_null())
    if pts.height == 0:
        return pl.DataFrame(schema=MATCH_SCHEMA)
    fac = matcher.facilities.rename({"lat": "f_lat", "lon": "f_lon"})
    lat1, lat2 = pl.col("loc_lat").radians(), pl.col("f_lat").radians()
    dlat = lat2 - lat1
    dlon = (pl.col("f_lon") - pl.col("loc_lon")).radians()
    a = (dlat / 2).sin().pow(2) + lat1.cos() * lat2.cos() * (dlon / 2).sin().pow(2)
    dist = 2 * EARTH_RADIUS_KM * a.clip(0.0, 1.0).sqrt().arcsin()
    near = (
        pts.select("row_nr", "loc_fullname", "loc_lat", "loc_lon")
        .join(fac, how="cross")
        .with_columns(dist.alias("distance_km"))
        .filter(pl.col("distance_km") <= matcher.distance_km)
    )
    return (
        near.sort("row_nr", "facility_id", "distance_km", "loc_fullname", nulls_last=True)
        .group_by("row_nr", "facility_id", maintain_order=True)
        .first()
        .select(
            "row_nr",
            "facility_id",
            pl.lit("location").alias("match_kind"),
            pl.col("loc_fullname").alias("matched_text"),
            "distance_km",
        )
        .cast(MATCH_SCHEMA)
    )


def _alias_hits(matcher: Matcher, title: str, url: str, names: list[str]) -> list[tuple]:
    texts = {
        "alias_title": fold(title),
        "alias_url": fold(url_slug(url)),
        "alias_location": "\n".join(fold(n) for n in names if n),
    }
    hits = []
    for kind, text in texts.items():
        if not text:
            continue
        for alias in matcher.aliases:
            if alias.found_in(text):
                hits.append((alias.facility_id, kind, alias.text, alias.ambiguous))
    return hits


def match_articles(
    articles: pl.DataFrame, locations: pl.DataFrame | None, matcher: Matcher
) -> pl.DataFrame:
    """Matches for articles (row_nr, title, document_url) and their GKG locations.

    Returns one row per (row_nr, facility_id, match_kind) with columns of MATCH_SCHEMA.
    """
    if locations is None:
        locations = pl.DataFrame(schema=LOCATION_SCHEMA)
    by_location = location_matches(locations, matcher)
    names = (
        locations.filter(pl.col("loc_fullname").is_not_null() & (pl.col("loc_fullname") != ""))
        .group_by("row_nr")
        .agg(pl.col("loc_fullname").unique().sort().alias("loc_names"), pl.col("loc_country_fips"))
    )
    terms = matcher.prefilter_terms
    cand = articles.select("row_nr", "title", "document_url").join(names, on="row_nr", how="left")
    haystack = fold_expr(
        pl.concat_str(
            [
                pl.col("title").fill_null(""),
                pl.col("document_url").fill_null("").str.replace_all(r"[-_/.]+", " "),
                pl.col("loc_names").list.join("\n").fill_null(""),
            ],
            separator="\n",
        )
    )
    cand = (
        cand.filter(
            haystack.str.contains_any(terms)
            | pl.col("document_url").str.contains("%[A-Fa-f0-9]{2}")
        )
        if terms
        else cand.clear()
    )
    near = {(r, f) for r, f in by_location.select("row_nr", "facility_id").iter_rows()}
    fips = fips_to_iso2()
    rows = []
    for row in cand.iter_rows(named=True):
        loc_names = row["loc_names"] or []
        loc_countries = {fips.get(c, None) for c in (row["loc_country_fips"] or [])} - {None}
        seen = set()
        for fid, kind, text, ambiguous in _alias_hits(
            matcher, row["title"], row["document_url"], loc_names
        ):
            if ambiguous and (row["row_nr"], fid) not in near:
                if not (loc_countries & matcher.countries.get(fid, set())):
                    continue
            if (fid, kind) in seen:
                continue
            seen.add((fid, kind))
            rows.append(
                {
                    "row_nr": row["row_nr"],
                    "facility_id": fid,
                    "match_kind": kind,
                    "matched_text": text,
                    "distance_km": None,
                }
            )
    by_alias = pl.DataFrame(rows, schema=MATCH_SCHEMA)
    return pl.concat([by_location, by_alias]).sort("row_nr", "facility_id", "match_kind")


def match_article(
    matcher: Matcher,
    title: str | None = None,
    url: str | None = None,
    locations: list[dict] | None = None,
) -> pl.DataFrame:
    """One article, for tests and ad-hoc checks. `locations`: dicts with LOCATION_SCHEMA keys."""
    arts = pl.DataFrame(
        {"row_nr": [0], "title": [title], "document_url": [url]},
        schema={"row_nr": pl.UInt32, "title": pl.String, "document_url": pl.String},
    )
    locs = pl.DataFrame(
        [{**{k: None for k in LOCATION_SCHEMA}, **loc, "row_nr": 0} for loc in locations or []],
        schema=LOCATION_SCHEMA,
    )
    return match_articles(arts, locs, matcher)
