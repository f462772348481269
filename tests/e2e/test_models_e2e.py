"""The Models page in Chromium: add a tiny second model (a 2-layer Qwen2 folder), make it active,
then switch back to the bundled model (issue 26). Short: no model is loaded by the page."""

from __future__ import annotations

import pytest

from core.runtime import model_registry as registry
from tests.conftest import module_data_dir
from tests.e2e.conftest import screenshot, serve_app, wait_for_app


@pytest.fixture(scope="module")
def models_server(tmp_path_factory, converted_models):
    from tests.helpers.tiny_model import make_tiny_qwen2

    data = module_data_dir(tmp_path_factory, converted_models, "models-e2e")
    tiny = make_tiny_qwen2(data.parent / "tiny-qwen2", converted_models / "smollm2-135m-instruct")
    with serve_app(data) as server:
        yield server, tiny


def _active_cell(page) -> str:
    return page.get_by_text("Active model:").first.inner_text()


def test_add_a_model_make_it_active_and_switch_back(models_server, page):
    server, tiny = models_server
    page.goto(server.url)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Models", exact=True).click()
    page.get_by_role("heading", name="Models").first.wait_for(timeout=60_000)
    wait_for_app(page)

    page.get_by_label("Folder or .gguf file").fill(str(tiny))
    page.get_by_label("Name", exact=True).fill("tiny-qwen2")
    page.get_by_text("Make it the active model").click()
    page.get_by_role("button", name="Add model").click()
    page.get_by_text("Added tiny-qwen2").wait_for(timeout=60_000)
    wait_for_app(page)
    assert "Active model: tiny-qwen2" in _active_cell(page)
    assert registry.active_name(server.data_dir) == "tiny-qwen2"
    assert page.get_by_test_id("stException").count() == 0
    screenshot(page, "models")

    page.get_by_test_id("stSelectbox").filter(has_text="Active model").click()
    page.get_by_role("option", name=registry.BUNDLED_NAME).click()
    wait_for_app(page)
    page.get_by_role("button", name="Use this model").click()
    page.get_by_text(f"{registry.BUNDLED_NAME} is the active model now").wait_for(timeout=60_000)
    assert f"Active model: {registry.BUNDLED_NAME}" in _active_cell(page)
    assert registry.active_name(server.data_dir) == registry.BUNDLED_NAME
    assert server.network_violations() == []
