"""Publisher mappings: one `publisher.toml` per publisher folder says how its files become
observations (format, file pattern, period, value and unit, facility and metric lookups,
provenance). Loading checks the whole file and names it in every error.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from assets.reported.formats.values import PERIOD_FORMATS, Unit, metric_base, parse_unit

FORMATS = ("comtrade_json", "customs_table", "event_list")
# Period forms tried when a mapping lists none, by format.
DEFAULT_PERIOD_FORMATS = {
    "comtrade_json": ["yyyymm", "yyyy"],
    "customs_table": ["yyyy.mm", "month yyyy"],
    "event_list": ["yyyy-mm-dd", "written date"],
}
# Every key a section may hold: anything else is a typo the loader reports, not ignores.
SECTIONS = {
    "publisher": {"id", "name", "url", "licence", "update_frequency", "example", "description"},
    "file": {"format", "pattern", "encoding", "delimiter", "header_line", "skip_lines_matching"},
    "match": None,  # any field name
    "period": {"field", "formats", "languages"},
    "number": {"thousands_separator", "decimal_separator", "missing"},
    "facility": {"id", "field", "keys", "lookup"},
    "measures": {
        "value",
        "unit",
        "unit_field",
        "metric",
        "metric_field",
        "metric_keys",
        "metric_lookup",
        "facility",
    },
    "provenance": {
        "source",
        "source_url",
        "source_url_field",
        "method",
        "confidence",
        "notes",
        "imagery_provider",
        "synthetic",
        "published_on_field",
    },
}
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
SYNTHETIC_FIELD = "borderwatch_synthetic"  # per record: marks generated sample data


class PublisherError(ValueError):
    """A publisher.toml that cannot be used; the message names the file and the key."""


def fold(text) -> str:
    """Lookup keys compare after NFKC, case folding and collapsing spaces, so "Korea, Dem.
    People's Rep." matches however a table spaces or capitalises it."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


