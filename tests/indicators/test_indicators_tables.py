"""Indicator SQL on a fixture warehouse: evidence, alerts, weekly status, the analyst queries."""

from datetime import date

from assets.core.warehouse import run_sql_file, sql_text
from orchestration.kit.resource import Borderwatch

DEFAULT_PARAMS = Borderwatch().sql_params()

CSIS_URL = (
    "https://beyondparallel.csis.org/"
    "dramatic-increase-in-dprk-russia-border-rail-traffic-after-kim-putin-summit/"
)
SPIKE_ON = date(2023, 10, 5)


def build_indicators(con, params=None):
    for rel in ("crossing_indicators_weekly", "evidence", "alerts"):
        run_sql_file(con, f"curated/{rel}.sql", {**DEFAULT_PARAMS, **(params or {})})


def _alert_id(con, facility_id="tumangang", observed_on=SPIKE_ON) -> str:
    return con.execute(
        "select alert_id from curated.alerts where facility_id = $f and observed_on = $d",
        {"f": facility_id, "d": observed_on},
    ).fetchone()[0]


def _evidence(con, alert_id, kind):
    return con.execute(
        "select ref, title, detail, evidence_on, days_from_observation, evidence_facility_id "
        "from curated.evidence where alert_id = $a and evidence_kind = $k "
        "order by evidence_on, ref",
        {"a": alert_id, "k": kind},
    ).fetchall()


def test_evidence_has_the_report_with_its_url(warehouse):
    reports = _evidence(warehouse, _alert_id(warehouse), "report")
    assert len(reports) == 1
    ref, title, detail, evidence_on, days, _ = reports[0]
    assert ref == CSIS_URL
    assert title == "CSIS Beyond Parallel"
    assert detail.startswith("73 railcars;")
    assert evidence_on == date(2023, 10, 6) and days == 1


def test_evidence_scenes_only_within_the_window(warehouse):
    scenes = _evidence(warehouse, _alert_id(warehouse), "scene")
    assert [s[0] for s in scenes] == [
        "S2_T52TFM_20231003",
        "S2_T52TFM_20231008",
        "S2_T52TFM_20231012",
    ]
    assert [s[4] for s in scenes] == [-2, 3, 7]
    assert "cloud cover 60.0%" in scenes[1][2]
    build_indicators(warehouse, {"scene_window_days": 8})
    wider = [s[0] for s in _evidence(warehouse, _alert_id(warehouse), "scene")]
    assert "S2_T52TFM_20230927" in wider and "S2_T52TFM_20231013" in wider
    assert "S2_T52TFM_20231004_K" not in wider


def test_evidence_articles_after_the_observation_with_partner_matches(warehouse):
    articles = _evidence(warehouse, _alert_id(warehouse), "article")
    refs = [a[0] for a in articles]
    assert refs == [
        "https://www.rferl.org/a/32628223.html",
        "https://www.kgun9.com/news/world/surge",
        "https://www.rd.nl/artikel/1037517",
        "https://example.fr/trafic",
    ]
    assert all(a[4] >= 0 for a in articles)
    by_ref = {a[0]: a for a in articles}
    # Matched to both sides of the crossing: listed once, under the facility itself.
    assert by_ref["https://www.kgun9.com/news/world/surge"][5] == "tumangang"
    assert by_ref["https://www.rd.nl/artikel/1037517"][5] == "khasan"


def test_alert_ids_are_stable_and_shared_with_evidence(warehouse):
    before = warehouse.execute("select * from curated.alerts order by alert_id").fetchall()
    evidence_before = warehouse.execute("select * from curated.evidence").fetchall()
    build_indicators(warehouse)
    assert warehouse.execute("select * from curated.alerts order by alert_id").fetchall() == before
    assert warehouse.execute("select * from curated.evidence").fetchall() == evidence_before
    orphans = warehouse.execute(
        "select count(*) from curated.evidence where alert_id not in "
        "(select alert_id from curated.alerts)"
    ).fetchone()[0]
    assert orphans == 0
    assert len(_alert_id(warehouse)) == 16


def test_alert_summary_and_severity(warehouse):
    rows = warehouse.execute(
        "select facility_id, severity, first_seen_on, n_scenes, n_clear_scenes, n_articles, "
        "n_languages, summary from curated.alerts order by facility_id"
    ).fetchall()
    assert rows == [
        (
            "khasan",
            "medium",
            date(2022, 11, 29),
            0,
            0,
            0,
            0,
            "Khasan station: 15 railcars on 2022-11-29, 1.5× the five-year maximum of 10; "
            "0 clear scenes within 7 days; no matched articles",
        ),
        (
            "tumangang",
            "high",
            date(2023, 10, 6),
            3,
            2,
            4,
            3,
            "Tumangang rail facility: 73 railcars on 2023-10-05, 3.7× the five-year maximum of "
            "20; 2 clear scenes within 7 days; 4 articles in 3 languages",
        ),
    ]
    # Khasan's robust z (about 5.06) is under 7 and its ratio 1.5 under 3; lower both cut-offs.
    build_indicators(warehouse, {"high_ratio": 1.5})
    severities = warehouse.execute(
        "select severity from curated.alerts order by facility_id"
    ).fetchall()
    assert severities == [("high",), ("high",)]
    build_indicators(warehouse, {"high_ratio": 10.0, "high_robust_z": 5.0})
    severities = warehouse.execute(
        "select facility_id, severity from curated.alerts order by facility_id"
    ).fetchall()
    assert severities == [("khasan", "high"), ("tumangang", "high")]
    build_indicators(warehouse, {"high_ratio": 10.0, "high_robust_z": 9.0})
    assert warehouse.execute("select distinct severity from curated.alerts").fetchall() == [
        ("medium",)
    ]


