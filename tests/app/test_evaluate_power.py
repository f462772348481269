"""Evaluate shows, before a run, the smallest difference its questions can detect (AppTest)."""

import math

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_the_minimum_detectable_effect_is_shown_before_the_run(data_dir):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/evaluate.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    captions = " ".join(c.value for c in app.caption)
    # the demo set, 40 questions, nothing measured yet: the assumed spread sqrt(0.5)
    mde = round(2.8015852 * math.sqrt(0.5) / math.sqrt(40) * 100)
    assert f"With 40 questions the smallest difference it can detect is **{mde} points**" in captions
    assert "a 10-point difference needs about **393** questions" in captions


def test_a_seed_group_report_shows_the_spread_and_both_intervals(data_dir):
    from core.evaluation.evaluate import save_report
    from tests.unit.test_seeds import _group_report

    report = _group_report(data_dir)
    report["id"] = "20260101-000000-seed"
    save_report(report)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("app_pages/evaluate.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    captions = " ".join(c.value for c in app.caption).replace("\\", "")  # the lines are escaped markdown
    assert "Fine-tuned: mean ± sd across 3 seeds: exact match 0.40 ± 0.10" in captions
    assert "95% CI with seeds resampled" in captions and "questions only" in captions
    assert "training seeds" in app.success[0].value
