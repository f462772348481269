"""Knowledge in a real Chromium: upload two demo files and a broken one through the file
uploader, see two indexed and one clear error, ask a question, see the streamed answer and a
citation of the right file; and a large upload that indexes in the background across a reload,
a cancel and a resume."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, wait_for_app
from tests.unit.test_knowledge_crash import CHECK, ROOT

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


def bulk_files(folder: Path, count: int = 3, paragraphs: int = 700) -> list[str]:
    """Plain-text files large enough (thousands of chunks) that indexing takes tens of seconds."""
    paths = []
    for n in range(count):
        path = folder / f"ledger_{n}.txt"
        path.write_text("\n\n".join(
            f"Ledger {n} entry {i}: station SK-{i:04d} was serviced in week {i % 52 + 1}; the technician "
            f"logged battery {60 + i % 40}% and panel output {i % 30} W, and noted reference {n * 10000 + i}."
            for i in range(paragraphs)))
        paths.append(str(path))
    return paths


def choose_kb(page, name: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="Knowledge base").first.click()
    page.get_by_role("option", name=name, exact=True).click()
    wait_for_app(page)


def test_a_large_upload_indexes_in_the_background_across_a_reload_cancel_and_resume(app_server, page, tmp_path):
    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Knowledge", exact=True).click()
    page.get_by_role("heading", name="Knowledge").first.wait_for(timeout=60_000)
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("New")).click()
    name = page.get_by_role("textbox", name="Name")
    name.fill("bulk")
    name.press("Enter")
    page.get_by_role("button", name="Create").click()
    wait_for_app(page)
    expect(page.get_by_role("dialog", name="New")).to_have_count(0)  # Create closes the popover
    expect(page.get_by_text(re.compile(r"^0 files · 0 chunks"))).to_be_visible(timeout=60_000)
    wait_for_app(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(bulk_files(tmp_path))
    ingest = page.get_by_role("button", name="Ingest 3 file(s)")
    expect(ingest).to_be_enabled(timeout=60_000)
    ingest.click()
    panel = page.locator(".st-key-ingest_panel")
    expect(panel.get_by_text(re.compile(r"\d+/\d+ chunks"))).to_be_visible(timeout=120_000)

    # A reload mid-way: the job is still running, and the page follows it again.
    page.reload()
    wait_for_app(page)
    choose_kb(page, "bulk")
    expect(panel.get_by_text(re.compile(r"Ingesting uploads · (running|queued)"))).to_be_visible(timeout=60_000)
    expect(panel.get_by_text(re.compile(r"\d+/\d+ chunks"))).to_be_visible(timeout=60_000)
    screenshot(page, "knowledge-ingest-running")

    panel.get_by_role("button", name="Cancel").click()
    expect(panel.get_by_text(re.compile(r"Cancelled after \d+ of 3 files"))).to_be_visible(timeout=120_000)
    wait_for_app(page)
    panel.get_by_role("button", name="Resume").click()
    expect(page.get_by_text(re.compile(r"3 indexed, 0 with errors"))).to_be_visible(timeout=600_000)
    wait_for_app(page)
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "knowledge-ingest-resumed")

    # Every chunk exactly once: the collection holds what the manifest lists, no duplicate ids.
    check = CHECK.replace('"big"', '"bulk"')
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CROSSROADS_DATA_DIR": str(app_server.data_dir)})
    assert out.returncode == 0, out.stderr[-2000:]
    final = json.loads(out.stdout.strip().splitlines()[-1])
    assert final["complete"] == 3 and final["pending"] == 0 and not final["missing"]
    assert final["count"] == final["complete_chunks"] == final["unique"]
    assert app_server.network_violations() == []


def test_the_demo_loads_as_a_job_and_the_retrieval_lab_stores_its_best_setting(app_server, page):
    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Knowledge", exact=True).click()
    page.get_by_role("heading", name="Knowledge").first.wait_for(timeout=60_000)
    wait_for_app(page)
    page.get_by_role("button", name="Load demo workspace").click()
    panel = page.locator(".st-key-ingest_panel")
    # The panel of the demo's own job (the page may still show another knowledge base's last job).
    expect(panel.get_by_text(re.compile(r"Loading the demo documents · completed"))).to_be_visible(timeout=300_000)
    expect(panel.get_by_text(re.compile(r"10 indexed, 0 with errors"))).to_be_visible()
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"^10 files · \d+ chunks"))).to_be_visible()

    page.get_by_role("tab", name="Retrieval lab").click()
    page.get_by_role("button", name="Run the lab").click()
    expect(page.get_by_text(re.compile(r"^Best: "))).to_be_visible(timeout=300_000)
    wait_for_app(page)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "knowledge-retrieval-lab")
    apply = page.get_by_role("button", name="Use the best setting for this knowledge base")
    if apply.count():  # unless the current setting is already the best
        apply.click()
        expect(page.get_by_text(re.compile(r"Stored as this knowledge base's setting"))).to_be_visible(timeout=120_000)
    else:
        expect(page.get_by_text("The current setting is already the best.")).to_be_visible()
    assert app_server.network_violations() == []
