"""A day's mentions cite articles and events staged before it: loading the sample's days one at a
time, each after the others are in the warehouse, links every mention as one window over all of
them does (a mention just after midnight cites the article of the slot before)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.core.sources import LocalSourceStore
from assets.core.warehouse import run_sql_file
from assets.news.articles import StagedNews, list_news_objects, news_in_window, staged_news

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "news"
START, END = date(2023, 9, 1), date(2023, 11, 1)
TABLES = ("stg_news__articles", "stg_news__article_facilities", "stg_news__events")


class _Raw:
    def __init__(self, store, obj):
        self.store, self.key, self.source_uri = store, obj.key, obj.uri

    def read(self):
        return self.store.read(self.key)


def _window(facilities, start, end, staged=None):
    store = LocalSourceStore(SAMPLE)
    objects = list_news_objects(store, start, end)
    return news_in_window([_Raw(store, o) for o in objects], facilities, start, end, staged=staged)


def _frame(results) -> pl.DataFrame:
    return pl.concat([r.rows for r in results]).sort(pl.all())


@pytest.fixture(scope="module")
def whole(facilities):
    if not SAMPLE.is_dir():
        pytest.skip(f"news sample not generated: {SAMPLE}")
    return _window(facilities, START, END)


@pytest.fixture(scope="module")
def warehouse(whole):
    """The staging tables holding what the whole window staged, as the lake would after the
    days were loaded."""
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    for table in TABLES:
        run_sql_file(con, f"staging/{table}.sql")
    inserts = {
        "insert into staging.stg_news__articles by name select * from _rows": _frame(
            whole.articles.results
        ),
        "insert into staging.stg_news__article_facilities by name select * from _rows": (
            whole.articles.related["staging.stg_news__article_facilities"]
        ),
        "insert into staging.stg_news__events by name select * from _rows": _frame(
            whole.events.results
        ),
    }
    for insert, frame in inserts.items():
        con.register("_rows", frame.to_arrow())
        con.execute(insert)
        con.unregister("_rows")
    yield con
    con.close()


def _cross_day_days(whole) -> list[date]:
    """Days with a mention whose article was published on an earlier day."""
    mentions = _frame(whole.mentions.results)
    articles = _frame(whole.articles.results).select("article_id", "published_on")
    cited = mentions.join(articles, on="article_id", how="inner").filter(
        pl.col("published_on") < pl.col("mention_on")
    )
    return sorted(set(cited["mention_on"]))


def test_the_sample_holds_mentions_citing_an_earlier_day(whole):
    assert _cross_day_days(whole)


def test_a_day_links_the_mentions_the_whole_window_links(whole, warehouse, facilities):
    everything = _frame(whole.mentions.results)
    cross = _cross_day_days(whole)
    # And two days whose mentions cite only their own day's articles and events.
    others = sorted(set(everything["mention_on"]) - set(cross))[:2]
    days = sorted({*cross, *others})
    for day in days:
        expected = everything.filter(pl.col("mention_on") == day)
        staged = staged_news(warehouse, day, day + timedelta(days=1))
        assert staged.articles and staged.events
        alone = _frame(_window(facilities, day, day + timedelta(days=1)).mentions.results)
        linked = _frame(
            _window(facilities, day, day + timedelta(days=1), staged=staged).mentions.results
        )
        assert expected.height and linked.equals(expected), day
        if day in cross:
            # Without what was staged before, the same day loses those links.
            assert alone["article_id"].null_count() > expected["article_id"].null_count(), day


def test_staged_news_leaves_out_the_window_and_is_empty_before_any_load(warehouse):
    day = date(2023, 10, 5)
    staged = staged_news(warehouse, day, day + timedelta(days=1))
    inside = warehouse.execute(
        "select document_url from staging.stg_news__articles where published_on = $d",
        {"d": day},
    ).fetchall()
    assert inside and not {url for (url,) in inside} & set(staged.articles)
    assert staged_news(duckdb.connect(), day, day + timedelta(days=1)) == StagedNews.none()
