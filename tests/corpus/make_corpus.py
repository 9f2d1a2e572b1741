"""Write the malformed-input corpus and its expectations: tests/corpus/<source>/files/ + cases.toml.

    uv run python tests/corpus/make_corpus.py          # rewrite every file (deterministic)

Each source (reported, gdelt, stac, feeds) gets small files, most holding good rows beside one
bad thing, and a cases.toml stating per case what must come out of the real pure entry points:
rows loaded, rows filtered, rows quarantined with a reason substring per quarantined row (in
line order), or `skipped` (listed, never read). The files are checked in; this script is how
they were made and how to change them. Everything here is synthetic: source "corpus", URLs on
example.invalid. Cases too big to check in (a 2 GiB zip bomb, a 1.5 MiB field, 200,000 nested
arrays) are built at test time in test_corpus.py.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from assets.news.sample import Article, event_line, gkg_line, mention_line  # noqa: E402


@dataclass
class Case:
    name: str
    about: str
    files: dict[str, bytes]  # path under files/ -> bytes; the first is the case's entry file
    loaded: int = 0
    filtered: int = 0
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)  # one substring per quarantined row
    skipped: bool = False
    also: list[str] = field(default_factory=list)  # other cases' entry files read in the same batch

    @property
    def entry(self) -> str:
        return next(iter(self.files))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def write_source(source: str, cases: list[Case], about: str) -> None:
    root = HERE / source
    if (root / "files").exists():
        shutil.rmtree(root / "files")
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), f"{source}: repeated case names"
    for case in cases:
        assert case.quarantined == len(case.reasons), f"{source}/{case.name}: reasons per row"
        for rel, data in case.files.items():
            path = root / "files" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    out = [f"# {about}", "# Written by tests/corpus/make_corpus.py: change the cases there.", ""]
    for case in cases:
        out.append("[[case]]")
        out.append(f"name = {_toml_value(case.name)}")
        out.append(f"file = {_toml_value(case.entry)}")
        out.append(f"about = {_toml_value(case.about)}")
        if case.skipped:
            out.append("skipped = true")
        else:
            out.append(f"loaded = {case.loaded}")
            out.append(f"filtered = {case.filtered}")
            out.append(f"quarantined = {case.quarantined}")
            out.append(f"reasons = {_toml_value(case.reasons)}")
        if case.also:
            out.append(f"also = {_toml_value(case.also)}")
        out.append("")
    (root / "cases.toml").write_text("\n".join(out), encoding="utf-8")


# --- reported counts -------------------------------------------------------------------------

HEADER = (
    "facility_id,observed_on,metric,value,source,source_url,method,published_on,confidence,"
    "imagery_provider,notes,synthetic"
)
COLUMNS = HEADER.split(",")


def row(**kw) -> str:
    values = {
        "facility_id": "tumangang",
        "observed_on": "2023-05-05",
        "metric": "railcars",
        "value": "12",
        "source": "corpus",
        "source_url": "https://corpus.example.invalid/reported",
        "method": "synthetic corpus row",
        "published_on": "",
        "confidence": "",
        "imagery_provider": "",
        "notes": "",
        "synthetic": "true",
    }
    values.update(kw)
    return ",".join(values[c] for c in COLUMNS)


GOOD_A = row(observed_on="2023-03-01", value="11")
GOOD_B = row(observed_on="2023-03-02", value="13")


def csv_bytes(*rows: str, header: str = HEADER, newline: str = "\n", final: bool = True) -> bytes:
    text = newline.join([header, *rows]) + (newline if final else "")
    return text.encode("utf-8")


def reported_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name, about, data, loaded=0, filtered=0, reasons=(), skipped=False, ext=".csv"):
        cases.append(
            Case(name, about, {f"{name}{ext}": data}, loaded, filtered, len(reasons),
                 list(reasons), skipped)  # fmt: skip
        )

    def beside(name, about, bad_row, reason, loaded_extra=0):
        """The bad row between two good ones: the good ones must still load."""
        reasons = [reason] if reason is not None else []
        add(name, about, csv_bytes(GOOD_A, bad_row, GOOD_B), 2 + loaded_extra, 0, reasons)

    # Numbers: unambiguous forms load; locale-ambiguous ones are quarantined, never guessed.
    for label, text in [
        ("int", "12"), ("decimal", "12.5"), ("zero", "0"), ("zero-decimal", "0.0"),
        ("plus", "+3"), ("grouped-thousand", '"1,234"'), ("grouped-million", '"1,234,567"'),
        ("grouped-decimal", '"1,234.5"'), ("exponent", "1.5e3"), ("exponent-upper", "1E2"),
        ("padded", " 7 "), ("leading-dot", ".5"), ("trailing-dot", "5."), ("leading-zeros", "007"),
        ("minus-zero", "-0"),
    ]:  # fmt: skip
        beside(f"value-ok-{label}", f"value {text.strip()} is an unambiguous number",
               row(observed_on="2023-04-01", value=text), None, loaded_extra=1)  # fmt: skip
    for label, text, reason in [
        ("decimal-comma", '"7,5"', "is ambiguous"),
        ("european-grouping", '"1.234,5"', "is ambiguous"),
        ("indian-grouping", '"1,23,456"', "is ambiguous"),
        ("comma-four-digits", '"12,3456"', "is ambiguous"),
        ("comma-one-digit", '"1,2"', "is ambiguous"),
        ("leading-comma", '",5"', "is ambiguous"),
        ("trailing-comma", '"5,"', "is ambiguous"),
        ("two-dots", "1.2.3", "is not a number"),
        ("space-grouping", "1 234", "is not a number"),
        ("underscore", "1_000", "is not a number"),
        ("nan", "NaN", "is not a number"),
        ("inf", "inf", "is not a number"),
        ("minus-inf", "-inf", "is not a number"),
        ("overflow", "1e999", "not a finite number"),
        ("negative", "-3", "is negative"),
        ("word", "twelve", "is not a number"),
        ("empty", "", "is not a number"),
        ("hex", "0x10", "is not a number"),
        ("arabic-indic-digits", "١٢", "is not a number"),
        ("fullwidth-digits", "１２", "is not a number"),
        ("percent", "12%", "is not a number"),
        ("currency", "$12", "is not a number"),
        ("with-unit", "12 cars", "is not a number"),
        ("double-sign", "--1", "is not a number"),
        ("bare-exponent", "1e", "is not a number"),
    ]:
        beside(f"value-bad-{label}", f"value {text} is quarantined: {reason}",
               row(observed_on="2023-04-01", value=text), reason)  # fmt: skip

    # Dates: YYYY-MM-DD in 2000..today; range rules hold whatever the window (2023).
    for label, text in [("in-window", "2023-10-05"), ("window-start", "2023-01-01"),
                        ("padded", " 2023-10-05 ")]:  # fmt: skip
        beside(f"date-ok-{label}", f"observed_on {text.strip()} loads",
               row(observed_on=text), None, loaded_extra=1)  # fmt: skip
    for label, text, reason in [
        ("month-13", "2023-13-01", "is not a YYYY-MM-DD date"),
        ("february-30", "2023-02-30", "is not a YYYY-MM-DD date"),
        ("day-first", "05/10/2023", "is not a YYYY-MM-DD date"),
        ("one-digit-day", "2023-10-5", "is not a YYYY-MM-DD date"),
        ("basic-format", "20231005", "is not a YYYY-MM-DD date"),
        ("week-date", "2023-W40-4", "is not a YYYY-MM-DD date"),
        ("with-time", "2023-10-05T10:00", "is not a YYYY-MM-DD date"),
        ("empty", "", "is not a YYYY-MM-DD date"),
        ("year-2099", "2099-01-01", "is outside 2000-01-01"),
        ("year-1999", "1999-12-31", "is outside 2000-01-01"),
        ("after-today", "2026-01-02", "is outside 2000-01-01"),
    ]:
        beside(f"date-bad-{label}", f"observed_on {text!r}: quarantined, not filtered",
               row(observed_on=text), reason)  # fmt: skip
    for label, text in [("before-window", "2019-06-01"), ("window-end", "2024-01-01")]:
        add(f"date-filtered-{label}", f"observed_on {text} is outside the 2023 window: filtered",
            csv_bytes(GOOD_A, row(observed_on=text), GOOD_B), 2, 1)  # fmt: skip
    add("date-filtered-bad-value-outside-window",
        "outside the window, only shape and date rules apply: a bad value there is filtered",
        csv_bytes(GOOD_A, row(observed_on="2019-06-01", value="-4"), GOOD_B), 2, 1)  # fmt: skip
    beside("published-ok", "published_on YYYY-MM-DD loads",
           row(observed_on="2023-04-01", published_on="2023-04-02"), None, loaded_extra=1)
    beside("published-bad", "published_on 'yesterday' is quarantined",
           row(observed_on="2023-04-01", published_on="yesterday"), "published_on 'yesterday'")

    # Reference data and provenance.
    beside("facility-khasan", "another known facility loads",
           row(facility_id="khasan", observed_on="2023-04-01"), None, loaded_extra=1)
    beside("metric-locomotives", "another known metric loads",
           row(metric="locomotives", observed_on="2023-04-01"), None, loaded_extra=1)
    for label, kw, reason in [
        ("facility-unknown", {"facility_id": "atlantis"}, "unknown facility_id 'atlantis'"),
        ("facility-empty", {"facility_id": ""}, "unknown facility_id ''"),
        ("facility-capitalised", {"facility_id": "Tumangang"}, "unknown facility_id"),
        ("metric-spaced", {"metric": "rail cars"}, "unknown metric 'rail cars'"),
        ("metric-capitalised", {"metric": "Railcars"}, "unknown metric"),
        ("metric-unlisted", {"metric": "railcars_gold"}, "unknown metric 'railcars_gold'"),
        ("source-empty", {"source": ""}, "source is empty"),
        ("method-empty", {"method": ""}, "method is empty"),
        ("url-ftp", {"source_url": "ftp://corpus.example.invalid/x"}, "not an http(s) URL"),
        ("url-words", {"source_url": "see the report"}, "not an http(s) URL"),
        ("url-empty", {"source_url": ""}, "not an http(s) URL"),
        ("url-scheme-only", {"source_url": "https://"}, "not an http(s) URL"),
        ("url-javascript", {"source_url": "javascript:alert(1)"}, "not an http(s) URL"),
        ("synthetic-maybe", {"synthetic": "maybe"}, "synthetic 'maybe' is not true/false"),
    ]:
        beside(f"row-{label}", f"{label}: quarantined with the reason",
               row(observed_on="2023-04-01", **kw), reason)  # fmt: skip
    for label, kw in [("url-http", {"source_url": "http://corpus.example.invalid/x"}),
                      ("synthetic-yes", {"synthetic": "yes"}),
                      ("synthetic-upper", {"synthetic": "TRUE"}),
                      ("synthetic-empty", {"synthetic": ""})]:  # fmt: skip
        beside(f"row-{label}", f"{label} loads", row(observed_on="2023-04-01", **kw), None, 1)
    add("duplicate-key", "the same facility, day, metric and source twice: the repeat is quarantined",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01"), row(observed_on="2023-04-01", value="99"),
                  GOOD_B), 3, 0, ["duplicate of line 3"])  # fmt: skip
    add("same-day-two-sources", "one day from two sources: both load",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01"),
                  row(observed_on="2023-04-01", source="corpus second")), 3)  # fmt: skip

    # Structure.
    add("ragged-extra-field", "a row with more fields than the header is quarantined",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01") + ",surplus", GOOD_B), 2, 0,
        ["13 fields, header has 12"])  # fmt: skip
    add("short-row", "a row missing its trailing optional columns loads",
        csv_bytes(GOOD_A, ",".join(row(observed_on="2023-04-01").split(",")[:7]), GOOD_B), 3)
    add("blank-lines", "blank lines and lines of bare commas are not rows",
        csv_bytes(GOOD_A, "", ",,,,,,,,,,,", "   ", GOOD_B), 2)  # fmt: skip
    add("crlf", "CRLF line ends", csv_bytes(GOOD_A, GOOD_B, newline="\r\n"), 2)
    add("cr-only", "old Mac CR line ends", csv_bytes(GOOD_A, GOOD_B, newline="\r"), 2)
    add("no-final-newline", "the last row has no newline", csv_bytes(GOOD_A, GOOD_B, final=False), 2)
    add("utf8-bom", "a UTF-8 BOM is dropped", b"\xef\xbb\xbf" + csv_bytes(GOOD_A, GOOD_B), 2)
    add("header-padded", "spaces around header names are trimmed",
        csv_bytes(GOOD_A, header=HEADER.replace(",", " , ")), 1)  # fmt: skip
    add("header-reordered", "columns in another order",
        ("\n".join([",".join(reversed(COLUMNS)), ",".join(reversed(GOOD_A.split(",")))]) + "\n")
        .encode(), 1)  # fmt: skip
    add("header-unknown-column", "an unknown column is ignored with a warning",
        csv_bytes(GOOD_A + ",extra", header=HEADER + ",analyst"), 1)  # fmt: skip
    add("header-empty-name", "a trailing comma in the header: an unnamed column is ignored",
        csv_bytes(GOOD_A + ",", header=HEADER + ","), 1)  # fmt: skip
    add("header-only", "a header and no rows", csv_bytes(), 0)
    add("empty-file", "zero bytes", b"", 0)
    add("whitespace-file", "only blank lines", b"\n \n\r\n", 0)
    add("leading-blank-lines", "blank lines before the header", b"\n\n" + csv_bytes(GOOD_A), 1)
    add("header-repeated-value", "a repeated value column: which would win? the file is quarantined",
        csv_bytes(GOOD_A + ",14", header=HEADER + ",value"), 0, 0,
        ["column 'value' appears 2 times"])  # fmt: skip
    add("header-repeated-notes", "a repeated optional column is just as ambiguous",
        csv_bytes(GOOD_A + ",other", header=HEADER + ",notes"), 0, 0,
        ["column 'notes' appears 2 times"])  # fmt: skip
    add("header-missing-source-url", "a missing required column quarantines the file",
        csv_bytes(header="facility_id,observed_on,metric,value,source,method"), 0, 0,
        ["missing required column(s) source_url"])  # fmt: skip
    add("header-not-utf8", "an undecodable header quarantines the file",
        b"facility_id,observed_on,metric,valu\xe9,source\n" + csv_bytes(GOOD_A)[len(HEADER) + 1:],
        0, 0, ["the header cannot be read"])  # fmt: skip
    add("header-open-quote", "a header with an open quote quarantines the file",
        csv_bytes(GOOD_A, header='"facility_id,' + HEADER), 0, 0, ["the header cannot be read"])
    add("semicolon-separated", "a semicolon file has no required columns: quarantined whole",
        csv_bytes(GOOD_A.replace(",", ";"), header=HEADER.replace(",", ";")), 0, 0,
        ["missing required column(s)"])  # fmt: skip
    add("tab-separated", "a tab-separated file is not this format: quarantined whole",
        csv_bytes(GOOD_A.replace(",", "\t"), header=HEADER.replace(",", "\t")), 0, 0,
        ["missing required column(s)"])  # fmt: skip
    add("binary-junk", "random bytes: no usable header",
        bytes((i * 97 + 13) % 256 for i in range(600)), 0, 0, ["the header cannot be read"])
    add("json-as-csv", "a JSON file saved as .csv",
        b'{"facility_id": "tumangang", "value": 12}\n', 0, 0, ["missing required column(s)"])

    # Quoting.
    add("quoted-multiline-notes", "a quoted note with line breaks loads, line numbers stay true",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", notes='"first line\nsecond line"'),
                  GOOD_B), 3)  # fmt: skip
    add("quoted-escaped-quotes", 'doubled quotes inside a quoted field',
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", notes='"a ""quoted"" word"'), GOOD_B), 3)
    add("quoted-commas", "commas inside a quoted field",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", notes='"a, b, c"'), GOOD_B), 3)
    add("quoted-value", "a quoted plain number", csv_bytes(GOOD_A, row(observed_on="2023-04-01",
        value='"12"'), GOOD_B), 3)  # fmt: skip
    add("quoted-empty", "an empty quoted field", csv_bytes(GOOD_A, row(observed_on="2023-04-01",
        notes='""'), GOOD_B), 3)  # fmt: skip
    add("quote-inside-unquoted", "a quote inside an unquoted field is a character",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", notes='5" gauge'), GOOD_B), 3)
    add("unterminated-quote-mid-file",
        "an open quote must not swallow the rows after it: its line is quarantined, they load",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", notes='"never closed'),
                  row(observed_on="2023-04-02"), row(observed_on="2023-04-03"), GOOD_B),
        4, 0, ["unterminated quote"])  # fmt: skip
    add("unterminated-quote-last-row", "an open quote on the last row runs to the end of the file",
        csv_bytes(GOOD_A, GOOD_B, row(observed_on="2023-04-01", notes='"never closed')),
        2, 0, ["unterminated quote"])  # fmt: skip
    add("unterminated-quote-then-prose",
        "an open quote before lines that are not rows: the lines after are rows of their own",
        csv_bytes(GOOD_A, GOOD_B, row(observed_on="2023-04-01", notes='"open'),
                  "more words", "and more"), 2, 0,
        ["unterminated quote", "is not a YYYY-MM-DD date", "is not a YYYY-MM-DD date"])
    add("unterminated-quote-twice", "two open quotes: both lines quarantined, the rest loads",
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", notes='"one'),
                  row(observed_on="2023-04-02", notes='"two'), GOOD_B), 2, 0,
        ["unterminated quote", "unterminated quote"])  # fmt: skip
    add("text-after-closing-quote", 'a closing quote followed by text ("7"5) is quarantined',
        csv_bytes(GOOD_A, row(observed_on="2023-04-01", value='"7"5'), GOOD_B), 2, 0,
        ["text after the closing quote"])  # fmt: skip
    add("quoted-note-then-rows", "a legitimate two-line note followed by rows",
        csv_bytes(row(observed_on="2023-04-01", notes='"line one\nline two"'), GOOD_A, GOOD_B), 3)

    # Encodings: a line that does not decode costs that line only.
    good_a = GOOD_A.encode()
    add("latin1-byte", "one Latin-1 byte: that row is quarantined, the others load",
        b"\n".join([HEADER.encode(), good_a, row(observed_on="2023-04-01", notes="caf\xe9")
                    .encode("latin-1"), GOOD_B.encode()]) + b"\n", 2, 0, ["not UTF-8"])
    add("cp1252-quotes", "Windows-1252 curly quotes in a note",
        b"\n".join([HEADER.encode(), good_a, row(observed_on="2023-04-01", notes="\x93x\x94")
                    .encode("latin-1"), GOOD_B.encode()]) + b"\n", 2, 0, ["not UTF-8"])
    add("overlong-utf8", "an overlong UTF-8 sequence", b"\n".join(
        [HEADER.encode(), good_a, row(observed_on="2023-04-01").encode() + b"\xc0\xaf",
         GOOD_B.encode()]) + b"\n", 2, 0, ["not UTF-8"])  # fmt: skip
    add("utf8-surrogate", "a UTF-8-encoded surrogate", b"\n".join(
        [HEADER.encode(), good_a, row(observed_on="2023-04-01", notes="x").encode() + b"\xed\xa0\x80",
         GOOD_B.encode()]) + b"\n", 2, 0, ["not UTF-8"])  # fmt: skip
    add("utf8-cut-at-end", "the file ends inside a multi-byte character",
        csv_bytes(GOOD_A, GOOD_B, final=False) + b"\xe2\x82", 1, 0, ["not UTF-8"])
    add("utf8-multiline-note-bad-byte", "a bad byte inside a quoted multi-line note",
        b"\n".join([HEADER.encode(), good_a, row(observed_on="2023-04-01", notes='"one').encode(),
                    b'tw\xffo"', GOOD_B.encode()]) + b"\n", 2, 0, ["line 4: not UTF-8"])
    add("nul-byte", "a NUL character in a row", csv_bytes(GOOD_A, row(observed_on="2023-04-01",
        notes="a\x00b"), GOOD_B), 2, 0, ["NUL character"])  # fmt: skip
    text = "\n".join([HEADER, GOOD_A, row(observed_on="2023-04-01", notes="Туманган 두만강 豆满江"),
                      GOOD_B]) + "\n"  # fmt: skip
    add("utf8-scripts", "Cyrillic, Hangul and Han in a note", text.encode(), 3)
    add("utf8-emoji", "an emoji in a note", csv_bytes(GOOD_A, row(observed_on="2023-04-01",
        notes="🚂"), GOOD_B), 3)  # fmt: skip
    add("utf16-le-bom", "UTF-16 with a BOM is read as UTF-16", text.encode("utf-16"), 3)
    add("utf16-be-bom", "big-endian UTF-16 with a BOM", b"\xfe\xff" + text.encode("utf-16-be"), 3)
    add("utf16-le-no-bom", "UTF-16LE without a BOM, recognised by its NULs",
        text.encode("utf-16-le"), 3)  # fmt: skip
    add("utf16-odd-byte", "UTF-16 cut inside its last character",
        text.encode("utf-16")[:-1], 2, 0, ["not valid UTF-16"])  # fmt: skip
    add("utf16-lone-surrogate", "UTF-16 with a lone surrogate in one row",
        ("\n".join([HEADER, GOOD_A, row(observed_on="2023-04-01", notes="\u00a4")]) + "\n")
        .encode("utf-16-le").replace("\u00a4".encode("utf-16-le"), b"\x00\xd8") + GOOD_B
        .encode("utf-16-le") + "\n".encode("utf-16-le"), 2, 0, ["not valid UTF-16"])

    # Windows of mixed rows.
    add("mixed-window", "rows in and out of the window beside bad ones",
        csv_bytes(GOOD_A, row(observed_on="2018-01-01"), row(observed_on="2023-06-01", value="x"),
                  row(observed_on="2024-02-01"), GOOD_B, row(observed_on="2099-12-31")),
        2, 2, ["value 'x' is not a number", "is outside 2000-01-01"])  # fmt: skip

    # Names no parser claims: listed and accounted for, never read.
    add("skipped-text-file", "a .txt beside the CSVs", b"notes", skipped=True, ext=".txt")
    add("skipped-xlsx", "a spreadsheet", b"PK\x03\x04 not really", skipped=True, ext=".xlsx")
    add("skipped-csv-gz", "a compressed CSV", b"\x1f\x8b", skipped=True, ext=".csv.gz")
    return cases


# --- GDELT -----------------------------------------------------------------------------------

SLOT = datetime(2023, 10, 6, 12, tzinfo=UTC)
SLOT_NAME = "20231006120000"


def article(n: int, case: str, matches: bool = True, published: datetime | None = None,
            url: str | None = None, language: str = "en") -> Article:  # fmt: skip
    return Article(
        published or datetime(2023, 10, 6, 9, n % 60, tzinfo=UTC),
        url or f"https://corpus.example.invalid/gdelt/{case}/{n}",
        "corpus.example.invalid",
        f"Tumangang corpus report {n}" if matches else f"Harbour cranes idle {n}",
        language,
        ["tumangang"] if matches else ["berlin"],
        ["TRANSPORT"],
        True,
        tone=-1.0,
    )


def gkg(case: str, n: int = 3, **kw) -> list[str]:
    return [gkg_line(article(i, case, **kw), f"{SLOT_NAME}-{case}-{i}", SLOT) for i in range(n)]


def events(case: str, n: int = 3, first_id: int = 1, **kw) -> list[str]:
    return [event_line(first_id + i, article(i, case, **kw), SLOT, "042") for i in range(n)]


def mentions(case: str, n: int = 3, first_id: int = 1, **kw) -> list[str]:
    return [mention_line(first_id + i, article(i, case, **kw), SLOT) for i in range(n)]


def text(lines: list[str], final: bool = True) -> bytes:
    return ("\n".join(lines) + ("\n" if final else "")).encode("utf-8")


def zipped(members: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2023, 10, 6, 12, 0, 0))
            info.compress_type = method
            zf.writestr(info, data)
    return buf.getvalue()


def streamed_zip(name: str, data: bytes) -> bytes:
    """A zip written to a pipe: sizes in a data descriptor after the data (flag 8)."""

    class Pipe(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.buf += b
            return len(b)

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name, date_time=(2023, 10, 6, 12, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as fh:
            fh.write(data)
    return bytes(pipe.buf)


def set_field(line: str, index: int, value: str) -> str:
    f = line.split("\t")
    f[index] = value
    return "\t".join(f)


def gdelt_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name, about, fname, data, loaded=0, filtered=0, reasons=(), skipped=False, also=()):
        cases.append(Case(name, about, {fname: data}, loaded, filtered, len(reasons),
                          list(reasons), skipped, list(also)))  # fmt: skip

    n = [0]

    def ts() -> str:
        """Each case its own 15-minute slot from 2023-10-07, so all can be listed together."""
        n[0] += 1
        day, rest = divmod(n[0], 96)
        return f"202310{7 + day:02d}{rest // 4:02d}{(rest % 4) * 15:02d}00"

    def slot(_: str, kind: str, zipped_: bool = False, ts: str = SLOT_NAME) -> str:
        return f"{ts}.{kind}.csv" + (".zip" if zipped_ else "")

    # GKG, plain.
    add("gkg-good", "three matching articles", slot("", "gkg", ts=ts()), text(gkg("good")), 3)
    rows = gkg("ragged", 4)
    rows[1] = rows[1].rsplit("\t", 3)[0]
    add("gkg-ragged-short", "a row with 24 fields beside good ones", slot("", "gkg", ts=ts()),
        text(rows), 3, 0, ["ragged row: 24 tab-separated fields, expected 27"])  # fmt: skip
    rows = gkg("extra", 4)
    rows[2] += "\tsurplus"
    add("gkg-ragged-long", "a row with 28 fields", slot("", "gkg", ts=ts()), text(rows), 3, 0,
        ["ragged row: 28 tab-separated fields"])  # fmt: skip
    rows = gkg("date", 4)
    rows[0] = set_field(rows[0], 1, "2023-10-06")
    add("gkg-bad-date", "an unparseable DATE field", slot("", "gkg", ts=ts()), text(rows), 3, 0,
        ["unparseable date in gkg_date: '2023-10-06'"])  # fmt: skip
    raw = text(gkg("utf8", 4)).split(b"\n")
    raw[1] = raw[1].replace(b"Tumangang corpus", b"Tumangang \xff\xfe corpus")
    add("gkg-invalid-utf8", "invalid UTF-8 in one line", slot("", "gkg", ts=ts()),
        b"\n".join(raw), 3, 0, ["invalid UTF-8 bytes in line"])  # fmt: skip
    raw = text(gkg("latin", 3)).split(b"\n")
    raw[2] = raw[2].replace(b"corpus report", "corpus r\u00e9port".encode("latin-1"))
    add("gkg-latin1-line", "a Latin-1 line", slot("", "gkg", ts=ts()), b"\n".join(raw), 2, 0,
        ["invalid UTF-8 bytes in line"])  # fmt: skip
    rows = gkg("blank", 3)
    add("gkg-blank-lines", "blank lines are not rows", slot("", "gkg", ts=ts()),
        text([rows[0], "", rows[1], "", "", rows[2]]), 3)  # fmt: skip
    add("gkg-crlf", "CRLF line ends", slot("", "gkg", ts=ts()),
        "\r\n".join(gkg("crlf")).encode() + b"\r\n", 3)  # fmt: skip
    add("gkg-no-final-newline", "a complete last line without a newline",
        slot("", "gkg", ts=ts()), text(gkg("nofinal"), final=False), 3)  # fmt: skip
    rows = gkg("cut", 3)
    add("gkg-last-line-cut", "the last line cut short", slot("", "gkg", ts=ts()),
        text(rows, final=False)[:-300], 2, 0, ["truncated: last line has no newline"])
    add("gkg-empty", "an empty file: nothing read", slot("", "gkg", ts=ts()), b"", 0)
    add("gkg-only-newlines", "only newlines", slot("", "gkg", ts=ts()), b"\n\n\n", 0)
    add("gkg-prose", "a text file named like a slot", slot("", "gkg", ts=ts()),
        b"hello world\nnot gdelt\n", 0, 0, ["ragged row: 1", "ragged row: 1"])  # fmt: skip
    add("gkg-binary", "random bytes named like a slot", slot("", "gkg", ts=ts()),
        bytes((i * 131 + 7) % 256 for i in range(400)), 0, 0,
        ["invalid UTF-8 bytes in line", "invalid UTF-8 bytes in line",
         "invalid UTF-8 bytes in line"])  # fmt: skip
    rows = gkg("nul", 3)
    rows[1] = rows[1].replace("corpus report", "corpus\x00report")
    add("gkg-nul-byte", "a NUL inside a title: still 27 fields, loads", slot("", "gkg", ts=ts()),
        text(rows), 3)  # fmt: skip
    add("gkg-unmatched", "articles about nowhere near a facility: filtered",
        slot("", "gkg", ts=ts()), text(gkg("unmatched", matches=False)), 0, 3)  # fmt: skip
    add("gkg-before-window", "articles published before the window: filtered",
        slot("", "gkg", ts=ts()), text(gkg("early", published=datetime(2023, 9, 1, tzinfo=UTC))),
        0, 3)  # fmt: skip
    rows = gkg("dup", 2) + [gkg_line(article(0, "dup"), f"{SLOT_NAME}-dup-again", SLOT)]
    add("gkg-duplicate-url", "the same URL twice: the repeat is filtered",
        slot("", "gkg", ts=ts()), text(rows), 2, 1)  # fmt: skip
    rows = gkg("citation", 3)
    rows[0] = set_field(rows[0], 4, "BBC Monitoring citation text, not a URL")
    add("gkg-not-a-url", "a document that is not a web URL: filtered", slot("", "gkg", ts=ts()),
        text(rows), 2, 1)  # fmt: skip
    rows = [gkg_line(article(i, "tr", language="ko"), f"{SLOT_NAME}-tr-{i}-T1", SLOT)
            for i in range(2)]  # fmt: skip
    add("gkg-translation", "the translingual stream", f"{ts()}.translation.gkg.csv",
        text(rows), 2)  # fmt: skip
    rows = gkg("tone", 3)
    rows[1] = set_field(rows[1], 15, "not,a,tone")
    add("gkg-bad-tone", "an unreadable tone loads as null", slot("", "gkg", ts=ts()),
        text(rows), 3)  # fmt: skip
    rows = gkg("v1", 2)
    rows = [set_field(r, 10, "") for r in rows]
    add("gkg-v1-locations", "only V1 locations", slot("", "gkg", ts=ts()), text(rows), 2)
    rows = gkg("loc", 2, matches=False)
    rows = [set_field(r, 9, "4#Tumangang, North Korea#KN#KN18#42.4217#130.6026#-9990001")
            .replace("Harbour", "Harbor") for r in rows]  # fmt: skip
    rows = [set_field(r, 10, "") for r in rows]
    add("gkg-location-match", "matched by coordinates alone", slot("", "gkg", ts=ts()),
        text(rows), 2)  # fmt: skip
    rows = gkg("emptyfields", 2)
    rows.append("\t" * 26)
    add("gkg-all-empty-fields", "a line of 27 empty fields: no date, quarantined",
        slot("", "gkg", ts=ts()), text(rows), 2, 0, ["unparseable date in gkg_date: ''"])
    add("gkg-header-row", "a header row from GDELT's column labels", slot("", "gkg", ts=ts()),
        text(["\t".join(f"COLUMN{i}" for i in range(27))] + gkg("header", 2)), 2, 0,
        ["unparseable date in gkg_date: 'COLUMN1'"])  # fmt: skip
    # GKG, zipped.
    member = text(gkg("zip"))
    add("gkg-zip", "a zipped slot", slot("", "gkg", True, ts=ts()),
        zipped([("x.gkg.csv", member)]), 3)  # fmt: skip
    add("gkg-zip-two-members", "both members of a two-member zip are read",
        slot("", "gkg", True, ts=ts()), zipped([("a.gkg.csv", text(gkg("m1", 2))),
                                                ("b.gkg.csv", text(gkg("m2", 2)))]), 4)
    add("gkg-zip-three-members-no-newline", "members without final newlines still split into lines",
        slot("", "gkg", True, ts=ts()), zipped([(f"{i}.csv", text(gkg(f"mm{i}", 1), final=False))
                                                for i in range(3)]), 3)  # fmt: skip
    whole = zipped([("x.gkg.csv", text(gkg("cut", 40)))])
    add("gkg-zip-cut-in-header", "a zip cut inside its local header", slot("", "gkg", True, ts=ts()),
        whole[:20], 0, 0, ["zip cut inside its local header"])  # fmt: skip
    bad = bytearray(zipped([("x.gkg.csv", text(gkg("corrupt", 20)))]))
    for i in range(60, 90):
        bad[i] ^= 0x5A
    add("gkg-zip-corrupt", "a corrupt deflate stream", slot("", "gkg", True, ts=ts()),
        bytes(bad), 0, 0, ["corrupt deflate stream"])  # fmt: skip
    add("gkg-zip-stored", "a stored (uncompressed) member", slot("", "gkg", True, ts=ts()),
        zipped([("x.gkg.csv", text(gkg("stored")))], zipfile.ZIP_STORED), 3)  # fmt: skip
    add("gkg-zip-streamed", "sizes in a data descriptor after the data",
        slot("", "gkg", True, ts=ts()), streamed_zip("x.gkg.csv", text(gkg("streamed"))), 3)
    unsupported = bytearray(zipped([("x.gkg.csv", text(gkg("bzip", 1)))]))
    unsupported[8:10] = struct.pack("<H", 12)  # says bzip2
    add("gkg-zip-unsupported-method", "a compression method we do not read",
        slot("", "gkg", True, ts=ts()), bytes(unsupported), 0, 0,
        ["compression method 12 is not supported"])  # fmt: skip
    encrypted = bytearray(zipped([("x.gkg.csv", text(gkg("enc", 1)))]))
    encrypted[6:8] = struct.pack("<H", 1)
    add("gkg-zip-encrypted", "an encrypted member", slot("", "gkg", True, ts=ts()),
        bytes(encrypted), 0, 0, ["is encrypted"])  # fmt: skip
    add("gkg-zip-empty-member", "a member with no bytes", slot("", "gkg", True, ts=ts()),
        zipped([("x.gkg.csv", b"")]), 0)  # fmt: skip
    add("gkg-zip-latin1", "a zipped member with a Latin-1 line", slot("", "gkg", True, ts=ts()),
        zipped([("x.gkg.csv", text(gkg("zl", 2)) + "Tumangang caf\u00e9\n".encode("latin-1"))]),
        2, 0, ["invalid UTF-8 bytes in line"])  # fmt: skip
    junk = zipped([("x.gkg.csv", text(gkg("junk", 2)))])
    add("gkg-zip-trailing-junk", "junk where the next header should be: members read so far kept",
        slot("", "gkg", True, ts=ts()), junk[: junk.find(b"PK\x01\x02")] + b"JUNKJUNKJUNK", 2, 0,
        ["unreadable bytes after zip member"])  # fmt: skip
    add("gkg-not-a-zip", "a .zip holding plain text: the name is not trusted to mean text",
        slot("", "gkg", True, ts=ts()), text(gkg("plainzip", 1)), 0, 0, ["not a zip file"])
    add("gkg-zip-html", "an HTML error page saved as .zip", slot("", "gkg", True, ts=ts()),
        b"<html><body>404</body></html>", 0, 0, ["not a zip file"])  # fmt: skip
    declared = bytearray(zipped([("x.gkg.csv", text(gkg("declared", 1)))]))
    declared[22:26] = struct.pack("<I", 0xFFFFFFF0)  # declares ~4 GB inflated
    add("gkg-zip-declares-huge", "a member declaring more than the cap is not inflated",
        slot("", "gkg", True, ts=ts()), bytes(declared), 0, 0,
        ["zip member inflates past 536870912 bytes"])  # fmt: skip
    # Events.
    add("events-good", "three events at Tumangang", slot("", "export", ts=ts()),
        text(events("ev", first_id=101)), 3)  # fmt: skip
    add("events-far", "events in Berlin: filtered", slot("", "export", ts=ts()),
        text(events("far", first_id=111, matches=False)), 0, 3)  # fmt: skip
    rows = events("evr", 4, first_id=121)
    rows[1] += "\textra"
    rows[2] = rows[2].rsplit("\t", 2)[0]
    add("events-ragged", "rows with 62 and 59 fields", slot("", "export", ts=ts()), text(rows),
        2, 0, ["62 tab-separated fields", "59 tab-separated fields"])  # fmt: skip
    rows = events("evd", 3, first_id=131)
    rows[0] = set_field(rows[0], 59, "notadate")
    add("events-bad-date", "an unparseable DATEADDED", slot("", "export", ts=ts()), text(rows),
        2, 0, ["unparseable date in date_added: 'notadate'"])  # fmt: skip
    rows = events("evl", 3, first_id=141)
    rows[1] = set_field(set_field(rows[1], 56, "north"), 57, "east")
    add("events-bad-coordinates", "unreadable coordinates: no location, filtered",
        slot("", "export", ts=ts()), text(rows), 2, 1)  # fmt: skip
    rows = events("evdup", 2, first_id=151) + events("evdup", 1, first_id=151)
    add("events-duplicate-id", "a repeated GLOBALEVENTID is filtered", slot("", "export", ts=ts()),
        text(rows), 2, 1)  # fmt: skip
    rows = events("evid", 2, first_id=161)
    rows[0] = set_field(rows[0], 0, "not-an-id")
    add("events-bad-id", "an event without a numeric id is filtered",
        slot("", "export", ts=ts()), text(rows), 1, 1)  # fmt: skip
    add("events-zip", "zipped events", slot("", "export", True, ts=ts()),
        zipped([("x.export.CSV", text(events("evz", first_id=171)))]), 3)  # fmt: skip
    add("events-translation", "translingual events", f"{ts()}.translation.export.CSV",
        text(events("evt", 2, first_id=181)), 2)  # fmt: skip
    add("events-empty", "an empty events file", slot("", "export", ts=ts()), b"", 0)
    add("events-gkg-content", "GKG rows in an events file: all ragged",
        slot("", "export", ts=ts()), text(gkg("wrongkind", 2)), 0, 0,
        ["27 tab-separated fields, expected 61", "27 tab-separated fields, expected 61"])
    # Mentions (kept when they cite an article or event kept in the same batch).
    companion = slot("", "gkg", ts=ts())
    add("mentions-companion-gkg", "the articles the mention cases cite", companion,
        text(gkg("cited", 3)), 3)  # fmt: skip
    add("mentions-cite-articles", "mentions of kept articles load", slot("", "mentions", ts=ts()),
        text(mentions("cited", 3, first_id=9001)), 3, also=[companion])  # fmt: skip
    add("mentions-uncited", "mentions of nothing kept: filtered", slot("", "mentions", ts=ts()),
        text(mentions("uncited", 2, first_id=9101)), 0, 2)  # fmt: skip
    rows = mentions("cited", 3, first_id=9201)
    rows[1] = rows[1] + "\tsurplus"
    rows[2] = set_field(rows[2], 2, "yesterday")
    add("mentions-ragged-and-bad-date", "a ragged row and a bad MentionTimeDate",
        slot("", "mentions", ts=ts()), text(rows), 1, 0,
        ["17 tab-separated fields", "unparseable date in mention_time"], also=[companion])
    add("mentions-zip", "zipped mentions", slot("", "mentions", True, ts=ts()),
        zipped([("x.mentions.CSV", text(mentions("cited", 2, first_id=9301)))]), 2,
        also=[companion])  # fmt: skip
    events_good = next(c for c in cases if c.name == "events-good").entry
    add("mentions-of-events", "mentions of a kept event load without an article",
        slot("", "mentions", ts=ts()),
        text([mention_line(101, article(0, "evmention", url="https://corpus.example.invalid/x"),
                           SLOT)]), 1, also=[events_good])  # fmt: skip
    # Master list and names no reader claims.
    add("master-file-list", "GDELT's file list: read for expected slots, no rows",
        "masterfilelist.txt",
        f"10 0123 https://corpus.example.invalid/gdeltv2/{SLOT_NAME}.gkg.csv.zip\n".encode(), 0)
    for label, fname in [
        ("month-13", "20231306120000.gkg.csv"), ("thirteen-digits", "2023100612000.gkg.csv"),
        ("json", f"{SLOT_NAME}.gkg.json"), ("gzip", f"{SLOT_NAME}.gkg.csv.gz"),
        ("wrong-kind", f"{SLOT_NAME}.events.csv"), ("partial", f"{SLOT_NAME}.gkg.csv.zip.part"),
        ("lastupdate", "lastupdate.txt"), ("readme", "README.md"),
        ("minute-61", "20231006126100.gkg.csv"),
    ]:  # fmt: skip
        add(f"skipped-{label}", f"{fname}: not a name any GDELT reader claims", fname,
            text(gkg("skipped", 1)), skipped=True)  # fmt: skip
    # A whole zip cut in half: its exact count depends on where deflate cut the text.
    cut = _count_cut(whole[: len(whole) // 2])
    cases.append(Case("gkg-zip-cut", "a zip cut short keeps every complete line before the cut",
                      {slot("", "gkg", True, ts=ts()): whole[: len(whole) // 2]}, cut, 0, 1,
                      ["truncated: the zip stream ends inside this line"]))  # fmt: skip
    return cases


def _count_cut(data: bytes) -> int:
    """Complete lines inflated from a cut zip (the last partial line is quarantined)."""
    raw = zlib.decompressobj(-15)
    header_len = 30 + struct.unpack("<H", data[26:28])[0] + struct.unpack("<H", data[28:30])[0]
    body = raw.decompress(data[header_len:])
    return body.count(b"\n")


# --- STAC ------------------------------------------------------------------------------------

SQUARE = [[[130.0, 42.0], [131.0, 42.0], [131.0, 43.0], [130.0, 43.0], [130.0, 42.0]]]
EUROPE = [[[4.0, 51.0], [5.0, 51.0], [5.0, 52.0], [4.0, 52.0], [4.0, 51.0]]]


def item(item_id: str, dt: str = "2023-10-05T02:16:09Z", coordinates=SQUARE, cloud=12.5,
         version: str = "1.0.0", **props) -> dict:  # fmt: skip
    properties = {"datetime": dt, "platform": "corpus-sat", "eo:cloud_cover": cloud,
                  "borderwatch:synthetic": True, **props}  # fmt: skip
    if cloud is None:
        properties.pop("eo:cloud_cover")
    return {
        "type": "Feature", "stac_version": version, "id": f"corpus-{item_id}",
        "collection": "corpus", "geometry": {"type": "Polygon", "coordinates": coordinates},
        "bbox": [130.0, 42.0, 131.0, 43.0] if coordinates is SQUARE else None,
        "properties": properties, "links": [], "assets": {},
    }  # fmt: skip


def dump(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def catalog(cid: str, items: list[str] = (), children: list[str] = (), kind="Catalog") -> dict:
    links = [{"rel": "item", "href": h} for h in items]
    links += [{"rel": "child", "href": h} for h in children]
    out = {"type": kind, "stac_version": "1.0.0", "id": f"corpus-{cid}",
           "description": "synthetic corpus catalog", "links": links}  # fmt: skip
    if kind == "Collection":
        out.update({"license": "proprietary", "extent": {
            "spatial": {"bbox": [[130, 42, 131, 43]]},
            "temporal": {"interval": [["2023-01-01T00:00:00Z", None]]}}})  # fmt: skip
    return out


def stac_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name, about, value, loaded=0, filtered=0, reasons=(), raw: bytes | None = None,
            files: dict | None = None, skipped=False, fname=None):  # fmt: skip
        entry = fname or f"{name}.json"
        data = raw if raw is not None else dump(value)
        cases.append(Case(name, about, {entry: data, **(files or {})}, loaded, filtered,
                          len(reasons), list(reasons), skipped))  # fmt: skip

    def beside(name, about, bad: dict | object, reason: str | None, filtered: int = 0):
        """The bad item in an ItemCollection between two good ones."""
        good = [item(f"{name}-a", "2023-10-03T02:00:00Z"), item(f"{name}-b", "2023-10-04T02:00:00Z")]
        features = [good[0], bad, good[1]]
        reasons = [reason] if reason else []
        loaded = 3 - len(reasons) - filtered
        add(name, about, {"type": "FeatureCollection", "features": features}, loaded, filtered,
            reasons)  # fmt: skip

    # Good documents.
    for version in ("1.1.0", "1.0.0", "0.9.0", "0.8.1"):
        add(f"item-version-{version}", f"a STAC {version} Item", item(f"v{version}", version=version),
            1)  # fmt: skip
    add("item-no-cloud-cover", "radar: no eo:cloud_cover loads with null", item("radar", cloud=None), 1)
    add("item-collection", "an ItemCollection of three",
        {"type": "FeatureCollection", "features": [item(f"ic{i}", f"2023-10-0{i + 1}T00:00:00Z")
                                                   for i in range(3)]}, 3)  # fmt: skip
    add("item-array", "a bare JSON array of Items",
        [item(f"arr{i}", f"2023-10-0{i + 1}T00:00:00Z") for i in range(3)], 3)  # fmt: skip
    interval = item("interval", start_datetime="2023-10-05T00:00:00Z",
                    end_datetime="2023-10-06T00:00:00Z")  # fmt: skip
    interval["properties"]["datetime"] = None
    add("item-interval", "datetime null with start_datetime", interval, 1)
    multi = item("multi")
    multi["geometry"] = {"type": "MultiPolygon", "coordinates": [SQUARE]}
    add("item-multipolygon", "a MultiPolygon footprint", multi, 1)
    three_d = item("3d")
    three_d["geometry"]["coordinates"] = [[[*p, 0.0] for p in SQUARE[0]]]
    add("item-3d-coordinates", "coordinates with heights", three_d, 1)
    bbox6 = item("bbox6")
    bbox6["bbox"] = [130.0, 42.0, 0.0, 131.0, 43.0, 0.0]
    add("item-bbox-3d", "a 3D bbox", bbox6, 1)
    nobbox = item("nobbox")
    nobbox.pop("bbox")
    add("item-no-bbox", "no bbox: taken from the footprint", nobbox, 1)
    add("item-cloud-bounds", "cloud cover 0 and 100 are valid",
        [item("c0", cloud=0), item("c100", "2023-10-06T00:00:00Z", cloud=100)], 2)
    add("item-mgrs", "Sentinel-2 style tile properties", item("mgrs", **{"s2:mgrs_tile": "52TFM"}), 1)
    add("item-unicode-id", "a non-ASCII id", item("두만강-scene"), 1)
    add("item-nested-properties", "deep but allowed nesting (under the cap)",
        item("nested", extra={"a": {"b": {"c": [[[[1]]]]}}}), 1)  # fmt: skip
    add("item-utf16", "a UTF-16 JSON file", None, 1,
        raw=json.dumps(item("utf16")).encode("utf-16"))  # fmt: skip
    add("item-utf8-bom", "a UTF-8 BOM (json reads bytes with one)", None, 1,
        raw=b"\xef\xbb\xbf" + dump(item("bom")))  # fmt: skip
    # Filtered.
    add("item-before-window", "acquired before the window", item("early", "2023-09-01T00:00:00Z"),
        0, 1)  # fmt: skip
    add("item-far-away", "a footprint over Europe covers no facility",
        item("europe", coordinates=EUROPE), 0, 1)  # fmt: skip
    add("item-duplicate", "the same scene twice in one document: the repeat is filtered",
        [item("twice"), item("twice")], 1, 1)  # fmt: skip
    # Quarantined items, each between good ones.
    bad_cases = {
        "no-geometry": ({**item("x"), "geometry": None}, "item has no geometry"),
        "no-datetime": (_without(item("x"), "datetime"), "item has no datetime"),
        "bad-datetime": (item("x", "2023-13-45T00:00:00Z"), "pystac cannot read the item"),
        "datetime-number": (item("x", 20231005), "pystac cannot read the item"),
        "cloud-150": (item("x", cloud=150), "eo:cloud_cover 150.0 outside 0-100"),
        "cloud-negative": (item("x", cloud=-1), "outside 0-100"),
        "cloud-string": (item("x", cloud="12"), "eo:cloud_cover is not a number"),
        "cloud-bool": (item("x", cloud=True), "eo:cloud_cover is not a number"),
        "point": ({**item("x"), "geometry": {"type": "Point", "coordinates": [130.5, 42.5]}},
                  "footprint is a Point"),
        "linestring": ({**item("x"), "geometry": {"type": "LineString",
                                                  "coordinates": [[130, 42], [131, 43]]}},
                       "footprint is a LineString"),
        "bow-tie": (item("x", coordinates=[[[130, 42], [131, 43], [131, 42], [130, 43],
                                            [130, 42]]]), "invalid footprint"),
        "longitude-500": (item("x", coordinates=[[[500, 42], [501, 42], [501, 43], [500, 43],
                                                  [500, 42]]]), "longitude 501 outside -180..180"),
        "longitude-minus-200": (item("x", coordinates=[[[-200, 42], [-199, 42], [-199, 43],
                                                        [-200, 42]]]), "longitude -200 outside"),
        "latitude-95": (item("x", coordinates=[[[130, 91], [131, 91], [131, 95], [130, 91]]]),
                        "latitude 95 outside -90..90"),
        "swapped-lat-lon": (item("x", coordinates=[[[42, 130], [43, 130], [43, 131], [42, 130]]]),
                            "latitude 131 outside -90..90"),
        "empty-coordinates": (item("x", coordinates=[]), "geometry is empty"),
        "two-point-ring": (item("x", coordinates=[[[130, 42], [131, 43]]]),
                           "geometry cannot be read"),
        "coordinates-string": (item("x", coordinates="130,42"), "geometry cannot be read"),
        "geometry-unknown-type": ({**item("x"), "geometry": {"type": "Blob", "coordinates": []}},
                                  "geometry cannot be read"),
        "bbox-latitude": ({**item("x"), "bbox": [130, 42, 131, 430]}, "bbox latitude outside"),
        "bbox-strings": ({**item("x"), "bbox": ["130", "42", "131", "43"]},
                         "bbox is not four numbers"),
        "no-id": ({**item("x"), "id": ""}, "item has no id"),
        "wrong-type": ({**item("x"), "type": "Collection"}, "not a STAC Item"),
        "a-string": ("corpus-not-an-item", "item is a str"),
        "a-number": (42, "item is a int"),
        "properties-list": ({**item("x"), "properties": ["datetime"]},
                            "properties is a list, not a JSON object"),
        "gsd-string": (item("x", gsd="10m"), "gsd is not a number"),
        "gsd-infinite": (item("x", gsd=float("inf")), "gsd is not a finite number"),
    }
    for label, (bad, reason) in bad_cases.items():
        if isinstance(bad, dict) and bad.get("id") == "corpus-x":
            bad["id"] = f"corpus-bad-{label}"
        beside(f"bad-{label}", f"{label}: quarantined beside two good items", bad, reason)
    nan_coord = dump({"type": "FeatureCollection", "features": [item("nan-a")]}).replace(
        b'"features": [', b'"features": [{"type": "Feature", "stac_version": "1.0.0", "id": '
        b'"corpus-nan", "geometry": {"type": "Polygon", "coordinates": [[[130, 42], [NaN, 42], '
        b'[131, 43], [130, 42]]]}, "properties": {"datetime": "2023-10-05T00:00:00Z"}, "links": '
        b'[], "assets": {}}, ')  # fmt: skip
    add("bad-nan-coordinate", "a NaN coordinate", None, 1, 0, ["not a finite number"],
        raw=nan_coord)  # fmt: skip
    add("cloud-nan", "NaN cloud cover reads as unknown", None, 1,
        raw=dump(item("cloudnan")).replace(b'"eo:cloud_cover": 12.5', b'"eo:cloud_cover": NaN'))
    # Whole documents.
    for label, raw, reason in [
        ("truncated", dump(item("cut"))[:150], "invalid JSON"),
        ("empty", b"", "invalid JSON"),
        ("binary", bytes((i * 53 + 1) % 256 for i in range(300)), "invalid JSON"),
        ("latin1", json.dumps(item("caf\u00e9"), ensure_ascii=False).encode("latin-1"),
         "invalid JSON"),
        ("null", b"null", "not a STAC"),
        ("number", b"42", "not a STAC"),
        ("string", b'"corpus"', "not a STAC"),
        ("object", b'{"hello": "world"}', "not a STAC"),
        ("features-not-list", b'{"type": "FeatureCollection", "features": {}}', "not a STAC"),
        ("html", b"<html><body>Not found</body></html>", "invalid JSON"),
        ("nested-100", b"[" * 100 + b"]" * 100, "JSON nested deeper than 64 levels"),
        ("nested-object-70", b'{"a":' * 70 + b"1" + b"}" * 70, "JSON nested deeper than 64"),
        ("trailing-garbage", dump(item("garbage")) + b"\nEXTRA", "invalid JSON"),
    ]:
        add(f"document-{label}", f"a document that is {label}: one whole-file row", None, 0, 0,
            [reason], raw=raw)  # fmt: skip
    add("empty-collection", "an ItemCollection with no features", {"type": "FeatureCollection",
        "features": []}, 0)  # fmt: skip
    add("empty-array", "an empty array", [], 0)

    # Catalogs: entry file catalogs/<name>/catalog.json, links read through the store.
    def cat_case(name, about, entry: dict, files: dict, loaded=0, filtered=0, reasons=()):
        base = f"catalogs/{name}/"
        add(name, about, entry, loaded, filtered, reasons, fname=base + "catalog.json",
            files={base + k: (v if isinstance(v, bytes) else dump(v)) for k, v in files.items()})

    cat_case("catalog-two-items", "a static catalog with relative item links",
             catalog("two", ["items/a.json", "./items/b.json"]),
             {"items/a.json": item("cat-a"), "items/b.json": item("cat-b", "2023-10-06T00:00:00Z")},
             2)
    cat_case("catalog-child-collection", "catalog -> collection -> items",
             catalog("parent", children=["sub/collection.json"]),
             {"sub/collection.json": catalog("sub", ["items/a.json"], kind="Collection"),
              "sub/items/a.json": item("col-a")}, 1)
    cat_case("catalog-escape-dotdot", "a link climbing out of the store is refused",
             catalog("escape", ["items/a.json", "../../../../../../../../etc/passwd"]),
             {"items/a.json": item("esc-a")}, 1, 0, ["leaves the source store"])
    cat_case("catalog-absolute-path", "an absolute path elsewhere is refused",
             catalog("abs", ["items/a.json", "/etc/passwd"]), {"items/a.json": item("abs-a")},
             1, 0, ["leaves the source store"])
    cat_case("catalog-file-uri", "a file:// link elsewhere is refused",
             catalog("fileuri", ["items/a.json", "file:///etc/hostname"]),
             {"items/a.json": item("fu-a")}, 1, 0, ["leaves the source store"])
    cat_case("catalog-other-bucket", "an s3:// link is never fetched from a local store",
             catalog("s3", ["items/a.json", "s3://corpus-other-bucket/item.json"]),
             {"items/a.json": item("s3-a")}, 1, 0, ["leaves the source store"])
    cat_case("catalog-https", "an http(s) link is not fetched",
             catalog("https", ["items/a.json", "https://corpus.example.invalid/item.json"]),
             {"items/a.json": item("https-a")}, 1, 0, ["outside the source store"])
    cat_case("catalog-missing-item", "a link to a file that is not there",
             catalog("missing", ["items/a.json", "items/gone.json"]),
             {"items/a.json": item("miss-a")}, 1, 0, ["cannot read item"])
    cat_case("catalog-item-not-json", "a linked item that is not JSON",
             catalog("notjson", ["items/a.json", "items/b.json"]),
             {"items/a.json": item("nj-a"), "items/b.json": b"<html></html>"}, 1, 0,
             ["is not valid JSON"])
    cat_case("catalog-item-bad", "a linked item without geometry",
             catalog("baditem", ["items/a.json", "items/b.json"]),
             {"items/a.json": item("bi-a"), "items/b.json": {**item("bi-b"), "geometry": None}},
             1, 0, ["item has no geometry"])
    cat_case("catalog-child-not-catalog", "a child link to an Item",
             catalog("childitem", ["items/a.json"], ["items/b.json"]),
             {"items/a.json": item("ci-a"), "items/b.json": item("ci-b")}, 1, 0,
             ["is not a STAC Catalog or Collection"])
    cat_case("catalog-cycle", "a child linking back to its parent is walked once",
             catalog("cycle", ["items/a.json"], ["sub/catalog.json"]),
             {"items/a.json": item("cy-a"),
              "sub/catalog.json": catalog("cycle-sub", ["../items/b.json"], ["../catalog.json"]),
              "items/b.json": item("cy-b", "2023-10-06T00:00:00Z")}, 2)
    cat_case("catalog-same-item-twice", "two links to one item: read once",
             catalog("twice", ["items/a.json", "./items/a.json", "items/../items/a.json"]),
             {"items/a.json": item("tw-a")}, 1)
    files, rel = {}, ""
    for level in range(1, 19):
        rel += "d/"
        links_items = ["items/a.json"] if level == 18 else []
        files[f"{rel}catalog.json"] = catalog(f"deep{level}", links_items,
                                              ["d/catalog.json"] if level < 18 else [])
    files[f"{rel}items/a.json"] = item("deep-a")
    cat_case("catalog-too-deep", "children nested deeper than the cap are quarantined, not walked",
             catalog("deep0", children=["d/catalog.json"]), files, 0, 0,
             ["catalogs nested deeper than 16 levels"])
    cat_case("catalog-v08-no-type", "a STAC 0.8 catalog without a type field",
             {k: v for k, v in catalog("old", ["items/a.json"]).items() if k != "type"}
             | {"stac_version": "0.8.1"},
             {"items/a.json": item("old-a", version="0.8.1")}, 1)
    cat_case("catalog-item-geojson", "a linked item with another extension is read all the same",
             catalog("geojson", ["items/a.geojson"]), {"items/a.geojson": item("gj-a")}, 1)
    cat_case("catalog-link-without-href", "links without a usable href are ignored",
             {**catalog("nohref", ["items/a.json"]),
              "links": [{"rel": "item"}, {"rel": "item", "href": 5},
                        {"rel": "item", "href": "items/a.json"}]},
             {"items/a.json": item("nh-a")}, 1)
    # Names the STAC parser does not claim.
    for label, fname in [("text", "notes.txt"), ("image", "thumb.png"), ("geotiff", "B04.tif"),
                         ("markdown", "README.md")]:  # fmt: skip
        add(f"skipped-{label}", f"{fname}: listed, not read", None, raw=b"corpus", fname=fname,
            skipped=True)  # fmt: skip
    return cases


def _without(value: dict, prop: str) -> dict:
    value["properties"].pop(prop)
    return value


# --- feeds (file-level cases through assets.news.articles) -----------------------------------

RSS_ITEM = (
    "<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate></item>"
)


def rss(items: list[tuple[str, str, str]], extra_head: str = "", decl: str = "utf-8") -> str:
    body = "".join(RSS_ITEM.format(title=t, link=u, date=d) for t, u, d in items)
    return (
        f'<?xml version="1.0" encoding="{decl}"?>\n<rss version="2.0"><channel>'
        f"<title>Corpus wire (synthetic)</title><link>https://corpus.example.invalid/</link>"
        f"<description>synthetic corpus feed</description>{extra_head}{body}</channel></rss>\n"
    )


def feed_items(case: str, n: int = 2, title: str = "Tumangang corpus item {i}",
               date: str = "Tue, 10 Oct 2023 10:00:00 GMT") -> list[tuple[str, str, str]]:  # fmt: skip
    return [(title.format(i=i), f"https://corpus.example.invalid/feeds/{case}/{i}", date)
            for i in range(n)]  # fmt: skip


def feed_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name, about, data: bytes, loaded=0, filtered=0, reasons=(), ext=".rss",
            skipped=False):  # fmt: skip
        cases.append(Case(name, about, {f"{name}{ext}": data}, loaded, filtered, len(reasons),
                          list(reasons), skipped))  # fmt: skip

    add("rss-good", "an RSS 2.0 feed with two matching items", rss(feed_items("good")).encode(), 2)
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Corpus atom</title><id>urn:corpus</id><updated>2023-10-10T10:00:00Z</updated>"
        "<entry><title>Tumangang corpus entry</title><id>urn:corpus:1</id>"
        '<link href="https://corpus.example.invalid/feeds/atom/1"/>'
        "<updated>2023-10-10T10:00:00Z</updated></entry></feed>"
    )
    add("atom-good", "an Atom feed", atom.encode(), 1, ext=".atom")
    add("atom-as-xml", "an Atom feed named .xml", atom.replace("/atom/1", "/atomxml/1").encode(),
        1, ext=".xml")  # fmt: skip
    rdf = (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://corpus.example.invalid/"><title>Corpus RDF</title>'
        "<link>https://corpus.example.invalid/</link><description>x</description></channel>"
        '<item rdf:about="https://corpus.example.invalid/feeds/rdf/1"><title>Tumangang rdf</title>'
        "<link>https://corpus.example.invalid/feeds/rdf/1</link>"
        "<dc:date>2023-10-10T10:00:00Z</dc:date></item></rdf:RDF>"
    )
    add("rdf-good", "an RSS 1.0 (RDF) feed", rdf.encode(), 1)
    add("rss-no-items", "a real feed with no items: zero rows, not an error",
        rss([]).encode(), 0)  # fmt: skip
    add("rss-undated-item", "an item without a date is quarantined, the other loads",
        rss(feed_items("undated", 1) + [("Tumangang no date", "https://corpus.example.invalid/u",
                                         "")]).encode(), 1, 0, ["no usable date"])
    add("rss-outside-window", "items from 2019: filtered",
        rss(feed_items("old", 2, date="Tue, 10 Sep 2019 10:00:00 GMT")).encode(), 0, 2)
    add("rss-unmatched", "items about nothing we watch: filtered",
        rss(feed_items("unmatched", 2, title="Harbour cranes idle {i}")).encode(), 0, 2)
    add("rss-relative-link", "an item whose link is not a web URL: filtered",
        rss([("Tumangang relative", "/feeds/relative/1", "Tue, 10 Oct 2023 10:00:00 GMT")])
        .encode(), 0, 1)  # fmt: skip
    add("rss-truncated", "a feed cut inside an item: the complete item loads",
        rss(feed_items("cut", 2)).encode()[:-80], 1, 0, ["no usable date"])
    add("rss-declared-latin1", "declared ISO-8859-1",
        rss(feed_items("latin", 1, title="Tumangang caf\u00e9 {i}"), decl="ISO-8859-1")
        .encode("latin-1"), 1)  # fmt: skip
    add("rss-undeclared-latin1", "not UTF-8 and undeclared: guessed",
        rss(feed_items("guess", 1, title="Tumangang caf\u00e9 {i}")).replace(
            ' encoding="utf-8"', "").encode("latin-1"), 1)  # fmt: skip
    add("rss-utf16", "a UTF-16 feed with a BOM",
        rss(feed_items("utf16", 1), decl="utf-16").encode("utf-16"), 1)  # fmt: skip
    add("rss-comment-and-doctype", "a comment and a doctype before the root",
        rss(feed_items("prolog", 1)).replace("<rss", "<!-- corpus -->\n<!DOCTYPE rss>\n<rss", 1)
        .encode(), 1)  # fmt: skip
    add("rss-entities", "HTML entities in titles",
        rss(feed_items("ent", 1, title="Tumangang &amp; Khasan {i}")).encode(), 1)
    # Not feeds at all: one quarantined whole-file row with the reason.
    for label, data, reason in [
        ("empty", b"", "empty file"),
        ("whitespace", b" \n\t\n", "empty file"),
        ("bom-only", b"\xef\xbb\xbf", "empty file"),
        ("html-page", b"<!DOCTYPE html>\n<html><head><title>Tumangang</title></head>"
                      b"<body><p>The feed has moved.</p></body></html>", "HTML page"),
        ("html-no-doctype", b"<html><body>Tumangang</body></html>", "HTML page"),
        ("xhtml", b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
                  b"<body/></html>", "HTML page"),
        ("sitemap", b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                    b'sitemap/0.9"><url><loc>https://corpus.example.invalid/</loc></url></urlset>',
         "root element is <urlset>"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "root element is <svg>"),
        ("json", b'{"items": [{"title": "Tumangang"}]}', "no XML root element"),
        ("plain-text", b"Tumangang rail traffic is up.\n", "no XML root element"),
        ("binary", bytes((i * 89 + 3) % 256 for i in range(500)), "not an RSS or Atom feed"),
        ("gzip", b"\x1f\x8b\x08\x00" + bytes(40), "not an RSS or Atom feed"),
        ("error-xml", b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
         "root element is <Error>"),
    ]:
        add(f"not-a-feed-{label}", f"{label} saved as a feed: quarantined whole", data, 0, 0,
            [reason])  # fmt: skip
    # Names the feed reader does not claim.
    for label, ext in [("json-feed", ".json"), ("text", ".txt"), ("html", ".html")]:
        add(f"skipped-{label}", f"a {ext} file beside the feeds", b"corpus", ext=ext, skipped=True)
    return cases


def main() -> None:
    write_source("reported", reported_cases(),
                 "Reported-count CSV cases: parse_reported_file over data/reference facilities "
                 "and metrics, window 2023-01-01..2024-01-01, today 2026-01-01.")  # fmt: skip
    write_source("gdelt", gdelt_cases(),
                 "GDELT cases: read_gkg/read_events/read_mentions and news_in_window, window "
                 "2023-10-01..2023-11-01, the reference gazetteer.")  # fmt: skip
    write_source("stac", stac_cases(),
                 "STAC cases: parse_stac_document (links through a StoreLinkReader over files/) "
                 "and scenes_in_window, window 2023-10-01..2023-11-01.")  # fmt: skip
    write_source("feeds", feed_cases(),
                 "Feed files (file-level cases) through news_in_window, window "
                 "2023-10-01..2023-11-01.")  # fmt: skip
    total = sum(len(list((HERE / s / "files").rglob("*"))) for s in ("reported", "gdelt", "stac",
                                                                     "feeds"))  # fmt: skip
    print(f"wrote the corpus under {HERE} ({total} paths)")


if __name__ == "__main__":
    main()
