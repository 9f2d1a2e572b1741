"""Ragged, truncated and wrongly encoded GDELT files, undated feed items: quarantined, rest kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

from assets.news.articles import news_in_window
from assets.news.feeds import read_feed
from assets.news.gdelt import read_events, read_gkg
from assets.news.sample import Article, event_line, gkg_line

SLOT = datetime(2023, 10, 6, 12, tzinfo=UTC)
WINDOW = (date(2023, 10, 1), date(2023, 10, 31))


def _article(n: int) -> Article:
    return Article(
        datetime(2023, 10, 6, 9, n % 60, tzinfo=UTC),
        f"https://test.synthetic.invalid/tumangang-{n}",
        "test.synthetic.invalid",
        f"Tumangang freight report {n}",
        "en",
        ["tumangang"],
        ["TRANSPORT"],
        True,
        tone=-1.5,
    )


def _gkg_lines(n: int) -> list[str]:
    return [gkg_line(_article(i), f"20231006120000-{i}", SLOT) for i in range(n)]


def test_ragged_bad_date_and_bad_encoding_are_quarantined(fake_raw, zip_member, facilities):
    lines = [line.encode() for line in _gkg_lines(6)]
    lines[1] = lines[1].rsplit(b"\t", 3)[0]  # ragged: 24 fields
    f = lines[2].split(b"\t")
    f[1] = b"2023-10-06"  # unparseable date
    lines[2] = b"\t".join(f)
    lines[3] = lines[3].replace(b"Tumangang freight", b"Tumangang \xff\xfe freight")  # bad UTF-8
    data = zip_member("20231006120000.gkg.csv", b"\n".join(lines) + b"\n")
    batch = news_in_window([fake_raw("gdelt/20231006120000.gkg.csv.zip", data)], facilities, *WINDOW)
    r = batch.articles.results[0]
    r.check_accounting()
    assert r.rows_read == 6
    q = {row["line_number"]: row for row in r.quarantine.iter_rows(named=True)}
    assert sorted(q) == [2, 3, 4]
    assert "ragged" in q[2]["reason"] and "expected 27" in q[2]["reason"]
    assert "unparseable date" in q[3]["reason"] and "2023-10-06" in q[3]["reason"]
    assert "UTF-8" in q[4]["reason"] and "Tumangang" in q[4]["raw_line"]
    assert all(row["source_uri"].endswith("20231006120000.gkg.csv.zip") for row in q.values())
    assert r.rows_loaded == 3
    assert set(r.rows["document_url"]) == {
        f"https://test.synthetic.invalid/tumangang-{i}" for i in (0, 4, 5)
    }


def test_zip_cut_short_keeps_complete_lines(zip_member):
    text = ("\n".join(_gkg_lines(200)) + "\n").encode()
    data = zip_member("20231006120000.gkg.csv", text)
    cut = data[: len(data) * 2 // 3]
    g = read_gkg(cut, "mem://cut.gkg.csv.zip")
    assert g.rows_read == g.rows.height + g.quarantine.height
    assert 0 < g.rows.height < 200
    assert g.quarantine.height == 1
    last = g.quarantine.row(0, named=True)
    assert last["line_number"] == g.rows_read  # the line the stream stopped in
    assert last["reason"].startswith("truncated")
    assert g.warnings and "incomplete" in g.warnings[0]
    # Kept rows are exactly the first lines of the file, intact.
    assert g.rows["line_number"].to_list() == list(range(1, g.rows.height + 1))
    assert g.rows["title"][-1] == f"Tumangang freight report {g.rows.height - 1}"


def test_zip_cut_inside_its_header_is_one_quarantined_row(zip_member):
    g = read_gkg(zip_member("x.gkg.csv", b"abc\n")[:20], "mem://tiny.gkg.csv.zip")
    assert (g.rows_read, g.rows.height, g.quarantine.height) == (1, 0, 1)
    assert g.quarantine["line_number"][0] == 0


def test_plain_file_with_last_line_cut(fake_raw, facilities):
    text = "\n".join(_gkg_lines(4))
    cut = text[: len(text) - 400]  # no final newline, last line loses its tail
    g = read_gkg(cut.encode(), "mem://20231006120000.gkg.csv")
    assert g.rows.height == 3
    row = g.quarantine.row(0, named=True)
    assert row["line_number"] == 4 and row["reason"].startswith("truncated")


def test_events_ragged_and_bad_dates(facilities):
    lines = [event_line(900 + i, _article(i), SLOT, "042") for i in range(4)]
    lines[1] = lines[1] + "\textra"
    f = lines[3].split("\t")
    f[59] = "notadate"
    lines[3] = "\t".join(f)
    e = read_events(("\n".join(lines) + "\n").encode(), "mem://x.export.CSV")
    assert e.rows_read == 4 and e.rows.height == 2
    assert e.quarantine["line_number"].to_list() == [2, 4]
    assert e.rows["event_code"].to_list() == ["042", "042"]


def test_feed_item_without_usable_date_is_quarantined():
    feed = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="2.0"><channel><title>T\xeate</title><language>pt-BR</language>
<item><title>Ol\xe1 Tumangang</title><link>https://a.example/1</link>
<pubDate>Tue, 10 Oct 2023 10:00:00 GMT</pubDate></item>
<item><title>Sem data</title><link>https://a.example/2</link></item>
<item><title>Data estranha</title><link>https://a.example/3</link><pubDate>someday</pubDate></item>
<item><title>Outubro</title><link>https://a.example/4</link>
<pubDate>12 de outubro de 2023 08:30 +0100</pubDate></item>
</channel></rss>"""
    f = read_feed(feed, "mem://pt.rss")
    assert f.rows_read == 4
    assert f.rows["title"].to_list() == ["Olá Tumangang", "Outubro"]
    assert f.rows["published_at"].to_list() == [
        datetime(2023, 10, 10, 10, tzinfo=UTC),
        datetime(2023, 10, 12, 7, 30, tzinfo=UTC),
    ]
    assert set(f.rows["language"]) == {"pt"}
    q = f.quarantine
    assert q["line_number"].to_list() == [2, 3]
    assert "no usable date" in q["reason"][0] and "someday" in q["reason"][1]


