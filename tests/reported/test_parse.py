"""Reported-count CSV parsing: typed rows, quarantine with reasons, and the accounting."""

from datetime import date

import pytest

from assets.core.parsing import FileError
from assets.reported.parse import drop_cross_file_duplicates, parse_reported_csv

HEADER = "facility_id,observed_on,metric,value,source,source_url,method,published_on,synthetic\n"
FACILITIES = {"tumangang", "khasan"}
METRICS = {"railcars", "locomotives"}
WINDOW = (date(2015, 1, 1), date(2025, 1, 1))
TODAY = date(2026, 1, 1)


def parse(text: str, window=WINDOW, uri="drop.csv"):
    return parse_reported_csv(text.encode(), uri, FACILITIES, METRICS, *window, TODAY)


def test_good_rows_are_typed_and_keep_their_line():
    result = parse(
        HEADER
        + "tumangang,2023-10-05,railcars,73,CSIS,https://example.org/a,hand count,2023-10-06,false\n"
        + "khasan,2022-11-29,railcars,8,38 North,https://example.org/b,hand count,,\n"
    )
    assert result.rows_read == 2 and result.rows_loaded == 2 and result.rows_quarantined == 0
    first = result.rows.row(0, named=True)
    assert first["observed_on"] == date(2023, 10, 5)
    assert first["value"] == 73.0
    assert first["published_on"] == date(2023, 10, 6)
    assert first["synthetic"] is False
    assert first["line_number"] == 2
    assert result.rows.row(1, named=True)["published_on"] is None
    result.check_accounting()


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_kept():
    result = parse(
        HEADER
        + "tumangang,2023-10-05,railcars,73,CSIS,https://example.org/a,hand count,,\n"  # line 2 good
        + "tumangang,2023-10-06,railcars,-4,CSIS,https://example.org/a,hand count,,\n"  # line 3
        + "atlantis,2023-10-06,railcars,4,CSIS,https://example.org/a,hand count,,\n"  # line 4
        + "khasan,2023-13-45,railcars,4,CSIS,https://example.org/a,hand count,,\n"  # line 5
        + "khasan,2023-10-07,Rail Cars,4,CSIS,https://example.org/a,hand count,,\n"  # line 6
        + "khasan,2023-10-07,railcars,four,CSIS,not a url,hand count,,\n"  # line 7
        + "tumangang,2023-10-05,railcars,74,CSIS,https://example.org/a,hand count,,\n"  # line 8 dup
        + "khasan,2023-10-08,railcars,5,CSIS,https://example.org/a,hand count,,\n"  # line 9 good
    )
    result.check_accounting()
    assert result.rows_loaded == 2
    reasons = {r["line_number"]: r["reason"] for r in result.quarantine.iter_rows(named=True)}
    assert set(reasons) == {3, 4, 5, 6, 7, 8}
    assert "negative" in reasons[3]
    assert "unknown facility_id 'atlantis'" in reasons[4]
    assert "observed_on '2023-13-45' is not a YYYY-MM-DD date" in reasons[5]
    assert "unknown metric 'Rail Cars'" in reasons[6]
    assert "not a number" in reasons[7] and "not an http(s) URL" in reasons[7]
    assert "duplicate of line 2" in reasons[8]
    raw = {r["line_number"]: r["raw_line"] for r in result.quarantine.iter_rows(named=True)}
    assert raw[4].startswith("atlantis,2023-10-06")
    assert all(r["source_uri"] == "drop.csv" for r in result.quarantine.iter_rows(named=True))


def test_rows_outside_the_window_are_filtered_not_lost():
    result = parse(
        HEADER
        + "tumangang,2023-10-05,railcars,73,CSIS,https://example.org/a,hand count,,\n"
        + "tumangang,2019-01-01,railcars,7,CSIS,https://example.org/a,hand count,,\n"
        + "tumangang,2019-01-02,railcars,-7,CSIS,https://example.org/a,hand count,,\n",
        window=(date(2023, 10, 1), date(2023, 11, 1)),
    )
    assert (result.rows_loaded, result.rows_filtered, result.rows_quarantined) == (1, 2, 0)
    result.check_accounting()


def test_future_and_ancient_dates_are_quarantined():
    result = parse(
        HEADER
        + "tumangang,2027-01-01,railcars,1,CSIS,https://example.org/a,hand count,,\n"
        + "tumangang,1999-12-31,railcars,1,CSIS,https://example.org/a,hand count,,\n",
        window=(date(1990, 1, 1), date(2030, 1, 1)),
    )
    assert result.rows_quarantined == 2
    assert all("outside 2000-01-01" in r for r in result.quarantine["reason"])


def test_missing_required_column_fails_the_file_naming_it():
    with pytest.raises(
        FileError, match=r"drop\.csv, line 1: missing required column\(s\) source_url"
    ):
        parse("facility_id,observed_on,metric,value,source,method\n")


def test_quoted_multiline_field_keeps_true_line_numbers():
    result = parse(
        HEADER.rstrip("\n")
        + ",notes\n"
        + 'tumangang,2023-10-05,railcars,73,CSIS,https://example.org/a,hand count,,,"two\nlines"\n'
        + "tumangang,2023-10-06,railcars,-1,CSIS,https://example.org/a,hand count,,,\n"
    )
    assert result.rows.row(0, named=True)["notes"] == "two\nlines"
    assert result.quarantine.row(0, named=True)["line_number"] == 4


def test_extra_fields_and_blank_lines():
    result = parse(
        HEADER
        + "\n"
        + "tumangang,2023-10-05,railcars,73,CSIS,https://example.org/a,hand count,,false,surplus\n"
    )
    assert result.rows_read == 1 and result.rows_quarantined == 1
    assert "10 fields, header has 9" in result.quarantine["reason"][0]


def test_not_utf8_names_file_and_line():
    data = (HEADER + "tumangang,2023-10-05,railcars,73,CS\xc9IS,https://e.org/a,m,,\n").encode(
        "latin-1"
    )
    with pytest.raises(FileError, match=r"drop\.csv, line 2: not UTF-8"):
        parse_reported_csv(data, "drop.csv", FACILITIES, METRICS, *WINDOW, TODAY)


def test_same_row_in_two_files_is_quarantined_in_the_later_file():
    row = "tumangang,2023-10-05,railcars,73,CSIS,https://example.org/a,hand count,,\n"
    first, second = parse(HEADER + row, uri="a.csv"), parse(HEADER + row, uri="b.csv")
    first, second = drop_cross_file_duplicates([first, second])
    assert first.rows_loaded == 1 and second.rows_loaded == 0
    assert "duplicate of a row in a.csv, line 2" in second.quarantine["reason"][0]
    second.check_accounting()


def test_unusable_file_becomes_one_quarantined_row():
    from assets.reported.parse import parse_reported_file

    result = parse_reported_file(b"facility_id,value\nx,1\n", "drop.csv", FACILITIES, METRICS, *WINDOW, TODAY)
    result.check_accounting()
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (1, 0, 1)
    row = result.quarantine.row(0, named=True)
    assert row["line_number"] == 0 and "drop.csv, line 1: missing required column(s)" in row["reason"]
