"""Read the cells publishers write: periods ("202310", "2001.01", "January 2001"), numbers with
their own separators ("1 234,5"), and units ("thousands USD", "млн долл. США", "万美元").

Pure functions; each raises ValueError with a sentence naming the text it could not read.
"""

from __future__ import annotations

import calendar
import csv
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

UNITS_CSV = Path(__file__).with_name("units.csv")


@dataclass(frozen=True)
class Period:
    """The span a figure is for; observations are dated at its end (the README's rule for trade
    statistics: observed_on is the period end)."""

    start: date
    end: date
    granularity: str  # day, month, quarter, year


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _period(granularity: str, y: int, m: int = 1, d: int = 1, q: int = 0) -> Period:
    if granularity == "day":
        day = date(y, m, d)
        return Period(day, day, "day")
    if granularity == "month":
        return Period(date(y, m, 1), _month_end(y, m), "month")
    if granularity == "quarter":
        return Period(date(y, 3 * q - 2, 1), _month_end(y, 3 * q), "quarter")
    return Period(date(y, 1, 1), date(y, 12, 31), "year")


# Numeric period forms by name (the names a mapping lists in [period] formats), tried in the
# mapping's order. Each matches the whole cell.
PERIOD_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    "yyyymm": (re.compile(r"(?P<y>\d{4})(?P<m>\d{2})"), "month"),  # Comtrade monthly "202310"
    "yyyy": (re.compile(r"(?P<y>\d{4})"), "year"),  # Comtrade annual "2023"
    "yyyy.mm": (re.compile(r"(?P<y>\d{4})\s*[.\-/]\s*(?P<m>\d{1,2})"), "month"),  # 2001.01
    "mm.yyyy": (re.compile(r"(?P<m>\d{1,2})\s*[.\-/]\s*(?P<y>\d{4})"), "month"),  # 01.2001
    "yyyy-qn": (re.compile(r"(?P<y>\d{4})\s*[-/ ]?\s*[Qq](?P<q>[1-4])"), "quarter"),  # 2023Q3
    "qn yyyy": (re.compile(r"[Qq](?P<q>[1-4])\s*[-/ ]?\s*(?P<y>\d{4})"), "quarter"),  # Q3 2023
    "yyyy-mm-dd": (re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"), "day"),
    "dd.mm.yyyy": (re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})"), "day"),
}
# Written forms, read by dateparser in the mapping's language(s): the parts each one requires.
# A date missing one of them is unreadable (never completed from today's date).
WRITTEN_PERIODS: dict[str, tuple[list[str], str]] = {
    "month yyyy": (["month", "year"], "month"),  # "January 2001", "Jan 2001", "Январь 2001"
    "written date": (["day", "month", "year"], "day"),  # "5 October 2023", "2023年10月5日"
}
PERIOD_FORMATS = (*PERIOD_PATTERNS, *WRITTEN_PERIODS)


@cache
def _written_parser(languages: tuple[str, ...], parts: tuple[str, ...]):
    from dateparser.date import DateDataParser

    settings = {
        "TIMEZONE": "UTC",
        "RETURN_AS_TIMEZONE_AWARE": False,
        # absolute dates only: "last month" would be read against the wall clock
        "PARSERS": ["absolute-time"],
        "REQUIRE_PARTS": list(parts),
        "PREFER_DAY_OF_MONTH": "first",
    }
    return DateDataParser(
        languages=list(languages) or None, settings=settings, try_previous_locales=False
    )


def parse_period(text, formats: list[str], languages: tuple[str, ...] = ("en",)) -> Period:
    """The period a cell names, trying `formats` (names from PERIOD_FORMATS) in order."""
    cell = " ".join(str(text if text is not None else "").split())
    if not cell:
        raise ValueError("is empty")
    for name in formats:
        if name in PERIOD_PATTERNS:
            pattern, granularity = PERIOD_PATTERNS[name]
            m = pattern.fullmatch(cell)
            if not m:
                continue
            parts = {k: int(v) for k, v in m.groupdict().items()}
            try:
                return _period(granularity, **parts)
            except ValueError:
                continue  # e.g. month 13: not this form; maybe another
        else:
            parts_required, granularity = WRITTEN_PERIODS[name]
            found = _written_parser(languages, tuple(parts_required)).get_date_data(cell)
            if found.date_obj is None or found.period != granularity:
                continue
            day = found.date_obj.date()
            return _period(granularity, day.year, day.month, day.day)
    raise ValueError(f"{cell!r} is not a period in any of the forms {', '.join(formats)}")


