"""Read GDELT 2.0 slot files (GKG 2.1, Events, Mentions; zipped or not) into typed Polars frames.

GDELT files are tab-separated, headerless and unquoted; a row is one line. Lines are split with
Polars string functions over the whole file at once. A line with the wrong number of fields, invalid
UTF-8 bytes or an unparseable date is quarantined (file, 1-based line, raw text, reason) and the
rest of the file is kept. A zip is read from its local headers as raw deflate streams, every
member in order, so a zip cut short still gives every complete line it holds. Inflating streams
under the caps of assets.core.limits.Limits (per member and per file); a line with a field
longer than Limits.field_chars is quarantined; raw_line in quarantine is clipped.

read_gkg can be told which rows cannot matter (`may_match`): those well-formed rows are counted
as read but never split into all their fields nor typed. In a GDELT-scale day almost no row
concerns a facility, so this is most of the work saved; malformed rows are still quarantined.
"""

from __future__ import annotations

import csv
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import polars as pl
import pyarrow as pa
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
    # Inflated pieces in order; joined once at the end (a one-member zip is not copied again).
    pieces: list[bytes] = []
    size = 0
    problems: list[str] = []
    members: list[tuple[str, int]] = []  # (name, index of its first piece)
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
        budget = min(limits.member_bytes, limits.file_bytes - size)
        over = limits.member_reason() if budget == limits.member_bytes else limits.file_reason()
        skip_reason = None
        if flags & 0x01:
            skip_reason = f"zip member {name} is encrypted"
        elif method not in (0, 8):
            skip_reason = f"zip member {name}: compression method {method} is not supported"
        elif sizes_known and usize != 0xFFFFFFFF and usize > budget:
            declared = (
                f"declares {usize} bytes"
                if budget == limits.member_bytes
                else (f"would bring it to {size + usize} bytes")
            )
            skip_reason = f"{over} (zip member {name} {declared}); not read"
        if skip_reason:
            problems.append(skip_reason)
            if not sizes_known:
                break  # its end cannot be found without reading it
            pos = start + csize
            continue
        if pieces and not pieces[-1].endswith(b"\n"):
            pieces.append(b"\n")  # members run on as lines
            size += 1
        members.append((name, len(pieces)))
        first_piece, member_size = len(pieces), size
        if method == 0:
            if not sizes_known:
                problems.append(f"zip member {name} is stored with its size after the data")
                break
            body = view[start : start + csize]
            if len(body) > budget:
                problems.append(f"{over} (zip member {name}); not read")
            elif len(body):
                pieces.append(bytes(body))
                size += len(body)
            if len(body) < csize:
                complete = False
                break
            pos = start + csize
            continue
        inflater = isal_zlib.decompressobj(-15)
        # The whole compressed member in one call when its size is known (one output piece);
        # a member whose size follows its data is fed in steps until its stream ends.
        step = csize if sizes_known and csize else _INFLATE_STEP
        # The declared size (+1, to see a stream that runs past it) bounds the first call's
        # output: isal then allocates it once, in memory the process already holds, where a
        # growing buffer costs fresh pages (page faults) for every file.
        declared = usize + 1 if sizes_known and usize != 0xFFFFFFFF else None
        produced, off, pending, exceeded = 0, start, view[start:start], False
        try:
            while not inflater.eof:
                if not len(pending):
                    pending = view[off : off + step]
                    off += len(pending)
                    if not len(pending):
                        break
                    step = _INFLATE_STEP  # a stream running past its declared size
                limit = budget - produced + 1  # one byte past the cap: the cap was passed
                if declared is not None:
                    limit, declared = min(limit, declared), None
                chunk = inflater.decompress(pending, limit)
                pending = inflater.unconsumed_tail
                produced += len(chunk)
                if produced > budget:
                    exceeded = True
                    break
                if chunk:
                    pieces.append(chunk)
                    size += len(chunk)
        except (isal_zlib.error, zlib.error) as exc:
            complete, note = False, f"corrupt deflate stream: {exc}"
            break
        if exceeded:
            del pieces[first_piece:]  # never keep a member past its cap
            size = member_size
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
        lines, counted, where = 1, 0, []
        for member, first in members:
            lines += sum(p.count(b"\n") for p in pieces[counted:first])
            counted = first
            where.append(f"{member} from line {lines}")
        warnings.append(
            f"{source_uri}: zip holds {len(members)} members, read in order ({', '.join(where)})"
        )
    out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
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


def _line_table(data: bytes) -> tuple[pl.DataFrame, list[bytes] | None]:
    """A file's lines: a frame of line_number (1-based) and raw_line (null where the line is
    not valid UTF-8; a trailing "\\r" dropped; blank lines kept), and the lines as bytes when
    some line is not valid UTF-8 (else None: every raw_line is the line)."""
    lines = _line_views(data)
    parts = None
    if lines is None:
        # Some line holds invalid UTF-8 (or the file is too big for views): split in Python
        # and decode only what must be (ASCII lines are valid).
        parts = data.split(b"\n")
        if data.endswith(b"\n"):
            parts.pop()
        parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
        raw = [None if _invalid_utf8(p) else p for p in parts]
        lines = pl.Series("raw_line", raw, dtype=pl.Binary).cast(pl.String)
    numbers = pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True).alias("line_number")
    return pl.DataFrame([numbers, lines.alias("raw_line")]), parts


