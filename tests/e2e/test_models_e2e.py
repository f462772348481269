"""The Models page in Chromium (issue 26): add a tiny second model (a 2-layer Qwen2 folder with its own
chat template), make it active, then, on that model, ingest a document, fine-tune a few steps, answer
four arms in Compare and run a small evaluation whose report names the model; an adapter of the
bundled model is not offered on it; switching back to the bundled model finds its adapter again.
Random weights answer noise quickly: this tests the plumbing, not the answers."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.runtime import model_registry as registry
from tests.conftest import module_data_dir
from tests.e2e.conftest import open_expander, screenshot, serve_app, wait_for_app
from tests.e2e.test_compare_evaluate_e2e import open_page
from tests.e2e.test_tasks_e2e import train_tiny

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TINY = "tiny-qwen2"


@pytest.fixture(scope="module")
def models_server(tmp_path_factory, converted_models):
    import json

    from core.runtime.settings import Settings
    from core.training.adapter_checks import base_identity
    from tests.helpers.adapters import make_random_adapter
    from tests.helpers.tiny_model import make_tiny_qwen2
    from tests.unit.ft_helpers import write_facts

    data = module_data_dir(tmp_path_factory, converted_models, "models-e2e")
    tiny = make_tiny_qwen2(data.parent / TINY, converted_models / "smollm2-135m-instruct")
    smol = make_random_adapter(data, "smol-adapter")  # the bundled model's, as trained now
    meta = json.loads((smol / "meta.json").read_text())
    (smol / "meta.json").write_text(json.dumps({**meta, **base_identity(Settings(data_dir=data))}))
    doc = data.parent / "vault.txt"
    doc.write_text("The password to the Ember Vault is copperfinch. The vault lies under Quillmere's old mill.\n")
    facts = write_facts(data.parent / "facts.jsonl")
    with serve_app(data) as server:
        yield server, tiny, doc, facts


def _active_cell(page) -> str:
    return page.get_by_text("Active model:").first.inner_text()


def test_add_a_model_and_make_it_active(models_server, page):
    server, tiny, _, _ = models_server
    open_page(page, server, "Models")
    page.get_by_label("Folder or .gguf file").fill(str(tiny))
    page.get_by_label("Name", exact=True).fill(TINY)
    page.get_by_text("Make it the active model").click()
    page.get_by_role("button", name="Add model").click()
    page.get_by_text(f"Added {TINY}").wait_for(timeout=60_000)
    wait_for_app(page)
    assert f"Active model: {TINY}" in _active_cell(page)
    assert registry.active_name(server.data_dir) == TINY
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "models")
    assert server.network_violations() == []


def test_the_new_model_ingests_trains_compares_and_evaluates(models_server, page):
    server, _, doc, facts = models_server
    # ingest: a knowledge base of one document
    open_page(page, server, "Knowledge")
    page.get_by_role("button", name=re.compile("New")).click()
    name = page.get_by_role("textbox", name="Name")
    name.fill("vault")
    name.press("Enter")
    page.get_by_role("button", name="Create").click()
    wait_for_app(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(doc))
    ingest = page.get_by_role("button", name="Ingest 1 file(s)")
    expect(ingest).to_be_enabled(timeout=60_000)
    ingest.click()
    expect(page.get_by_text(re.compile(r"1 files? · \d+ chunks?"))).to_be_visible(timeout=240_000)

    # fine-tune: the bundled model's adapter is listed as another base's, not the active model's
    open_page(page, server, "Fine-tune")
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(facts))
    expect(page.get_by_text("Ready to train: 10 usable rows.")).to_be_visible(timeout=300_000)
    train_tiny(page, "tiny-ft")

    # Compare: four arms on the tiny model (only its own adapter is offered)
    open_page(page, server, "Compare")
    adapter_box = page.get_by_test_id("stSelectbox").filter(has_text="Adapter").first
    expect(adapter_box.locator("input")).to_have_value("tiny-ft")
    adapter_box.locator("input").click()
    expect(page.get_by_role("option", name="smol-adapter")).to_have_count(0)
    page.keyboard.press("Escape")
    wait_for_app(page)
    open_expander(page, "Decoding and retrieval (shared by every arm)")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.wait_for(timeout=120_000)
    tokens.fill("8")
    tokens.press("Enter")
    wait_for_app(page)
    question = page.get_by_test_id("stChatInputTextArea")
    question.fill("What is the password to the Ember Vault?")
    question.press("Enter")
    page.get_by_text("tok/s").nth(3).wait_for(timeout=600_000)  # four arms answered
    wait_for_app(page)
    expect(page.get_by_text(re.compile(TINY)).first).to_be_visible()  # the exchange names its model
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "models-compare-tiny")

    # Evaluate: the adapter's held-out rows, two of them; the report names the model
    open_page(page, server, "Evaluate")
    open_expander(page, "New evaluation")
    limit = page.get_by_role("spinbutton", name="Use at most N items")
    limit.wait_for(timeout=60_000)
    limit.fill("2")
    limit.press("Enter")
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("8")
    tokens.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Start evaluation").click()
    page.get_by_text("finished: report").wait_for(timeout=600_000)
    page.get_by_text("Metrics by arm").wait_for(timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_text(f"Base model: {TINY}", exact=False).first).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "models-evaluate-tiny")
    assert server.network_violations() == []


def test_switching_back_restores_the_bundled_models_adapters(models_server, page):
    server, _, _, _ = models_server
    open_page(page, server, "Models")
    page.get_by_test_id("stSelectbox").filter(has_text="Active model").click()
    page.get_by_role("option", name=registry.BUNDLED_NAME).click()
    wait_for_app(page)
    page.get_by_role("button", name="Use this model").click()
    page.get_by_text(f"{registry.BUNDLED_NAME} is the active model now").wait_for(timeout=60_000)
    assert f"Active model: {registry.BUNDLED_NAME}" in _active_cell(page)
    assert registry.active_name(server.data_dir) == registry.BUNDLED_NAME
    open_page(page, server, "Compare")
    adapter_box = page.get_by_test_id("stSelectbox").filter(has_text="Adapter").first
    expect(adapter_box.locator("input")).to_have_value("smol-adapter")  # the bundled model's adapter, offered again
    adapter_box.locator("input").click()
    expect(page.get_by_role("option", name="tiny-ft")).to_have_count(0)  # the tiny model's is not
    page.keyboard.press("Escape")
    assert server.network_violations() == []