# --- Files accounted for, caps, zips with several members -------------------------------------


def test_every_listed_file_gets_a_result_and_unclaimed_ones_are_not_read(tmp_path, facilities):
    from assets.core.sources import LocalSourceStore
    from assets.news.articles import list_news_objects

    gkg = ("\n".join(_gkg_lines(2)) + "\n").encode()
    (tmp_path / "gdelt").mkdir()
    (tmp_path / "feeds").mkdir()
    (tmp_path / "gdelt" / "20231006120000.gkg.csv").write_bytes(gkg)
    (tmp_path / "gdelt" / "20231306120000.gkg.csv").write_bytes(gkg)  # month 13: not a slot
    (tmp_path / "gdelt" / "2023100612000.gkg.csv").write_bytes(gkg)  # 13 digits
    (tmp_path / "gdelt" / "lastupdate.txt").write_text("x")
    (tmp_path / "gdelt" / "20231206120000.gkg.csv").write_bytes(gkg)  # another window's slot
    (tmp_path / "feeds" / "page.rss").write_text("<html><body>moved</body></html>")
    (tmp_path / "feeds" / "empty.rss").write_bytes(b"")
    (tmp_path / "feeds" / "notes.md").write_text("x")
    (tmp_path / "feeds" / "link.rss").symlink_to("/etc/passwd")
    store = LocalSourceStore(tmp_path)
    listing = list_news_objects(store, *WINDOW)
    assert [o.key for o in listing] == [
        "feeds/empty.rss", "feeds/page.rss", "gdelt/20231006120000.gkg.csv"]
    assert [o.key for o in listing.skipped] == [
        "feeds/link.rss", "feeds/notes.md", "gdelt/2023100612000.gkg.csv",
        "gdelt/20231306120000.gkg.csv", "gdelt/lastupdate.txt"]

    class Raw:
        def __init__(self, obj):
            self.key, self.source_uri = obj.key, obj.uri

        def read(self):
            return store.read(self.key)

    batch = news_in_window([*(Raw(o) for o in listing), *listing.skipped], facilities, *WINDOW)
    by_name = {r.source_uri.rsplit("/", 1)[-1]: r for r in batch.articles.results}
    assert len(by_name) == 8
    for r in by_name.values():
        r.check_accounting()
    assert by_name["20231006120000.gkg.csv"].rows_loaded == 2
    assert by_name["20231306120000.gkg.csv"].warnings == ["skipped: not a recognised file name"]
    assert by_name["link.rss"].warnings[0].startswith("skipped: a symbolic link")
    assert all(by_name[n].skipped for n in ("link.rss", "notes.md", "lastupdate.txt"))
    assert "HTML page" in by_name["page.rss"].quarantine["reason"][0]
    assert "empty file" in by_name["empty.rss"].quarantine["reason"][0]
    assert by_name["page.rss"].quarantine["line_number"].to_list() == [0]


