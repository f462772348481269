"""The Review page (AppTest): one unlabelled answer at a time, graded by button, saved per grade."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_review_page_grades_answers_blind_and_finishes_with_the_human_metric(data_dir):
    from core.evaluation.evaluate import load_report
    from tests.unit.test_review import _report

    report = _report(data_dir)
    at = AppTest.from_file(str(ROOT / "app_pages" / "review.py"), default_timeout=120).run()
    assert not at.exception
    assert "0 of 10 answers graded" in at.get("progress")[0].proto.text
    shown = " ".join(t.value for t in at.text)
    assert "Base" not in shown and "RAG" not in shown  # unlabelled
    for n in range(10):
        label = "Correct (1)" if n % 2 else "Wrong (3)"
        next(b for b in at.button if b.label == label).click().run()
        assert not at.exception
    saved = load_report(report["id"])
    assert len(saved["review"]["grades"]) == 10 and saved["review"]["finished"]
    assert saved["verdict_metric"] == "human"
    assert any("Review finished" in s.value for s in at.success)
