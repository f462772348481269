"""The Fine-tune page's training mode (AppTest, real Chroma and embedder): RAFT rows built from a
knowledge base, rows without an answer passage listed, the preview shows the context, max length
sized to fit, and Start trains the RAFT file."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PAGE = str(ROOT / "app_pages" / "finetune.py")

FACTS = {
    "harbour.md": "The Harbour office opens at 08:30. Its manager is Olwen Brask. Parking costs 4 euros a day.",
    "warranty.md": "The Skerry SK-7000 has a warranty of 3 years. Repairs take 10 business days. "
                   "Spare sensors are sold in packs of 6.",
}
QA = [("Who manages the Harbour office?", "Olwen Brask", "harbour.md"),
      ("When does the Harbour office open?", "08:30", "harbour.md"),
      ("How long is the SK-7000 warranty?", "3 years", "warranty.md"),
      ("How long do repairs take?", "10 business days", "warranty.md"),
      ("How many sensors are in a pack?", "6", "warranty.md"),
      ("What does parking cost?", "4 euros", "harbour.md"),
      ("What colour is the moon at noon?", "lavender", None),
      ("Who founded the Harbour office?", "Ingrid Nobody", None)] * 2


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    parts += [c.value for c in at.code] + [i.value for i in at.info] + [e.label for e in at.expander]
    return "\n".join(str(p) for p in parts)


def test_raft_mode_builds_rows_lists_missing_and_previews_the_context(model_data_dir, tmp_path):
    from core.knowledge.indexing import ingest

    for name, text in FACTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    ingest("facts", [tmp_path / n for n in FACTS])
    lines = [json.dumps({"question": q if i < 8 else f"{q} (again)", "answer": a, "source": s})
             for i, (q, a, s) in enumerate(QA)]

    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.file_uploader(key="ft_upload").upload("facts.jsonl", "\n".join(lines).encode(), "application/jsonl")
    at.run()
    assert not at.exception
    assert at.radio(key="ft_mode").value == "closed_book"
    at.radio(key="ft_mode").set_value("raft").run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "16 RAFT rows" in text
    assert "4 row(s) without an answer passage (train closed-book)" in text
    assert "According to the text above" in text  # the exact training text holds the RAG prompt
    assert "sized to fit the retrieved context" in text
    at.radio(key="ft_raft_missing").set_value("drop").run()
    assert "12 RAFT rows" in _texts(at) and "(are dropped)" in _texts(at)
    start = next(b for b in at.button if b.label == "Start training")
    assert not start.disabled
    # The max length field shows the floor the RAFT rows need (no "128" beside a "320" caption).
    field = next(n for n in at.number_input if "_max_length" in n.key)
    assert field.value >= int(field.key.rsplit("_max_length", 1)[1])

    # A new session (a reload, or back from another page during the run): still RAFT, same choices.
    again = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not again.exception
    assert again.radio(key="ft_mode").value == "raft"
    assert again.radio(key="ft_raft_missing").value == "drop"
