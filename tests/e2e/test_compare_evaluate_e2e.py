"""Compare and Evaluate in a real browser: a Retrieval-lab setting reaches every screen, each Compare
exchange names its own adapter on screen and in both exports; four arms stream side by side; a small
evaluation runs as a background job and its report shows metrics, the chart and the per-question diff."""

import json
import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.conftest import module_data_dir
from tests.e2e.conftest import open_expander, screenshot, serve_app, wait_for_app
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
    make_random_adapter(data_dir, "other-adapter", seed=1)  # switched to mid-Compare
    assert os.environ.get("CROSSROADS_DATA_DIR") != str(data_dir)
    with serve_app(data_dir) as server:
        yield server


def open_page(page, server, label: str) -> None:
    page.goto(server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    page.get_by_role("heading", name=label).first.wait_for(timeout=60_000)
    wait_for_app(page)


LAB_LINE = re.compile(r"hybrid · k=2 · min relevance 0.3 · 400/120 chunks, the kb's setting, "
                      r"set by the Retrieval lab on \d{4}-\d{2}-\d{2}")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    for attempt in range(3):  # a rerun that lands mid-pick detaches the open list: pick again
        wait_for_app(page)
        box.locator("input").click()
        page.keyboard.type(option)
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except PlaywrightError:
            page.keyboard.press("Escape")
            if attempt == 2:
                raise
    wait_for_app(page)


def keep_only(page, key: str, value: str) -> None:
    """Empty the multiselect with widget key `key` (Backspace removes its last chip), then choose `value`."""
    page.locator(f".st-key-{key} input").first.click()
    for _ in range(8):
        page.keyboard.press("Backspace")
    page.keyboard.type(value)
    page.get_by_role("option", name=value, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page)


def ask(page, question: str, answers_so_far: int) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    page.get_by_text("tok/s").nth(answers_so_far + 3).wait_for(timeout=600_000)  # four arms answered
    wait_for_app(page)


def test_a_lab_setting_reaches_every_screen_and_each_exchange_names_its_adapter(demo_app, page, tmp_path):
    # The Retrieval lab on the demo kb (its own test set): hybrid at k=2 beats the default k=4 on
    # context tokens with the same hit@k, so "Use the best setting" stores hybrid k=2.
    open_page(page, demo_app, "Knowledge")
    page.get_by_role("tab", name="Retrieval lab").click()
    keep_only(page, "lab_types", "hybrid")
    keep_only(page, "lab_ks", "2")
    page.get_by_role("button", name="Run the lab").click()
    page.get_by_text(re.compile(r"^Best: hybrid · k=2")).wait_for(timeout=300_000)
    page.get_by_role("button", name="Use the best setting for this knowledge base").click()
    page.get_by_text(re.compile(r"Stored as this knowledge base's setting")).wait_for(timeout=120_000)
    wait_for_app(page)
    stored = json.loads((demo_app.data_dir / "kb" / "demo" / "manifest.json").read_text())["retrieval"]
    assert (stored["search_type"], stored["k"]) == ("hybrid", 2)
    page.get_by_role("tab", name="Ask").click()
    ask_form = page.get_by_role("tabpanel", name="Ask")
    expect(ask_form.get_by_text(LAB_LINE)).to_be_visible(timeout=30_000)
    expect(ask_form.get_by_role("spinbutton", name="Chunks (k)")).to_have_value("2")

    # Compare starts from it, and each exchange keeps the adapter that answered it.
    open_page(page, demo_app, "Compare")
    expect(page.get_by_text(LAB_LINE)).to_have_count(1)
    open_expander(page, "Decoding and retrieval (shared by every arm)")
    expect(page.get_by_role("spinbutton", name="Chunks (k)")).to_have_value("2")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("16")
    tokens.press("Enter")
    wait_for_app(page)
    choose(page, "Adapter", "demo-adapter")
    ask(page, "How long is the warranty on a Brindlemoor Skerry weather station?", 0)
    choose(page, "Adapter", "other-adapter")
    ask(page, "Who founded Brindlemoor Instrument Works?", 4)
    captions = page.get_by_test_id("stChatMessage").filter(has_text="Adapter:")
    assert "demo-adapter (closed-book)" in captions.nth(0).inner_text()
    assert "other-adapter (closed-book)" in captions.nth(1).inner_text()
    assert page.get_by_text(re.compile(r"Engine: \w+ \w+")).count() == 2
    screenshot(page, "compare-provenance")

    with page.expect_download() as md_info:
        page.get_by_role("button", name="Markdown").click()
    md_path = tmp_path / "compare.md"
    md_info.value.save_as(md_path)
    first, second = md_path.read_text().split("## 2. ")
    assert "demo\\-adapter (closed-book)" in first and "other\\-adapter" not in first
    assert "other\\-adapter (closed-book)" in second
    assert "hybrid · k=2 · min relevance 0\\.3" in second and "set by the Retrieval lab on" in second
    assert "{'" not in first + second  # readable Markdown, no Python dicts
    with page.expect_download() as js_info:
        page.get_by_role("button", name="JSON").click()
    js_path = tmp_path / "compare.json"
    js_info.value.save_as(js_path)
    exchanges = json.loads(js_path.read_text())["exchanges"]
    assert [e["setup"]["adapter"] for e in exchanges] == ["demo-adapter", "other-adapter"]
    assert {e["setup"]["retrieval"]["k"] for e in exchanges} == {2}
    assert all(e["setup"]["engine"]["engine"] and e["setup"]["model"] for e in exchanges)
    page.get_by_role("button", name="Clear").click()  # the tests below start from an empty conversation
    expect(page.get_by_text("tok/s")).to_have_count(0, timeout=60_000)
    wait_for_app(page)
    assert json.loads((demo_app.data_dir / "compare" / "conversation.json").read_text())["exchanges"] == []
    assert page.get_by_test_id("stException").count() == 0
    assert demo_app.network_violations() == []


def test_four_arms_stream_side_by_side(demo_app, page):
    open_page(page, demo_app, "Compare")
    wait_for_app(page)  # the page's first run settles before its expander is opened
    open_expander(page, "Decoding and retrieval (shared by every arm)")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.wait_for(timeout=120_000)
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
    open_expander(page, "What changed: the prompt each arm received")
    page.get_by_text("<|im_start|>user").first.wait_for(timeout=10_000)  # the chat template, verbatim
    assert page.get_by_text("Answered on its own (no history)", exact=True).count() == 1
    assert page.get_by_text("Conversation mode", exact=True).count() == 1  # the visible switch, off
    assert demo_app.network_violations() == []


def _start_a_long_answer(page) -> None:
    """Ask for 256 new tokens of a story and wait until the arms stream."""
    wait_for_app(page)
    open_expander(page, "Decoding and retrieval (shared by every arm)")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.wait_for(timeout=120_000)
    tokens.fill("256")
    tokens.press("Enter")
    wait_for_app(page)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Write a long story about the Brindlemoor weather stations.")
    box.press("Enter")
    page.get_by_text("▌").first.wait_for(timeout=300_000)  # streaming has begun


def test_compare_survives_a_reload_and_a_reload_mid_stream_stops_the_generation(demo_app, page):
    open_page(page, demo_app, "Compare")
    page.get_by_text("tok/s").nth(3).wait_for(timeout=60_000)  # the earlier exchange, read back from disk
    _start_a_long_answer(page)
    page.reload()  # abandon the stream
    wait_for_app(page)
    page.get_by_text("tok/s").nth(3).wait_for(timeout=60_000)  # the finished exchange is still there
    open_expander(page, "Decoding and retrieval (shared by every arm)")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("16")
    tokens.press("Enter")
    wait_for_app(page)
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("How long is the warranty on a Brindlemoor Skerry weather station?")
    box.press("Enter")
    page.get_by_text("tok/s").nth(7).wait_for(timeout=600_000)
    wait_for_app(page)
    saved = json.loads((demo_app.data_dir / "compare" / "conversation.json").read_text())["exchanges"]
    assert [e["question"][:13] for e in saved] == ["How long is t", "How long is t"]  # the abandoned one is not kept
    # Figure for the report (not asserted: no timing assertions): the next question's first-token wait.
    print("first token after a reload mid-stream (ms):",
          {arm: r["first_token_ms"] for arm, r in saved[1]["answers"].items()})
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "compare")


