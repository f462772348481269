"""Open the app in headless Chromium and click through every page."""

import pytest

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e

PAGES = [("Home", "Crossroads"), ("Models", "Models"), ("Knowledge", "Knowledge"), ("Fine-tune", "Fine-tune"),
         ("Compare", "Compare"), ("Evaluate", "Evaluate"), ("Review", "Blind review"), ("Recommend", "Recommend")]


def test_every_page_opens_in_a_real_browser(app_server, page):
    page.goto(app_server.url)
    wait_for_app(page)
    for label, heading in PAGES:
        page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
        page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
        wait_for_app(page)
        assert page.get_by_test_id("stException").count() == 0, f"{label} shows an exception"
        screenshot(page, f"page-{label.lower()}")
    assert app_server.network_violations() == []
