"""The baseline maths of sql/curated/activity_baselines.sql on hand-computed cases."""

from datetime import date, timedelta

import duckdb
import pytest

from assets.core.warehouse import run_sql_file

PARAMS = {"min_prior_n": 5, "ratio_threshold": 1.5, "robust_z_threshold": 3.5}


def build(rows, clear_days=()):
    """rows: (facility_id, observed_on, value[, source]); returns baselines keyed by (facility, day, source)."""
    con = duckdb.connect()
    con.execute("create schema curated")
    con.execute(
        "create table curated.observations (observation_id varchar, facility_id varchar, "
        "facility_name varchar, metric varchar, observed_on date, value double, source varchar, "
        "source_url varchar, synthetic boolean)"
    )
    con.execute(
        "create table curated.imagery_coverage_daily (facility_id varchar, acquired_on date, "
        "n_scenes integer, n_clear integer)"
    )
    for i, row in enumerate(rows):
        facility, day, value, *source = row
        con.execute(
            "insert into curated.observations values ($id, $f, $f, 'railcars', $d, $v, $s, "
            "'https://example.org', false)",
            {"id": f"o{i}", "f": facility, "d": day, "v": value, "s": source[0] if source else "s"},
        )
    for facility, day, n_clear in clear_days:
        con.execute(
            "insert into curated.imagery_coverage_daily values ($f, $d, 1, $n)",
            {"f": facility, "d": day, "n": n_clear},
        )
    run_sql_file(con, "curated/activity_baselines.sql", PARAMS)
    out = con.execute("select * from curated.activity_baselines").pl()
    return {(r["facility_id"], r["observed_on"], r["source"]): r for r in out.iter_rows(named=True)}


def series(values, start=date(2020, 1, 1), step=10):
    return [("t", start + timedelta(days=step * i), v) for i, v in enumerate(values)]


def test_fewer_than_five_priors_never_flag():
    rows = series([10, 10, 10, 10, 100])  # the 100 has four priors
    out = build(rows)
    last = out[("t", rows[-1][1], "s")]
    assert last["prior_n"] == 4 and last["ratio_to_prior_max"] == 10.0
    assert last["is_anomaly"] is False


def test_ratio_rule_with_five_priors():
    rows = series([10, 12, 14, 12, 10, 21])
    last = build(rows)[("t", rows[-1][1], "s")]
    # priors 10, 12, 14, 12, 10: max 14, median 12, MAD = median(|d|) = median(2,0,2,0,2) = 2
    assert last["prior_n"] == 5 and last["prior_max"] == 14 and last["prior_median"] == 12
    assert last["prior_mad"] == 2
    assert last["ratio_to_prior_max"] == 1.5  # exactly half again: flagged (>=)
    assert last["robust_z"] == pytest.approx(0.6745 * 9 / 2, abs=1e-4)
    assert last["is_anomaly"] is True


def test_just_under_ratio_and_z_is_not_flagged():
    rows = series([10, 12, 14, 12, 10, 20])
    last = build(rows)[("t", rows[-1][1], "s")]
    assert last["ratio_to_prior_max"] == pytest.approx(20 / 14, abs=1e-4)
    assert last["robust_z"] == pytest.approx(0.6745 * 8 / 2, abs=1e-4)  # 2.698 < 3.5
    assert last["is_anomaly"] is False


def test_zero_mad_gives_null_z_and_leaves_the_ratio_to_decide():
    rows = series([10, 10, 10, 10, 10, 14])
    out = build(rows)
    last = out[("t", rows[-1][1], "s")]
    assert last["prior_mad"] == 0 and last["robust_z"] is None
    assert last["is_anomaly"] is False  # 1.4x: not enough without a z-score
    rows = series([10, 10, 10, 10, 10, 15])
    assert build(rows)[("t", rows[-1][1], "s")]["is_anomaly"] is True


def test_ties_on_the_same_day_are_not_each_others_priors():
    day = date(2021, 6, 1)
    rows = series([8, 9, 10, 9, 8]) + [("t", day, 30, "a"), ("t", day, 31, "b")]
    out = build(rows)
    assert out[("t", day, "a")]["prior_n"] == 5
    assert out[("t", day, "b")]["prior_n"] == 5
    assert out[("t", day, "a")]["prior_max"] == 10


def test_window_edge_exactly_five_years_back_is_inside():
    obs_day = date(2023, 10, 5)
    edge = date(2018, 10, 5)
    rows = (
        [("t", edge, 50), ("t", edge - timedelta(days=1), 99)]
        + [("t", date(2020, 1, 1) + timedelta(days=i), 10) for i in range(4)]
        + [("t", obs_day, 60)]
    )
    last = build(rows)[("t", obs_day, "s")]
    assert last["prior_n"] == 5  # the edge day and four others; the day before the edge is out
    assert last["prior_max"] == 50


def test_prior_clear_days_counts_distinct_clear_days_in_the_window():
    obs_day = date(2023, 10, 5)
    rows = [("t", obs_day, 5)]
    clear = [
        ("t", date(2023, 10, 4), 1),
        ("t", date(2023, 10, 5), 1),  # same day: not prior
        ("t", date(2020, 1, 1), 0),  # covered but cloudy
        ("t", date(2018, 10, 5), 2),  # edge: inside
        ("t", date(2018, 10, 4), 1),  # outside
        ("x", date(2022, 1, 1), 1),  # another facility
    ]
    assert build(rows, clear)[("t", obs_day, "s")]["prior_clear_days"] == 2
