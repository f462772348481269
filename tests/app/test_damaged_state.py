"""Damaged state files never break a page: each is reported (which file, what to do) and skipped."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

DAMAGED = {"list": "[]", "text": "\"x\"", "truncated": '{"state": "runn', "types": json.dumps({"state": "running", "step": "x"})}


@pytest.fixture
def damaged_runs(data_dir):
    for name, content in DAMAGED.items():
        run = data_dir / "runs" / f"finetune-{name}"
        run.mkdir(parents=True)
        (run / "status.json").write_text(content)
        (run / "spec.json").write_text("[]")
        (run / "progress.jsonl").write_text("[]\n1\n")
    return data_dir


@pytest.mark.parametrize("page", ["app_pages/finetune.py", "app_pages/compare.py", "app_pages/evaluate.py"])
def test_pages_survive_damaged_run_files(damaged_runs, page):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    if page != "app_pages/compare.py":  # the pages that list runs say which files were skipped
        warnings = " ".join(w.value for w in app.warning).replace("\\", "")  # markdown escapes
        assert all(f"finetune-{name}" in warnings for name in DAMAGED), warnings
