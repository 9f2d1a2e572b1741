"""Split a publisher's file into records, each with where it came from (line or record index)
and its raw text: UN Comtrade+ API JSON responses, and delimited tables (customs tables and
analyst event lists). Nothing here interprets a value; rows.py does, with the mapping.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from assets.core.parsing import FileError
from assets.reported.formats.mapping import SYNTHETIC_FIELD, Publisher


@dataclass
class Record:
    number: int  # 1-based line of a table (its first line), or 1-based index in a JSON array
    raw: str
    fields: dict
    problem: str | None = None  # set when the record cannot be read at all (ragged row, ...)


@dataclass
class Records:
    records: list[Record]
    unit: str  # "line" or "record": how reasons name a record's place
    warnings: list[str] = field(default_factory=list)


def _decode(data: bytes, source_uri: str, encoding: str) -> str:
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in {"utf-8", "utf8"} else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError(
            f"{source_uri}, line {line}: not {encoding} ({exc.reason}); set [file] encoding in "
            "the publisher mapping"
        ) from None
    except LookupError:
        raise FileError(f"{source_uri}: unknown encoding {encoding!r} in the mapping") from None


def read_comtrade_json(data: bytes, source_uri: str, publisher: Publisher) -> Records:
    """A UN Comtrade+ API v1 response ({"elapsedTime", "count", "data": [...], "error"}) or a
    bare JSON array of the same records. A response carrying an error fails as a whole."""
    text = _decode(data, source_uri, "utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileError(
            f"{source_uri}, line {exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"
        ) from None
    warnings = []
    if isinstance(doc, dict):
        if doc.get("error"):
            raise FileError(f"{source_uri}: the Comtrade response reports an error: {doc['error']}")
        items = doc.get("data")
        if not isinstance(items, list):
            raise FileError(
                f"{source_uri}: no 'data' array (keys: {', '.join(sorted(doc)) or 'none'}); "
                "expected a Comtrade+ API v1 response"
            )
        count = doc.get("count")
        if isinstance(count, int) and count != len(items):
            warnings.append(
                f"{source_uri}: 'count' says {count} records but 'data' holds {len(items)}: "
                "a truncated download? (the keyless preview returns at most 500)"
            )
    elif isinstance(doc, list):
        items = doc
    else:
        raise FileError(f"{source_uri}: a JSON {type(doc).__name__}, not a Comtrade response")
    records = []
    for i, item in enumerate(items, 1):
        raw = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        if not isinstance(item, dict):
            records.append(Record(i, raw, {}, problem="record is not a JSON object"))
        else:
            records.append(Record(i, raw, item))
    return Records(records, "record", warnings)


def read_table(data: bytes, source_uri: str, publisher: Publisher) -> Records:
    """A delimited table as statistics offices and analysts publish them: title lines above the
    header (`header_line`), quoted headers, a declared delimiter (or "auto"), footnotes below
    (`skip_lines_matching`). Every column the mapping names must be in the header."""
    text = _decode(data, source_uri, publisher.encoding)
    lines = text.splitlines()
    first = publisher.header_line
    if len(lines) < first or not lines[first - 1].strip():
        raise FileError(
            f"{source_uri}, line {first}: no header line (the mapping {publisher.path} says the "
            f"header is on line {first})"
        )
    delimiter = publisher.delimiter
    if delimiter == "auto":
        try:
            delimiter = csv.Sniffer().sniff(lines[first - 1], delimiters=",;\t|").delimiter
        except csv.Error:
            raise FileError(
                f"{source_uri}, line {first}: cannot tell the delimiter of the header; set "
                f"[file] delimiter in {publisher.path}"
            ) from None
    body = io.StringIO("\n".join(lines[first - 1 :]), newline="")
    reader = csv.reader(body, delimiter=delimiter)
    try:
        return _table_records(reader, lines, delimiter, source_uri, publisher)
    except csv.Error as exc:  # a NUL byte, an unterminated quote at the end of the file, ...
        raise FileError(
            f"{source_uri}, line {reader.line_num + first - 1}: not a readable table ({exc})"
        ) from None


def _table_records(reader, lines, delimiter, source_uri, publisher: Publisher) -> Records:
    first = publisher.header_line
    header = [h.strip() for h in next(reader)]
    doubled = sorted({h for h in header if h and header.count(h) > 1})
    if doubled:
        raise FileError(f"{source_uri}, line {first}: column(s) {', '.join(doubled)} appear twice")
    missing = [f for f in publisher.fields() if f not in header]
    if missing:
        raise FileError(
            f"{source_uri}, line {first}: missing column(s) {', '.join(missing)} named in "
            f"{publisher.path} (header: {', '.join(header)})"
        )
    warnings = []
    unknown = [h for h in header if h and h not in publisher.fields() and h != SYNTHETIC_FIELD]
    if unknown:
        warnings.append(f"{source_uri}: column(s) not in the mapping: {', '.join(unknown)}")
    records, skipped = [], 0
    offset = first - 1  # reader.line_num counts from the header line
    start = reader.line_num + 1
    for cells in reader:
        end = reader.line_num
        line_no = start + offset
        raw = "\n".join(lines[start + offset - 1 : end + offset])
        start = end + 1
        if not any(c.strip() for c in cells):
            continue  # a blank line is not a row
        if publisher.skip_lines_matching and publisher.skip_lines_matching.search(raw):
            skipped += 1
            continue
        if len(cells) != len(header):
            records.append(
                Record(
                    line_no,
                    raw,
                    {},
                    problem=f"{len(cells)} fields, header has {len(header)} "
                    f"(delimiter {delimiter!r})",
                )
            )
            continue
        records.append(Record(line_no, raw, dict(zip(header, cells, strict=True))))
    if skipped:
        warnings.append(
            f"{source_uri}: skipped {skipped} line(s) matching skip_lines_matching (notes, totals)"
        )
    return Records(records, "line", warnings)


READERS = {
    "comtrade_json": read_comtrade_json,
    "customs_table": read_table,
    "event_list": read_table,
}
