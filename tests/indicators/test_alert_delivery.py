"""Alerts delivered as Slack and Teams messages (and generic JSON) to a local receiver on
127.0.0.1: one message per alert, payloads in the shape each service requires, failures that
stop and report what was posted, and a webhook URL that never leaks into errors or logs."""

from __future__ import annotations

import json
import logging
import socket
import threading
import traceback
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from assets.indicators.alerts import (
    WebhookError,
    alert_text,
    mask_url,
    new_alerts,
    post_alerts,
    report_links,
    run_failure_message,
    send_text,
    webhook_format,
)

SECRET_PATH = "/services/T0BW/B0BW/xoxb-s3cr3t-t0k3n"
CSIS_URL = "https://beyondparallel.csis.org/dramatic-increase-in-dprk-russia-border-rail-traffic/"
NORTH_URL = "https://www.38north.org/2023/10/tumangang-rail/"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        with server.lock:
            server.received.append((self.path, dict(self.headers), json.loads(body)))
            n = len(server.received)
        if n in server.fail_on:
            # Like Slack's error bodies, but echoing the path: it must be masked on our side.
            text = f"no_service for {self.path}".encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        text = b"1" if server.answer_one else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received, server.fail_on, server.answer_one = [], set(), False
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}{SECRET_PATH}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _alerts() -> pl.DataFrame:
    """Three rows shaped like curated.alerts."""
    base = {
        "crossing_id": "tumen-river-rail",
        "metric": "railcars",
        "prior_n": 40,
        "prior_median": 9.0,
        "robust_z": 11.2,
        "n_scenes": 3,
        "synthetic": False,
    }
    rows = [
        {
            **base,
            "alert_id": "a1",
            "facility_id": "tumangang",
            "facility_name": "Tumangang rail facility",
            "observed_on": date(2023, 10, 5),
            "value": 73.0,
            "prior_max": 20.0,
            "ratio_to_prior_max": 3.65,
            "severity": "high",
            "first_seen_on": date(2023, 10, 6),
            "n_reports": 2,
            "sources": ["38 North", "CSIS Beyond Parallel"],
            "n_clear_scenes": 2,
            "n_articles": 6,
            "n_languages": 3,
            "summary": "Tumangang rail facility: 73 railcars on 2023-10-05, 3.7× the five-year "
            "maximum of 20; 2 clear scenes within 7 days; 6 articles in 3 languages",
        },
        {
            **base,
            "alert_id": "b2",
            "facility_id": "khasan",
            "facility_name": "Khasan station",
            "observed_on": date(2023, 10, 6),
            "value": 41.0,
            "prior_max": 25.0,
            "ratio_to_prior_max": 1.64,
            "severity": "medium",
            "first_seen_on": date(2023, 10, 6),
            "n_reports": 1,
            "sources": ["38 North"],
            "n_clear_scenes": 1,
            "n_articles": 0,
            "n_languages": 0,
            "summary": "Khasan station: 41 railcars on 2023-10-06 <b>&</b>; no matched articles",
        },
        {
            **base,
            "alert_id": "c3",
            "facility_id": "khasan",
            "facility_name": "Khasan station",
            "observed_on": date(2023, 10, 7),
            "value": 44.0,
            "prior_max": 25.0,
            "ratio_to_prior_max": 1.76,
            "severity": "medium",
            "first_seen_on": date(2023, 10, 7),
            "n_reports": 1,
            "sources": ["38 North"],
            "n_clear_scenes": 0,
            "n_articles": 1,
            "n_languages": 1,
            "summary": "Khasan station: 44 railcars on 2023-10-07; 1 article in 1 language",
        },
    ]
    return pl.DataFrame(rows)


def _links() -> dict[str, list[tuple[str, str]]]:
    evidence = pl.DataFrame(
        {
            "alert_id": ["a1", "a1", "a1", "a1", "b2"],
            "evidence_kind": ["report", "report", "scene", "report", "report"],
            "title": ["CSIS Beyond Parallel", "38 North", "S2A_52TFM", "CSIS again", "38 North"],
            "ref": [CSIS_URL, NORTH_URL, "S2A_52TFM_20231004", CSIS_URL, "not a url"],
        }
    )
    return report_links(evidence)


