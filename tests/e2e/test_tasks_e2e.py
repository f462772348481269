"""Classification and extraction in a real Chromium (issue 27): upload each task's demo file, see the
task, its labels / entity types and the exact prompt and target; train one tiny Quick run
(classification), evaluate the task's arms on a few held-out rows and see the task's metrics and
verdict (extraction: base vs retrieved examples, no second training); Compare runs the arms on a
pasted text with the retrieved examples shown; the wizard reads the task report; a malformed entities
column and a label column with one class are clear errors.

Kept short (the whole suite must stay under 30 min): one training run of 2 steps, 2-4 evaluation
rows, a fixed k (no sweep)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import open_expander, screenshot, wait_for_app
from tests.e2e.test_compare_evaluate_e2e import choose, open_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEMO = Path(__file__).resolve().parents[2] / "demo"


def upload(page, path: Path, shows) -> None:
    """Upload `path` and wait until the page `shows` (text or regex) what that file gives: a file set
    while the page was still rerunning (the previous test's kept file loading) can be dropped, so it
    is set again (the uploader may shorten long names, so the name itself is not waited for)."""
    for attempt in range(3):
        wait_for_app(page)
        page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(path))
        try:
            expect(page.get_by_text(shows).first).to_be_visible(timeout=120_000)
            return
        except AssertionError:
            if attempt == 2:
                raise


def train_tiny(page, name: str) -> None:
    """Two training steps under `name` (the file is already uploaded and valid)."""
    open_expander(page, "Advanced LoRA and training options")
    steps = page.get_by_role("spinbutton", name="max steps")
    steps.fill("2")
    steps.press("Enter")
    wait_for_app(page)
    box = page.get_by_role("textbox", name="Adapter name")
    box.fill(name)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Start training")).click()
    expect(page.get_by_text(re.compile(f"Adapter .*{name}.* saved"))).to_be_visible(timeout=600_000)
    wait_for_app(page)


def evaluate(page, server, k: str, rows: str, adapter_label: str | None = None, test_file: str | None = None) -> None:
    open_page(page, server, "Evaluate")
    form = open_expander(page, "New classification / extraction evaluation")
    if adapter_label:
        choose(page, "Task adapter", adapter_label)
    if test_file:
        choose(page, "Held-out labeled file", test_file)
    choose(page, "Examples per prompt (k)", k)
    limit = form.get_by_role("spinbutton", name="Use at most N rows")
    limit.fill(rows)
    limit.press("Enter")
    wait_for_app(page)
    form.get_by_role("button", name="Start task evaluation").click()
    # this evaluation's report (an earlier one's "finished" line is on screen until the job starts)
    name = test_file or "reviews_test.csv"
    expect(page.get_by_text(re.compile(rf"{re.escape(name)} · {rows} rows · adapter"))).to_be_visible(timeout=600_000)
    wait_for_app(page)
    expect(page.get_by_text("Verdict.").first).to_be_visible(timeout=60_000)


def test_malformed_entities_and_a_single_label_are_clear_errors(app_server, page, tmp_path):
    rows = [json.loads(line) for line in (DEMO / "tickets_entities_train.jsonl").read_text().splitlines()[:20]]
    rows[2]["entities"] = "ORDER_ID: BIW-1"
    bad = tmp_path / "bad_entities.jsonl"
    bad.write_text("\n".join(json.dumps(r) for r in rows))
    open_page(page, app_server, "Fine-tune")
    upload(page, bad, re.compile(r"Malformed entities column in 1 row\(s\).*not JSON.*rows 3"))
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_have_count(0)
    screenshot(page, "tasks-finetune-malformed-entities")

    one = tmp_path / "one_label.csv"
    one.write_text("text,label\n" + "\n".join(f"Parcel {i} arrived late,shipping" for i in range(15)))
    upload(page, one, "Only one label ('shipping'); classification needs at least two.")
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_be_disabled()
    assert app_server.network_violations() == []


def test_classification_upload_train_evaluate_compare(app_server, page):
    open_page(page, app_server, "Fine-tune")
    upload(page, DEMO / "reviews_train.csv", "3 labels")
    expect(page.get_by_text("Task: Classification")).to_be_visible()
    expect(page.get_by_text("Classify the text into one of these labels").last).to_be_visible(timeout=120_000)
    wait_for_app(page)
    screenshot(page, "tasks-finetune-classification")
    train_tiny(page, "reviews-e2e")

    evaluate(page, app_server, "2", "4", adapter_label="reviews-e2e (classification)")
    # (the metric tables are drawn on a canvas: their cells are checked in tests/app/test_task_pages.py)
    expect(page.get_by_text(re.compile("Scored by accuracy")).first).to_be_visible()
    for heading in ("Metrics by arm", "Per label", "Confusion matrices"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    # the metric chart and one heatmap per arm (four arms): five charts, drawn after the script ends
    expect(page.locator('[data-testid="stVegaLiteChart"]').nth(4)).to_be_attached(timeout=60_000)
    page.wait_for_timeout(2000)
    screenshot(page, "tasks-evaluate-classification")

    open_page(page, app_server, "Compare")
    page.get_by_text("Classification / extraction", exact=True).click()
    wait_for_app(page)
    choose(page, "Task adapter", "reviews-e2e (classification)")
    text = page.get_by_role("textbox", name="Text to classify")
    text.fill("The strap broke after a week and nobody answered.")
    text.press("Control+Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Run the arms").click()
    expect(page.get_by_text(re.compile(r"^Retrieved examples \(\d\)$"))).to_have_count(2, timeout=300_000)
    wait_for_app(page)
    page.get_by_text(re.compile(r"^Retrieved examples \(\d\)$")).first.click()  # shown like sources
    expect(page.get_by_text(re.compile(r"training row \d+ →")).first).to_be_visible()
    screenshot(page, "tasks-compare-classification")
    assert app_server.network_violations() == []


def test_extraction_upload_and_evaluate(app_server, page):
    """Extraction without training (the suite trains once): its task on upload, then base vs retrieved examples."""
    open_page(page, app_server, "Fine-tune")
    upload(page, DEMO / "tickets_entities_train.jsonl", "Task: Extraction (entities)")
    expect(page.get_by_text(re.compile(r"\d entity types"))).to_be_visible()
    expect(page.get_by_text("Extract the entities of these types from the text").last).to_be_visible(timeout=120_000)
    expect(page.get_by_role("button", name=re.compile("Start training"))).to_be_enabled()
    wait_for_app(page)
    screenshot(page, "tasks-finetune-extraction")

    evaluate(page, app_server, "1", "2", test_file="tickets_entities_test.jsonl")
    expect(page.get_by_text(re.compile("Scored by entity-level F1")).first).to_be_visible()
    for heading in ("Metrics by arm", "Per entity type"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Outputs not a valid JSON list of entities: \d+|Every output could be read"))
           .first).to_be_visible()
    page.wait_for_timeout(2000)
    screenshot(page, "tasks-evaluate-extraction")
    assert app_server.network_violations() == []


def test_the_wizard_reads_the_newest_task_report(app_server, page):
    from core.decision.questions import STEPS
    from core.decision.wizard_file import save_wizard

    # the classification report measured fine-tuned vs retrieved examples (the extraction one has no adapter)
    save_wizard(app_server.data_dir, {"task": "classification", "labeled_examples": 30, "goal": "behaviour"},
                len(STEPS))
    open_page(page, app_server, "Recommend")
    heading = page.get_by_role("heading", name="Few-shot or fine-tune for your classification task")
    expect(heading).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"10-49 labeled examples: few-shot prompting")).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Your measurement (confirmed|overturned|could not settle)")).first).to_be_visible()
    wait_for_app(page)  # the whole page, tables included, before the shot
    expect(page.get_by_text("Reasons, strongest first")).to_be_visible()
    page.wait_for_timeout(2000)  # the tables are drawn on canvases a moment after the script ends
    heading.scroll_into_view_if_needed()
    screenshot(page, "tasks-recommend")
    assert app_server.network_violations() == []