def test_stop_while_the_arms_stream_keeps_what_had_arrived(demo_app, page):
    open_page(page, demo_app, "Compare")
    saved_file = demo_app.data_dir / "compare" / "conversation.json"
    kept = len(json.loads(saved_file.read_text())["exchanges"]) if saved_file.exists() else 0
    _start_a_long_answer(page)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Stopped by you").wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.get_by_text("Write a long story about the Brindlemoor weather stations.").count() == 1  # its question
    saved = json.loads(saved_file.read_text())["exchanges"] if saved_file.exists() else []
    assert len(saved) == kept  # a stopped exchange is shown, not kept
    expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0, timeout=30_000)  # gone once the run ends
    screenshot(page, "compare-stopped")
    assert page.get_by_test_id("stException").count() == 0


def open_new_evaluation(page) -> None:
    """The "New evaluation" expander is open on an empty workspace and closed once reports exist."""
    expander = open_expander(page, "New evaluation")
    choice = expander.get_by_text("Demo Q&A test set")
    choice.wait_for(timeout=60_000)
    choice.click()
    # The demo set is loaded once its item count shows: the form below it has settled (on a busy
    # machine the previous run's widgets can linger a moment).
    page.get_by_text(re.compile(r"\d+ of 40 items will run")).wait_for(timeout=60_000)
    wait_for_app(page)


