"""Knowledge in a real Chromium: upload two demo files and a broken one through the file
uploader, see two indexed and one clear error, ask a question, see the streamed answer and a
citation of the right file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e
DEMO = Path(__file__).resolve().parents[2] / "demo" / "docs"


def test_upload_ingest_and_ask_in_the_browser(app_server, page, tmp_path):
    broken = tmp_path / "quarterly_report.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntruncated here")

    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Knowledge", exact=True).click()
    page.get_by_role("heading", name="Knowledge").first.wait_for(timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_text("No knowledge base yet")).to_be_visible()

    # create a knowledge base
    page.get_by_role("button", name=re.compile("New")).click()
    name = page.get_by_role("textbox", name="Name")
    name.fill("company")
    name.press("Enter")
    page.get_by_role("button", name="Create").click()
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"0 files · 0 chunks"))).to_be_visible(timeout=60_000)

    # upload two good files and one broken one, then ingest
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        [str(DEMO / "security_policy.txt"), str(DEMO / "product_sheet_larkspur_ld900.html"), str(broken)])
    ingest = page.get_by_role("button", name="Ingest 3 file(s)")
    expect(ingest).to_be_enabled(timeout=60_000)
    ingest.click()
    expect(page.get_by_text("2 indexed, 1 with errors")).to_be_visible(timeout=240_000)
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"quarterly_report\.pdf: the PDF is damaged"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"2 files · \d+ chunks"))).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "knowledge-upload")

    # ask: a streamed answer with a citation of the right file
    page.get_by_role("tab", name="Ask").click()
    page.get_by_role("textbox", name="Question").fill("Which password manager does Brindlemoor use?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.get_by_text("Sources", exact=True)).to_be_visible(timeout=300_000)
    wait_for_app(page)
    citation = page.get_by_test_id("stExpander").first
    expect(citation).to_contain_text("security_policy.txt")
    answer = page.get_by_test_id("stChatMessage").first
    expect(answer).to_contain_text(re.compile(r"\w+"))
    citation.get_by_text("security_policy.txt").click()  # expand: the chunk text, as plain text
    expect(citation).to_contain_text("Vaultkeel")
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "knowledge-answer")
    assert app_server.network_violations() == []
