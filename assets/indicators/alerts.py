"""Emit alerts once: pick the ones not sent yet and post each to a webhook as a JSON document."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, datetime

import polars as pl


class WebhookError(RuntimeError):
    """A webhook refused or could not be reached; `posted` holds the alert_ids accepted before."""

    def __init__(self, message: str, posted: list[str] | None = None):
        super().__init__(message)
        self.posted = list(posted or [])


def new_alerts(alerts: pl.DataFrame, already_sent_ids: set[str]) -> pl.DataFrame:
    """The rows of curated.alerts whose alert_id has not been sent, in observation order."""
    fresh = alerts.filter(~pl.col("alert_id").is_in(sorted(already_sent_ids)))
    keys = [c for c in ("observed_on", "facility_id", "metric", "alert_id") if c in fresh.columns]
    return fresh.sort(keys)


def _jsonable(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def alert_document(row: dict) -> dict:
    """One alert as a JSON-ready dict (dates as ISO strings)."""
    return {key: _jsonable(value) for key, value in row.items()}


def post_alerts(frame: pl.DataFrame, url: str, timeout: float = 10) -> list[str]:
    """POST one JSON document per alert to `url`; returns the alert_ids the server accepted.

    Stops at the first failure with a WebhookError naming the URL and the alert, so the ids
    returned by an earlier call are exactly the ones to record as sent.
    """
    posted: list[str] = []
    for row in frame.iter_rows(named=True):
        body = json.dumps(alert_document(row), ensure_ascii=False, sort_keys=True).encode("utf-8")
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise WebhookError(
                f"webhook {url} answered HTTP {exc.code} for alert {row['alert_id']} "
                f"({len(posted)} alert(s) posted before it)",
                posted,
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WebhookError(
                f"could not post alert {row['alert_id']} to webhook {url}: {reason} "
                f"({len(posted)} alert(s) posted before it)",
                posted,
            ) from exc
        if not 200 <= status < 300:
            raise WebhookError(
                f"webhook {url} answered HTTP {status} for alert {row['alert_id']}", posted
            )
        posted.append(row["alert_id"])
    return posted
