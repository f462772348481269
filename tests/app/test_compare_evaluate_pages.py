"""Compare and Evaluate pages in AppTest: empty workspace, and a saved report rendered in full."""

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

FIXTURE_REPORT = ROOT / "tests" / "fixtures" / "report_example.json"


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_compare_without_kb_or_adapter_offers_only_the_base_arm(data_dir):
    app = open_page("app_pages/compare.py")
    captions = " ".join(c.value for c in app.caption)
    assert "need a knowledge base" in captions
    assert app.chat_input[0].disabled is False


def test_evaluate_empty_workspace_says_how_to_start(data_dir):
    app = open_page("app_pages/evaluate.py")
    assert any("No reports yet" in i.value for i in app.info)


@pytest.fixture
def saved_report(data_dir):
    report = json.loads(FIXTURE_REPORT.read_text())
    report.setdefault("id", "example")
    (data_dir / "reports").mkdir()
    shutil.copy(FIXTURE_REPORT, data_dir / "reports" / "example.json")
    return report


def test_evaluate_renders_a_saved_report(saved_report):
    app = open_page("app_pages/evaluate.py")
    headers = [h.value for h in app.subheader]
    assert "Metrics by arm" in headers and "Per question" in headers
    assert len(app.dataframe) >= 3  # metrics, differences, per-question
    assert [b.label for b in app.get("download_button")] == ["JSON", "CSV (per question)", "Markdown"]