def _assert_slack_message(payload: dict) -> None:
    """What Slack's incoming webhooks require of a Block Kit message."""
    assert isinstance(payload["text"], str) and payload["text"].strip()
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"section", "context"}
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert field["type"] in {"mrkdwn", "plain_text"}
                assert 0 < len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        else:
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert element["type"] in {"mrkdwn", "plain_text", "image"}


def _assert_teams_message(payload: dict) -> dict:
    """A Teams incoming-webhook message carrying an Adaptive Card; returns the card."""
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] in {"1.2", "1.3", "1.4", "1.5"}
    assert card["body"] and all(e["type"] in {"TextBlock", "FactSet"} for e in card["body"])
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith("https://")
        assert action["title"]
    return card


def _texts(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", [])]
    return "\n".join(out)


def test_report_links_keep_report_urls_once():
    assert _links() == {"a1": [("CSIS Beyond Parallel", CSIS_URL), ("38 North", NORTH_URL)]}


def test_slack_gets_one_block_kit_message_per_alert(receiver):
    posted = post_alerts(_alerts().head(2), receiver.url, fmt="slack", links=_links())
    assert posted == ["a1", "b2"]
    assert [path for path, _, _ in receiver.received] == [SECRET_PATH, SECRET_PATH]
    for _, headers, payload in receiver.received:
        _assert_slack_message(payload)
        assert headers["Content-Type"].startswith("application/json")
    first = receiver.received[0][2]
    assert first["text"].startswith("[HIGH] Tumangang rail facility: 73 railcars on 2023-10-05")
    text = _texts(first["blocks"])
    assert "*HIGH*" in text and "Tumangang rail facility (tumangang)" in text
    assert "2 reports · 2 clear of 3 scenes · 6 articles in 3 languages" in text
    assert "73 railcars; five-year max 20 (3.7×)" in text  # rounded as the summary is
    assert f"<{CSIS_URL}|CSIS Beyond Parallel>" in text and f"<{NORTH_URL}|38 North>" in text
    assert "`a1`" in text
    # Slack's control characters are escaped in the text it renders.
    second = _texts(receiver.received[1][2]["blocks"])
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in second and "<b>" not in second


def test_teams_gets_one_adaptive_card_per_alert(receiver):
    receiver.answer_one = True  # what an Office 365 connector answers
    posted = post_alerts(_alerts().head(2), receiver.url, fmt="teams", links=_links())
    assert posted == ["a1", "b2"]
    card = _assert_teams_message(receiver.received[0][2])
    assert card["body"][0]["text"] == "HIGH · Tumangang rail facility (tumangang)"
    assert card["body"][1]["text"].startswith("Tumangang rail facility: 73 railcars")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Severity"] == "high" and facts["Observed"] == "2023-10-05"
    assert facts["Evidence"] == "2 reports · 2 clear of 3 scenes · 6 articles in 3 languages"
    assert [a["url"] for a in card["actions"]] == [CSIS_URL, NORTH_URL]
    second = _assert_teams_message(receiver.received[1][2])
    assert "actions" not in second  # b2 has no http(s) report link
    facts = {f["title"]: f["value"] for f in second["body"][2]["facts"]}
    assert facts["Evidence"] == "1 report · 1 clear of 3 scenes · no matched articles"


def test_generic_json_is_the_alert_row_with_its_links(receiver):
    assert post_alerts(_alerts().head(1), receiver.url, fmt="generic", links=_links()) == ["a1"]
    ((_, _, doc),) = receiver.received
    assert doc["alert_id"] == "a1" and doc["observed_on"] == "2023-10-05"
    assert doc["value"] == 73.0 and doc["sources"] == ["38 North", "CSIS Beyond Parallel"]
    assert doc["report_links"] == [
        {"title": "CSIS Beyond Parallel", "url": CSIS_URL},
        {"title": "38 North", "url": NORTH_URL},
    ]


def test_each_alert_is_sent_once_across_runs(receiver):
    sent: set[str] = set()
    sent.update(post_alerts(new_alerts(_alerts(), sent), receiver.url, fmt="slack"))
    assert post_alerts(new_alerts(_alerts(), sent), receiver.url, fmt="slack") == []
    assert len(receiver.received) == 3


@pytest.mark.parametrize("fmt", ["generic", "slack", "teams"])
def test_a_500_stops_and_reports_what_was_posted_without_the_url(receiver, fmt, caplog):
    caplog.set_level(logging.DEBUG)  # whatever a library logs, the URL must not be in it
    receiver.fail_on = {2}
    with pytest.raises(WebhookError) as caught:
        post_alerts(_alerts(), receiver.url, fmt=fmt, links=_links())
    error = caught.value
    assert error.posted == ["a1"]
    assert len(receiver.received) == 2  # stopped at b2; c3 never sent
    message = str(error)
    masked = f"http://127.0.0.1:{receiver.server_port}/…"
    assert message == (
        f"alert b2 not posted: {fmt} webhook {masked} answered HTTP 500 "
        "(no_service for /…) (1 alert(s) posted before it)"
    )
    shown = "".join(traceback.format_exception(error)) + caplog.text
    for secret in (receiver.url, SECRET_PATH, "s3cr3t"):
        assert secret not in shown


@pytest.mark.parametrize("fmt", ["generic", "slack", "teams"])
def test_an_unreachable_webhook_is_named_by_its_host_only(fmt, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    with pytest.raises(
        WebhookError,
        match=rf"alert a1 not posted: {fmt} webhook http://127\.0\.0\.1:{port}/… could not be reached",
    ) as caught:  # noqa: E501
        post_alerts(_alerts(), url, fmt=fmt, timeout=2)
    assert caught.value.posted == []
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "s3cr3t" not in shown and SECRET_PATH not in shown


def test_format_follows_the_setting_or_the_host():
    assert webhook_format("https://hooks.slack.com/services/T/B/X") == "slack"
    assert webhook_format("https://contoso.webhook.office.com/webhookb2/abc") == "teams"
    assert webhook_format("https://prod-12.westeurope.logic.azure.com:443/workflows/x") == "teams"
    assert webhook_format("https://example.org/hooks/alerts") == "generic"
    assert webhook_format("https://hooks.slack.com/services/T/B/X", "Generic") == "generic"
    assert webhook_format("http://127.0.0.1:9/x", "teams") == "teams"
    with pytest.raises(ValueError, match="unknown webhook format 'email'") as caught:
        webhook_format("https://hooks.slack.com/services/T/B/X", "email")
    assert "services" not in str(caught.value)


def test_mask_url_keeps_scheme_and_host_only():
    assert mask_url("https://hooks.slack.com/services/T/B/X") == "https://hooks.slack.com/…"
    assert mask_url("https://user:pw@example.org:8443/x?k=v") == "https://example.org:8443/…"
    assert mask_url("not a url") == "(webhook URL)"


def test_run_failure_message_is_one_line():
    message = run_failure_message(
        "borderwatch_all",
        "1a2b3c4d-0000-4000-8000-000000000000",
        "stg_news__articles",
        "GdeltHttpError: cannot download http://x/20231006.gkg.csv.zip\n  after 5 attempts",
    )
    assert message == (
        "borderwatch run 1a2b3c4d (borderwatch_all) failed at stg_news__articles: "
        "GdeltHttpError: cannot download http://x/20231006.gkg.csv.zip after 5 attempts"
    )
    assert run_failure_message("nightly", "1a2b3c", None, "") == (
        "borderwatch run 1a2b3c (nightly) failed: no error message"
    )
    long = run_failure_message("j", "r", "s", "x" * 2000)
    assert "\n" not in long and len(long) < 600 and long.endswith("…")


@pytest.mark.parametrize("fmt", ["generic", "slack", "teams"])
def test_send_text_posts_the_line_in_each_format(receiver, fmt):
    line = run_failure_message("borderwatch_all", "1a2b3c", "alerts", "boom <here> & there")
    send_text(receiver.url, line, fmt=fmt)
    ((_, _, payload),) = receiver.received
    if fmt == "generic":
        assert payload == {"text": line}
    elif fmt == "slack":
        _assert_slack_message(payload)
        assert payload["text"] == line
        assert "boom &lt;here&gt; &amp; there" in _texts(payload["blocks"])
    else:
        card = _assert_teams_message(payload)
        assert card["body"][0]["text"] == line
    receiver.fail_on = {2}
    with pytest.raises(WebhookError, match=r"text message not posted: .* answered HTTP 500") as e:
        send_text(receiver.url, line, fmt=fmt)
    assert "s3cr3t" not in str(e.value)


def test_alert_text_is_severity_and_summary():
    row = _alerts().row(0, named=True)
    assert alert_text(row) == f"[HIGH] {row['summary']}"
