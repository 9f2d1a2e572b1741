"""Feed dates written the way each language writes them are read in UTC, with the language kept."""

from datetime import UTC, datetime

import pytest

from assets.news.feeds import parse_loose_date, read_feed


def rss(language: str, *dates: str) -> bytes:
    """A small RSS 2.0 feed in `language` with one item per date (synthetic .invalid URLs)."""
    items = "".join(
        f"<item><title>Item {i}</title><link>https://feed.invalid/{language}/{i}</link>"
        f"<pubDate>{d}</pubDate></item>"
        for i, d in enumerate(dates, 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>synthetic {language} feed</title><language>{language}</language>"
        f"{items}</channel></rss>"
    ).encode()


# (feed <language>, pubDate as the language writes it, expected UTC instant, normalised language)
TEN_LANGUAGES = [
    ("ko", "2023년 10월 5일", datetime(2023, 10, 5, tzinfo=UTC), "ko"),
    ("ru", "5 октября 2023 г.", datetime(2023, 10, 5, tzinfo=UTC), "ru"),
    ("zh-CN", "2023年10月5日", datetime(2023, 10, 5, tzinfo=UTC), "zh"),
    ("ja", "2023年10月5日 14時30分", datetime(2023, 10, 5, 14, 30, tzinfo=UTC), "ja"),
    ("uk", "5 жовтня 2023", datetime(2023, 10, 5, tzinfo=UTC), "uk"),
    ("fr-FR", "jeudi 5 octobre 2023 à 14h30", datetime(2023, 10, 5, 14, 30, tzinfo=UTC), "fr"),
    ("de", "5. Oktober 2023 14:05 +0200", datetime(2023, 10, 5, 12, 5, tzinfo=UTC), "de"),
    ("es", "5 de octubre de 2023", datetime(2023, 10, 5, tzinfo=UTC), "es"),
    ("pt-BR", "5 de outubro de 2023 08:30 -0300", datetime(2023, 10, 5, 11, 30, tzinfo=UTC), "pt"),
    ("ar", "٥ أكتوبر ٢٠٢٣", datetime(2023, 10, 5, tzinfo=UTC), "ar"),
]


@pytest.mark.parametrize(("language", "written", "expected", "code"), TEN_LANGUAGES)
def test_dates_in_ten_languages(language, written, expected, code):
    f = read_feed(rss(language, written), f"mem://{language}.rss")
    assert (f.rows_read, f.rows.height, f.quarantine.height) == (1, 1, 0), f.quarantine.to_dicts()
    row = f.rows.row(0, named=True)
    assert row["published_at"] == expected
    assert row["published_at"].utcoffset().total_seconds() == 0
    assert row["language"] == code


def test_arabic_with_western_digits_and_korean_afternoon():
    f = read_feed(rss("ar", "5 أكتوبر 2023"), "mem://ar.rss")
    assert f.rows["published_at"].to_list() == [datetime(2023, 10, 5, tzinfo=UTC)]
    f = read_feed(rss("ko", "2023년 10월 5일 오후 3:20"), "mem://ko.rss")
    assert f.rows["published_at"].to_list() == [datetime(2023, 10, 5, 15, 20, tzinfo=UTC)]


def test_a_date_without_a_year_is_quarantined_not_completed():
    f = read_feed(
        rss("ru", "5 октября", "5 октября 2023 г.", "вчера", "5 октября 14:30"), "mem://ru.rss"
    )
    assert f.rows_read == 4
    assert f.rows["document_url"].to_list() == ["https://feed.invalid/ru/2"]
    q = f.quarantine
    assert q["line_number"].to_list() == [1, 3, 4]
    assert all(r.startswith("no usable date: cannot parse") for r in q["reason"])
    assert "5 октября" in q["reason"][0] and "language ru" in q["reason"][0]
    assert "вчера" in q["reason"][1]  # relative dates would need the wall clock


def test_a_wrong_language_hint_falls_back_to_the_listed_languages():
    # The feed says English, the dates are Russian and Korean: still read, language unchanged.
    f = read_feed(rss("en", "5 октября 2023 г.", "2023년 10월 5일"), "mem://mislabelled.rss")
    assert f.rows["published_at"].to_list() == [datetime(2023, 10, 5, tzinfo=UTC)] * 2
    assert set(f.rows["language"]) == {"en"}


def test_entry_language_is_the_hint_for_its_date():
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>synthetic mixed feed</title>
<id>urn:synthetic:mixed</id><updated>2023-10-06T00:00:00Z</updated>
<entry xml:lang="uk"><title>Туманган</title><id>urn:synthetic:1</id>
<link href="https://feed.invalid/uk/1"/><published>6 жовтня 2023 09:15 +0300</published></entry>
<entry><title>Tumangang</title><id>urn:synthetic:2</id>
<link href="https://feed.invalid/en/2"/><published>2023-10-06T10:00:00Z</published></entry>
</feed>""".encode()
    f = read_feed(atom, "mem://mixed.atom")
    assert f.rows.select("language", "published_at").rows() == [
        ("uk", datetime(2023, 10, 6, 6, 15, tzinfo=UTC)),
        ("en", datetime(2023, 10, 6, 10, tzinfo=UTC)),
    ]


def test_parse_loose_date_needs_no_clock():
    # The same text gives the same instant whatever today is: no relative or partial dates.
    assert parse_loose_date("5 octobre 2023", "fra") == datetime(2023, 10, 5, tzinfo=UTC)
    for text in ("5 octobre", "octobre 2023", "aujourd'hui", "il y a 2 heures", "", None):
        assert parse_loose_date(text, "fr") is None, text


def test_a_year_or_month_alone_is_no_date():
    # W3C-DTF allows them, but an article dated "2023" cannot be placed on a day.
    f = read_feed(rss("en", "2023", "2023-10", "2023-10-05", "2023년 10월"), "mem://reduced.rss")
    assert f.rows["document_url"].to_list() == ["https://feed.invalid/en/3"]
    assert f.quarantine["line_number"].to_list() == [1, 2, 4]