_VIEW = struct.Struct("<i4sii")  # Arrow string view: length, prefix, buffer index, offset
_INLINE = struct.Struct("<i12s")  # a string of at most 12 bytes, held in its view


def _line_views(data: bytes) -> pl.Series | None:
    """The file's lines as a Polars string Series that points into `data` (no copy), built as
    an Arrow string-view array: one 16-byte view per line, found with bytes.find. None if some
    line is not valid UTF-8 (Arrow validates every line) or the file is too big for views.

    Copying a file-sized text into Polars (or splitting it there) takes fresh memory pages for
    every file, and their page faults cost more than the copy itself."""
    if len(data) >= 1 << 31:
        return None
    views = bytearray()
    find, pos, size, n = data.find, 0, len(data), 0
    while True:
        end = find(b"\n", pos)
        last = end < 0
        if last:
            if pos == size and n:  # the file ends with a newline: no line after it
                break
            end = size
        stop = end - 1 if end > pos and data[end - 1] == 13 else end  # one "\r" dropped
        length = stop - pos
        if length <= 12:
            views += _INLINE.pack(length, data[pos:stop])
        else:
            views += _VIEW.pack(length, data[pos : pos + 4], 0, pos)
        n += 1
        if last:
            break
        pos = end + 1
    array = pa.Array.from_buffers(
        pa.string_view(), n, [None, pa.py_buffer(views), pa.py_buffer(data)]
    )
    try:
        array.validate(full=True)  # UTF-8 of every line
    except pa.ArrowInvalid:
        return None
    return pl.from_arrow(array).alias("raw_line")


def _invalid_utf8(line: bytes) -> bool:
    if line.isascii():
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _with_text(rows: pl.DataFrame, parts: list[bytes] | None, copy: bool) -> pl.DataFrame:
    """rows (line_number, raw_line) with text: raw_line, or for a line that is not valid UTF-8
    its bytes with invalid ones shown as U+FFFD (`parts`: the file's lines as bytes, when some
    line is not valid UTF-8). copy: give the lines buffers of their own (for a few lines of a
    big file, so that nothing made from them keeps the whole file alive)."""
    numbers, raw_line = rows["line_number"], rows["raw_line"]
    if parts is None:
        if copy:
            raw_line = pl.Series("raw_line", raw_line.to_list(), dtype=pl.String)
        return pl.DataFrame([numbers, raw_line, raw_line.alias("text")])
    lines = [parts[n - 1] for n in numbers.to_list()]
    if copy:
        raw = [None if _invalid_utf8(line) else line for line in lines]
        raw_line = pl.Series("raw_line", raw, dtype=pl.Binary).cast(pl.String)
    shown = [
        line.decode("utf-8", errors="replace") if valid is None else None
        for line, valid in zip(lines, raw_line.to_list(), strict=True)
    ]
    text = raw_line.fill_null(pl.Series(shown, dtype=pl.String)).alias("text")
    return pl.DataFrame([numbers, raw_line, text])


@dataclass
class SplitLines:
    fields: pl.DataFrame  # row_nr, line_number, raw_line, f (list[str]); only well-formed lines
    quarantine: pl.DataFrame
    rows_read: int
    warnings: list[str]
    # Well-formed rows that `may_matter` ruled out: read and counted, never split or typed.
    rows_ruled_out: int = 0


# A function of well-formed lines (a frame with line_number and raw_line, each line of the
# kind's field count, valid UTF-8, no field over the cap): False for a line whose row can
# certainly be neither loaded nor quarantined later, so it is only counted (filtered).
MayMatter = Callable[[pl.DataFrame], pl.Series]


