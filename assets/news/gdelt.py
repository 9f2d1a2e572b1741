"""Read GDELT 2.0 slot files (GKG 2.1, Events, Mentions; zipped or not) into typed Polars frames.

GDELT files are tab-separated, headerless and unquoted; a row is one line. Lines are split with
Polars string functions over the whole file at once. A line with the wrong number of fields, invalid
UTF-8 bytes or an unparseable date is quarantined (file, 1-based line, raw text, reason) and the
rest of the file is kept. A zip is read from its local headers as raw deflate streams, every
member in order, so a zip cut short still gives every complete line it holds. Inflating streams
under the caps of assets.core.limits.Limits (per member and per file); a line with a field
longer than Limits.field_chars is quarantined; raw_line in quarantine is clipped.
"""

from __future__ import annotations

import codecs
import csv
import re
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import polars as pl
from isal import isal_zlib

from assets.core.limits import DEFAULT_LIMITS, Limits
from assets.core.parsing import clip_raw_lines, quarantine_frame

KINDS = ("gkg", "export", "mentions")
SLOT_MINUTES = 15
N_FIELDS = {"gkg": 27, "export": 61, "mentions": 16}
SLOT_NAME = re.compile(
    r"(?P<ts>\d{14})\.(?P<translation>translation\.)?(?P<kind>gkg|export|mentions)\.csv(?:\.zip)?$",
    re.IGNORECASE,
)
LANGUAGES_CSV = Path(__file__).with_name("languages.csv")

# Column positions from GDELT's codebooks (0-based).
GKG_COLUMNS = {
    "record_id": 0,
    "gkg_date": 1,
    "source_collection": 2,
    "source_name": 3,
    "document_url": 4,
    "v1_themes": 7,
    "v1_locations": 9,
    "v2_locations": 10,
    "v2_tone": 15,
    "translation_info": 25,
    "extras": 26,
}
EVENT_COLUMNS = {
    "global_event_id": 0,
    "sql_date": 1,
    "actor1_code": 5,
    "actor1_name": 6,
    "actor1_country_code": 7,  # CAMEO (PRK, RUS, CHN)
    "actor2_code": 15,
    "actor2_name": 16,
    "actor2_country_code": 17,  # CAMEO
    "is_root_event": 25,
    "event_code": 26,
    "event_base_code": 27,
    "event_root_code": 28,
    "quad_class": 29,
    "goldstein_scale": 30,
    "num_mentions": 31,
    "num_sources": 32,
    "num_articles": 33,
    "avg_tone": 34,
    "actor1_geo_country_code": 37,  # FIPS (KN, RS, CH)
    "actor2_geo_country_code": 45,  # FIPS
    "action_geo_type": 51,
    "action_geo_fullname": 52,
    "action_geo_country_code": 53,  # FIPS
    "action_geo_adm1_code": 54,
    "action_geo_lat": 56,
    "action_geo_lon": 57,
    "action_geo_feature_id": 58,
    "date_added": 59,
    "source_url": 60,
}
MENTION_COLUMNS = {
    "global_event_id": 0,
    "event_time": 1,
    "mention_time": 2,
    "mention_type": 3,
    "mention_source_name": 4,
    "mention_identifier": 5,
    "sentence_id": 6,
    "confidence": 11,
    "mention_doc_len": 12,
    "mention_doc_tone": 13,
    "translation_info": 14,
}
LOCATION_SCHEMA = {
    "row_nr": pl.UInt32,
    "loc_type": pl.Int64,
    "loc_fullname": pl.String,
    "loc_country_fips": pl.String,
    "loc_adm1": pl.String,
    "loc_lat": pl.Float64,
    "loc_lon": pl.Float64,
    "loc_feature_id": pl.String,
}
TS_FORMAT = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class SlotName:
    kind: str  # gkg | export | mentions
    slot_at: datetime  # UTC
    translation: bool


