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
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from urllib.parse import unquote, urlsplit

import polars as pl

from assets.news.gdelt import LOCATION_SCHEMA, gkg_locations

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
# What separates the runs of a term that appear unchanged in a raw GKG line (see raw_text_tokens).
_TOKEN_SPLIT = re.compile(r"[\s\-_/.]+")


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

    @cached_property
    def prefilter_terms(self) -> list[str]:
        terms = {a.folded for a in self.aliases if a.folded}
        polars_folded = (
            pl.Series(sorted(a.text for a in self.aliases))
            .to_frame("t")
            .select(fold_expr(pl.col("t")))["t"]
        )
        return sorted(terms | {t for t in polars_folded.to_list() if t})

    @cached_property
    def latitude_bands(self) -> list[tuple[float, float]]:
        return _latitude_bands(self)

    @cached_property
    def location_pattern(self) -> str:
        return location_pattern(self)

    @cached_property
    def raw_text_tokens(self) -> list[str] | None:
        """Strings at least one of which is in a raw GKG line, in some letter case, whenever
        one of the prefilter terms matches the row's folded title, URL or location names and
        that text is ASCII (where folding is lower-casing).

        Each ASCII term is split into runs of characters the URL slug keeps as they are (no
        space, - _ / .): every run of a matching term is in the raw line. A term is covered by
        a token inside one of its runs ("khasan station" by "khasan", itself an alias), else by
        its longest run. Terms with other characters cannot occur in ASCII text. None when a
        term has no run at all, so raw lines cannot be ruled out by their text."""
        runs_of = []
        for term in self.prefilter_terms:
            if not term.isascii():
                continue
            runs = [r for r in _TOKEN_SPLIT.split(term) if r]
            if not runs:
                return None
            runs_of.append(runs)
        tokens = {runs[0] for runs in runs_of if len(runs) == 1}
        for runs in sorted(runs_of, key=lambda rs: (len(rs), rs)):
            if not any(t in r for r in runs for t in tokens):
                tokens.add(max(runs, key=lambda r: (len(r), r)))
        return sorted(tokens)


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


def _reach_degrees(matcher: Matcher) -> float:
    """The match distance as degrees of latitude (a hair more, for rounding)."""
    return math.degrees(matcher.distance_km / EARTH_RADIUS_KM) * (1 + 1e-9) + 1e-9


def _latitude_bands(matcher: Matcher) -> list[tuple[float, float]]:
    """Latitudes within reach of each facility: along a meridian the haversine distance is
    R x |latitude difference| and never less elsewhere, so a point further than that in
    latitude from every facility is out of reach (a hair of margin for rounding)."""
    reach = _reach_degrees(matcher)
    bands: list[tuple[float, float]] = []
    for lat in matcher.facilities["lat"].drop_nulls().unique().sort().to_list():
        if bands and lat - reach <= bands[-1][1]:  # overlapping bands as one
            bands[-1] = (bands[-1][0], lat + reach)
        else:
            bands.append((lat - reach, lat + reach))
    return bands


def _within_latitude_reach(matcher: Matcher) -> pl.Expr:
    """False only for points that cannot lie within the distance of any facility (outside
    every latitude band). Latitudes beyond +-90 (bad data) are left to the full formula."""
    lat = pl.col("loc_lat")
    near = pl.lit(False)
    for lo, hi in matcher.latitude_bands:
        near = near | lat.is_between(lo, hi)
    return near | (lat.abs() > 90)


