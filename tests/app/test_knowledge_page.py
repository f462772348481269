"""Knowledge page wiring (AppTest): create, upload with per-file results, files, chunk preview,
retrieval test, delete file, rename, delete knowledge base."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

DEMO = Path(ROOT) / "demo" / "docs"


@pytest.fixture
def kpage(data_dir):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("app_pages/knowledge.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at, key):
    return next(b for b in at.button if b.key == key)


def ingest_and_wait(at) -> None:
    """Click Ingest: the page starts a background job; wait for it, then rerun the page (in the
    browser the panel's fragment follows the job; AppTest does not run timed fragments)."""
    from core.knowledge import ingest_job as IJ
    from core.runtime import jobs

    button(at, "ingest").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = jobs.list_jobs(IJ.KIND)[0]
    assert jobs.wait(job.id, timeout=600).state == "completed"
    at.run()


def test_empty_state_offers_create_and_demo(kpage):
    assert kpage.title[0].value == "Knowledge"
    assert any("No knowledge base yet" in i.value for i in kpage.info)
    assert button(kpage, "kb_demo")


def test_knowledge_page_flow(kpage):
    at = kpage
    at.text_input(key="kb_new_name").set_value("handbook")
    button(at, "kb_create").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="kb_select").value == "handbook"

    at.file_uploader[0].set_value([
        ("support_policy.md", (DEMO / "support_policy.md").read_bytes(), "text/markdown"),
        ("security_policy.txt", (DEMO / "security_policy.txt").read_bytes(), "text/plain"),
        ("broken.pdf", b"%PDF-1.4 this is not a pdf", "application/pdf"),
    ])
    at.run()
    ingest_and_wait(at)
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert "2 indexed, 1 with errors" in warnings.replace("\\", "")
    errors = " ".join(e.value for e in at.error)
    assert "broken.pdf" in errors.replace("\\", "") and "damaged" in errors
    results = at.dataframe[0].value
    assert list(results["Result"].str.startswith("indexed (")) == [True, True, False]
    files = at.dataframe[-1].value
    assert sorted(files["File"]) == ["security_policy.txt", "support_policy.md"]

    # preview the chunks of the chosen file
    at.toggle(key="file_preview").set_value(True)
    at.run()
    assert not at.exception
    assert len(at.text) >= 2

    # chunking preview, on the sample and on one of the knowledge base's own files
    at.number_input(key="chunk_size_chars").set_value(200)
    at.run()
    assert any("chunks** with these settings" in m.value for m in at.markdown)
    assert button(at, "reindex")
    shown = at.selectbox(key="chunk_source").options  # the formatted labels: file names
    at.selectbox(key="chunk_source").select_index(next(i for i, o in enumerate(shown) if "security_policy" in o))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Vaultkeel" in c.value for c in at.code)  # the user's own text, split with the new settings

    # retrieval test: ranked chunks with scores and the source file
    at.text_input(key="search_query").set_value("Which password manager is used?")
    next(b for b in at.button if b.label == "Search").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    first = next(m.value for m in at.markdown if m.value.startswith("**#1**"))
    assert "security" in first and "cosine" in first
    assert any("fused rank" in c.value for c in at.caption)  # says what the order is based on

    # delete one file: exactly its chunks go
    chosen = at.selectbox(key="file_pick")
    before = at.dataframe[-1].value
    button(at, "file_delete").click()
    at.run()
    after = at.dataframe[-1].value
    assert len(after) == len(before) - 1
    assert chosen.value not in set(after.index.astype(str))

    # rename, then delete the knowledge base
    at.text_input(key="kb_rename_to").set_value("renamed")
    button(at, "kb_rename").click()
    at.run()
    assert at.selectbox(key="kb_select").value == "renamed"
    at.checkbox(key="kb_delete_confirm").check()
    at.run()
    button(at, "kb_delete").click()
    at.run()
    assert not at.exception
    assert any("No knowledge base yet" in i.value for i in at.info)


def test_bad_name_shows_a_clear_error(kpage):
    kpage.text_input(key="kb_new_name").set_value("../evil")
    button(kpage, "kb_create").click()
    kpage.run()
    assert any("not a valid knowledge-base name" in e.value.replace("\\", "") for e in kpage.error)  # escaped markdown


def test_retrieval_lab_tab_sweeps_marks_the_best_and_applies_it(kpage, data_dir, tmp_path):
    import json

    at = kpage
    at.text_input(key="kb_new_name").set_value("lab")
    button(at, "kb_create").click()
    at.run()
    at.file_uploader[0].set_value([
        ("support_policy.md", (DEMO / "support_policy.md").read_bytes(), "text/markdown"),
        ("price_list.csv", (DEMO / "price_list.csv").read_bytes(), "text/csv"),
    ])
    at.run()
    ingest_and_wait(at)
    assert not at.exception, [e.value for e in at.exception]
    rows = [json.loads(line) for line in (DEMO.parent / "qa_test.jsonl").read_text().splitlines()]
    mine = "\n".join(json.dumps({"question": r["question"], "answer": r["answer"]}) for r in rows
                     if r["source"] in ("support_policy.md", "price_list.csv"))
    assert at.radio(key="lab_source_lab_None").value == "cloze"  # a kb's own questions by default, not the demo's
    at.radio(key="lab_source_lab_None").set_value("upload")
    at.run()
    next(u for u in at.file_uploader if u.key == "lab_upload").set_value([("mine.jsonl", mine.encode(), "application/json")])
    at.multiselect(key="lab_types").set_value(["dense", "keyword", "hybrid"])
    at.multiselect(key="lab_ks").set_value([1, 3, 4])
    at.run()
    button(at, "lab_run").click()
    at.run(timeout=900)  # the first run loads the generator's tokenizer (a one-time conversion)
    assert not at.exception, [e.value for e in at.exception]
    shown = [s.value for s in at.success] + [e.value for e in at.error] + [i.value for i in at.info]
    best = next((s.value for s in at.success if s.value.startswith("Best:")), None)
    assert best, shown
    assert "9 settings" in best
    table = next(d.value for d in at.dataframe if "Setting" in d.value.columns)
    assert len(table) == 9 and (table[""] == "★ best").sum() == 1
    best_label = table.loc[table[""] == "★ best", "Setting"].iloc[0]
    if (table[""] == "current").any():  # the best is not the current setting: apply it
        button(at, "lab_apply").click()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        stored = json.loads((data_dir / "kb" / "lab" / "manifest.json").read_text())["retrieval"]
        assert f"{stored['search_type']} · k={stored['k']}" in best_label
        assert any("Stored as this knowledge base's setting" in s.value for s in at.success)


def test_the_file_table_is_sorted_by_name():
    from ui.knowledge_view import files_table

    files = [{"name": n, "kind": "txt", "size": 10, "chunks": 1} for n in ("b.txt", "C.md", "a.pdf")]
    assert [row["File"] for row in files_table(files)] == ["a.pdf", "b.txt", "C.md"]
