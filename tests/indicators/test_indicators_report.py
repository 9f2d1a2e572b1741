"""The report page and PNG charts: self-contained, deterministic, rendered by a real Chromium."""

import os
import re
import shutil
import subprocess

import pytest

from assets.indicators.report import build_report, chart_png

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
]


def _alert_ids(con, facility_id=None):
    rows = con.execute(
        "select alert_id from curated.alerts where $f is null or facility_id = $f "
        "order by alert_id",
        {"f": facility_id},
    ).fetchall()
    return [r[0] for r in rows]


def test_report_is_self_contained_and_deterministic(warehouse, tmp_path):
    result = build_report(warehouse, tmp_path / "a" / "report.html")
    page = result.path.read_text(encoding="utf-8")
    assert result.facilities == ["khasan", "tumangang"]
    assert result.n_alerts == 2
    # No external scripts, stylesheets or frames: everything is inline.
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<(iframe|img)[^>]*src\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "vegaEmbed" in page
    assert "Tumangang rail facility" in page and "Khasan station" in page
    for alert_id in _alert_ids(warehouse):
        assert page.count(f'id="alert-{alert_id}"') == 1
        assert f'href="#alert-{alert_id}"' in page
    assert "Data through 2023-10-13." in page
    assert 'href="https://www.rd.nl/artikel/1037517"' in page
    again = build_report(warehouse, tmp_path / "b" / "report.html")
    assert again.path.read_bytes() == result.path.read_bytes()


def test_report_for_chosen_facilities(warehouse, tmp_path):
    result = build_report(warehouse, tmp_path / "report.html", facilities=["khasan"])
    page = result.path.read_text(encoding="utf-8")
    assert result.facilities == ["khasan"] and result.n_alerts == 1
    assert "Tumangang rail facility" not in page
    assert f'id="alert-{_alert_ids(warehouse, "khasan")[0]}"' in page


def test_chart_png(warehouse):
    png = chart_png(warehouse, "tumangang")
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    zoomed = chart_png(warehouse, "tumangang", alert_id=_alert_ids(warehouse, "tumangang")[0])
    assert zoomed.startswith(b"\x89PNG") and zoomed != png
    with pytest.raises(ValueError, match="nowhere"):
        chart_png(warehouse, "nowhere")


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if found is None:
        reason = "headless Chromium not installed (apt-get install chromium) at /usr/bin/chromium"
        if os.environ.get("BORDERWATCH_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _symbols(dom: str, group_class: str) -> int:
    match = re.search(rf'<g class="mark-symbol role-mark {group_class}"[^>]*>(.*?)</g>', dom, re.S)
    assert match, f"no rendered mark group {group_class}"
    return match.group(1).count("<path")


@pytest.mark.browser
def test_report_renders_in_headless_chromium(warehouse, tmp_path):
    chromium = _chromium()
    result = build_report(warehouse, tmp_path / "report.html")
    url = result.path.resolve().as_uri()
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dump = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, profile, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    dom, log = dump.stdout, dump.stderr
    assert dump.returncode == 0, log[-2000:]
    assert "Uncaught" not in log, log[-2000:]
    console_errors = [line for line in log.splitlines() if "CONSOLE" in line and "rror" in line]
    assert not console_errors, console_errors
    # Every chart (one history and one ±60-day zoom per alert and facility) rendered as SVG.
    assert dom.count('class="marks"') == 4
    # five layers of counts, the scene ticks and the news bars, per chart
    assert len(re.findall(r'class="mark-[a-z]+ role-mark ', dom)) == 4 * 7
    # Tumangang (second facility): one red anomaly in the history chart and in its zoom.
    assert _symbols(dom, "counts_1_layer_4_marks") == 1
    assert _symbols(dom, "counts_1_0_layer_4_marks") == 1
    assert "73 railcars on 2023-10-05, 3.7× the five-year maximum of 20" in dom
    # The baseline step line and the reported counts are drawn.
    assert re.search(r'role-mark counts_1_layer_0_marks"[^>]*><path[^>]* d="M', dom)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            profile,
            "--window-size=1200,1800",
            f"--screenshot={shot}",
            "--hide-scrollbars",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 50_000
