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


def test_a_line_that_is_not_utf8_costs_that_line_only():
    """Was: one Latin-1 byte quarantined the whole file (FileError). Now the line alone."""
    data = (
        HEADER
        + "tumangang,2023-10-05,railcars,73,CS\xc9IS,https://e.org/a,m,,\n"
        + "tumangang,2023-10-06,railcars,74,CSIS,https://e.org/a,m,,\n"
    ).encode("latin-1")
    result = parse_reported_csv(data, "drop.csv", FACILITIES, METRICS, *WINDOW, TODAY)
    result.check_accounting()
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    row = result.quarantine.row(0, named=True)
    assert row["line_number"] == 2 and row["reason"].startswith("not UTF-8 (byte 0xc9")
    assert "CS\ufffdIS" in row["raw_line"]  # shown with a replacement character


def test_utf16_file_with_a_bom_loads():
    text = HEADER + "tumangang,2023-10-05,railcars,73,Ça,https://e.org/a,m,,\n"
    result = parse_reported_csv(text.encode("utf-16"), "drop.csv", FACILITIES, METRICS, *WINDOW, TODAY)
    assert result.rows_loaded == 1 and result.rows["source"][0] == "Ça"
    assert "read as UTF-16" in result.warnings


@pytest.mark.parametrize(
    "value, expected",
    [("73", 73.0), ("1234.5", 1234.5), ('"1,234"', 1234.0), ('"1,234,567.5"', 1234567.5),
     ("1.5e3", 1500.0), ("+8", 8.0), (" 9 ", 9.0)],
)
def test_unambiguous_numbers_load(value, expected):
    result = parse(HEADER + f"tumangang,2023-10-05,railcars,{value},CSIS,https://e.org/a,m,,\n")
    assert result.rows["value"].to_list() == [expected]


@pytest.mark.parametrize(
    "value, reason",
    [('"7,5"', "ambiguous"), ('"1.234,5"', "ambiguous"), ('"1,23,456"', "ambiguous"),
     ('"12,3456"', "ambiguous"), ("1 234", "not a number"), ("NaN", "not a number"),
     ("١٢", "not a number"), ("1e999", "not a finite number")],
)
def test_locale_ambiguous_numbers_are_quarantined_not_guessed(value, reason):
    """Was: "7,5" loaded as 75 (commas stripped). Now quarantined with the reason."""
    result = parse(HEADER + f"tumangang,2023-10-05,railcars,{value},CSIS,https://e.org/a,m,,\n")
    assert result.rows_loaded == 0 and reason in result.quarantine["reason"][0]


def test_repeated_column_quarantines_the_file_naming_it():
    """Was: the last `value` column silently won."""
    with pytest.raises(FileError, match=r"drop\.csv, line 1: column 'value' appears 2 times"):
        parse(HEADER.rstrip("\n") + ",value\n")


def test_unterminated_quote_does_not_swallow_the_following_rows():
    """Was: the rest of the file was merged into notes without a word."""
    result = parse(
        HEADER.rstrip("\n") + ",notes\n"
        + 'tumangang,2023-10-05,railcars,73,CSIS,https://e.org/a,m,,,"an open quote\n'
        + "tumangang,2023-10-06,railcars,74,CSIS,https://e.org/a,m,,,\n"
        + "khasan,2023-10-06,railcars,5,CSIS,https://e.org/a,m,,,\n"
    )
    result.check_accounting()
    assert result.rows["line_number"].to_list() == [3, 4]
    row = result.quarantine.row(0, named=True)
    assert row["line_number"] == 2 and "unterminated quote" in row["reason"]


def test_a_field_over_the_cap_quarantines_its_row_not_the_source():
    """Was: csv's 131,072-character limit raised and dropped the whole source."""
    from assets.core.limits import Limits

    big, huge = "x" * 200_000, "y" * 300
    result = parse_reported_csv(
        (HEADER.rstrip("\n") + ",notes\n"
         + f"tumangang,2023-10-05,railcars,73,CSIS,https://e.org/a,m,,,{big}\n"
         + f'tumangang,2023-10-06,railcars,74,CSIS,https://e.org/a,m,,,"{huge}"\n').encode(),
        "drop.csv", FACILITIES, METRICS, *WINDOW, TODAY, limits=Limits(field_chars=250_000 // 1000),
    )
    assert result.rows_read == 2 and result.rows_quarantined == 2
    assert all("field over 250 characters (column 10, notes)" in r for r in result.quarantine["reason"])
    ok = parse(HEADER.rstrip("\n") + ",notes\n"
               + f"tumangang,2023-10-05,railcars,73,CSIS,https://e.org/a,m,,,{big}\n")
    assert ok.rows_loaded == 1 and len(ok.rows["notes"][0]) == 200_000  # under the 1 MiB default


def test_a_date_out_of_range_is_quarantined_even_outside_the_window():
    """Was: a row dated 2099 outside the window counted as filtered."""
    result = parse(
        HEADER + "tumangang,2099-01-01,railcars,1,CSIS,https://e.org/a,m,,\n",
        window=(date(2023, 10, 1), date(2023, 11, 1)),
    )
    assert (result.rows_filtered, result.rows_quarantined) == (0, 1)
    assert "outside 2000-01-01" in result.quarantine["reason"][0]


def test_reported_listing_accounts_for_files_it_does_not_read(tmp_path):
    from assets.core.sources import LocalSourceStore
    from assets.reported.parse import list_reported_objects, reported_skipped_results

    (tmp_path / "a.csv").write_text(HEADER)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "passwd.csv").symlink_to("/etc/passwd")
    listing = list_reported_objects(LocalSourceStore(tmp_path))
    assert [o.key for o in listing] == ["a.csv"]
    skipped = reported_skipped_results(listing.skipped)
    assert [(r.rows_read, r.warnings[0].split(";")[0]) for r in skipped] == [
        (0, "skipped: not a recognised file name"), (0, "skipped: a symbolic link")]
    assert all(r.skipped and r.sha256 == "unread" for r in skipped)


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
