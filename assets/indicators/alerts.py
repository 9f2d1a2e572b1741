"""Emit alerts once, where analysts read them: generic JSON, Slack or Microsoft Teams webhooks.

Each new alert is posted once, as a message readable at a glance (summary, severity, facility,
evidence counts, links to the reports). The format follows a setting (generic|slack|teams) or,
when unset, the webhook's host. `run_failure_message`/`send_text` post one-line run failures
in the same formats.

A webhook URL is a secret (whoever holds it can post to the channel): it never appears in an
exception, a return value or a log line from here; `mask_url` gives the form to show
(`https://hooks.slack.com/…`).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlsplit

import polars as pl

from assets.core.secrets import mask_url

FORMATS = ("generic", "slack", "teams")
# Hosts of incoming webhooks: Slack; Teams' Office 365 connectors (*.webhook.office.com) and
# their successor, Power Automate workflows (*.logic.azure.com, *.api.powerplatform.com).
SLACK_HOSTS = ("hooks.slack.com",)
TEAMS_HOST_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".api.powerplatform.com")
MAX_LINKS = 5  # report links per message: enough to check the sources, few enough to read
SEVERITY_ICON = {"high": ":rotating_light:", "medium": ":warning:"}

# slack_sdk logs the URL at debug level and retries on connection errors by default; its logger
# is replaced by one that says nothing, and retries are off (a retried POST may post twice).
_SILENT = logging.getLogger("borderwatch.alerts.silent")
_SILENT.setLevel(logging.CRITICAL + 1)
_SILENT.propagate = False
_SILENT.disabled = True


class WebhookError(RuntimeError):
    """A webhook refused or could not be reached; `posted` holds the alert_ids accepted before.

    The message names the webhook by `mask_url` only."""

    def __init__(self, message: str, posted: list[str] | None = None):
        super().__init__(message)
        self.posted = list(posted or [])


def new_alerts(alerts: pl.DataFrame, already_sent_ids: set[str]) -> pl.DataFrame:
    """The rows of curated.alerts whose alert_id has not been sent, in observation order."""
    fresh = alerts.filter(~pl.col("alert_id").is_in(sorted(already_sent_ids)))
    keys = [c for c in ("observed_on", "facility_id", "metric", "alert_id") if c in fresh.columns]
    return fresh.sort(keys)


# ---------------------------------------------------------------------------------------------
# The webhook: which format, how to name it


def webhook_format(url: str, fmt: str | None = None) -> str:
    """`fmt` when given (generic|slack|teams); else slack for hooks.slack.com, teams for
    *.webhook.office.com / *.logic.azure.com / *.api.powerplatform.com, else generic."""
    if fmt:
        value = fmt.strip().lower()
        if value not in FORMATS:
            raise ValueError(
                f"unknown webhook format {fmt!r}: expected one of {', '.join(FORMATS)}"
            )
        return value
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        host = ""
    if host in SLACK_HOSTS:
        return "slack"
    if host.endswith(TEAMS_HOST_SUFFIXES):
        return "teams"
    return "generic"


def _scrub(text: str, url: str) -> str:
    """Text from a server or an exception, with the URL (and its secret path) masked."""
    text = text.replace(url, mask_url(url))
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    for secret in (parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "/…")
    return text


# ---------------------------------------------------------------------------------------------
# Messages


def _jsonable(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def alert_document(row: dict) -> dict:
    """One alert as a JSON-ready dict (dates as ISO strings)."""
    return {key: _jsonable(value) for key, value in row.items()}


def report_links(evidence: pl.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """alert_id -> [(title, url)] of its reports, from curated.evidence rows (alert_id,
    evidence_kind, title, ref); only http(s) refs, in order of first appearance, no repeats."""
    out: dict[str, list[tuple[str, str]]] = {}
    if evidence.is_empty():
        return out
    rows = evidence.filter(pl.col("evidence_kind") == "report").select("alert_id", "title", "ref")
    for alert_id, title, ref in rows.iter_rows():
        if not isinstance(ref, str) or not ref.lower().startswith(("http://", "https://")):
            continue
        links = out.setdefault(alert_id, [])
        if all(ref != url for _, url in links):
            links.append((title or ref, ref))
    return out


def _number(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _day(value) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value or "?")


def _facility(row: Mapping) -> str:
    name, fid = row.get("facility_name"), row.get("facility_id")
    if name and fid and name != fid:
        return f"{name} ({fid})"
    return str(name or fid or "?")


def _one_decimal(value: float) -> str:
    # Half away from zero, as the summary's SQL rounds: 3.65 -> 3.7 in both places.
    return str(Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _value_line(row: Mapping) -> str:
    line = f"{_number(row.get('value'))} {row.get('metric') or ''}".strip()
    if row.get("prior_max") is not None:
        line += f"; five-year max {_number(row['prior_max'])}"
        if row.get("ratio_to_prior_max") is not None:
            line += f" ({_one_decimal(row['ratio_to_prior_max'])}×)"
    elif row.get("robust_z") is not None:
        line += f"; robust z {_one_decimal(row['robust_z'])}"
    return line


def _plural(n, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _evidence_line(row: Mapping) -> str:
    parts = []
    if row.get("n_reports") is not None:
        parts.append(_plural(row["n_reports"], "report"))
    if row.get("n_scenes") is not None:
        parts.append(
            f"{row.get('n_clear_scenes') or 0} clear of {_plural(row['n_scenes'], 'scene')}"
        )
    if row.get("n_articles"):
        languages = _plural(row.get("n_languages") or 0, "language")
        parts.append(f"{_plural(row['n_articles'], 'article')} in {languages}")
    elif row.get("n_articles") is not None:
        parts.append("no matched articles")
    return " · ".join(parts) or "no evidence counted"


def alert_text(row: Mapping) -> str:
    """The alert in one plain line: `[HIGH] <summary>`."""
    severity = str(row.get("severity") or "alert").upper()
    summary = (
        row.get("summary")
        or f"{_facility(row)}: {_value_line(row)} on {_day(row.get('observed_on'))}"
    )
    return f"[{severity}] {summary}"


def _slack_escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_links(links: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Links a chat client can render: http(s), no spaces or markup characters."""
    out = []
    for title, url in links:
        if url.lower().startswith(("http://", "https://")) and not any(c in url for c in " |<>\n"):
            out.append((str(title or url), url))
    return out[:MAX_LINKS]