def _week(con, facility_id, week_start):
    return con.execute(
        "select status, n_observations, railcars_latest, railcars_max, n_scenes, n_clear_days, "
        "n_articles, max_attention_z from curated.crossing_indicators_weekly "
        "where facility_id = $f and week_start = $w",
        {"f": facility_id, "w": week_start},
    ).fetchone()


def test_weekly_status_rule(warehouse):
    # The spike week: anomalous, with the week's scenes and articles.
    assert _week(warehouse, "tumangang", date(2023, 10, 2)) == (
        "anomalous",
        1,
        73.0,
        73.0,
        2,
        1,
        2,
        4.0,
    )
    # 20 railcars equals the five-year maximum: a new high, elevated but not anomalous.
    assert _week(warehouse, "tumangang", date(2023, 9, 11))[0] == "elevated"
    # No count, but news attention z 2.5 >= 2.
    assert _week(warehouse, "tumangang", date(2021, 3, 22))[:2] == ("elevated", 0)
    # A count under the maximum and nothing else unusual.
    assert _week(warehouse, "tumangang", date(2023, 9, 18))[:3] == ("normal", 1, 12.0)
    # Nothing at all that week, between data points.
    assert _week(warehouse, "tumangang", date(2023, 9, 4)) == (
        "no_data",
        0,
        None,
        None,
        0,
        0,
        0,
        None,
    )
    build_indicators(warehouse, {"attention_z_elevated": 3.0})
    assert _week(warehouse, "tumangang", date(2021, 3, 22))[0] == "normal"


def test_weekly_grid_is_monday_weeks_without_gaps(warehouse):
    rows = warehouse.execute(
        "select facility_id, min(week_start), max(week_start), count(*), "
        "bool_and(isodow(week_start) = 1), "
        "bool_and(iso_week = weekofyear(week_start) and iso_year = isoyear(week_start)), "
        "count(distinct week_start) "
        "from curated.crossing_indicators_weekly group by facility_id order by facility_id"
    ).fetchall()
    for facility_id, first, last, n, mondays, iso_ok, distinct in rows:
        assert mondays and iso_ok, facility_id
        assert n == distinct == (last - first).days // 7 + 1
    spans = {r[0]: (r[1], r[2]) for r in rows}
    # Tumangang's first data point is a report on 2018-01-12 (a Friday), its last a scene on
    # 2023-10-13 (news counts through curated.news_attention_daily, whose last day is 10-12).
    assert spans["tumangang"] == (date(2018, 1, 8), date(2023, 10, 9))
    metrics = warehouse.execute(
        "select m.metric, m.latest_value, m.is_anomaly from curated.crossing_indicators_weekly, "
        "unnest(metrics) as t(m) where facility_id = 'tumangang' and week_start = '2023-10-02'"
    ).fetchall()
    assert metrics == [("railcars", 73.0, True)]


def _query(con, name, params=None):
    return con.execute(sql_text(f"queries/{name}.sql"), params or {}).fetchall()


def test_query_anomalous_this_month(warehouse):
    rows = _query(warehouse, "anomalous_this_month", {"month": date(2023, 10, 20)})
    assert [(r[1], r[4]) for r in rows] == [("tumangang", SPIKE_ON)]
    assert _query(warehouse, "anomalous_this_month", {"month": date(2023, 9, 1)}) == []
    as_text = _query(warehouse, "anomalous_this_month", {"month": "2023-10-01"})
    assert as_text == rows
    nov = _query(warehouse, "anomalous_this_month", {"month": date(2022, 11, 1)})
    assert [r[1] for r in nov] == ["khasan"]


def test_query_evidence_for_alert(warehouse):
    alert_id = _alert_id(warehouse)
    rows = _query(warehouse, "evidence_for_alert", {"alert_id": alert_id})
    assert [r[4] for r in rows] == ["report"] + ["scene"] * 3 + ["article"] * 4
    assert rows[0][5] == CSIS_URL
    assert _query(warehouse, "evidence_for_alert", {"alert_id": "nope"}) == []


def test_query_weeks_without_clear_imagery(warehouse):
    rows = _query(warehouse, "weeks_without_clear_imagery")
    weeks = {(r[0], r[2]) for r in rows}
    # The spike week had clear scenes; the week of 2023-09-18 had only an 80 % cloudy one.
    assert ("tumangang", date(2023, 10, 2)) not in weeks
    assert ("tumangang", date(2023, 9, 18)) in weeks
    assert ("tumangang", date(2023, 9, 11)) not in weeks  # a clear scene on 2023-09-15
    assert ("tumangang", date(2023, 9, 4)) not in weeks  # no report that week
    assert all(r[5] > 0 and r[9] == 0 for r in rows)


def test_query_news_without_reports(warehouse):
    rows = _query(
        warehouse, "news_without_reports", {"attention_z_min": 2.0, "report_window_days": 7}
    )
    assert [(r[0], r[2], r[5]) for r in rows] == [
        ("khasan", date(2023, 10, 10), 2.2),
        ("tumangang", date(2021, 3, 22), 2.5),
    ]
    # The 2023-10-06 attention (z 4) sits a day after the CSIS report, so it is never a gap;
    # Khasan's last report was 315 days before its attention.
    wide = _query(
        warehouse, "news_without_reports", {"attention_z_min": 2.0, "report_window_days": 300}
    )
    assert [(r[0], r[2]) for r in wide] == [("khasan", date(2023, 10, 10))]
