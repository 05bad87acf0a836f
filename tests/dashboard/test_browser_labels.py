"""The real page in headless Chromium shows human labels and one zone naming; its screenshots are kept.

Screenshots land in ``artifacts/screenshots/`` (``04_ladder_labels.png``); skipped without Debian chromium.
"""

from __future__ import annotations

import pytest

from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, dashboard_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

RAW_NAMES = ("instance_type", "price_usd_per_h", "throughput_factor")


def test_ladder_labels_and_zone_names_in_chromium(dashboard_url: str) -> None:  # noqa: F811
    """The ladder grid shows labelled columns and AZ-ID zones, the saving metric's label is not cut, and the
    regret block and its trace upload are labelled."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(dashboard_url)
            grid = page.locator('[data-testid="stDataFrame"]').first
            grid.wait_for(timeout=60_000)
            grid.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            text = " ".join(grid.locator("[role=columnheader], [role=gridcell]").all_text_contents()) or str(grid.text_content())
            page.screenshot(path=str(SHOTS / "04_ladder_labels.png"), full_page=True)
            assert "Zone (AZ ID, name)" in text and "Price (USD/h per node)" in text, text[:500]
            assert not any(name in text for name in RAW_NAMES)
            assert "-az" in text and "$" in text
            label = page.locator('[data-testid="stMetricLabel"]', has_text="Saving vs on-demand").first
            cut = label.evaluate("e => Array.from(e.querySelectorAll('*')).concat([e])"
                                 ".some(x => x.scrollWidth > x.clientWidth + 1)")
            assert not cut, "the 'Saving vs on-demand' label is cut off"
            # the regret block (in the SimPy tab) says what it needs; the sidebar takes the traces it needs
            page.get_by_text("Regret against the offline optimum").first.wait_for(state="attached", timeout=10_000)
            assert page.locator('.st-key-trace_files').get_by_text("Traces: Can't Be Late JSON").count() == 1
        finally:
            browser.close()