def slack_payload(row: Mapping, links: Sequence[tuple[str, str]] = ()) -> dict:
    """A Slack incoming-webhook message: `text` (notification fallback) and Block Kit blocks
    (a section with the summary, a section of fields, context lines for sources and the id).
    Lengths stay inside Slack's limits (3,000 per section text, 2,000 per field)."""
    severity = str(row.get("severity") or "alert")
    icon = SEVERITY_ICON.get(severity, ":information_source:")
    esc = _slack_escape
    headline = f"{icon} *{esc(severity.upper())}* · *{esc(_facility(row))}*"
    summary = row.get("summary") or _value_line(row)
    fields = [
        ("Observed", _day(row.get("observed_on"))),
        ("Value", _value_line(row)),
        ("Evidence", _evidence_line(row)),
    ]
    if row.get("first_seen_on") is not None:
        fields.append(("First reported", _day(row["first_seen_on"])))
    blocks: list[dict] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(f"{headline}\n{esc(summary)}", 3000)},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _clip(f"*{name}*\n{esc(value)}", 2000)}
                for name, value in fields
            ],
        },
    ]
    safe = _safe_links(links)
    if safe:
        sources = " · ".join(f"<{esc(url)}|{esc(title).replace('|', '/')}>" for title, url in safe)
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _clip(f"Sources: {sources}", 3000)}],
            }
        )
    footer = f"borderwatch alert `{esc(row.get('alert_id', '?'))}` · {esc(row.get('metric') or '')}"
    if row.get("synthetic"):
        footer += " · synthetic data"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": _clip(alert_text(row), 3000), "blocks": blocks}


