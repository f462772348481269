"""The Models page (AppTest): the table, adding a local model, refusing a hub id, switching."""

from streamlit.testing.v1 import AppTest

from core.runtime import model_registry as registry
from tests.conftest import ROOT
from tests.unit.test_model_registry import fake_checkpoint


def _page() -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/models.py")
    app.run()
    return app


def test_add_refuse_and_switch_models(data_dir, tmp_path):
    app = _page()
    assert not app.exception, [e.value for e in app.exception]
    table = app.dataframe[0].value
    assert list(table["name"]) == [registry.BUNDLED_NAME] and table["active"][0] == "●"
    assert table["fits here"][0] == "fits this machine" and table["engines"][0] == "hf, ct2, ct2-int8"

    app.text_input(key="models_add_path_0").input("Qwen/Qwen2-0.5B")
    app.text_input(key="models_add_name_0").input("qwen")
    app.get("form_submit_button")[0].click()
    app.run()
    errors = " ".join(e.value for e in app.error).replace("\\", "")  # markdown-escaped
    assert "looks like a model hub id" in errors and "huggingface-cli download Qwen/Qwen2-0.5B" in errors

    folder = fake_checkpoint(tmp_path / "my-model")
    assert app.text_input(key="models_add_path_0").value == "Qwen/Qwen2-0.5B"  # kept, to be corrected
    app.text_input(key="models_add_path_0").input(str(folder))
    app.text_input(key="models_add_name_0").input("my-model")
    app.get("form_submit_button")[0].click()
    app.run()
    assert not app.exception and not app.error
    assert app.text_input(key="models_add_path_1").value == ""  # added: an empty form for the next one
    assert list(app.dataframe[0].value["name"]) == [registry.BUNDLED_NAME, "my-model"]

    app.selectbox(key=f"models_active_pick_{registry.BUNDLED_NAME}").select("my-model")
    app.run()
    app.button(key="models_use").click()
    app.run()
    assert any("my\\-model" in s.value and "active model now" in s.value for s in app.success)
    assert registry.active_name(data_dir) == "my-model"
    assert list(app.dataframe[0].value["active"]) == ["", "●"]
    assert "Active model: my\\-model" in " ".join(m.value for m in app.markdown)