def test_small_evaluation_shows_metrics_chart_and_diff(demo_app, page):
    open_page(page, demo_app, "Evaluate")
    wait_for_app(page)
    open_new_evaluation(page)
    wait_for_app(page)
    limit = page.get_by_role("spinbutton", name="Use at most N items")
    limit.fill("3")
    limit.press("Enter")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("16")
    tokens.press("Enter")
    wait_for_app(page)
    page.get_by_text("3 of 40 items will run").wait_for(timeout=30_000)
    # The form starts from the kb's setting (stored by the lab in the first test), search type included.
    assert page.get_by_role("spinbutton", name="Chunks (k)").input_value() == "2"
    assert page.get_by_text(LAB_LINE).count() == 1
    screenshot(page, "evaluate-form")
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
    assert page.get_by_text(re.compile(r"^Verdict\.")).count() >= 1  # the report opens with its verdict
    # The report says which retrieval setting and which machine its figures come from.
    assert page.get_by_text(re.compile(r"retrieval from demo: hybrid · k=2 · .*set by the Retrieval lab")).count() == 1
    assert page.get_by_text(re.compile(r"Latencies measured .* cores · load average")).count() == 1
    saved = json.loads(next((demo_app.data_dir / "reports").glob("*.json")).read_text())
    assert (saved["setup"]["retrieval"]["search_type"], saved["setup"]["retrieval"]["k"]) == ("hybrid", 2)
    assert saved["machine"]["cores"] and len(saved["machine"]["load_before"]) == 3
    page.get_by_text(re.compile(r"^Chunks read \(\d+\)$")).first.click()  # the drill-down: what RAG read
    page.get_by_text(re.compile(r"chunk \d+ · score \d")).first.wait_for(timeout=10_000)
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "evaluate")
    assert demo_app.network_violations() == []


def test_cancel_is_prompt_and_the_partial_report_is_marked(demo_app, page):
    open_page(page, demo_app, "Evaluate")
    wait_for_app(page)
    open_new_evaluation(page)
    wait_for_app(page)
    limit = page.get_by_role("spinbutton", name="Use at most N items")
    limit.fill("12")
    limit.press("Enter")
    wait_for_app(page)
    page.get_by_text(re.compile(r"Estimated \d")).wait_for(timeout=30_000)  # measured by the earlier run
    page.get_by_role("button", name="Start evaluation").click()
    page.get_by_text(re.compile(r"Evaluation .*: 4/12 questions")).wait_for(timeout=600_000)
    page.get_by_role("button", name="Cancel evaluation").click()
    asked = time.monotonic()
    page.get_by_text(re.compile(r"was cancelled after")).wait_for(timeout=120_000)
    print(f"cancel took {time.monotonic() - asked:.1f} s (click to 'cancelled' in the browser)")  # for the report
    reports = sorted((demo_app.data_dir / "reports").glob("*.json"))
    partial = [json.loads(p.read_text()) for p in reports if json.loads(p.read_text()).get("partial")]
    assert len(partial) == 1 and 4 <= partial[0]["n"] < 12
    assert partial[0]["verdict"].startswith("Partial run")
    page.reload()
    wait_for_app(page)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Report").first
    assert "partial" not in picker.inner_text()  # the finished report stays preselected
