"""The RAFT training mode in a real Chromium: a Q&A upload, "For use with retrieval (RAFT)" with a
knowledge base, the built rows counted, rows without an answer passage listed, and the exact
training text showing the retrieved passages of the RAG prompt."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.app.test_raft_page import FACTS, QA
from tests.conftest import data_dir_env
from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_raft_mode_in_the_browser(app_server, page, tmp_path):
    from core.knowledge.indexing import ingest

    for name, text in FACTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with data_dir_env(app_server.data_dir):
        ingest("facts", [tmp_path / n for n in FACTS])
    upload = tmp_path / "facts.jsonl"
    upload.write_text("\n".join(json.dumps({"question": q if i < 8 else f"{q} (again)", "answer": a, "source": s})
                                for i, (q, a, s) in enumerate(QA)), encoding="utf-8")

    page.goto(app_server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Fine-tune", exact=True).click()
    page.get_by_role("heading", name="Fine-tune").first.wait_for(timeout=60_000)
    wait_for_app(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(upload))
    expect(page.get_by_text("Closed-book (facts in the weights)")).to_be_visible(timeout=300_000)
    wait_for_app(page)
    page.get_by_text("For use with retrieval (RAFT)").click()
    expect(page.get_by_text(re.compile(r"16 RAFT rows: the answer passage was found for 12"))).to_be_visible(
        timeout=300_000)
    expect(page.get_by_text("4 row(s) without an answer passage (train closed-book)")).to_be_visible()
    expect(page.get_by_text("sized to fit the retrieved context")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile("According to the text above")).first).to_be_visible(timeout=120_000)
    wait_for_app(page)
    page.get_by_text("Training mode").scroll_into_view_if_needed()
    screenshot(page, "finetune-raft-mode")
    page.get_by_role("heading", name="4 · What the model sees").scroll_into_view_if_needed()
    screenshot(page, "finetune-raft-preview")
    assert app_server.network_violations() == []
