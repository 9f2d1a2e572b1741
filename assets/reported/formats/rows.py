"""Turn a publisher's records into observation rows (the columns of parse.ROW_SCHEMA), with the
same hard rules as the CSV drops: every row loaded, filtered or quarantined with a reason that
names the file and the line or record.

rows_read counts one row per measure and record: a customs line with Exports and Imports
columns is two rows. Filtered: outside the load window, not selected by [match], or a facility
or metric key the mapping's lookup does not list (not this monitor's concern; counted in the
warnings), or a value the mapping declares missing ("..", "x").
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from decimal import Decimal

import polars as pl

from assets.core.parsing import ParseResult, quarantine_frame
from assets.reported.formats.mapping import SYNTHETIC_FIELD, Publisher, cell_text, fold
from assets.reported.formats.readers import Records
from assets.reported.formats.values import metric_base, parse_number, parse_period, parse_unit
from assets.reported.parse import METRIC_PATTERN, ROW_SCHEMA, URL_PATTERN

EARLIEST = date(2000, 1, 1)
URL_IN_TEXT = re.compile(r"https?://[^\s;,|<>\"']+", re.IGNORECASE)
TRUE_WORDS, FALSE_WORDS = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0", ""}


def _urls(text: str) -> list[str]:
    return [u.rstrip(".)]") for u in URL_IN_TEXT.findall(text)]


def _listed(counter: Counter, limit: int = 8) -> str:
    shown = ", ".join(f"{k!r} ({n})" for k, n in sorted(counter.items())[:limit])
    return shown + (f", ... ({len(counter) - limit} more)" if len(counter) > limit else "")


def records_to_rows(
    records: Records,
    publisher: Publisher,
    source_uri: str,
    known_facilities: set[str],
    known_metrics: set[str],
    window_start: date,
    window_end: date,
    today: date,
    days: set[date] | None = None,
) -> ParseResult:
    """The records as observation rows, filtered to [window_start, window_end) and checked.

    `days`, when given, receives the observed_on day of every row this call loads or
    quarantines once its period was read: the days a load window must hold to take in this
    file's rows (what a drop sensor asks a run for; see assets/reported/drops.py).
    """
    good, bad, seen = [], [], {}
    rows_read = filtered = 0
    unmatched = missing_values = 0
    unmapped_facility: Counter = Counter()
    unmapped_metric: Counter = Counter()
    for rec in records.records:
        place = f"{source_uri}, {records.unit} {rec.number}"

        def quarantine(reasons: list[str], label: str | None, rec=rec, place=place) -> None:
            where = f"{place} ({label})" if label and len(publisher.measures) > 1 else place
            bad.append(
                {
                    "source_uri": source_uri,
                    "line_number": rec.number,
                    "raw_line": rec.raw,
                    "reason": f"{where}: " + "; ".join(reasons),
                }
            )

        rows_read += len(publisher.measures)
        fields = rec.fields
        absent = [f for f in publisher.fields() if f not in fields] if not rec.problem else []
        problem = rec.problem or (
            f"no field(s) {', '.join(absent)} (named in {publisher.path})" if absent else None
        )
        if problem:
            for m in publisher.measures:
                quarantine([problem], m.label)
            continue
        if any(cell_text(fields.get(k)) != v for k, v in publisher.match.items()):
            unmatched += 1
            filtered += len(publisher.measures)
            continue
        record_facility, facility_key = publisher.facility.resolve(fields)
        try:
            period = parse_period(
                fields.get(publisher.period_field), list(publisher.period_formats),
                publisher.languages,
            )  # fmt: skip
            period_error = None
        except ValueError as exc:
            period, period_error = None, f"{publisher.period_field} {exc}"
        for m in publisher.measures:
            facility_id = m.facility or record_facility
            if facility_id is None:
                unmapped_facility[facility_key] += 1
                filtered += 1
                continue
            if period_error:
                quarantine([period_error], m.label)
                continue
            observed = period.end
            if not (window_start <= observed < window_end):
                filtered += 1
                continue
            metric, metric_key = m.metric.resolve(fields)
            if metric is None:
                unmapped_metric[metric_key] += 1
                filtered += 1
                continue
            raw_value = fields.get(m.value_field) if m.value_field else m.value_constant
            if m.value_field and fold(cell_text(raw_value)) in publisher.missing:
                missing_values += 1
                filtered += 1
                continue
            if days is not None:
                days.add(observed)
            reasons = []
            value = None
            try:
                value = parse_number(
                    raw_value, publisher.thousands_separator, publisher.decimal_separator
                )
            except ValueError as exc:
                reasons.append(f"{m.label} {exc}")
            unit = m.unit
            if m.unit_field:
                try:
                    unit = parse_unit(cell_text(fields.get(m.unit_field)))
                except ValueError as exc:
                    reasons.append(f"{m.unit_field}: {exc}")
            if unit is not None and value is not None:
                # Decimal keeps "1 234,5 thousand" at exactly 1234500, not 1234499.9999999998.
                value = float(Decimal(repr(value)) * Decimal(repr(unit.scale)))
                if unit.base and metric_base(metric) != unit.base:
                    reasons.append(
                        f"unit {unit.text!r} is in {unit.base}, metric {metric!r} is not"
                    )
            if value is not None and value < 0:
                reasons.append(f"{m.label} {cell_text(raw_value)} is negative")
            if facility_id not in known_facilities:
                reasons.append(
                    f"facility {facility_id!r} (from {publisher.path}) is not in the facilities file"
                )
            if not METRIC_PATTERN.match(metric) or metric not in known_metrics:
                reasons.append(f"unknown metric {metric!r} (see data/reference/metrics.csv)")
            if not (EARLIEST <= observed <= today):
                reasons.append(f"observed_on {observed} is outside {EARLIEST}..{today}")
            provenance = {}
            try:
                for name in ("source", "method", "confidence", "notes"):
                    provenance[name] = publisher.fill(getattr(publisher, name), fields)
                if publisher.source_url is not None:
                    provenance["source_url"] = publisher.fill(publisher.source_url, fields, True)
                else:
                    text = cell_text(fields.get(publisher.source_url_field))
                    urls = _urls(text)
                    provenance["source_url"] = urls[0] if urls else None
                    if not urls:
                        reasons.append(
                            f"{publisher.source_url_field} {text!r} holds no http(s) URL"
                        )
                    if len(urls) > 1:
                        more = "other sources: " + " ".join(urls[1:])
                        provenance["notes"] = "; ".join(filter(None, [provenance["notes"], more]))
            except KeyError as exc:
                reasons.append(f"no field {exc.args[0]!r} for a provenance template")
            for name in ("source", "method"):
                if name in provenance and not (provenance[name] or "").strip():
                    reasons.append(f"{name} is empty")
            url = provenance.get("source_url")
            if url is not None and not URL_PATTERN.match(url):
                where = publisher.source_url_field or "source_url"
                reasons.append(f"{where}: {url!r} is not an http(s) URL")
            published = None
            if publisher.published_on_field:
                text = fields.get(publisher.published_on_field)
                if cell_text(text):
                    try:
                        published = parse_period(
                            text, ["yyyy-mm-dd", "written date"], publisher.languages
                        ).end
                    except ValueError as exc:
                        reasons.append(f"{publisher.published_on_field} {exc}")
            flag = fold(cell_text(fields.get(SYNTHETIC_FIELD)))
            if flag not in TRUE_WORDS | FALSE_WORDS:
                reasons.append(f"{SYNTHETIC_FIELD} {flag!r} is not true/false")
            key = (facility_id, observed, metric, provenance.get("source"))
            if not reasons and key in seen:
                reasons.append(
                    f"duplicate of {records.unit} {seen[key]} (same facility_id, observed_on, "
                    "metric, source)"
                )
            if reasons:
                quarantine(reasons, m.label)
                continue
            seen[key] = rec.number
            row = {
                "facility_id": facility_id,
                "observed_on": observed,
                "metric": metric,
                "value": value,
                "source": provenance["source"].strip(),
                "source_url": url,
                "method": provenance["method"].strip(),
                "published_on": published,
                "confidence": (provenance["confidence"] or "").strip() or None,
                "imagery_provider": publisher.imagery_provider,
                "notes": " ".join((provenance["notes"] or "").split()) or None,
                "synthetic": publisher.synthetic or flag in TRUE_WORDS,
                "source_uri": source_uri,
                "line_number": rec.number,
            }
            good.append({c: row.get(c) for c in ROW_SCHEMA})
    warnings = list(records.warnings)
    if unmatched:
        warnings.append(f"{source_uri}: {unmatched} record(s) not selected by [match] (filtered)")
    if unmapped_facility:
        keys = "|".join(publisher.facility.keys) or publisher.facility.as_is
        warnings.append(
            f"{source_uri}: {keys} not in the [facility] lookup of {publisher.path} (filtered): "
            + _listed(unmapped_facility)
        )
    if unmapped_metric:
        warnings.append(
            f"{source_uri}: metric keys not in the lookup of {publisher.path} (filtered): "
            + _listed(unmapped_metric)
        )
    if missing_values:
        warnings.append(
            f"{source_uri}: {missing_values} value(s) marked missing ({', '.join(sorted(publisher.missing))}) (filtered)"
        )
    return ParseResult(
        source_uri=source_uri,
        rows=pl.DataFrame(good, schema=ROW_SCHEMA),
        quarantine=quarantine_frame(bad),
        rows_read=rows_read,
        rows_filtered=filtered,
        warnings=warnings,
    )