def test_every_member_of_a_zip_is_read(zip_member):
    import io
    import zipfile

    lines = _gkg_lines(4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.gkg.csv", "\n".join(lines[:2]) + "\n")
        zf.writestr("b.gkg.csv", "\n".join(lines[2:]))
    g = read_gkg(buf.getvalue(), "mem://20231006120000.gkg.csv.zip")
    assert g.rows.height == 4 and g.rows["line_number"].to_list() == [1, 2, 3, 4]
    assert "2 members" in g.warnings[0] and "b.gkg.csv from line 3" in g.warnings[0]


def _bomb(total: int, name: bytes = b"20231006120000.gkg.csv") -> bytes:
    """A zip whose one member inflates to `total` zero bytes, built in a few ms: one
    full-flushed deflate block of 1 MiB of zeros repeated (each block stands alone)."""
    import struct
    import zlib

    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    body = block * (total >> 20) + c.flush()
    # Sizes "in the data descriptor" (flag 8): the reader cannot trust a declared size.
    header = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 8, 8, 0, 0, 0, 0, 0, len(name), 0)
    return header + name + body


def test_a_zip_bomb_stops_at_the_cap_with_a_reason():
    """Was: a 2 MB zip inflating to 2 GB took the process past 14 GB."""
    from assets.core.limits import Limits

    data = _bomb(2 << 30)
    assert len(data) < 3_000_000
    g = read_gkg(data, "mem://bomb.gkg.csv.zip")  # the default caps: 512 MiB per member
    assert (g.rows_read, g.rows.height, g.quarantine.height) == (1, 0, 1)
    row = g.quarantine.row(0, named=True)
    assert row["line_number"] == 0 and "zip member inflates past 536870912 bytes" in row["reason"]
    small = read_gkg(_bomb(8 << 20), "mem://b.gkg.csv.zip", Limits(member_bytes=4 << 20))
    assert "inflates past 4194304 bytes" in small.quarantine["reason"][0]


def test_a_long_line_is_quarantined_and_its_raw_line_clipped():
    from assets.core.limits import Limits

    lines = _gkg_lines(3)
    fields = lines[1].split("\t")
    fields[7] = "THEME;" * 2000
    lines[1] = "\t".join(fields)
    g = read_gkg(("\n".join(lines) + "\n").encode(), "mem://x.gkg.csv",
                 Limits(field_chars=5000, raw_line_chars=300))
    assert g.rows.height == 2
    row = g.quarantine.row(0, named=True)
    assert row["line_number"] == 2 and row["reason"] == "field over 5000 characters"
    assert len(row["raw_line"]) == 300 and row["raw_line"].endswith("characters in all]")