def split_lines(
    raw: RawText,
    source_uri: str,
    n_fields: int,
    limits: Limits = DEFAULT_LIMITS,
    may_matter: MayMatter | None = None,
) -> SplitLines:
    """Split a GDELT file into lines and tab fields; quarantine bad encoding, ragged lines and
    lines with a field over Limits.field_chars; whole-member problems become one line-0 row.

    With `may_matter`, well-formed lines it rules out are counted in rows_read (and
    rows_ruled_out) and go no further: only the others are split into fields. The file's last
    line is never ruled out (it may be cut short)."""
    data = raw.data
    ends_with_newline = data.endswith(b"\n")
    lines, parts = _line_table(data)
    last = lines.height
    truncated_last = (not ends_with_newline) and last > 0
    readable = pl.col("raw_line").is_not_null()
    rows = lines.filter(~readable | (pl.col("raw_line") != ""))
    rows_read = rows.height
    ruled_out = 0
    if may_matter is not None and rows_read:
        plain = rows.filter(
            readable
            & (pl.col("line_number") != last)
            & (pl.col("raw_line").str.len_bytes() <= limits.field_chars)  # chars <= bytes
            & (pl.col("raw_line").str.count_matches("\t", literal=True) == n_fields - 1)
        )
        out = plain.filter(~may_matter(plain).fill_null(True))
        ruled_out = out.height
        if ruled_out:
            rows = rows.join(out.select("line_number"), on="line_number", how="anti")
        del plain, out
    # Lines kept where lines may be ruled out (the few of a big file, usually) get buffers of
    # their own, so neither they nor rows typed from them keep the whole file's text alive.
    lines = _with_text(rows, parts, copy=may_matter is not None)
    del parts, rows
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
        rows_ruled_out=ruled_out,
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
    # Rows read but ruled out before typing (read_gkg's may_match): rows_read counts them.
    rows_ruled_out: int = 0


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
    data: bytes,
    source_uri: str,
    kind: str,
    columns,
    stamp: str,
    stamp_at: str,
    limits: Limits,
    may_matter: MayMatter | None = None,
):
    """What every GDELT reader starts with: inflate, split into the kind's fields, name the
    columns, parse the row's timestamp and quarantine rows whose timestamp is unreadable."""
    raw = read_slot_bytes(data, source_uri, limits)
    del data
    split = split_lines(raw, source_uri, N_FIELDS[kind], limits, may_matter)
    del raw  # the inflated bytes can be up to the cap: let them go before typing
    f = split.fields.with_columns(_columns(columns)).drop("f")
    f = f.with_columns(_ts(stamp).alias(stamp_at))
    f, bad_dates = _quarantine_bad_dates(f, stamp_at, stamp, source_uri)
    return split, f, clip_raw_lines(bad_dates, limits.raw_line_chars)


# The GKG fields a row's relevance is judged on before it is typed (see gkg_head).
GKG_HEAD = ("gkg_date", "document_url", "v1_locations", "v2_locations")
_TITLE = "<PAGE_TITLE>"


def gkg_head(lines: pl.DataFrame) -> pl.DataFrame:
    """For well-formed GKG lines (column raw_line): line_number, the GKG_HEAD fields as text, and
    title_tail, the end of the line from its first <PAGE_TITLE> on (null if none): it holds the
    page title wherever the extras put it. Only the first 11 fields are split out."""
    head = pl.col("raw_line").str.split_exact("\t", max(GKG_COLUMNS[c] for c in GKG_HEAD))
    line = pl.col("raw_line")
    # str.find gives a byte offset, str.tail counts characters: as many characters as the tail
    # has bytes is the exact tail of an ASCII line and a little more of any other.
    tail_bytes = line.str.len_bytes() - line.str.find(_TITLE, literal=True) - len(_TITLE)
    return lines.select(
        "line_number",
        *(head.struct.field(f"field_{GKG_COLUMNS[c]}").alias(c) for c in GKG_HEAD),
        line.str.tail(tail_bytes).alias("title_tail"),
    )


# What may decide that a GKG row matches no facility, from gkg_head's frame: False for a row
# that certainly matches none (assets.news.matching.gkg_rows_may_match).
MayMatch = Callable[[pl.DataFrame], pl.Series]


def _gkg_may_matter(may_match: MayMatch) -> MayMatter:
    """A row may matter if it may match, or if typing it would quarantine it (its date)."""

    def may_matter(lines: pl.DataFrame) -> pl.Series:
        head = gkg_head(lines)
        bad_date = head.select(_ts("gkg_date").is_null()).to_series()
        return bad_date | may_match(head).fill_null(True)

    return may_matter


def read_gkg(
    data: bytes,
    source_uri: str,
    limits: Limits = DEFAULT_LIMITS,
    may_match: MayMatch | None = None,
) -> GdeltFrame:
    """GKG 2.1 rows typed, with nested fields split; locations in a long frame.

    With `may_match` (see MayMatch), well-formed rows it rules out are counted as read
    (GdeltFrame.rows_ruled_out) but not typed: the caller filters them as irrelevant. Rows that
    would be quarantined (bad encoding, ragged, a field over the cap, a bad date, a cut last
    line) are typed and quarantined whatever it says."""
    may_matter = _gkg_may_matter(may_match) if may_match is not None else None
    split, f, bad_dates = _typed_rows(
        data, source_uri, "gkg", GKG_COLUMNS, "gkg_date", "gkg_at", limits, may_matter
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
    locations = gkg_locations(f)
    quarantine = pl.concat([split.quarantine, bad_dates]).sort("line_number")
    return GdeltFrame(
        "gkg", f, quarantine, split.rows_read, split.warnings, locations, split.rows_ruled_out
    )


def gkg_locations(f: pl.DataFrame) -> pl.DataFrame:
    """V2 enhanced locations (9 `#` fields) or V1 locations (7): one row per location, from a
    frame with row_nr and locations_raw (the V2 field, or V1 where V2 is empty)."""
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
