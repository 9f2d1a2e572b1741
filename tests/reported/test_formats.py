"""Publisher formats (Comtrade+ JSON, customs tables, event lists) read through their mappings."""

from __future__ import annotations

import csv
import json
import textwrap
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assets.reported.formats import (
    PublisherError,
    load_publisher,
    load_publishers,
    parse_publisher_file,
)
from assets.reported.formats.values import parse_number, parse_period, parse_unit
from assets.reported.parse import ROW_SCHEMA, drop_cross_file_duplicates, parse_reported_file

ROOT = Path(__file__).resolve().parents[2]
PUBLISHERS = ROOT / "data" / "publishers"
FIXTURES = ROOT / "tests" / "fixtures" / "publishers"
FACILITIES = {"tumangang", "khasan", "rajin", "sinuiju"}
WINDOW = (date(2023, 1, 1), date(2024, 1, 1))
TODAY = date(2024, 6, 30)


@pytest.fixture(scope="module")
def metrics() -> set[str]:
    with open(ROOT / "data" / "reference" / "metrics.csv", encoding="utf-8") as fh:
        return {row["metric"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def publishers():
    return load_publishers(PUBLISHERS)


def parse(publishers, metrics, folder: str, name: str, data: bytes | None = None, **kw):
    path = FIXTURES / folder / name
    result = parse_publisher_file(
        path.read_bytes() if data is None else data,
        f"mem://reported/{folder}/{name}",
        f"reported/{folder}/{name}",
        publishers,
        FACILITIES,
        metrics,
        *kw.get("window", WINDOW),
        TODAY,
    )
    assert result is not None
    result.check_accounting()
    assert result.rows.schema == pl.Schema(ROW_SCHEMA)
    return result


def reasons(result) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for row in result.quarantine.iter_rows(named=True):
        out.setdefault(row["line_number"], []).append(row["reason"])
    return out


def test_every_example_mapping_loads_and_covers_each_format(publishers, metrics):
    assert [p.id for p in publishers] == [
        "analyst_events_example",
        "customs_dprk_monthly_example",
        "un_comtrade_dprk",
    ]
    assert {p.format for p in publishers} == {"comtrade_json", "customs_table", "event_list"}
    for p in publishers:
        assert p.example and p.licence and p.update_frequency and p.url.startswith("https://")
        targets = []
        for m in p.measures:
            targets += [m.metric.constant] if m.metric.constant else list(m.metric.table.values())
        assert set(targets) <= metrics, f"{p.path}: metrics missing from metrics.csv"
        assert set(p.facility.table.values()) <= FACILITIES


def test_comtrade_json_response(publishers, metrics):
    doc = json.loads((FIXTURES / "un_comtrade_dprk" / "comtrade_synthetic_202309.json").read_text())
    assert set(doc) == {"elapsedTime", "count", "data", "error"}  # the API v1 envelope
    r = parse(publishers, metrics, "un_comtrade_dprk", "comtrade_synthetic_202309.json")
    assert (r.rows_read, r.rows_loaded, r.rows_filtered, r.rows_quarantined) == (10, 3, 4, 3)
    assert r.rows.select("facility_id", "observed_on", "metric", "value", "line_number").rows() == [
        ("sinuiju", date(2023, 9, 30), "trade_export_value_usd", 11111111.0, 1),
        ("sinuiju", date(2023, 9, 30), "trade_import_value_usd", 2222222.5, 2),
        ("khasan", date(2023, 9, 30), "trade_export_value_usd", 333333.0, 3),
    ]
    row = r.rows.row(0, named=True)
    assert row["source"] == "UN Comtrade" and row["synthetic"] is True
    assert row["source_url"] == (
        "https://comtradeapi.un.org/data/v1/get/C/M/HS?reporterCode=156&partnerCode=408"
        "&period=202309&cmdCode=TOTAL&flowCode=X"
    )
    assert "mirror data" in row["method"]
    q = reasons(r)
    assert sorted(q) == [6, 7, 8]
    uri = "mem://reported/un_comtrade_dprk/comtrade_synthetic_202309.json"
    assert q[6] == [
        f"{uri}, record 6: period '202313' is not a period in any of the forms yyyymm, yyyy"
    ]
    assert q[7] == [f"{uri}, record 7: primaryValue is empty"]
    assert "duplicate of record 1" in q[8][0]
    raw = r.quarantine.filter(pl.col("line_number") == 6)["raw_line"][0]
    assert json.loads(raw)["period"] == "202313"
    warned = " ".join(r.warnings)
    assert "'156|392' (1)" in warned and "'X|27' (1)" in warned and "[match]" in warned


def test_comtrade_annual_period_and_window(publishers, metrics):
    r = parse(
        publishers,
        metrics,
        "un_comtrade_dprk",
        "comtrade_synthetic_202309.json",
        window=(date(2022, 1, 1), date(2023, 1, 1)),
    )
    # Only the annual 2022 figure is in 2022; it is dated at the end of its year.
    assert r.rows.select("observed_on", "value").rows() == [(date(2022, 12, 31), 99999999.0)]


def test_comtrade_error_response_and_truncated_count(publishers, metrics):
    error = json.dumps({"elapsedTime": "0 secs", "count": 0, "data": None, "error": "Rate limit"})
    r = parse(publishers, metrics, "un_comtrade_dprk", "x.json", data=error.encode())
    assert (r.rows_read, r.rows_quarantined, r.quarantine["line_number"][0]) == (1, 1, 0)
    assert "reports an error: Rate limit" in r.quarantine["reason"][0]
    assert "x.json" in r.quarantine["reason"][0]
    doc = json.loads((FIXTURES / "un_comtrade_dprk" / "comtrade_synthetic_202309.json").read_text())
    doc["count"] = 500
    r = parse(publishers, metrics, "un_comtrade_dprk", "y.json", data=json.dumps(doc).encode())
    assert r.rows_loaded == 3 and any("truncated" in w for w in r.warnings)
    r = parse(publishers, metrics, "un_comtrade_dprk", "z.json", data=b"{not json")
    assert "line 1: not JSON" in r.quarantine["reason"][0]


def test_customs_table(publishers, metrics):
    r = parse(publishers, metrics, "customs_dprk_monthly_example", "customs_synthetic_2023.csv")
    # 7 data lines x 2 measures (Exports, Imports); title lines and the footnote are not rows.
    assert (r.rows_read, r.rows_loaded, r.rows_filtered, r.rows_quarantined) == (14, 4, 6, 4)
    assert r.rows.select("observed_on", "metric", "value", "line_number").rows() == [
        (date(2023, 8, 31), "trade_export_value_usd", 1234500.0, 4),  # "1 234,5" thousand
        (date(2023, 8, 31), "trade_import_value_usd", 56700.0, 4),
        (date(2023, 9, 30), "trade_export_value_usd", 12345000.0, 5),
        (date(2023, 10, 31), "trade_export_value_usd", 2000250.0, 7),  # "Oct 2023"
    ]
    assert set(r.rows["facility_id"]) == {"khasan"} and r.rows["synthetic"].all()
    q = reasons(r)
    assert sorted(q) == [8, 9]
    assert all("'2023.13' is not a period" in x for x in q[8]) and len(q[8]) == 2
    assert any("line 9 (Exports): Exports '1,234.5' is not a number" in x for x in q[9])
    assert any("(Imports): Imports -5 is negative" in x for x in q[9])
    assert r.quarantine.filter(pl.col("line_number") == 8)["raw_line"][0].startswith('"2023.13"')
    assert any("'Japan' (2)" in w for w in r.warnings)
    assert any("2 value(s) marked missing" in w for w in r.warnings)


def test_customs_table_missing_column_is_one_quarantined_file(publishers, metrics):
    data = (FIXTURES / "customs_dprk_monthly_example" / "customs_synthetic_2023.csv").read_bytes()
    r = parse(
        publishers,
        metrics,
        "customs_dprk_monthly_example",
        "renamed.csv",
        data=data.replace(b'"Imports"', b'"Import"'),
    )
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (1, 0, 1)
    reason = r.quarantine["reason"][0]
    assert "renamed.csv, line 3: missing column(s) Imports" in reason
    assert "customs_dprk_monthly_example/publisher.toml" in reason


def test_event_list(publishers, metrics):
    r = parse(publishers, metrics, "analyst_events_example", "events_synthetic.csv")
    assert (r.rows_read, r.rows_loaded, r.rows_filtered, r.rows_quarantined) == (8, 2, 2, 4)
    rows = r.rows.to_dicts()
    assert [(x["facility_id"], x["observed_on"], x["metric"], x["value"]) for x in rows] == [
        ("tumangang", date(2023, 10, 5), "event_rail_traffic", 1.0),
        ("rajin", date(2023, 10, 5), "event_vessel_call", 1.0),  # "5 October 2023", "Vessel  Call"
    ]
    assert rows[0]["source_url"] == "https://events.invalid/a"
    assert rows[0]["notes"] == (
        "Synthetic example: a long train in the yard; other sources: https://events.invalid/b"
    )
    q = reasons(r)
    assert sorted(q) == [4, 6, 7, 8]
    assert "duplicate of line 2" in q[4][0]
    assert "date '5 October' is not a period" in q[6][0]  # no year: never completed from today
    assert "facility 'nowhere'" in q[7][0]
    assert "sources 'see the report' holds no http(s) URL" in q[8][0]


def test_unclaimed_and_doubly_claimed_keys(publishers, metrics, tmp_path):
    args = (FACILITIES, metrics, *WINDOW, TODAY)
    assert (
        parse_publisher_file(
            b"x", "mem://a.csv", "reported/published_counts.csv", publishers, *args
        )
        is None
    )
    # the pattern is matched from the right of the key and '*' stays within one folder
    assert publishers[2].claims("reported/un_comtrade_dprk/2023.json")
    assert publishers[2].claims("un_comtrade_dprk/2023.json")
    assert not publishers[2].claims("reported/un_comtrade_dprk/old/2023.json")
    twin_dir = tmp_path / "un_comtrade_dprk"
    twin_dir.mkdir()
    (twin_dir / "publisher.toml").write_text(
        (PUBLISHERS / "un_comtrade_dprk" / "publisher.toml").read_text()
    )
    twins = [*publishers, load_publisher(twin_dir / "publisher.toml")]
    r = parse_publisher_file(b"{}", "mem://t.json", "un_comtrade_dprk/t.json", twins, *args)
    assert (
        r.rows_read == 1
        and "claimed by more than one publisher mapping" in r.quarantine["reason"][0]
    )


def test_rows_join_the_csv_drops(publishers, metrics):
    """Publisher rows and plain CSV rows go through the same cross-file duplicate rule."""
    r = parse(publishers, metrics, "un_comtrade_dprk", "comtrade_synthetic_202309.json")
    drop = (
        b"facility_id,observed_on,metric,value,source,source_url,method,synthetic\n"
        b"sinuiju,2023-09-30,trade_export_value_usd,1,UN Comtrade,https://x.invalid/,copy,true\n"
    )
    csv_result = parse_reported_file(drop, "mem://drop.csv", FACILITIES, metrics, *WINDOW, TODAY)
    out = drop_cross_file_duplicates([r, csv_result])
    assert (
        out[1].rows_loaded == 0
        and "duplicate of a row in mem://reported" in out[1].quarantine["reason"][0]
    )


def _mapping(tmp_path: Path, body: str, publisher_id: str = "tmp_pub") -> Path:
    folder = tmp_path / publisher_id
    folder.mkdir(exist_ok=True)
    path = folder / "publisher.toml"
    head = f"""
        [publisher]
        id = "{publisher_id}"
        name = "temporary"
        url = "https://tmp.invalid/"
        licence = "test"
        update_frequency = "never"
    """
    path.write_text(textwrap.dedent(head) + textwrap.dedent(body), encoding="utf-8")
    return path


TABLE_BODY = """
    [file]
    format = "customs_table"
    pattern = "tmp_pub/*.csv"
    delimiter = "auto"
    [period]
    field = "month"
    formats = ["mm.yyyy", "month yyyy"]
    languages = ["ru"]
    [number]
    thousands_separator = "."
    decimal_separator = ","
    [facility]
    id = "khasan"
    [[measures]]
    value = "value"
    unit_field = "unit"
    metric = "trade_export_value_usd"
    [provenance]
    source = "tmp"
    source_url = "https://tmp.invalid/{month}"
    method = "test"
"""


def test_units_per_row_dot_thousands_and_russian_months(tmp_path, metrics):
    publisher = load_publisher(_mapping(tmp_path, TABLE_BODY))
    table = (
        "month;value;unit\n"
        "09.2023;1.234,5;тыс. долл. США\n"
        "Октябрь 2023;2,5;USD million\n"
        "11.2023;7;бананов\n"
        "12.2023;7;thousand EUR\n"
        "12.2023;1.234.5;USD\n"
    ).encode()
    r = parse_publisher_file(
        table, "mem://t.csv", "tmp_pub/t.csv", [publisher], FACILITIES, metrics, *WINDOW, TODAY
    )
    r.check_accounting()
    assert r.rows.select("observed_on", "value").rows() == [
        (date(2023, 9, 30), 1234500.0),
        (date(2023, 10, 31), 2500000.0),
    ]
    q = reasons(r)
    assert "unit: unit 'бананов': unknown word 'бананов'" in q[4][0]
    assert "unit 'thousand EUR' is in EUR, metric 'trade_export_value_usd' is not" in q[5][0]
    assert "value '1.234.5' is not a number written with thousands separator '.'" in q[6][0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (TABLE_BODY.replace('format = "customs_table"', 'format = "xlsx"'), "[file] format 'xlsx'"),
        (
            TABLE_BODY.replace("[number]", "[number]\ndecimal_separtor = ','"),
            "unknown key(s) decimal_separtor",
        ),
        (
            TABLE_BODY.replace('unit_field = "unit"', 'unit = "thousands EUR"'),
            "is in EUR but metric",
        ),
        (TABLE_BODY.replace('unit_field = "unit"', 'unit = "parsecs"'), "unknown word 'parsecs'"),
        (TABLE_BODY.replace('"mm.yyyy"', '"mm/yy"'), "[period] formats ['mm/yy']"),
        (
            TABLE_BODY.replace('id = "khasan"', 'keys = ["a", "b"]\nlookup = { "x" = "khasan" }'),
            "lookup key 'x' has 1 part(s)",
        ),
        (
            TABLE_BODY.replace('source_url = "https://tmp.invalid/{month}"', ""),
            "needs exactly one of source_url",
        ),
    ],
)
def test_mapping_mistakes_name_the_file(tmp_path, body, message):
    path = _mapping(tmp_path, body)
    with pytest.raises(PublisherError) as err:
        load_publisher(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_publisher_id_must_be_its_folder(tmp_path):
    path = _mapping(tmp_path, TABLE_BODY)
    moved = tmp_path / "elsewhere"
    path.parent.rename(moved)
    with pytest.raises(PublisherError, match="must equal the folder name 'elsewhere'"):
        load_publisher(moved / "publisher.toml")


@pytest.mark.parametrize(
    ("text", "formats", "languages", "expected"),
    [
        ("202310", ["yyyymm"], ("en",), (date(2023, 10, 1), date(2023, 10, 31), "month")),
        ("2023", ["yyyymm", "yyyy"], ("en",), (date(2023, 1, 1), date(2023, 12, 31), "year")),
        ("2001.01", ["yyyy.mm"], ("en",), (date(2001, 1, 1), date(2001, 1, 31), "month")),
        ("2024.02", ["yyyy.mm"], ("en",), (date(2024, 2, 1), date(2024, 2, 29), "month")),
        (
            "January 2001",
            ["yyyy.mm", "month yyyy"],
            ("en",),
            (date(2001, 1, 1), date(2001, 1, 31), "month"),
        ),
        ("Jan 2001", ["month yyyy"], ("en",), (date(2001, 1, 1), date(2001, 1, 31), "month")),
        ("Январь 2001 г.", ["month yyyy"], ("ru",), (date(2001, 1, 1), date(2001, 1, 31), "month")),
        ("2023Q3", ["yyyy-qn"], ("en",), (date(2023, 7, 1), date(2023, 9, 30), "quarter")),
        ("Q4 2023", ["qn yyyy"], ("en",), (date(2023, 10, 1), date(2023, 12, 31), "quarter")),
        ("05.10.2023", ["dd.mm.yyyy"], ("en",), (date(2023, 10, 5),) * 2 + ("day",)),
        ("5 October 2023", ["written date"], ("en",), (date(2023, 10, 5),) * 2 + ("day",)),
        ("2023年10月5日", ["written date"], ("zh",), (date(2023, 10, 5),) * 2 + ("day",)),
    ],
)
def test_periods(text, formats, languages, expected):
    p = parse_period(text, formats, languages)
    assert (p.start, p.end, p.granularity) == expected


@pytest.mark.parametrize(
    ("text", "formats"),
    [
        ("202313", ["yyyymm"]),
        ("5 October 2023", ["month yyyy"]),  # a day is not a month
        ("October", ["month yyyy"]),  # no year: never completed from today
        ("5 October", ["written date"]),
        ("last month", ["month yyyy", "written date"]),
        ("", ["yyyy"]),
    ],
)
def test_unreadable_periods(text, formats):
    with pytest.raises(ValueError):
        parse_period(text, formats)


@pytest.mark.parametrize(
    ("text", "thousands", "decimal", "expected"),
    [
        ("1,234,567.8", ",", ".", 1234567.8),
        ("1.234.567,8", ".", ",", 1234567.8),
        ("1 234 567,8", " ", ",", 1234567.8),
        ("1\u00a0234\u202f567", " ", ",", 1234567.0),
        ("1234567", ",", ".", 1234567.0),
        ("12", "", ".", 12.0),
        (1234.5, ",", ".", 1234.5),
    ],
)
def test_numbers(text, thousands, decimal, expected):
    assert parse_number(text, thousands, decimal) == expected


@pytest.mark.parametrize(
    ("text", "thousands", "decimal"),
    [
        ("1,234.5", " ", ","),
        ("1,23", ",", "."),
        ("12,3456", ",", "."),
        ("n/a", ",", "."),
        (None, "", "."),
        (True, "", "."),
    ],
)
def test_unreadable_numbers(text, thousands, decimal):
    with pytest.raises(ValueError):
        parse_number(text, thousands, decimal)


@pytest.mark.parametrize(
    ("text", "scale", "base"),
    [
        ("USD", 1, "USD"),
        ("thousands USD", 1e3, "USD"),
        ("thousands of US dollars", 1e3, "USD"),
        ("USD million", 1e6, "USD"),
        ("US$ '000", 1e3, "USD"),
        ("mln. USD", 1e6, "USD"),
        ("тыс. долл. США", 1e3, "USD"),
        ("万美元", 1e4, "USD"),
        ("亿元", 1e8, "CNY"),
        ("천달러", 1e3, "USD"),
        ("tonnes", 1e3, "kg"),
        ("thousands", 1e3, None),
    ],
)
def test_units(text, scale, base):
    unit = parse_unit(text)
    assert (unit.scale, unit.base) == (scale, base)


@pytest.mark.parametrize("text", ["", "parsecs", "USD EUR", "12 USD"])
def test_unreadable_units(text):
    with pytest.raises(ValueError):
        parse_unit(text)
