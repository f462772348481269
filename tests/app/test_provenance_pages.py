"""The kb's retrieval setting on every screen (AppTest): Ask, Compare and Evaluate start from it,
show it in one line, mark an override, and a RAFT adapter's forms start at its training setting."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.unit.kb_helpers import FakeEmbeddings
from tests.unit.test_provenance import raft_adapter


@pytest.fixture
def kb(data_dir):
    from core.knowledge.retrieval import RetrievalConfig, set_kb_retrieval
    from core.knowledge.store import create_kb

    create_kb("mine", embedder=FakeEmbeddings())
    set_kb_retrieval("mine", RetrievalConfig(k=2, search_type="keyword"), note="retrieval lab on mine.jsonl")
    return "mine"


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page(page)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def field(app, prefix: str, suffix: str):
    widgets = [*app.number_input, *app.selectbox, *app.slider]
    return next(w for w in widgets if w.key and w.key.startswith(prefix) and w.key.endswith(suffix))


def retrieval_lines(app) -> list[str]:
    return [c.value for c in app.caption if "**Retrieval**" in c.value]


def test_ask_compare_and_evaluate_start_from_the_kbs_setting(kb):
    for page, prefix in (("app_pages/knowledge.py", "ask_"), ("app_pages/compare.py", "compare_"),
                         ("app_pages/evaluate.py", "eval_mine")):
        app = open_page(page)
        assert field(app, prefix, "_k").value == 2, page
        assert field(app, prefix, "_search").value == "keyword", page  # Evaluate used to drop the search type
        lines = retrieval_lines(app)
        assert any("keyword · k=2" in line and "set by the Retrieval lab on" in line for line in lines), (page, lines)


def test_an_override_on_compare_is_marked(kb):
    app = open_page("app_pages/compare.py")
    field(app, "compare_", "_k").set_value(4).run()
    assert any("(changed here)" in line and "override\\: k=4, the kb's setting is k=2" in line
               for line in retrieval_lines(app)), retrieval_lines(app)


def test_evaluate_starts_on_the_kbs_own_questions_and_the_demo_set_needs_a_tick(kb):
    app = open_page("app_pages/evaluate.py")
    source = next(r for r in app.radio if r.key.startswith("eval_source_mine"))
    assert source.value == "cloze"
    source.set_value("demo").run()
    start = next(b for b in app.button if b.label == "Start evaluation")
    assert start.disabled  # the demo's questions on another kb: not without the tick
    next(c for c in app.checkbox if c.key.startswith("eval_demo_ok")).check().run()
    assert not next(b for b in app.button if b.label == "Start evaluation").disabled
    assert any("40 of 40 items will run" in c.value for c in app.caption)


def test_a_raft_adapters_forms_start_at_its_training_setting(kb, data_dir):
    raft_adapter(data_dir, kb=kb, k=3, search_type="dense")
    app = open_page("app_pages/evaluate.py")
    assert field(app, "eval_mine_raft-a", "_k").value == 3
    assert any("the setting adapter raft\\-a was trained with" in line for line in retrieval_lines(app))
    compare = open_page("app_pages/compare.py")
    assert field(compare, "compare_mine_raft-a", "_k").value == 3
    stored = json.loads((data_dir / "kb" / kb / "manifest.json").read_text())["retrieval"]
    assert stored["k"] == 2  # the kb's own setting is untouched
