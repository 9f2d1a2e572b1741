"""Fixture warehouse for the indicator tables: small upstream tables with the contract's columns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest

from assets.core.warehouse import run_sql_file
from orchestration.kit.resource import Borderwatch

DEFAULT_PARAMS = Borderwatch().sql_params()

CSIS_URL = (
    "https://beyondparallel.csis.org/"
    "dramatic-increase-in-dprk-russia-border-rail-traffic-after-kim-putin-summit/"
)
SPIKE_ON = date(2023, 10, 5)
SYNTHETIC_URL = "https://synthetic.invalid/borderwatch/reported/baseline"


def _facilities() -> pl.DataFrame:
    rows = [
        ("tumangang", "Tumangang rail facility", "KP", "RU", 42.4217, 130.6026, "tumen-river-rail"),
        ("khasan", "Khasan station", "RU", "KP", 42.43, 130.64, "tumen-river-rail"),
        ("sinuiju", "Sinuiju", "KP", "CN", 40.10, 124.40, "yalu-friendship-bridge"),
    ]
    return pl.DataFrame(
        [
            {
                "facility_id": fid,
                "name": name,
                "kind": "rail_yard",
                "country": country,
                "counterpart_country": counterpart,
                "lat": lat,
                "lon": lon,
                "aoi_radius_m": 2000,
                "aliases": [name],
                "ambiguous_aliases": [],
                "crossing_id": crossing,
                "mgrs_tiles": ["52TFM"],
                "notes": "test fixture",
            }
            for fid, name, country, counterpart, lat, lon, crossing in rows
        ],
        schema_overrides={"ambiguous_aliases": pl.List(pl.String)},
    )


def _observation(
    facility_id,
    observed_on,
    value,
    *,
    source="fixture baseline",
    url=None,
    published_on=None,
    synthetic=True,
    metric="railcars",
) -> dict:
    return {
        "observation_id": f"{facility_id}-{metric}-{observed_on}-{source}",
        "facility_id": facility_id,
        "observed_on": observed_on,
        "metric": metric,
        "value": float(value),
        "source": source,
        "source_url": url or SYNTHETIC_URL,
        "method": "satellite imagery hand count",
        "published_on": published_on,
        "confidence": "approximate",
        "imagery_provider": None,
        "notes": None,
        "synthetic": synthetic,
    }


def _observations() -> pl.DataFrame:
    rows = []
    # An irregular Tumangang-like history: every 37 days from 2018, counts 1..19, never above 20.
    day = date(2018, 1, 12)
    i = 0
    while day < date(2023, 9, 1):
        rows.append(_observation("tumangang", day, (i * 7) % 19 + 1))
        day += timedelta(days=37)
        i += 1
    # The five-year maximum of 20, then a new equal maximum (ratio 1.0: elevated, no anomaly).
    rows.append(_observation("tumangang", date(2021, 6, 9), 20))
    rows.append(_observation("tumangang", date(2023, 9, 13), 20))
    rows.append(_observation("tumangang", date(2023, 9, 20), 12))
    rows.append(
        _observation(
            "tumangang",
            SPIKE_ON,
            73,
            source="CSIS Beyond Parallel",
            url=CSIS_URL,
            published_on=date(2023, 10, 6),
            synthetic=False,
        )
    )
    # Khasan: a short, steady history and a moderate jump (an alert of medium severity).
    for k, value in enumerate([6, 8, 7, 9, 7, 8, 10, 6]):
        rows.append(_observation("khasan", date(2022, 1, 10) + timedelta(days=30 * k), value))
    rows.append(
        _observation(
            "khasan",
            date(2022, 11, 29),
            15,
            source="38 North",
            url="https://www.38north.org/2022/12/",
            synthetic=False,
        )
    )
    return pl.DataFrame(rows).sort("facility_id", "observed_on")


def _scene(scene_id, facility_id, acquired_on, cloud_cover) -> dict:
    return {
        "scene_id": scene_id,
        "collection": "sentinel-2-l2a",
        "facility_id": facility_id,
        "acquired_on": acquired_on,
        "acquired_at": datetime.combine(acquired_on, datetime.min.time(), UTC)
        + timedelta(hours=2, minutes=13),
        "cloud_cover": cloud_cover,
        "overlap_fraction": 1.0,
    }


def _scenes() -> pl.DataFrame:
    rows = [
        _scene("S2_T52TFM_20230927", "tumangang", date(2023, 9, 27), 1.0),  # 8 days before
        _scene("S2_T52TFM_20231003", "tumangang", date(2023, 10, 3), 5.0),
        _scene("S2_T52TFM_20231008", "tumangang", date(2023, 10, 8), 60.0),
        _scene("S2_T52TFM_20231012", "tumangang", date(2023, 10, 12), 10.0),  # 7 days after
        _scene("S2_T52TFM_20231013", "tumangang", date(2023, 10, 13), 2.0),  # 8 days after
        _scene("S2_T52TFM_20231004_K", "khasan", date(2023, 10, 4), 3.0),  # another facility
        _scene("S2_T52TFM_20230915", "tumangang", date(2023, 9, 15), 4.0),
        _scene("S2_T52TFM_20230921", "tumangang", date(2023, 9, 21), 80.0),
    ]
    return pl.DataFrame(rows)


ARTICLES = [
    # article_id, url, source, published_on, language, title, facilities, translated
    (
        "a_before",
        "https://example.org/before",
        "Example",
        date(2023, 10, 1),
        "en",
        "Before the surge",
        ["tumangang"],
        False,
    ),
    (
        "a_rferl",
        "https://www.rferl.org/a/32628223.html",
        "RFE/RL",
        date(2023, 10, 6),
        "en",
        "North Korea-Russia Rail Traffic Surges, Suggesting Arms Supply, Says Think Tank",
        ["tumangang"],
        False,
    ),
    (
        "a_kgun9",
        "https://www.kgun9.com/news/world/surge",
        "KGUN 9",
        date(2023, 10, 8),
        "en",
        "Surge in rail traffic on North Korea-Russia border suggests arms supply",
        ["tumangang", "khasan"],
        False,
    ),
    (
        "a_rd",
        "https://www.rd.nl/artikel/1037517",
        "Reformatorisch Dagblad",
        date(2023, 10, 10),
        "nl",
        "Groot aantal goederenwagons onderweg van Noord-Korea naar Rusland",
        ["khasan"],
        False,
    ),
    (
        "a_fr",
        "https://example.fr/trafic",
        "Example FR",
        date(2023, 10, 12),
        "fr",
        "Le trafic ferroviaire a augmenté",
        ["tumangang"],
        True,
    ),
    (
        "a_late",
        "https://example.org/late",
        "Example",
        date(2023, 10, 25),
        "en",
        "Three weeks later",
        ["tumangang"],
        False,
    ),
    (
        "a_sinuiju",
        "https://example.org/sinuiju",
        "Example",
        date(2023, 10, 7),
        "ko",
        "Sinuiju news",
        ["sinuiju"],
        False,
    ),
]


def _articles() -> tuple[pl.DataFrame, pl.DataFrame]:
    articles, links = [], []
    for aid, url, source, day, lang, title, facilities, translated in ARTICLES:
        articles.append(
            {
                "article_id": aid,
                "document_url": url,
                "source_name": source,
                "published_at": datetime.combine(day, datetime.min.time(), UTC)
                + timedelta(hours=9),
                "published_on": day,
                "language": lang,
                "title": title,
                "tone": -2.5,
                "themes": ["TRANSPORT"],
                "translated": translated,
                "record_id": aid,
                "source_kind": "feed",
                "source_uri": "news/feeds/fixture.xml",
                "synthetic": True,
            }
        )
        for fid in facilities:
            links.append(
                {
                    "article_id": aid,
                    "facility_id": fid,
                    "published_on": day,
                    "match_kind": "alias_title",
                    "matched_text": fid,
                    "distance_km": None,
                }
            )
    return pl.DataFrame(articles), pl.DataFrame(links, schema_overrides={"distance_km": pl.Float64})


def _attention() -> pl.DataFrame:
    rows = [
        # (facility, day, n_articles, attention_z)
        ("tumangang", date(2023, 10, 6), 1, 4.0),
        ("tumangang", date(2023, 10, 8), 1, 3.0),
        ("tumangang", date(2023, 10, 12), 1, 1.5),
        ("tumangang", date(2021, 3, 22), 4, 2.5),  # attention with no report within a week
        ("tumangang", date(2020, 5, 5), 1, 0.5),
        ("khasan", date(2023, 10, 8), 1, 1.0),
        ("khasan", date(2023, 10, 10), 1, 2.2),
    ]
    return pl.DataFrame(
        [
            {
                "facility_id": fid,
                "published_on": day,
                "n_articles": n,
                "n_sources": n,
                "n_languages": 1,
                "mean_tone": -2.0,
                "attention_z": z,
                "top_urls": [f"https://example.org/{fid}/{day}"],
            }
            for fid, day, n, z in rows
        ]
    )


def _register(con, table: str, frame: pl.DataFrame) -> None:
    con.register("_frame", frame.to_arrow())
    con.execute(f"create or replace table {table} as select * from _frame")
    con.unregister("_frame")


def build_upstream(con) -> None:
    """The upstream tables the indicator SQL reads, with the contract's columns only."""
    con.execute("create schema if not exists curated; create schema if not exists staging")
    articles, links = _articles()
    _register(con, "curated.facilities", _facilities())
    _register(con, "curated.observations", _observations())
    _register(con, "staging.stg_imagery__scene_facilities", _scenes())
    _register(con, "staging.stg_news__articles", articles)
    _register(con, "staging.stg_news__article_facilities", links)
    _register(con, "curated.news_attention_daily", _attention())
    # The curated observations carry the facility's name and crossing, as the real SQL makes them.
    con.execute(
        "create or replace table curated.observations as select o.*, f.name as facility_name, "
        "f.crossing_id from curated.observations as o join curated.facilities as f "
        "using (facility_id)"
    )
    # Coverage and baselines come from their own SQL files: the logic lives in one place.
    run_sql_file(con, "curated/imagery_coverage_daily.sql", DEFAULT_PARAMS)
    run_sql_file(con, "curated/activity_baselines.sql", DEFAULT_PARAMS)


def build_indicators(con, params: dict | None = None) -> None:
    merged = {**DEFAULT_PARAMS, **(params or {})}
    for rel in (
        "curated/crossing_indicators_weekly.sql",
        "curated/evidence.sql",
        "curated/alerts.sql",
    ):
        run_sql_file(con, rel, merged)


@pytest.fixture
def warehouse(tmp_path):
    """A tmp DuckDB file with the fixture upstream tables and the three indicator tables built."""
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("set timezone = 'UTC'")
    build_upstream(con)
    build_indicators(con)
    yield con
    con.close()
