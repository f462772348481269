"""Real browser: complete the Recommend wizard, use a report as evidence, download the report;
the answers survive a browser reload."""

from __future__ import annotations

import json
import shutil

import pytest
from playwright.sync_api import expect

from core.decision.questions import QUESTION_BY_ID, STEPS
from tests.conftest import ROOT
from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e

# Step title -> (label to click or (number label, value)) answers given in the browser.
ANSWERS = {
    "Goal": ["Behaving differently: style, format, schema, labels"],
    "Your knowledge": ["Rarely or never"],
    "Trust": ["Annoying but tolerable"],
    "Corpus size": [],
    "Labeled data": [("How many labeled examples (an input and its expected output) do you have? (examples)", "2000")],
    "Task and output": ["Classifying / labeling"],
    "Retrieval quality": [],
    "Latency and volume": ["Strict: real-time or very high volume",
                           ("How many queries per day do you expect? (queries/day)", "5000")],
    "Compute and team": ["A modest GPU"],
    "Governance": [],
    "Baseline": ["It fails on format / behaviour"],
}


SETTLED = """() => !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')"""


def _settle(page) -> None:
    wait_for_app(page)
    page.wait_for_function(SETTLED, timeout=60_000)


def _click_next(page, label: str = "Next →") -> None:
    page.get_by_role("button", name=label).click()


def _expect_step(page, i: int, title: str) -> None:
    """Wait until step i is fully drawn: its progress text and its first question."""
    page.get_by_text(f"Step {i} of {len(STEPS)}: {title}").wait_for(timeout=30_000)
    first = QUESTION_BY_ID[STEPS[i - 1][1][0]]
    page.get_by_text(first.prompt, exact=False).first.wait_for(timeout=30_000)
    _settle(page)


def test_complete_wizard_and_download_report(app_server, page, tmp_path):
    (app_server.data_dir / "reports").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tests/fixtures/report_example.json",
                app_server.data_dir / "reports" / "demo-eval.json")
    (app_server.data_dir / "ui" / "wizard.json").unlink(missing_ok=True)  # the module shares a data dir
    page.goto(f"{app_server.url}/recommend")
    wait_for_app(page)

    for i, (title, _) in enumerate(STEPS, 1):
        assert title in ANSWERS
        _expect_step(page, i, title)
        assert page.get_by_text("Why we ask:").count() >= 1
        for answer in ANSWERS[title]:
            if isinstance(answer, tuple):
                box = page.get_by_label(answer[0])
                box.fill(answer[1])
                box.press("Enter")
            else:
                page.get_by_text(answer, exact=True).click()
                expect(page.get_by_role("radio", name=answer, exact=True)).to_be_checked()
            _settle(page)
        if i == 2:  # go back once, check the first answer was kept, come forward again
            page.get_by_role("button", name="← Back").click()
            _expect_step(page, 1, "Goal")
            expect(page.get_by_role("radio", name=ANSWERS["Goal"][0])).to_be_checked()
            _click_next(page)
            _expect_step(page, 2, title)
        _click_next(page, "See my recommendation →" if i == len(STEPS) else "Next →")

    # The latest finished report is preselected: it shows RAG clearly ahead of the fine-tune.
    page.get_by_text("Recommendation: RAG").wait_for(timeout=30_000)
    page.get_by_text("Measurement overrode the prior.").wait_for()
    page.get_by_text("Reasons, strongest first").wait_for()
    _settle(page)

    # Without the report, the answers alone point to the fine-tune; then the evidence again.
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="(none: use my answers only)").click()
    page.get_by_text("Recommendation: Fine-tune (LoRA)").wait_for(timeout=30_000)
    _settle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="demo-eval", exact=False).click()
    page.get_by_text("Recommendation: RAG").wait_for(timeout=30_000)
    page.get_by_text("Measurement overrode the prior.").wait_for()
    _settle(page)

    shot = screenshot(page, "recommend-result")  # grows the viewport to the content's height
    page.set_viewport_size({"width": 1400, "height": 1000})
    assert shot.exists() and shot.stat().st_size > 10_000

    with page.expect_download() as md_info:
        page.get_by_role("button", name="Download report (Markdown)").click()
    md_path = tmp_path / "decision.md"
    md_info.value.save_as(md_path)
    md = md_path.read_text()
    assert md.startswith("# Crossroads decision report: RAG")
    assert "Measurement override" in md and "## Next steps" in md

    with page.expect_download() as js_info:
        page.get_by_role("button", name="Download report (JSON)").click()
    js_path = tmp_path / "decision.json"
    js_info.value.save_as(js_path)
    record = json.loads(js_path.read_text())
    assert record["choice"] == "rag" and record["overrides"]
    assert record["answers"]["labeled_examples"] == 2000
    assert record["projection"]["queries_per_day"] == 5000
    assert not app_server.network_violations()