def _adaptive_card(body: list[dict], actions: list[dict] | None = None) -> dict:
    """A Teams message carrying one Adaptive Card, the form both Office 365 connectors and
    Power Automate workflow webhooks accept."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def teams_payload(row: Mapping, links: Sequence[tuple[str, str]] = ()) -> dict:
    """A Teams incoming-webhook message: an Adaptive Card with the summary, a fact set and one
    Open button per report link."""
    severity = str(row.get("severity") or "alert")
    body = [
        {
            "type": "TextBlock",
            "text": f"{severity.upper()} · {_facility(row)}",
            "weight": "Bolder",
            "size": "Medium",
            "color": "Attention" if severity == "high" else "Warning",
            "wrap": True,
        },
        {"type": "TextBlock", "text": str(row.get("summary") or _value_line(row)), "wrap": True},
        {
            "type": "FactSet",
            "facts": [
                {"title": "Severity", "value": severity},
                {"title": "Facility", "value": _facility(row)},
                {"title": "Observed", "value": _day(row.get("observed_on"))},
                {"title": "Value", "value": _value_line(row)},
                {"title": "Evidence", "value": _evidence_line(row)},
                {"title": "Alert", "value": str(row.get("alert_id", "?"))},
            ],
        },
    ]
    if row.get("synthetic"):
        body.append({"type": "TextBlock", "text": "Synthetic data", "isSubtle": True})
    actions = [
        {"type": "Action.OpenUrl", "title": _clip(title, 60), "url": url}
        for title, url in _safe_links(links)
    ]
    return _adaptive_card(body, actions)


def alert_payload(row: Mapping, fmt: str, links: Sequence[tuple[str, str]] = ()) -> dict:
    """The JSON body for one alert in `fmt`; generic is the alert's row as a document, plus
    `report_links` when links are known."""
    if fmt == "slack":
        return slack_payload(row, links)
    if fmt == "teams":
        return teams_payload(row, links)
    if fmt != "generic":
        raise ValueError(f"unknown webhook format {fmt!r}: expected one of {', '.join(FORMATS)}")
    doc = alert_document(dict(row))
    if links:
        doc["report_links"] = [{"title": t, "url": u} for t, u in links]
    return doc


def text_payload(text: str, fmt: str) -> dict:
    """A plain one-line notice (e.g. a run failure) in `fmt`."""
    if fmt == "slack":
        return {
            "text": _clip(text, 3000),
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": _clip(_slack_escape(text), 3000)},
                }
            ],
        }
    if fmt == "teams":
        return _adaptive_card([{"type": "TextBlock", "text": text, "wrap": True}])
    if fmt != "generic":
        raise ValueError(f"unknown webhook format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return {"text": text}


def run_failure_message(job_name: str, run_id: str, step_key: str | None, root_cause: str) -> str:
    """`borderwatch run 1a2b3c4d (borderwatch_all) failed at stg_news__articles: <root cause>`,
    one line (the cause's whitespace and newlines folded, at most 500 characters)."""
    cause = " ".join(str(root_cause or "").split()) or "no error message"
    where = f" at {step_key}" if step_key else ""
    return f"borderwatch run {str(run_id)[:8]} ({job_name}) failed{where}: {_clip(cause, 500)}"


# ---------------------------------------------------------------------------------------------
# Posting


class _Refused(Exception):
    """The webhook did not accept a message; the text is safe to show (URL already masked)."""


def _post(url: str, payload: dict, fmt: str, timeout: float) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise _Refused("is not an http(s) URL")
    if fmt == "slack":
        _post_slack(url, payload, timeout)
        return
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, text = response.status, response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        exc.close()
        raise _Refused(
            f"answered HTTP {exc.code}" + (f" ({_scrub(detail, url)})" if detail else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Refused(f"could not be reached: {_scrub(str(reason), url)}") from None
    if not 200 <= status < 300:
        raise _Refused(f"answered HTTP {status}")
    # Office 365 connectors report some failures (throttling, a too-large card) in a 200 body.
    if fmt == "teams" and "delivery failed" in text.lower():
        raise _Refused(f"refused the card: {_scrub(text.strip()[:300], url)}")


def _post_slack(url: str, payload: dict, timeout: float) -> None:
    from slack_sdk.webhook import WebhookClient

    client = WebhookClient(url, timeout=int(max(1, timeout)), logger=_SILENT, retry_handlers=[])
    try:
        response = client.send_dict(payload)
    except Exception as exc:  # slack_sdk raises what urllib raises, and its own errors
        reason = getattr(exc, "reason", exc)
        raise _Refused(f"could not be reached: {_scrub(str(reason), url)}") from None
    if not 200 <= response.status_code < 300:
        detail = _scrub(str(response.body or "").strip()[:300], url)
        raise _Refused(f"answered HTTP {response.status_code}" + (f" ({detail})" if detail else ""))


def post_alerts(
    frame: pl.DataFrame,
    url: str,
    timeout: float = 10,
    fmt: str | None = None,
    links: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> list[str]:
    """POST one message per alert to `url`; returns the alert_ids the webhook accepted.

    `fmt`: generic|slack|teams, or None to infer it from the URL's host (webhook_format).
    `links`: alert_id -> [(title, url)] of its reports (report_links(curated.evidence)).
    Stops at the first failure with a WebhookError naming the masked URL and the alert, whose
    `posted` lists the ids accepted before it: exactly the ones to record as sent.
    """
    kind = webhook_format(url, fmt)
    links = links or {}
    posted: list[str] = []
    for row in frame.iter_rows(named=True):
        payload = alert_payload(row, kind, links.get(row["alert_id"], ()))
        try:
            _post(url, payload, kind, timeout)
        except _Refused as exc:
            raise WebhookError(
                f"alert {row['alert_id']} not posted: {kind} webhook {mask_url(url)} {exc} "
                f"({len(posted)} alert(s) posted before it)",
                posted,
            ) from None
        posted.append(row["alert_id"])
    return posted


def send_text(url: str, text: str, fmt: str | None = None, timeout: float = 10) -> None:
    """POST one plain line (run_failure_message) to `url` in its format; WebhookError if the
    webhook does not accept it."""
    kind = webhook_format(url, fmt)
    try:
        _post(url, text_payload(text, kind), kind, timeout)
    except _Refused as exc:
        raise WebhookError(
            f"text message not posted: {kind} webhook {mask_url(url)} {exc}"
        ) from None
