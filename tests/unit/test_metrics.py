"""core.evaluation.metrics: hand-checked values, label mapping, retrieval, latency, bootstrap, properties."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.evaluation import metrics as m

# ---------------------------------------------------------------- normalisation, EM, F1


def test_normalize_answer_squad_rules():
    assert m.normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert m.normalize_answer("An apple, a pear; the end.") == "apple pear end"
    assert m.normalize_answer("SK-7000") == "sk7000"
    assert m.normalize_answer(None) == ""
    assert m.normalize_answer("Zürich — «Altstadt»") == "zürich altstadt"


def test_exact_match_squad_examples():
    assert m.exact_match("Denver Broncos", ["Denver Broncos", "The Denver Broncos"]) == 1.0
    assert m.exact_match("the denver broncos.", "Denver Broncos") == 1.0
    assert m.exact_match("Denver", ["Denver Broncos"]) == 0.0
    assert m.exact_match("It is 27 days.", "27 days") == 0.0
    assert m.exact_match("x", []) == 0.0


def test_token_f1_hand_computed():
    # pred tokens: cat sat on mat (4); gold: cat on mat (3); overlap 3 -> P=3/4, R=1
    assert m.token_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(2 * 0.75 / 1.75)
    # best over golds
    assert m.token_f1("Denver", ["Broncos", "Denver Broncos"]) == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert m.token_f1("nothing shared", "27 days") == 0.0
    # duplicated tokens count once per occurrence in both (SQuAD Counter intersection)
    assert m.token_f1("days days", "days") == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_contains_punctuation_case_and_token_boundaries():
    assert m.contains("Answer: MARISOL Quennell.", "marisol quennell") == 1.0
    assert m.contains("It's the Sk-7000, I think.", "SK-7000") == 1.0
    assert m.contains("You get 27 days of leave", ["twenty-seven days", "27 days"]) == 1.0
    assert m.contains("127 days", "27 days") == 0.0
    assert m.contains("anything", ["", "the"]) == 0.0  # golds that normalise to nothing
    assert m.contains(None, "x") == 0.0


def test_rouge_l_known_value():
    # LCS("the cat sat on the mat", "the cat on the mat") = 5 -> P=5/6, R=1, F=10/11
    assert m.rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(10 / 11)
    assert m.rouge_l("completely different", "the cat") == 0.0
    assert m.rouge_l("the cat", ["dog", "The CAT"]) == pytest.approx(1.0)
    assert m.rouge_l("Zürich", "zürich") == pytest.approx(1.0)  # non-ASCII words are kept


def test_rouge_scorer_is_created_once():
    assert m._rouge_scorer() is m._rouge_scorer()


def test_score_answer_keys_and_values():
    s = m.score_answer("It is 27 days.", ["27 days"])
    assert set(s) == {"exact_match", "f1", "contains", "rougeL"}
    assert s["exact_match"] == 0.0
    assert s["contains"] == 1.0
    assert s["f1"] == pytest.approx(2 * (2 / 4) * 1 / 1.5)  # it is 27 days vs 27 days
    assert s["rougeL"] == pytest.approx(2 * 0.5 * 1 / 1.5)


# ---------------------------------------------------------------- labels

LABELS = ["billing", "technical", "account"]


def test_map_label_rules():
    assert m.map_label("Billing.", LABELS) == "billing"
    assert m.map_label("I think this is technical, maybe billing", LABELS) == "technical"
    assert m.map_label("no idea", LABELS) is None
    assert m.map_label(None, LABELS) is None
    assert m.map_label("accounting", LABELS) is None  # whole tokens only
    # tie at the same position: the longer label wins
    assert m.map_label("account access problem", ["account", "account access"]) == "account access"
    # labels come back as given
    assert m.map_label("BUG REPORT", ["Bug report", "Other"]) == "Bug report"


def test_label_match():
    assert m.label_match("Category: billing", "billing", LABELS) == 1.0
    assert m.label_match("Category: billing", "technical", LABELS) == 0.0
    assert m.label_match("unknown", "billing", LABELS) == 0.0


def test_accuracy_and_macro_f1_against_hand_computation():
    golds = ["billing", "billing", "technical", "technical", "account"]
    preds = ["billing", "It is technical", "technical", "no idea", "billing"]
    # mapped: billing, technical, technical, None, billing
    # billing  tp=1 fp=1 fn=1 -> 0.5; technical tp=1 fp=1 fn=1 -> 0.5; account tp=0 fn=1 -> 0
    assert m.macro_f1(preds, golds, LABELS) == pytest.approx(1 / 3)
    assert m.accuracy(preds, golds, LABELS) == pytest.approx(2 / 5)
    # without labels: plain normalised comparison, None is wrong
    assert m.accuracy(["Billing", None, "x"], ["billing", "billing", "x"]) == pytest.approx(2 / 3)


def test_macro_f1_perfect_and_unused_labels():
    golds = ["a1", "b2", "b2"]
    assert m.macro_f1(golds, golds, ["a1", "b2", "never"]) == 1.0
    assert m.macro_f1([], [], LABELS) == 0.0
    with pytest.raises(ValueError):
        m.macro_f1(["a"], [], LABELS)


# ---------------------------------------------------------------- groundedness


def test_groundedness_proxy():
    ctx = "Employees get 27 days of paid annual leave per year."
    assert m.groundedness_proxy("You get 27 days of paid leave.", ctx) == 1.0  # you/of: stopwords
    # content tokens: get, 40, days, leave -> 3 of 4 in context
    assert m.groundedness_proxy("You get 40 days leave", ctx) == pytest.approx(3 / 4)
    assert m.groundedness_proxy("", ctx) == 0.0
    assert m.groundedness_proxy("the of and", ctx) == 0.0
    chunks = [{"text": "Alpha beta."}, SimpleNamespace(text="gamma"), "delta"]
    assert m.groundedness_proxy("alpha gamma delta epsilon", chunks) == pytest.approx(3 / 4)


# ---------------------------------------------------------------- latency


def test_percentiles_and_mean():
    vals = list(range(1, 101))
    assert m.p50(vals) == pytest.approx(50.5)
    assert m.p95(vals) == pytest.approx(95.05)
    assert m.percentile([3.0], 95) == 3.0
    assert m.percentile([], 50) is None
    assert m.p50([1.0, None, float("nan"), 3.0]) == 2.0
    assert m.mean([1, None, 0, float("nan")]) == 0.5
    assert m.mean([]) is None
    with pytest.raises(ValueError):
        m.percentile([1], 101)


# ---------------------------------------------------------------- bootstrap


def _synthetic(n=200, true_diff=0.1, seed=1):
    rng = np.random.default_rng(seed)
    b = rng.uniform(0, 1, n)
    a = b + true_diff + rng.normal(0, 0.1, n)
    return a, b


def test_paired_ci_contains_true_difference_and_excludes_zero():
    a, b = _synthetic()
    low, diff, high = m.paired_bootstrap_ci(a, b)
    assert low < 0.1 < high
    assert low > 0
    assert low <= diff <= high
    assert diff == pytest.approx(float(np.mean(a - b)))


def test_paired_ci_clearly_better_arm_excludes_zero():
    a = [1.0] * 40 + [0.0] * 10
    b = [0.0] * 40 + [1.0] * 2 + [0.0] * 8
    low, diff, high = m.paired_bootstrap_ci(a, b)
    assert low > 0 and diff == pytest.approx((40 - 2) / 50)
    low, _, high = m.paired_bootstrap_ci(b, a)
    assert high < 0


def test_paired_ci_identical_and_noisy_equal_arms_include_zero():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, 60).astype(float)
    assert m.paired_bootstrap_ci(x, x) == (0.0, 0.0, 0.0)
    y = rng.permutation(x)  # same distribution, no real difference
    low, _, high = m.paired_bootstrap_ci(x, y)
    assert low <= 0 <= high


def test_paired_ci_is_deterministic_with_seed_and_pairs_drop_missing():
    a, b = _synthetic(n=50)
    assert m.paired_bootstrap_ci(a, b, seed=7) == m.paired_bootstrap_ci(a, b, seed=7)
    assert m.paired_bootstrap_ci(a, b, seed=7) != m.paired_bootstrap_ci(a, b, seed=8)
    with_gaps = m.paired_bootstrap_ci([*a, None, float("nan")], [*b, 0.5, 0.5], seed=7)
    assert with_gaps == m.paired_bootstrap_ci(a, b, seed=7)


def test_paired_ci_is_paired():
    # large per-question variation shared by both arms: paired CI is narrow
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, 100)
    a, b = base + 0.05, base
    low, diff, high = m.paired_bootstrap_ci(a, b)
    assert diff == pytest.approx(0.05)
    assert high - low < 1e-9


def test_paired_ci_errors():
    with pytest.raises(ValueError):
        m.paired_bootstrap_ci([1, 0], [1])
    with pytest.raises(ValueError):
        m.paired_bootstrap_ci([], [])
    with pytest.raises(ValueError):
        m.paired_bootstrap_ci([1], [0], confidence=1.5)


def test_bootstrap_ci_single_arm():
    scores = [0.0, 1.0] * 50
    low, mean, high = m.bootstrap_ci(scores)
    assert mean == 0.5
    assert 0.35 < low < 0.5 < high < 0.65
    assert m.bootstrap_ci(scores, seed=3) == m.bootstrap_ci(scores, seed=3)
    assert m.bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    # wider at lower confidence is impossible
    l90, _, h90 = m.bootstrap_ci(scores, confidence=0.90)
    assert h90 - l90 <= high - low
    with pytest.raises(ValueError):
        m.bootstrap_ci([None])


def test_bootstrap_handles_large_sets_in_blocks():
    x = np.tile([0.0, 1.0], 5000)  # 10k questions x 2000 resamples: drawn in blocks
    low, mean, high = m.bootstrap_ci(x, n_resamples=500)
    assert low < mean == 0.5 < high


# ---------------------------------------------------------------- properties

texts = st.text(max_size=60)
gold_lists = st.lists(st.text(max_size=30), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(texts, gold_lists)
def test_answer_metrics_are_in_unit_interval(pred, golds):
    for value in m.score_answer(pred, golds).values():
        assert 0.0 <= value <= 1.0
    assert 0.0 <= m.groundedness_proxy(pred, " ".join(golds)) <= 1.0


@settings(max_examples=150, deadline=None)
@given(texts, gold_lists)
def test_exact_match_implies_full_f1_and_contains(pred, golds):
    if m.exact_match(pred, golds) == 1.0:
        assert m.token_f1(pred, golds) == 1.0
        if m.normalize_answer(pred):
            assert m.contains(pred, golds) == 1.0


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=40), st.sampled_from(["", ".", "!", " ?"]), st.booleans())
def test_contains_and_em_of_itself_with_case_and_punctuation(x, punct, upper):
    if m.normalize_answer(x):
        variant = (x.upper() if upper else x) + punct
        assert m.contains(x, x) == 1.0
        assert m.exact_match(x, x) == 1.0
        if m.normalize_answer(variant) == m.normalize_answer(x):  # .upper() may change length (ß)
            assert m.contains(variant, [x]) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.integers(0, 10))
def test_bootstrap_interval_is_ordered(scores, seed):
    low, mean, high = m.bootstrap_ci(scores, n_resamples=200, seed=seed)
    assert low <= mean <= high
    assert -1e-9 <= low and high <= 1 + 1e-9
