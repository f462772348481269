"""Presets chosen by task and size, the train-recall check's matching rule, and the page's draft file."""

from __future__ import annotations

import json

import pytest

from core.runtime.settings import Settings
from core.training.finetune import PRESET_NAMES, TrainingError, plan_steps, preset_options, task_of
from core.training.finetune_draft import clear_draft, draft_path, load_draft, save_draft
from core.training.train_recall import recalled


def _steps(options, n_rows):
    return plan_steps(n_rows - round(n_rows * options.eval_fraction), options)


def test_the_default_preset_is_long_enough_to_learn_the_demo_facts():
    """Issue 10.3: Quick took 9 steps on the 71 demo facts (1 epoch, batch 8) and learned nothing."""
    quick = preset_options("quick", "qa", 71)
    assert _steps(quick, 71) >= 80 and quick.dropout == 0.0 and quick.batch_size <= 4
    assert quick.learning_rate >= 2e-3
    # Longer presets are longer; a big file is not made to run for more epochs than it needs.
    assert _steps(preset_options("balanced", "qa", 71), 71) > _steps(quick, 71)
    assert preset_options("quick", "qa", 5000).epochs == 3.0  # the preset's own epochs: already >= 80 steps


def test_label_presets_make_one_pass_over_a_large_file_and_more_over_a_small_one():
    assert task_of("classification") == "labels" and task_of("instruction") == "facts" and task_of(None) == "facts"
    assert preset_options("quick", "classification", 220).epochs == 1.0
    small = preset_options("quick", "classification", 40)
    assert small.epochs > 1 and _steps(small, 40) >= 20


def test_every_preset_is_valid_for_every_task_and_an_unknown_one_is_refused():
    for preset in PRESET_NAMES:
        for kind in ("qa", "classification"):
            for n in (10, 71, 220, 10_000):
                preset_options(preset, kind, n).check()
    with pytest.raises(TrainingError, match="Unknown preset"):
        preset_options("fast", "qa", 71)


@pytest.mark.parametrize("answer,target,is_label,expected", [
    ("Odile Brannock.", "Odile Brannock", False, True),
    ("The keeper is odile  brannock", "Odile Brannock", False, True),
    ("Someone else", "Odile Brannock", False, False),
    ("billing", "billing", True, True),
    ("shipping, not billing", "billing", True, False),
    ("None", "None", True, True),
])
def test_recall_matching(answer, target, is_label, expected):
    assert recalled(answer, target, is_label) is expected


def test_draft_round_trip_is_atomic_and_a_corrupt_one_is_set_aside(tmp_path):
    settings = Settings(data_dir=tmp_path)
    upload = tmp_path / "uploads" / "abc.csv"
    upload.parent.mkdir()
    upload.write_text("text,label\n")
    save_draft({"source": "upload", "path": "uploads/abc.csv", "display_name": "mine.csv", "preset": "balanced",
                "options": {"rank": 12}, "mapping": {"text": "body"}, "kind": "classification", "junk": 1}, settings)
    path = draft_path(settings)
    assert path == tmp_path / "ui" / "finetune_draft" / "draft.json"
    assert "junk" not in json.loads(path.read_text())
    assert [p.name for p in path.parent.iterdir()] == ["draft.json"]  # no temp file left behind
    draft, problem = load_draft(settings)
    assert not problem and draft["preset"] == "balanced" and draft["resolved_path"] == str(upload)

    upload.unlink()
    draft, problem = load_draft(settings)
    assert draft == {} and "is gone" in problem

    path.write_text("[1, 2")
    draft, problem = load_draft(settings)
    assert draft == {} and "could not be read" in problem
    assert (path.parent / "draft.json.corrupt").exists() and not path.exists()
    assert load_draft(settings) == ({}, "")  # reported once, then ignored
    clear_draft(settings)
