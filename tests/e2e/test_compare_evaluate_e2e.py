"""Compare and Evaluate in a real browser: four arms stream side by side; a small evaluation runs
as a background job and its report shows metrics, the chart and the per-question diff."""

import re

import pytest

from tests.conftest import module_data_dir
from tests.e2e.conftest import screenshot, serve_app, wait_for_app
from tests.helpers.adapters import make_random_adapter

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory, converted_models):
    """The demo knowledge base and a (random-weight, real) LoRA adapter, then the app over them."""
    import os

    from core.knowledge import demo as KD
    from core.runtime.settings import Settings

    data_dir = module_data_dir(tmp_path_factory, converted_models, "arms")
    settings = Settings(data_dir=data_dir)
    report = KD.load_demo_workspace(settings=settings)
    assert report.ok, report.as_dict()
    make_random_adapter(data_dir, "demo-adapter")
    assert os.environ.get("CROSSROADS_DATA_DIR") != str(data_dir)
    with serve_app(data_dir) as server:
        yield server


def open_page(page, server, label: str) -> None:
    page.goto(server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    page.get_by_role("heading", name=label).first.wait_for(timeout=60_000)
    wait_for_app(page)


def test_four_arms_stream_side_by_side(demo_app, page):
    open_page(page, demo_app, "Compare")
    page.get_by_text("Decoding and retrieval (shared by every arm)").click()
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("48")  # shorter answers keep the test fast; the figures still come for every arm
    tokens.press("Enter")
    wait_for_app(page)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("How long is the warranty on a Brindlemoor Skerry weather station?")
    box.press("Enter")
    # While streaming, the arms' columns fill in; at the end each shows its figures.
    page.get_by_text("tok/s").nth(3).wait_for(timeout=600_000)
    wait_for_app(page)
    for title in ("Base", "RAG", "Fine-tuned", "Hybrid (FT + RAG)"):
        assert page.get_by_text(title, exact=True).count() >= 1, title
    sources = page.get_by_text(re.compile(r"^Sources \(\d+\)$"))
    assert sources.count() == 2  # rag and hybrid, same context
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "compare-four-arms")
    sources.first.click()
    page.get_by_text("support_policy.md").first.wait_for(timeout=10_000)
    page.keyboard.press("Escape")
    page.get_by_text("What changed: the prompt each arm received").click()
    page.get_by_text("<|im_start|>user").first.wait_for(timeout=10_000)  # the chat template, verbatim
    assert demo_app.network_violations() == []


def test_small_evaluation_shows_metrics_chart_and_diff(demo_app, page):
    open_page(page, demo_app, "Evaluate")
    page.get_by_text("Demo Q&A test set").click()
    wait_for_app(page)
    limit = page.get_by_role("spinbutton", name="Use at most N items")
    limit.fill("3")
    limit.press("Enter")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("16")
    tokens.press("Enter")
    wait_for_app(page)
    page.get_by_text("3 of 40 items will run").wait_for(timeout=30_000)
    page.get_by_role("button", name="Start evaluation").click()
    page.get_by_text("finished: report").wait_for(timeout=600_000)
    page.get_by_text("Metrics by arm").wait_for(timeout=60_000)
    wait_for_app(page)
    # The metric-by-arm chart with CI bars and the quality-vs-latency chart.
    page.get_by_test_id("stVegaLiteChart").nth(1).wait_for(timeout=60_000)
    page.get_by_text("Only questions where the arms disagree").click()
    wait_for_app(page)
    assert page.get_by_role("heading", name="Per question").count() == 1
    assert page.get_by_text("question(s).").count() == 1  # the table caption, after filtering
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "evaluate-report")
    assert demo_app.network_violations() == []