# Spaces publishers use between digit groups (no-break and thin spaces included).
_SPACES = dict.fromkeys(map(ord, "\u00a0\u202f\u2009\u2007"), " ")


def parse_number(value, thousands_separator: str = "", decimal_separator: str = ".") -> float:
    """A number as the publisher writes it. JSON numbers pass through; text must use the mapping's
    separators exactly ("1 234 567,8" with " " and ","): a stray comma is an error, not a guess."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value if value is not None else "").translate(_SPACES).strip()
        if not text:
            raise ValueError("is empty")
        t = re.escape(thousands_separator) if thousands_separator else None
        d = re.escape(decimal_separator)
        grouped = rf"\d{{1,3}}(?:{t}\d{{3}})+" if t else None
        body = rf"(?:{grouped}|\d+)" if grouped else r"\d+"
        if not re.fullmatch(rf"[-+]?{body}(?:{d}\d+)?", text):
            seps = (
                f"thousands separator {thousands_separator!r} and "
                if thousands_separator
                else "no thousands separator and "
            )
            raise ValueError(
                f"{text!r} is not a number written with {seps}"
                f"decimal separator {decimal_separator!r}"
            )
        if thousands_separator:
            text = text.replace(thousands_separator, "")
        number = float(text.replace(decimal_separator, "."))
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Unit:
    """What a publisher's unit means: multiply by `scale` to get `base` units (None: a plain
    count or ratio, e.g. "thousands")."""

    text: str
    scale: float
    base: str | None


@cache
def _unit_words() -> dict[str, tuple[float | None, str | None]]:
    with UNITS_CSV.open(encoding="utf-8") as fh:
        return {
            unicodedata.normalize("NFKC", row["word"]).casefold(): (
                float(row["scale"]) if row["scale"] else None,
                row["base"] or None,
            )
            for row in csv.DictReader(fh)
        }


# Latin and Cyrillic words (dots dropped: "mln.", "тыс.", "U.S."), digit runs, currency signs,
# and anything else (CJK, Hangul) as runs to segment against the table.
_UNIT_TOKENS = re.compile(r"[a-z\u0400-\u04ff.]+|\d+|[$€]|[^\sa-z\u0400-\u04ff\d$€'’,()/.]+")


def _segment(run: str, words: dict) -> list[str] | None:
    """Split an unspaced CJK/Hangul run ("万美元") into table words, longest first."""
    out, i = [], 0
    while i < len(run):
        for j in range(len(run), i, -1):
            if run[i:j] in words:
                out.append(run[i:j])
                i = j
                break
        else:
            return None
    return out


def parse_unit(text: str) -> Unit:
    """'thousands USD', 'USD million', "US$ '000", 'тыс. долл. США', '万美元', 'tonnes'."""
    words = _unit_words()
    cell = unicodedata.normalize("NFKC", str(text or "")).casefold().strip()
    if not cell:
        raise ValueError("unit is empty")
    scale, bases = 1.0, set()
    for token in _UNIT_TOKENS.findall(cell):
        if token.isascii() and token.isdigit():
            # "'000" and "1,000": a power of ten is a scale
            if token == "000":
                scale *= 1000
                continue
            if re.fullmatch(r"10*", token):
                scale *= int(token)
                continue
            raise ValueError(f"unit {text!r}: cannot read the number {token!r}")
        token = token.replace(".", "") if re.match(r"[a-z\u0400-\u04ff]", token) else token
        if not token:
            continue
        parts = [token] if token in words else None
        if parts is None and not re.match(r"[a-z\u0400-\u04ff]", token):
            parts = _segment(token, words)
        if parts is None:
            raise ValueError(
                f"unit {text!r}: unknown word {token!r} (known words: "
                "assets/reported/formats/units.csv)"
            )
        for part in parts:
            word_scale, base = words[part]
            scale *= word_scale or 1.0
            if base:
                bases.add(base)
    if len(bases) > 1:
        raise ValueError(f"unit {text!r} names more than one measure: {', '.join(sorted(bases))}")
    return Unit(str(text), scale, bases.pop() if bases else None)


def metric_base(metric: str) -> str | None:
    """The base unit a metric's name ends with: trade_value_usd -> USD, trade_weight_kg -> kg."""
    word = metric.rsplit("_", 1)[-1]
    found = _unit_words().get(word)
    return found[1] if found and len(word) > 1 else None