def _decimal_pattern(lo: float, hi: float) -> str | None:
    """A regex for plain decimal numbers (no sign, no exponent) that may lie in [lo, hi],
    0 < lo <= hi, judged on the integer part and two decimals (a superset); None if lo < 1."""
    if lo < 1:
        return None
    alternatives = []
    for whole in range(math.floor(lo), math.floor(hi) + 1):
        # Two decimals dd cover [whole.dd, whole.dd + 0.01): keep those that meet [lo, hi].
        kept = [
            d
            for d in range(100)
            if whole + d / 100 <= hi + 1e-9 and whole + (d + 1) / 100 >= lo - 1e-9
        ]
        if not kept:
            continue
        by_tens: dict[int, list[int]] = {}
        for d in kept:
            by_tens.setdefault(d // 10, []).append(d % 10)
        two = "|".join(
            f"{t}[0-9]" if len(units) == 10 else f"{t}[{''.join(map(str, units))}]"
            for t, units in sorted(by_tens.items())
        )
        forms = [rf"\.(?:{two})[0-9]*"]  # two decimals or more
        forms += [rf"\.{t}" for t in sorted(by_tens) if 0 in by_tens[t]]  # one decimal
        if 0 in kept:
            forms.append(r"\.?")  # the whole number itself
        alternatives.append(f"0*{whole}(?:{'|'.join(forms)})")
    return "|".join(alternatives) if alternatives else None


_EXPONENT = r"[0-9]*\.?[0-9]*[eE][+-]?[0-9]+"  # a number with an exponent: any value
_PAST_90 = r"0*(?:9[0-9]|[1-9][0-9]{2,})(?:\.[0-9]*)?"  # 90 and over
_PAST_180 = r"0*(?:1[89][0-9]|[2-9][0-9]{2}|[1-9][0-9]{3,})(?:\.[0-9]*)?"  # 180 and over
_ANY_FIELD = "[^#;]*"


def _number_pattern(lo: float, hi: float, past: str) -> str:
    """A regex for the numbers Polars reads (sign, digits, '.', exponent) that may lie in
    [lo, hi], or whose magnitude `past` matches, or that have an exponent; either sign is let
    through (a superset). Any field at all when [lo, hi] comes within 1 of 0."""
    low, high = (lo, hi) if lo > 0 else (-hi, -lo)  # magnitudes
    decimal = _decimal_pattern(low, high) if lo > 0 or hi < 0 else None
    if decimal is None:
        return _ANY_FIELD
    return rf"[+-]?(?:{_EXPONENT}|{past}|{decimal})"


def _longitude_band(
    lat: float, lon: float, distance_km: float, band: tuple[float, float]
) -> tuple[float, float] | None:
    """Longitudes within reach of a facility at (lat, lon) for points in its latitude band.
    For a point at latitude p, haversine's a >= cos(p) cos(lat) sin^2(dlon / 2), and within
    reach a <= sin^2(distance / 2R): |dlon| is bounded while cos(p) stays above 0 over the
    band. None when it is not (the band reaches a pole) or the bound passes +-180 degrees."""
    far = max(abs(band[0]), abs(band[1]))
    if far >= 90:
        return None
    q = math.sin(distance_km / (2 * EARTH_RADIUS_KM)) ** 2
    q /= math.cos(math.radians(far)) * math.cos(math.radians(lat))
    if q >= 1:
        return None
    width = math.degrees(2 * math.asin(math.sqrt(q))) * (1 + 1e-9) + 1e-9
    if abs(lon) + width >= 180:
        return None
    return lon - width, lon + width


def location_pattern(matcher: Matcher) -> str:
    """A regex that finds, in a raw GKG location field (locations split by ; and fields by #,
    as gkg_locations splits them), every location whose point could lie within reach of a
    facility: rows it finds nothing in have no point near any facility. It reads the literals
    of the latitude (the 6th field of a V2 location of 9 fields or more, else the 5th) and of
    the longitude after it as Polars reads numbers, so it finds more than that, never less.

    A point may be near when its latitude is in a facility's latitude band and its longitude
    in the facility's longitude band or 180 or more away (the formula wraps around), when its
    latitude is past +-90 (bad data the formula may still place near), or when a number is
    written with an exponent."""
    field = _ANY_FIELD
    pairs = [rf"[+-]?(?:{_EXPONENT}|{_PAST_90})#{field}"]  # any longitude
    reach = _reach_degrees(matcher)
    for f_lat, f_lon in matcher.facilities.select("lat", "lon").drop_nulls().iter_rows():
        band = (f_lat - reach, f_lat + reach)
        lons = _longitude_band(f_lat, f_lon, matcher.distance_km, band)
        lon = field if lons is None else _number_pattern(*lons, _PAST_180)
        pairs.append(f"{_number_pattern(*band, _PAST_90)}#{lon}")
    point = f"(?:{'|'.join(pairs)})"
    # V2 (9 fields or more): latitude 6th, at least 8 '#'. V1 (fewer): latitude 5th, at most 7.
    v2 = rf"(?:^|;)(?:{field}#){{5}}{point}#{field}#"
    v1 = rf"(?:^|;)(?:{field}#){{4}}{point}(?:#{field}){{0,2}}(?:;|$)"
    return f"{v2}|{v1}"


def location_matches(locations: pl.DataFrame, matcher: Matcher) -> pl.DataFrame:
    """(row_nr, facility_id, 'location', nearest location name, distance_km) within the distance."""
    pts = locations.filter(
        pl.col("loc_lat").is_not_null()
        & pl.col("loc_lon").is_not_null()
        & _within_latitude_reach(matcher)
    )
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


def gkg_rows_may_match(head: pl.DataFrame, matcher: Matcher) -> pl.Series:
    """False for GKG rows that certainly match no facility, judged on raw fields (gkg_head's
    frame, assets.news.gdelt.gkg_head) so that most rows of a file need never be typed.

    A row may match (True) when a point of its location field (V2, else V1, parsed as read_gkg
    parses it) lies within reach of a facility, or when match_articles could take it as an
    alias candidate. Points are parsed only in rows where matcher.location_pattern finds a
    latitude that could be near. For aliases, the URL (slug separators as spaces), that
    location field and everything after the first <PAGE_TITLE> stand for the URL, location
    names and title that match_articles searches: they hold them, so nothing it would find
    is missed:
    1. cheap, for every row: ASCII text holding none of matcher.raw_text_tokens in any letter
       case cannot hold a prefilter term once folded (folding ASCII is lower-casing);
    2. for the few rows left: the folded text holds a prefilter term (match_articles' own
       test), or the URL is percent-encoded (match_articles takes those whatever their text)
       and an alias is in the folded decoded slug, title tail or location field.
    """
    if head.height == 0:
        return pl.Series(dtype=pl.Boolean)
    terms = matcher.prefilter_terms
    tokens = matcher.raw_text_tokens
    url = pl.col("document_url")
    fields = [pl.col("locations_raw"), pl.col("title_tail").fill_null("")]
    pct = url.str.contains("%[A-Fa-f0-9]{2}")
    rows = head.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row_nr"),
        "document_url",
        "title_tail",
        pl.when(pl.col("v2_locations") != "")
        .then(pl.col("v2_locations"))
        .otherwise(pl.col("v1_locations"))
        .alias("locations_raw"),
    )
    # The URL as it is: the tokens hold no slug separator.
    rows = rows.with_columns(pl.concat_str([url, *fields], separator="\n").alias("text"))
    text = pl.col("text")
    ascii_text = text.str.len_bytes() == text.str.len_chars()
    if not terms:
        maybe = pl.lit(False)  # match_articles takes no alias candidate at all
    elif tokens is None:
        maybe = pl.lit(True)
    else:
        maybe = ~ascii_text | pct
        if tokens:
            maybe = maybe | text.str.contains_any(tokens, ascii_case_insensitive=True)
    points = gkg_locations(
        rows.filter(pl.col("locations_raw").str.contains(matcher.location_pattern))
    )
    near = location_matches(points, matcher)["row_nr"].unique()
    cand = rows.filter(maybe.fill_null(True) & ~pl.col("row_nr").is_in(near.implode()))
    if cand.height:
        slug_text = pl.concat_str([url.str.replace_all(r"[-_/.]+", " "), *fields], separator="\n")
        # Folding (Unicode normalisation) is slow: ASCII text folds by lower-casing alone.
        hits = pl.concat(
            [
                cand.filter(ascii_text).filter(
                    slug_text.str.to_lowercase().str.contains_any(terms)
                ),
                cand.filter(~ascii_text).filter(fold_expr(slug_text).str.contains_any(terms)),
            ]
        )["row_nr"]
        encoded = cand.filter(pct & ~pl.col("row_nr").is_in(hits.implode()))
        aliases = {a.folded for a in matcher.aliases if a.folded}
        slug_hits = [
            row_nr
            for row_nr, url_text, *others in encoded.select(
                "row_nr", "document_url", "locations_raw", "title_tail"
            ).iter_rows()
            # match_articles takes a percent-encoded URL whatever its text and folds the decoded
            # slug (and, in Python, the title and names: ASCII ones fold as above).
            if _holds_alias(
                aliases, url_slug(url_text), *(t for t in others if t and not t.isascii())
            )
        ]
        near = pl.concat([near, hits, pl.Series(slug_hits, dtype=pl.UInt32)])
    return rows.select(pl.col("row_nr").is_in(near.implode())).to_series()


def _holds_alias(aliases: set[str], *texts: str | None) -> bool:
    folded = [fold(t) for t in texts if t]
    return any(a in f for f in folded for a in aliases)


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
