"""new_alerts / post_alerts on a local webhook: each alert posted once, failures name the webhook
by its host only (the URL is a secret)."""

import json
import socket
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from assets.indicators.alerts import WebhookError, new_alerts, post_alerts


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, json.loads(body)))
        status = 500 if self.path.startswith("/broken") else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _alerts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "alert_id": ["b2", "a1"],
            "facility_id": ["tumangang", "khasan"],
            "metric": ["railcars", "railcars"],
            "observed_on": [date(2023, 10, 5), date(2022, 11, 29)],
            "value": [73.0, 15.0],
            "severity": ["high", "medium"],
            "summary": ["Tumangang rail facility: 73 railcars on 2023-10-05", "Khasan: 15"],
        }
    )


def test_new_alerts_leaves_out_sent_ids_and_orders_by_date():
    assert new_alerts(_alerts(), set())["alert_id"].to_list() == ["a1", "b2"]
    assert new_alerts(_alerts(), {"a1"})["alert_id"].to_list() == ["b2"]
    assert new_alerts(_alerts(), {"a1", "b2"}).height == 0


def test_posts_each_new_alert_once(webhook):
    url = f"http://127.0.0.1:{webhook.server_port}/hook"
    sent: set[str] = set()
    posted = post_alerts(new_alerts(_alerts(), sent), url)
    assert posted == ["a1", "b2"]
    assert [doc["alert_id"] for _, doc in webhook.received] == ["a1", "b2"]
    tumangang = webhook.received[1][1]
    assert tumangang["observed_on"] == "2023-10-05"
    assert tumangang["value"] == 73.0 and tumangang["severity"] == "high"
    sent.update(posted)
    assert post_alerts(new_alerts(_alerts(), sent), url) == []
    assert len(webhook.received) == 2


def test_http_error_names_the_masked_url(webhook):
    url = f"http://127.0.0.1:{webhook.server_port}/broken/secret-token"
    masked = f"http://127.0.0.1:{webhook.server_port}/…"
    with pytest.raises(WebhookError, match=f"generic webhook {masked} answered HTTP 500") as e:
        post_alerts(_alerts(), url)
    assert "secret-token" not in str(e.value)
    assert len(webhook.received) == 1  # stops at the first failure


def test_unreachable_url_names_the_masked_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nobody-listens"
    masked = f"http://127.0.0.1:{port}/…"
    with pytest.raises(WebhookError, match=f"alert a1 not posted: generic webhook {masked} could"):
        post_alerts(_alerts().sort("alert_id"), url, timeout=2)