def parse_slot_name(name: str) -> SlotName | None:
    """`20231006120000.translation.gkg.csv.zip` -> SlotName; None for any other file name."""
    m = SLOT_NAME.search(name.rsplit("/", 1)[-1])
    if not m:
        return None
    try:
        slot_at = datetime.strptime(m["ts"], TS_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return SlotName(m["kind"].lower(), slot_at, bool(m["translation"]))


@cache
def iso639_3_to_1() -> dict[str, str]:
    with LANGUAGES_CSV.open(encoding="utf-8") as fh:
        return {row["iso639_3"]: row["iso639_1"] for row in csv.DictReader(fh)}


@dataclass
class RawText:
    data: bytes | bytearray
    complete: bool  # False when a zip stream ended early
    note: str | None = None
    # Members (or the file) left unread for a whole-member reason (a cap, encryption, an
    # unsupported method): accounted as one whole-file quarantine row.
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_LOCAL = b"PK\x03\x04"
_ENDS = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")  # central directory: no more members
_INFLATE_STEP = 1 << 22


def _next_header(data: bytes, pos: int, has_descriptor: bool) -> int | None:
    """Where the next local or central header starts after a member's data, skipping its data
    descriptor (12 to 24 bytes, signed or not, zip64 or not)."""
    for skip in (0, 16, 12, 24, 20) if has_descriptor else (0,):
        if data[pos + skip : pos + skip + 4] in (_LOCAL, *_ENDS):
            return pos + skip
    return None


def inflate_zip(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS) -> RawText:
    """Every member of a zip, inflated from the local headers as streams and joined in order.

    Reading local headers (not the central directory at the end) keeps a cut-short zip usable:
    whatever inflated before the cut is returned with complete=False. Inflating is capped as it
    streams (Limits.member_bytes per member, Limits.file_bytes in all): a member that would pass
    its cap is dropped as soon as it does, so a zip bomb never costs more than the cap.
    """
    if data[:4] != _LOCAL:
        return RawText(b"", True, problems=["not a zip file (no local file header)"])
    out = bytearray()
    problems: list[str] = []
    members: list[tuple[str, int]] = []
    complete, note, pos = True, None, 0
    view = memoryview(data)
    while True:
        if data[pos : pos + 4] in _ENDS or pos >= len(data):
            break
        if data[pos : pos + 4] != _LOCAL:
            problems.append(f"unreadable bytes at offset {pos} after the last member")
            break
        if len(data) - pos < 30:
            complete, note = False, "zip cut inside its local header"
            break
        flags, method, csize, usize, name_len, extra_len = struct.unpack(
            "<2xHH8xIIHH", data[pos + 4 : pos + 30]
        )
        name = bytes(data[pos + 30 : pos + 30 + name_len]).decode("utf-8", "replace")
        start = pos + 30 + name_len + extra_len
        sizes_known = not flags & 0x08 and csize != 0xFFFFFFFF
        budget = min(limits.member_bytes, limits.file_bytes - len(out))
        over = limits.member_reason() if budget == limits.member_bytes else limits.file_reason()
        skip_reason = None
        if flags & 0x01:
            skip_reason = f"zip member {name} is encrypted"
        elif method not in (0, 8):
            skip_reason = f"zip member {name}: compression method {method} is not supported"
        elif sizes_known and usize != 0xFFFFFFFF and usize > budget:
            size = (
                f"declares {usize} bytes"
                if budget == limits.member_bytes
                else (f"would bring it to {len(out) + usize} bytes")
            )
            skip_reason = f"{over} (zip member {name} {size}); not read"
        if skip_reason:
            problems.append(skip_reason)
            if not sizes_known:
                break  # its end cannot be found without reading it
            pos = start + csize
            continue
        if out and not out.endswith(b"\n"):
            out += b"\n"  # members run on as lines
        members.append((name, out.count(b"\n") + 1))
        member_start = len(out)
        if method == 0:
            if not sizes_known:
                problems.append(f"zip member {name} is stored with its size after the data")
                break
            body = view[start : start + csize]
            if len(body) > budget:
                problems.append(f"{over} (zip member {name}); not read")
            else:
                out += body
            if len(body) < csize:
                complete = False
                break
            pos = start + csize
            continue
        inflater = isal_zlib.decompressobj(-15)
        produced, off, pending, exceeded = 0, start, view[start:start], False
        try:
            while not inflater.eof:
                if not len(pending):
                    pending = view[off : off + _INFLATE_STEP]
                    off += len(pending)
                    if not len(pending):
                        break
                chunk = inflater.decompress(pending, budget - produced + 1)
                pending = inflater.unconsumed_tail
                produced += len(chunk)
                if produced > budget:
                    exceeded = True
                    break
                out += chunk
        except (isal_zlib.error, zlib.error) as exc:
            complete, note = False, f"corrupt deflate stream: {exc}"
            break
        if exceeded:
            del out[member_start:]  # never keep a member past its cap
            members.pop()
            problems.append(f"{over} (zip member {name}); not read")
            if not sizes_known:
                break
            pos = start + csize
            continue
        if not inflater.eof:
            complete = False
            break
        nxt = _next_header(data, off - len(inflater.unused_data), bool(flags & 0x08))
        if nxt is None:
            problems.append(f"unreadable bytes after zip member {name}")
            break
        pos = nxt
    warnings = []
    if len(members) > 1:
        where = ", ".join(f"{n} from line {line}" for n, line in members)
        warnings.append(f"{source_uri}: zip holds {len(members)} members, read in order ({where})")
    return RawText(out, complete, note, problems, warnings)


def inflate_member(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS) -> RawText:
    """Kept for callers of the one-member reader (bench/): now every member, see inflate_zip."""
    return inflate_zip(data, source_uri, limits)


def read_slot_bytes(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS) -> RawText:
    if source_uri.lower().endswith(".zip") or data[:4] == _LOCAL:
        return inflate_zip(data, source_uri, limits)
    if len(data) > limits.file_bytes:
        return RawText(b"", True, problems=[f"{limits.file_reason()} ({len(data)} bytes)"])
    return RawText(data, complete=True)


def _invalid_utf8_lines(data: bytes) -> set[int]:
    """1-based numbers of lines holding invalid UTF-8; work is linear, not per line."""
    bad: set[int] = set()
    view = memoryview(data)
    pos, counted_to, line = 0, 0, 1
    while pos < len(data):
        try:
            codecs.utf_8_decode(view[pos:], "strict", True)
            break
        except UnicodeDecodeError as exc:
            offset = pos + exc.start
            line += data.count(b"\n", counted_to, offset)  # counted on from the last error
            counted_to = offset
            bad.add(line)
            nxt = data.find(b"\n", offset)
            pos = len(data) if nxt < 0 else nxt + 1
    return bad


@dataclass
class SplitLines:
    fields: pl.DataFrame  # row_nr, line_number, raw_line, f (list[str]); only well-formed lines
    quarantine: pl.DataFrame
    rows_read: int
    warnings: list[str]


def split_lines(
    raw: RawText, source_uri: str, n_fields: int, limits: Limits = DEFAULT_LIMITS
) -> SplitLines:
    """Split a GDELT file into lines and tab fields; quarantine bad encoding, ragged lines and
    lines with a field over Limits.field_chars; whole-member problems become one line-0 row."""
    data = raw.data
    ends_with_newline = data.endswith(b"\n")
    invalid = _invalid_utf8_lines(data)
    text = data.decode("utf-8", errors="replace") if invalid else data.decode("utf-8")
    lines = pl.DataFrame({"text": pl.Series([text], dtype=pl.String)}).select(
        pl.col("text").str.split("\n").explode().alias("text")
    )
    if ends_with_newline:
        lines = lines.slice(0, lines.height - 1)
    lines = lines.with_row_index("line_number", offset=1).with_columns(
        pl.col("line_number").cast(pl.Int64),
        pl.col("text").str.strip_suffix("\r"),
    )
    lines = lines.with_columns(
        pl.when(pl.col("line_number").is_in(sorted(invalid)))
        .then(None)
        .otherwise(pl.col("text"))
        .alias("raw_line")
    )
    last = lines.height
    truncated_last = (not ends_with_newline) and last > 0
    lines = lines.filter(pl.col("text") != "")
    lines = lines.with_columns(pl.col("raw_line").str.split("\t").alias("f"))
    lines = lines.with_columns(pl.col("f").list.len().alias("n"))
    # Only a line longer than the cap can hold a field longer than it: measure just those.
    long_field = pl.lit(False)
    if lines.height and lines["text"].str.len_chars().max() > limits.field_chars:
        long_field = (pl.col("text").str.len_chars() > limits.field_chars) & (
            pl.col("f").list.eval(pl.element().str.len_chars()).list.max() > limits.field_chars
        )
    lines = lines.with_columns(long_field.fill_null(False).alias("too_long"))
    bad_encoding = lines.filter(pl.col("raw_line").is_null())
    readable = pl.col("raw_line").is_not_null()
    too_long = lines.filter(readable & pl.col("too_long"))
    ragged = lines.filter(readable & ~pl.col("too_long") & (pl.col("n") != n_fields))
    good = lines.filter(readable & ~pl.col("too_long") & (pl.col("n") == n_fields))
    warnings = list(raw.warnings)
    cut_reason = None
    if not raw.complete:
        cut_reason = "truncated: the zip stream ends inside this line" + (
            f" ({raw.note})" if raw.note else ""
        )
        warnings.append(f"{source_uri}: zip stream incomplete; complete lines kept")
    elif truncated_last:
        cut_reason = "truncated: last line has no newline and the wrong number of fields"
    q = []
    if bad_encoding.height:
        for ln, shown in bad_encoding.select("line_number", "text").iter_rows():
            q.append(
                {
                    "source_uri": source_uri,
                    "line_number": ln,
                    "raw_line": shown,  # invalid bytes shown as U+FFFD
                    "reason": "invalid UTF-8 bytes in line",
                }
            )
    for ln, text in too_long.select("line_number", "raw_line").iter_rows():
        q.append(
            {
                "source_uri": source_uri,
                "line_number": ln,
                "raw_line": text,  # clipped with the other rows below
                "reason": limits.field_reason(),
            }
        )
    if ragged.height:
        for ln, text, n in ragged.select("line_number", "raw_line", "n").iter_rows():
            reason = f"ragged row: {n} tab-separated fields, expected {n_fields}"
            if ln == last and cut_reason:
                reason = f"{cut_reason}; {reason}"
            q.append(
                {"source_uri": source_uri, "line_number": ln, "raw_line": text, "reason": reason}
            )
    if (
        not raw.complete
        and good.height
        and good["line_number"][-1] == last
        and not ends_with_newline
    ):
        # A line cut at a tab boundary can still have the right field count: do not trust it.
        row = good.row(-1, named=True)
        good = good.slice(0, good.height - 1)
        q.append(
            {
                "source_uri": source_uri,
                "line_number": row["line_number"],
                "raw_line": row["raw_line"],
                "reason": cut_reason,
            }
        )
    rows_read = lines.height
    whole_file = list(raw.problems)
    if not raw.complete and rows_read == 0:
        whole_file.append(cut_reason or "truncated zip")
    if whole_file:
        # Members not read, or nothing usable at all: one quarantined whole-file row (line 0
        # holds one row per file in quarantine's key) so the audit still adds up.
        q.append(
            {
                "source_uri": source_uri,
                "line_number": 0,
                "raw_line": None,
                "reason": f"{source_uri}: " + "; ".join(whole_file),
            }
        )
        rows_read += 1
    good = good.select("line_number", "raw_line", "f").with_row_index("row_nr")
    return SplitLines(
        fields=good,
        quarantine=quarantine_frame(
            sorted(q, key=lambda r: r["line_number"]), limits.raw_line_chars
        ),
        rows_read=rows_read,
        warnings=warnings,
    )


@dataclass
class GdeltFrame:
    """Typed well-formed rows of one file (all of them: window and relevance come later)."""

    kind: str
    rows: pl.DataFrame
    quarantine: pl.DataFrame
    rows_read: int
    warnings: list[str]
    locations: pl.DataFrame | None = None  # GKG only: one row per (row_nr, location)


def _columns(mapping: dict[str, int]) -> list[pl.Expr]:
    return [pl.col("f").list.get(i).alias(name) for name, i in mapping.items()]


def _empty_to_null(names: list[str]) -> list[pl.Expr]:
    return [pl.when(pl.col(n) == "").then(None).otherwise(pl.col(n)).alias(n) for n in names]


def _ts(name: str) -> pl.Expr:
    return pl.col(name).str.strptime(pl.Datetime("us", "UTC"), TS_FORMAT, strict=False)


def _quarantine_bad_dates(
    frame: pl.DataFrame, parsed: str, raw: str, source_uri: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    bad = frame.filter(pl.col(parsed).is_null())
    q = bad.select(
        pl.lit(source_uri).alias("source_uri"),
        pl.col("line_number"),
        pl.col("raw_line"),
        (
            pl.lit(f"unparseable date in {raw}: '")
            + pl.col(raw).fill_null("").str.slice(0, 100)  # the field itself may be huge
            + pl.lit("'")
        ).alias("reason"),
    )
    return frame.filter(pl.col(parsed).is_not_null()), q


def _language(translation_info: str) -> pl.Expr:
    """ISO 639-1 from `srclc:fra;eng:...`; GDELT's untranslated stream is English."""
    code3 = pl.col(translation_info).str.extract(r"srclc:([A-Za-z]{3})", 1).str.to_lowercase()
    mapping = iso639_3_to_1()
    return (
        pl.when(code3.is_null())
        .then(pl.lit("en"))
        .otherwise(code3.replace_strict(mapping, default=code3))
    )


def _typed_rows(
    data: bytes, source_uri: str, kind: str, columns, stamp: str, stamp_at: str, limits: Limits
):
    """What every GDELT reader starts with: inflate, split into the kind's fields, name the
    columns, parse the row's timestamp and quarantine rows whose timestamp is unreadable."""
    raw = read_slot_bytes(data, source_uri, limits)
    split = split_lines(raw, source_uri, N_FIELDS[kind], limits)
    del raw  # the inflated bytes can be up to the cap: let them go before typing
    f = split.fields.with_columns(_columns(columns)).drop("f")
    f = f.with_columns(_ts(stamp).alias(stamp_at))
    f, bad_dates = _quarantine_bad_dates(f, stamp_at, stamp, source_uri)
    return split, f, clip_raw_lines(bad_dates, limits.raw_line_chars)


def read_gkg(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS) -> GdeltFrame:
    """GKG 2.1 rows typed, with nested fields split; locations in a long frame."""
    split, f, bad_dates = _typed_rows(
        data, source_uri, "gkg", GKG_COLUMNS, "gkg_date", "gkg_at", limits
    )
    extras = pl.col("extras")
    record_translated = pl.col("record_id").str.contains(r"-T\d+$")
    f = f.with_columns(
        pl.col("source_collection").cast(pl.Int64, strict=False),
        pl.col("v2_tone")
        .str.split(",")
        .list.get(0, null_on_oob=True)
        .cast(pl.Float64, strict=False)
        .alias("tone"),
        pl.col("v1_themes")
        .str.split(";")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique(maintain_order=True)
        .alias("themes"),
        extras.str.extract(r"(?s)<PAGE_TITLE>(.*?)</PAGE_TITLE>", 1)
        .str.strip_chars()
        .alias("title"),
        extras.str.extract(r"<PAGE_PRECISEPUBTIMESTAMP>(\d{14})<", 1)
        .str.strptime(pl.Datetime("us", "UTC"), TS_FORMAT, strict=False)
        .alias("precise_pub_at"),
        (extras.str.extract(r"<BORDERWATCH_SYNTHETIC>\s*(\w+)\s*<", 1).str.to_lowercase() == "true")
        .fill_null(False)
        .alias("synthetic"),
        _language("translation_info").alias("language"),
        (record_translated | pl.col("translation_info").str.contains("srclc:")).alias("translated"),
        pl.when(pl.col("v2_locations") != "")
        .then(pl.col("v2_locations"))
        .otherwise(pl.col("v1_locations"))
        .alias("locations_raw"),
    )
    f = f.with_columns(pl.coalesce("precise_pub_at", "gkg_at").alias("published_at"))
    f = f.with_columns(_empty_to_null(["title", "source_name", "translation_info"]))
    locations = _gkg_locations(f)
    quarantine = pl.concat([split.quarantine, bad_dates]).sort("line_number")
    return GdeltFrame("gkg", f, quarantine, split.rows_read, split.warnings, locations)


def _gkg_locations(f: pl.DataFrame) -> pl.DataFrame:
    """V2 enhanced locations (9 `#` fields) or V1 locations (7): one row per location."""
    loc = (
        f.select("row_nr", pl.col("locations_raw").str.split(";").alias("loc"))
        .explode("loc")
        .filter(pl.col("loc").is_not_null() & (pl.col("loc") != ""))
        .with_columns(pl.col("loc").str.split("#").alias("p"))
        .with_columns(pl.col("p").list.len().alias("n"))
    )
    if loc.height == 0:
        return pl.DataFrame(schema=LOCATION_SCHEMA)
    v2 = pl.col("n") >= 9

    def part(v1_index: int, v2_index: int) -> pl.Expr:
        return (
            pl.when(v2)
            .then(pl.col("p").list.get(v2_index, null_on_oob=True))
            .otherwise(pl.col("p").list.get(v1_index, null_on_oob=True))
        )

    return loc.select(
        pl.col("row_nr"),
        pl.col("p").list.get(0, null_on_oob=True).cast(pl.Int64, strict=False).alias("loc_type"),
        pl.col("p").list.get(1, null_on_oob=True).alias("loc_fullname"),
        pl.col("p").list.get(2, null_on_oob=True).alias("loc_country_fips"),
        pl.col("p").list.get(3, null_on_oob=True).alias("loc_adm1"),
        part(4, 5).cast(pl.Float64, strict=False).alias("loc_lat"),
        part(5, 6).cast(pl.Float64, strict=False).alias("loc_lon"),
        part(6, 7).alias("loc_feature_id"),
    ).cast(LOCATION_SCHEMA)


def read_events(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS) -> GdeltFrame:
    """Events rows typed. Event codes stay strings ('042'); FIPS geo and CAMEO actor codes apart."""
    split, f, bad_dates = _typed_rows(
        data, source_uri, "export", EVENT_COLUMNS, "date_added", "date_added_at", limits
    )
    strings = [
        c for c in EVENT_COLUMNS if c.endswith(("_code", "_name", "_fullname", "_feature_id"))
    ]
    f = f.with_columns(_empty_to_null(strings + ["source_url"])).with_columns(
        pl.col("global_event_id").cast(pl.Int64, strict=False),
        pl.col("sql_date").str.strptime(pl.Date, "%Y%m%d", strict=False).alias("event_date"),
        (pl.col("is_root_event") == "1").alias("is_root_event"),
        pl.col("quad_class").cast(pl.Int64, strict=False),
        pl.col("goldstein_scale").cast(pl.Float64, strict=False),
        pl.col("num_mentions").cast(pl.Int64, strict=False),
        pl.col("num_sources").cast(pl.Int64, strict=False),
        pl.col("num_articles").cast(pl.Int64, strict=False),
        pl.col("avg_tone").cast(pl.Float64, strict=False),
        pl.col("action_geo_type").cast(pl.Int64, strict=False),
        pl.col("action_geo_lat").cast(pl.Float64, strict=False),
        pl.col("action_geo_lon").cast(pl.Float64, strict=False),
        pl.col("date_added_at").dt.date().alias("event_on"),
    )
    quarantine = pl.concat([split.quarantine, bad_dates]).sort("line_number")
    return GdeltFrame("export", f, quarantine, split.rows_read, split.warnings)


def read_mentions(data: bytes, source_uri: str, limits: Limits = DEFAULT_LIMITS) -> GdeltFrame:
    split, f, bad_dates = _typed_rows(
        data, source_uri, "mentions", MENTION_COLUMNS, "mention_time", "mention_at", limits
    )
    f = f.with_columns(_empty_to_null(["mention_source_name", "translation_info"])).with_columns(
        pl.col("global_event_id").cast(pl.Int64, strict=False),
        _ts("event_time").alias("event_at"),
        pl.col("mention_type").cast(pl.Int64, strict=False),
        pl.col("sentence_id").cast(pl.Int64, strict=False),
        pl.col("confidence").cast(pl.Int64, strict=False),
        pl.col("mention_doc_len").cast(pl.Int64, strict=False),
        pl.col("mention_doc_tone").cast(pl.Float64, strict=False),
        _language("translation_info").alias("language"),
        pl.col("translation_info").str.contains("srclc:").fill_null(False).alias("translated"),
        pl.col("mention_at").dt.date().alias("mention_on"),
    )
    quarantine = pl.concat([split.quarantine, bad_dates]).sort("line_number")
    return GdeltFrame("mentions", f, quarantine, split.rows_read, split.warnings)


GAP_SCHEMA = {"kind": pl.String, "slot_at": pl.Datetime("us", "UTC"), "slot_on": pl.Date}


def gdelt_slot_gaps(
    present_slot_timestamps,
    start: date,
    end: date,
    kinds=KINDS,
    expected=None,
) -> pl.DataFrame:
    """Missing 15-minute slots per kind in [start, end): columns kind, slot_at, slot_on.

    `present_slot_timestamps`: (kind, slot_at) pairs of files held (a translation file counts
    for its kind). `expected`: (kind, slot_at) pairs that should exist (e.g. those a master file
    list declares); by default every 15-minute slot of the window for each kind in `kinds`.
    """
    pairs = pl.DataFrame(
        [(k, _utc(t)) for k, t in present_slot_timestamps],
        schema={"kind": pl.String, "slot_at": pl.Datetime("us", "UTC")},
        orient="row",
    )
    lo = datetime.combine(start, time(0), tzinfo=UTC)
    hi = datetime.combine(end, time(0), tzinfo=UTC)
    if expected is None:
        if end <= start or not kinds:
            return pl.DataFrame(schema=GAP_SCHEMA)
        grid = pl.datetime_range(
            lo,
            hi - timedelta(minutes=SLOT_MINUTES),
            f"{SLOT_MINUTES}m",
            time_zone="UTC",
            eager=True,
            time_unit="us",
        ).alias("slot_at")
        wanted = pl.DataFrame({"kind": list(kinds)}).join(grid.to_frame(), how="cross")
    else:
        wanted = pl.DataFrame(
            [(k, _utc(t)) for k, t in expected],
            schema={"kind": pl.String, "slot_at": pl.Datetime("us", "UTC")},
            orient="row",
        ).filter(
            (pl.col("slot_at") >= lo) & (pl.col("slot_at") < hi) & pl.col("kind").is_in(list(kinds))
        )
    return (
        wanted.unique()
        .join(pairs, on=["kind", "slot_at"], how="anti")
        .with_columns(pl.col("slot_at").dt.date().alias("slot_on"))
        .sort("kind", "slot_at")
        .cast(GAP_SCHEMA)
    )


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