def test_answers_survive_a_browser_reload(app_server, page):
    (app_server.data_dir / "ui" / "wizard.json").unlink(missing_ok=True)
    page.goto(f"{app_server.url}/recommend")
    wait_for_app(page)
    _expect_step(page, 1, "Goal")
    page.get_by_text("Knowing facts from our documents", exact=True).click()
    expect(page.get_by_role("radio", name="Knowing facts from our documents")).to_be_checked()
    _settle(page)
    _click_next(page)
    _expect_step(page, 2, "Your knowledge")
    page.get_by_text("About monthly", exact=True).click()
    expect(page.get_by_role("radio", name="About monthly")).to_be_checked()
    _settle(page)

    page.reload()  # a new browser session: only the workspace's wizard.json remembers
    wait_for_app(page)
    _expect_step(page, 2, "Your knowledge")
    expect(page.get_by_role("radio", name="About monthly")).to_be_checked()
    page.get_by_role("button", name="← Back").click()
    _expect_step(page, 1, "Goal")
    expect(page.get_by_role("radio", name="Knowing facts from our documents")).to_be_checked()

    page.goto(f"{app_server.url}/")  # away to another page and back by URL
    wait_for_app(page)
    page.goto(f"{app_server.url}/recommend")
    _expect_step(page, 1, "Goal")
    expect(page.get_by_role("radio", name="Knowing facts from our documents")).to_be_checked()
    assert not app_server.network_violations()


def _selected_report(page) -> str:
    return page.get_by_role("combobox", name="Measured evidence: your evaluation report").input_value()


def test_report_stays_selected_through_the_back_and_forth(app_server, page):
    """Back to the questions, change an answer, see the recommendation again: the report picked
    (here, preselected) is still the one on the selector, and the reasons still use it."""
    (app_server.data_dir / "reports").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tests/fixtures/report_example.json",
                app_server.data_dir / "reports" / "demo-eval.json")
    (app_server.data_dir / "ui" / "wizard.json").unlink(missing_ok=True)
    page.goto(f"{app_server.url}/recommend")
    _expect_step(page, 1, "Goal")
    page.get_by_role("button", name="Skip to the recommendation").click()
    page.get_by_text("Measurement overrode the prior.").wait_for(timeout=30_000)
    _settle(page)
    assert "demo-eval" in _selected_report(page)

    for answer in ("It fails on format / behaviour", "It fails on missing knowledge"):
        page.get_by_role("button", name="← Back to the questions").click()
        _expect_step(page, len(STEPS), "Baseline")
        page.get_by_text(answer, exact=True).click()
        expect(page.get_by_role("radio", name=answer, exact=True)).to_be_checked()
        _settle(page)
        page.get_by_role("button", name="See my recommendation →").click()
        page.get_by_text("Reasons, strongest first").wait_for(timeout=30_000)
        _settle(page)
        assert "demo-eval" in _selected_report(page), _selected_report(page)
        page.get_by_text("Report demo-eval", exact=False).first.wait_for(timeout=10_000)  # the evidence used
        assert page.get_by_text("Per-query latency: not measured yet").count() == 0

    # A deliberate "none" is kept the same way, and then the reasons use no report either.
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="(none: use my answers only)").click()
    _settle(page)
    page.get_by_role("button", name="← Back to the questions").click()
    _expect_step(page, len(STEPS), "Baseline")
    page.get_by_role("button", name="See my recommendation →").click()
    page.get_by_text("Reasons, strongest first").wait_for(timeout=30_000)
    _settle(page)
    assert "(none: use my answers only)" in _selected_report(page)
    assert page.get_by_text("Report demo-eval", exact=False).count() == 0
    assert not app_server.network_violations()
