"""curated.news_attention_daily on hand-made rows: counts, languages, trailing-90-day z-score."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from assets.core.warehouse import run_sql_file

D0 = date(2023, 1, 1)


def _day(n: int) -> date:
    return D0 + timedelta(days=n - 1)


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    run_sql_file(con, "staging/stg_news__articles.sql")
    run_sql_file(con, "staging/stg_news__article_facilities.sql")
    yield con
    con.close()


def _load(con, rows: list[tuple]) -> None:
    """rows: (facility_id, day number, language, tone, source, synthetic, url suffix)."""
    for i, (fid, n, lang, tone, source, synthetic, suffix) in enumerate(rows):
        aid = f"a{i:04d}"
        url = f"https://{source}/{fid}/{suffix or i}"
        at = datetime.combine(_day(n), datetime.min.time(), tzinfo=UTC) + timedelta(minutes=i)
        con.execute(
            "insert into staging.stg_news__articles values "
            "($id, $url, $source, $at, $on, $lang, 't', $tone, [], false, $id, 'gdelt_gkg', "
            "'mem://x', $synthetic)",
            {"id": aid, "url": url, "source": source, "at": at, "on": _day(n), "lang": lang,
             "tone": tone, "synthetic": synthetic},
        )  # fmt: skip
        con.execute(
            "insert into staging.stg_news__article_facilities values ($id, $fid, $on, "
            "'location', 'x', 1.0)",
            {"id": aid, "fid": fid, "on": _day(n)},
        )
        if i % 3 == 0:  # the same article matched a second way still counts once
            con.execute(
                "insert into staging.stg_news__article_facilities values ($id, $fid, $on, "
                "'alias_title', 'x', null)",
                {"id": aid, "fid": fid, "on": _day(n)},
            )


def _result(con) -> dict:
    run_sql_file(con, "curated/news_attention_daily.sql")
    rows = con.execute("select * from curated.news_attention_daily").fetchall()
    cols = [d[0] for d in con.description]
    return {(r[0], r[1]): dict(zip(cols, r, strict=True)) for r in rows}


def test_counts_languages_and_hand_computed_z(con):
    counts = {1: 1, 2: 0, 3: 2, 4: 1, 5: 6}
    langs = ["en", "en", "fr", "ko", None, "en"]
    rows = []
    for n, c in counts.items():
        for k in range(c):
            lang = langs[k] if n == 5 else "en"
            source = f"s{k % 2}.example" if n == 5 else "s0.example"
            rows.append(("f1", n, lang, float(k), source, False, None))
    rows += [("f2", n, "en", 1.0, "s.example", False, None) for n in range(1, 6)]
    _load(con, rows)
    out = _result(con)
    assert set(out) == {("f1", _day(n)) for n in (1, 3, 4, 5)} | {
        ("f2", _day(n)) for n in range(1, 6)
    }
    d5 = out[("f1", _day(5))]
    assert d5["n_articles"] == 6
    assert d5["n_sources"] == 2
    assert d5["n_languages"] == 3  # en, fr, ko; a null language is not a language
    assert d5["mean_tone"] == pytest.approx(2.5)
    # Prior days 1..4 with day 2 as zero: [1, 0, 2, 1] -> mean 1, sample sd sqrt(2/3).
    assert d5["attention_z"] == pytest.approx((6 - 1) / math.sqrt(2 / 3))
    assert out[("f1", _day(3))]["attention_z"] == pytest.approx((2 - 0.5) / math.sqrt(0.5))
    assert out[("f1", _day(1))]["attention_z"] is None  # no history
    assert out[("f2", _day(5))]["attention_z"] is None  # flat history: stddev 0


def test_window_is_exactly_the_prior_90_days(con):
    rows = [("f3", 1, "en", 0.0, "s.example", False, None) for _ in range(5)]
    rows += [("f3", 91, "en", 0.0, "s.example", False, None)]
    rows += [("f3", 101, "en", 0.0, "s.example", False, None)]
    _load(con, rows)
    out = _result(con)
    prior = [5] + [0] * 89  # days 1..90
    expected = (1 - statistics.mean(prior)) / statistics.stdev(prior)
    assert out[("f3", _day(91))]["attention_z"] == pytest.approx(expected)
    # Day 101 looks at days 11..100: day 1 has left the window; day 91 is in it.
    prior = [0] * 80 + [1] + [0] * 9
    expected = (1 - statistics.mean(prior)) / statistics.stdev(prior)
    assert out[("f3", _day(101))]["attention_z"] == pytest.approx(expected)


def test_top_urls_real_first_then_earliest_at_most_five(con):
    rows = [("f4", 1, "en", 0.0, "syn.example", True, f"s{k}") for k in range(4)]
    rows += [("f4", 1, "en", 0.0, "real.example", False, f"r{k}") for k in range(3)]
    _load(con, rows)
    top = _result(con)[("f4", _day(1))]["top_urls"]
    assert top == [
        "https://real.example/f4/r0", "https://real.example/f4/r1", "https://real.example/f4/r2",
        "https://syn.example/f4/s0", "https://syn.example/f4/s1",
    ]  # fmt: skip


def test_output_is_stable(con):
    _load(con, [("f5", n % 7 + 1, "en", 0.0, "s.example", False, None) for n in range(30)])
    run_sql_file(con, "curated/news_attention_daily.sql")
    first = con.execute("select * from curated.news_attention_daily").fetchall()
    run_sql_file(con, "curated/news_attention_daily.sql")
    assert con.execute("select * from curated.news_attention_daily").fetchall() == first
    assert [r[1] for r in first] == sorted(r[1] for r in first)
