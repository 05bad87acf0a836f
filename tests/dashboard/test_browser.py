"""The real dashboard in a real browser: `spotplan dashboard` on loopback, driven by Debian's chromium.

Screenshots land in ``artifacts/screenshots/`` (gitignored). With ``SPOTPLAN_README_SCREENSHOT=1`` the first
full view is also written to ``docs/dashboard.png`` for the README.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotplan.paths import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "artifacts" / "screenshots"
# Keep chromium from calling outside hosts (the machines have no network; the calls only slow it down).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
CHART = '.st-key-{key} [data-testid="stPlotlyChart"]'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium "
                       "(apt-get install chromium; .ci/run does this)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spotplan() -> list[str]:
    """The installed console script beside this interpreter, else the same CLI through ``-m``."""
    script = Path(sys.executable).parent / "spotplan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "spotplan.cli"]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"spotplan dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=1) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"dashboard not healthy at {url} after {timeout_s} s")


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `spotplan dashboard --port <free>` (loopback default) and stop it afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("dashboard") / "streamlit.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*_spotplan(), "dashboard", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(log.read_text(errors="replace")[-3000:])


def _chart_svg(page, key: str) -> str:
    return str(page.locator(CHART.format(key=key) + " .main-svg").first.inner_html())


def test_dashboard_in_chromium(dashboard_url: str) -> None:
    """Charts render, moving the interruption slider redraws the interval chart, a bad price file shows the error."""
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            t0 = time.perf_counter()
            page.goto(dashboard_url)
            for key in ("plan_comparison", "interval_sweep"):
                page.locator(CHART.format(key=key) + " .scatterlayer, " + CHART.format(key=key) + " .barlayer") \
                    .first.wait_for(state="attached", timeout=60_000)
            timings = {"goto_to_charts_s": time.perf_counter() - t0}
            page.wait_for_timeout(300)  # let plotly finish laying out before the screenshot
            page.screenshot(path=str(SHOTS / "01_loaded.png"), full_page=True)
            if os.environ.get("SPOTPLAN_README_SCREENSHOT") == "1":
                page.screenshot(path=str(REPO_ROOT / "docs" / "dashboard.png"))
            before = _chart_svg(page, "interval_sweep")

            thumb = page.locator('.st-key-interruption_multiplier input[type="range"]')
            chosen = page.locator(CHART.format(key="interval_sweep") + " .legendtext", has_text="chosen")
            chosen_before = str(chosen.text_content())
            thumb.focus()
            t1 = time.perf_counter()
            page.keyboard.press("ArrowRight")  # one step: 1.00 -> 1.25, one rerun
            expect(thumb).to_have_attribute("aria-valuetext", "1.25", timeout=10_000)
            page.wait_for_function(
                "([sel, old]) => { const e = document.querySelector(sel); return e && e.innerHTML !== old; }",
                arg=[CHART.format(key="interval_sweep") + " .main-svg", before], timeout=30_000)
            page.wait_for_function(  # the chosen-interval legend entry shows the new interval
                """([sel, old]) => { const t = Array.from(document.querySelectorAll(sel)).map(e => e.textContent)
                                       .filter(x => x.startsWith('chosen')); return t.length === 1 && t[0] !== old; }""",
                arg=[CHART.format(key="interval_sweep") + " .legendtext", chosen_before], timeout=30_000)
            timings["slider_to_redraw_s"] = time.perf_counter() - t1
            assert _chart_svg(page, "interval_sweep") != before
            page.screenshot(path=str(SHOTS / "02_interruptions_x1.25.png"), full_page=True)

            page.locator('.st-key-price_file input[type="file"]').set_input_files(
                files=[{"name": "broken_prices.json", "mimeType": "application/json",
                        "buffer": b'{"SpotPriceHistory": [{"InstanceType": "p4d.24xlarge", "SpotPrice": "cheap"}]}'}])
            alert = page.locator('[data-testid="stAlert"]', has_text="broken_prices.json").first
            alert.wait_for(timeout=30_000)
            assert "spotplan: error:" in alert.inner_text()
            page.screenshot(path=str(SHOTS / "03_bad_price_file.png"), full_page=True)
            (SHOTS / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
            print("browser timings:", timings)
        finally:
            browser.close()
