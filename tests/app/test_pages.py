"""Every page renders without an exception (AppTest; fragments are not exercised here)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGES = ["app_pages/home.py", "app_pages/models.py", "app_pages/knowledge.py", "app_pages/finetune.py", "app_pages/compare.py",
         "app_pages/evaluate.py", "app_pages/review.py", "app_pages/recommend.py"]


@pytest.fixture
def app(data_dir):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def test_home_renders_the_workflow_and_workspace_state(app):
    app.run()
    assert not app.exception
    assert app.title[0].value == "Crossroads"
    labels = [metric.label for metric in app.metric]
    assert labels == ["Base model", "Knowledge bases", "Adapters", "Evaluation reports"]
    assert app.metric[0].value == "pending"  # short enough not to be cut in a quarter-width column


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app, page):
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title, f"{page} shows no title"


def test_prepare_the_model_leaves_no_box_or_button_behind(app, monkeypatch):
    """The preparation itself (a minute of conversion) is faked here; the page's flow is real:
    the click prepares once, then the page reruns with the model ready and nothing of the box left.
    (The real conversion is covered by tests/unit/test_engines.py.)"""
    from core.runtime import engines
    from ui import common

    prepared = []
    monkeypatch.setattr(engines, "engine_needs_preparing", lambda settings: not prepared)
    monkeypatch.setattr(common, "get_engine", lambda: prepared.append(True))
    app.run()
    assert any("not prepared yet" in i.value for i in app.info)
    app.button(key="prepare_model").click().run()
    assert not app.exception
    assert prepared == [True]
    assert app.metric[0].value == "ready"
    assert not any("not prepared yet" in i.value for i in app.info)
    assert not [b for b in app.button if "Prepar" in str(b.label)]