def cell_text(value) -> str:
    """A record's value as text for keys and templates: JSON 643 -> '643', null -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class Lookup:
    """How a record names a facility or metric: a constant, a field taken as-is, or the values
    of `keys` joined with '|' looked up in `table` (kept as data in the publisher file)."""

    constant: str | None = None
    as_is: str | None = None  # a field whose value is the id itself
    keys: tuple[str, ...] = ()
    table: dict[str, str] = field(default_factory=dict)

    def fields(self) -> list[str]:
        return [self.as_is] if self.as_is else list(self.keys)

    def resolve(self, record: dict) -> tuple[str | None, str]:
        """(the id, or None when the lookup does not list the record's key; the key as read)."""
        if self.constant is not None:
            return self.constant, self.constant
        if self.as_is is not None:
            text = cell_text(record.get(self.as_is))
            return text or None, text
        key = "|".join(cell_text(record.get(k)) for k in self.keys)
        return self.table.get(fold(key)), key


@dataclass(frozen=True)
class Measure:
    """One figure read from each record: its value (a field, or a constant such as 1 for an
    event), its unit, and the metric (and optionally the facility) it is of."""

    value_field: str | None
    value_constant: float | None
    unit: Unit | None
    unit_field: str | None
    metric: Lookup
    facility: str | None

    @property
    def label(self) -> str:
        return self.value_field or f"constant {self.value_constant:g}"

    def fields(self) -> list[str]:
        out = [f for f in (self.value_field, self.unit_field) if f]
        return out + self.metric.fields()


@dataclass(frozen=True)
class Publisher:
    id: str
    name: str
    url: str
    licence: str
    update_frequency: str
    example: bool
    description: str
    path: Path
    format: str
    pattern: str
    encoding: str
    delimiter: str
    header_line: int
    skip_lines_matching: re.Pattern | None
    match: dict[str, str]
    period_field: str
    period_formats: tuple[str, ...]
    languages: tuple[str, ...]
    thousands_separator: str
    decimal_separator: str
    missing: frozenset[str]
    facility: Lookup
    measures: tuple[Measure, ...]
    source: str
    source_url: str | None
    source_url_field: str | None
    method: str
    confidence: str | None
    notes: str | None
    imagery_provider: str | None
    synthetic: bool
    published_on_field: str | None

    def claims(self, key: str) -> bool:
        """Whether a source-store key is this publisher's: the pattern is matched from the right
        of the key ('comtrade/*.json' matches 'reported/comtrade/2023.json'); '*' stays inside
        one folder."""
        return PurePosixPath(key).match(self.pattern)

    def fields(self) -> list[str]:
        """Every record field the mapping reads, in a stable order."""
        names = [self.period_field, *self.match, *self.facility.fields()]
        for m in self.measures:
            names += m.fields()
        for template in (self.source_url, self.method, self.notes, self.source, self.confidence):
            names += PLACEHOLDER.findall(template or "")
        names += [f for f in (self.source_url_field, self.published_on_field) if f]
        return list(dict.fromkeys(names))

    def fill(self, template: str | None, record: dict, url: bool = False) -> str | None:
        """A provenance template with {field} placeholders filled from the record (URL-quoted
        inside source_url). KeyError names a field the record lacks."""
        if template is None:
            return None

        def value(m: re.Match) -> str:
            name = m.group(1)
            if name not in record:
                raise KeyError(name)
            text = cell_text(record[name])
            return quote(text, safe="") if url else text

        return PLACEHOLDER.sub(value, template)


def _where(path: Path, section: str, key: str | None = None) -> str:
    return f"{path}: [{section}]" + (f" {key}" if key else "")


def _text(path, section, table, key, required=True, default=None) -> str | None:
    value = table.get(key, default)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PublisherError(f"{_where(path, section, key)} is required")
        return default
    if not isinstance(value, str):
        raise PublisherError(f"{_where(path, section, key)} must be text, not {value!r}")
    return value.strip()


def _lookup(path: Path, section: str, table: dict, prefix: str = "") -> Lookup | None:
    constant = table.get(prefix if prefix else "id")
    field_ = table.get(f"{prefix}_field" if prefix else "field")
    keys = table.get(f"{prefix}_keys" if prefix else "keys")
    lookup = table.get(f"{prefix}_lookup" if prefix else "lookup")
    chosen = [x is not None for x in (constant, field_, keys)]
    if sum(chosen) != 1:
        names = (
            f"{prefix}, {prefix}_field, or {prefix}_keys with {prefix}_lookup"
            if prefix
            else "id, field, or keys with lookup"
        )
        raise PublisherError(f"{_where(path, section)} needs exactly one of {names}")
    if constant is not None:
        return Lookup(constant=str(constant).strip())
    if field_ is not None:
        return Lookup(as_is=str(field_))
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys or not isinstance(lookup, dict) or not lookup:
        raise PublisherError(
            f"{_where(path, section)} keys must be a list of fields and lookup a table of "
            "'value|value' = id"
        )
    folded: dict[str, str] = {}
    for raw_key, target in lookup.items():
        if len(raw_key.split("|")) != len(keys):
            raise PublisherError(
                f"{_where(path, section)} lookup key {raw_key!r} has "
                f"{len(raw_key.split('|'))} part(s); keys {keys} need {len(keys)}"
            )
        if fold(raw_key) in folded:
            raise PublisherError(f"{_where(path, section)} lookup key {raw_key!r} is listed twice")
        folded[fold(raw_key)] = str(target).strip()
    return Lookup(keys=tuple(str(k) for k in keys), table=folded)


def _unit(path: Path, where: str, text: str) -> Unit:
    try:
        return parse_unit(text)
    except ValueError as exc:
        raise PublisherError(f"{path}: {where}: {exc}") from None


def _measure(path: Path, i: int, table: dict) -> Measure:
    section = f"measures {i}"
    unknown = set(table) - SECTIONS["measures"]
    if unknown:
        raise PublisherError(f"{_where(path, section)} unknown key(s) {', '.join(sorted(unknown))}")
    value = table.get("value")
    if isinstance(value, bool) or value is None:
        raise PublisherError(
            f"{_where(path, section, 'value')} must name a field (text) or be a constant number"
        )
    value_field = value if isinstance(value, str) else None
    value_constant = float(value) if not isinstance(value, str) else None
    unit = _unit(path, f"[{section}] unit", table["unit"]) if table.get("unit") else None
    if unit and table.get("unit_field"):
        raise PublisherError(f"{_where(path, section)} has both unit and unit_field")
    metric = _lookup(path, section, table, prefix="metric")
    targets = [metric.constant] if metric.constant else list(metric.table.values())
    for target in targets if unit and unit.base else []:
        if metric_base(target) != unit.base:
            raise PublisherError(
                f"{_where(path, section)} unit {unit.text!r} is in {unit.base} but metric "
                f"{target!r} is not (its name must end in the unit, e.g. _usd, _kg)"
            )
    return Measure(
        value_field=value_field,
        value_constant=value_constant,
        unit=unit,
        unit_field=table.get("unit_field"),
        metric=metric,
        facility=table.get("facility"),
    )


def load_publisher(path: str | Path) -> Publisher:
    """One publisher.toml, checked: unknown keys, missing required keys, an unknown format or
    period form, an unreadable unit, or a lookup key with the wrong number of parts raise
    PublisherError naming the file and the key."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PublisherError(f"{path}: not valid TOML ({exc})") from None
    for section, value in doc.items():
        if section not in SECTIONS:
            raise PublisherError(f"{path}: unknown section [{section}]")
        allowed = SECTIONS[section]
        if allowed is not None and isinstance(value, dict):
            unknown = set(value) - allowed
            if unknown:
                raise PublisherError(
                    f"{_where(path, section)} unknown key(s) {', '.join(sorted(unknown))}"
                )
    pub, file_, period = doc.get("publisher", {}), doc.get("file", {}), doc.get("period", {})
    number, prov = doc.get("number", {}), doc.get("provenance", {})
    publisher_id = _text(path, "publisher", pub, "id")
    if publisher_id != path.parent.name:
        raise PublisherError(
            f"{_where(path, 'publisher', 'id')} {publisher_id!r} must equal the folder name "
            f"{path.parent.name!r}"
        )
    fmt = _text(path, "file", file_, "format")
    if fmt not in FORMATS:
        raise PublisherError(f"{_where(path, 'file', 'format')} {fmt!r} is not one of {FORMATS}")
    formats = period.get("formats") or DEFAULT_PERIOD_FORMATS[fmt]
    bad = [f for f in formats if f not in PERIOD_FORMATS]
    if bad:
        raise PublisherError(
            f"{_where(path, 'period', 'formats')} {bad} not among {list(PERIOD_FORMATS)}"
        )
    languages = period.get("languages") or ["en"]
    thousands = number.get("thousands_separator", "")
    decimal = number.get("decimal_separator", ".")
    if thousands == decimal or len(decimal) != 1 or len(thousands) > 1:
        raise PublisherError(
            f"{_where(path, 'number')} thousands_separator {thousands!r} and decimal_separator "
            f"{decimal!r} must be single, different characters"
        )
    measures = doc.get("measures")
    if not isinstance(measures, list) or not measures:
        raise PublisherError(f"{path}: at least one [[measures]] is required")
    facility = _lookup(path, "facility", doc.get("facility", {}))
    skip = file_.get("skip_lines_matching")
    try:
        skip_re = re.compile(skip) if skip else None
    except re.error as exc:
        raise PublisherError(f"{_where(path, 'file', 'skip_lines_matching')}: {exc}") from None
    source_url = prov.get("source_url")
    source_url_field = prov.get("source_url_field")
    if (source_url is None) == (source_url_field is None):
        raise PublisherError(
            f"{_where(path, 'provenance')} needs exactly one of source_url (a URL, with "
            "{field} placeholders) or source_url_field (the first http(s) URL in that field)"
        )
    synthetic = prov.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise PublisherError(f"{_where(path, 'provenance', 'synthetic')} must be true or false")
    return Publisher(
        id=publisher_id,
        name=_text(path, "publisher", pub, "name"),
        url=_text(path, "publisher", pub, "url"),
        licence=_text(path, "publisher", pub, "licence"),
        update_frequency=_text(path, "publisher", pub, "update_frequency"),
        example=bool(pub.get("example", False)),
        description=_text(path, "publisher", pub, "description", required=False, default=""),
        path=path,
        format=fmt,
        pattern=_text(path, "file", file_, "pattern"),
        encoding=file_.get("encoding", "utf-8"),
        delimiter=file_.get("delimiter", ","),
        header_line=int(file_.get("header_line", 1)),
        skip_lines_matching=skip_re,
        match={str(k): cell_text(v) for k, v in doc.get("match", {}).items()},
        period_field=_text(path, "period", period, "field"),
        period_formats=tuple(formats),
        languages=tuple(languages),
        thousands_separator=thousands,
        decimal_separator=decimal,
        missing=frozenset(fold(m) for m in number.get("missing", [])),
        facility=facility,
        measures=tuple(_measure(path, i, m) for i, m in enumerate(measures, 1)),
        source=_text(path, "provenance", prov, "source"),
        source_url=source_url,
        source_url_field=source_url_field,
        method=_text(path, "provenance", prov, "method"),
        confidence=prov.get("confidence"),
        notes=prov.get("notes"),
        imagery_provider=prov.get("imagery_provider"),
        synthetic=synthetic,
        published_on_field=prov.get("published_on_field"),
    )


def load_publishers(folder: str | Path) -> list[Publisher]:
    """Every `<publisher_id>/publisher.toml` under `folder`, ordered by id. A missing folder
    holds no publishers."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [load_publisher(p) for p in sorted(folder.glob("*/publisher.toml"))]
