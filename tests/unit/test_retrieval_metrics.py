"""Retrieval metrics: hit@k, MRR, the gold rules (chunk id / source / answer text), failure split."""

from types import SimpleNamespace

import pytest

from core.evaluation import retrieval_metrics as m


def test_hit_at_k_and_reciprocal_rank_by_file_name():
    retrieved = ["docs/a.md", "/tmp/kb/b.md", "c.md"]
    assert m.hit_at_k(retrieved, "b.md", k=1) == 0.0
    assert m.hit_at_k(retrieved, "b.md", k=2) == 1.0
    assert m.hit_at_k(retrieved, "z.md", k=3) == 0.0
    assert m.reciprocal_rank(retrieved, "b.md") == 0.5
    assert m.reciprocal_rank(retrieved, "c.md") == pytest.approx(1 / 3)
    assert m.reciprocal_rank(retrieved, "z.md") == 0.0
    assert m.reciprocal_rank([], "a.md") == 0.0


def test_retrieval_matches_on_chunk_id_and_objects():
    retrieved = [{"source": "a.md", "id": "x1"}, {"file": "a.md", "chunk_id": "x2"}]
    assert m.reciprocal_rank(retrieved, None, gold_chunk_id="x2") == 0.5
    assert m.hit_at_k(retrieved, None, 1, gold_chunk_id="x2") == 0.0
    # either the source or the chunk id matches
    assert m.reciprocal_rank(retrieved, "a.md", gold_chunk_id="x2") == 1.0
    objs = [SimpleNamespace(source="b.pdf", id="c9"), SimpleNamespace(source="a.md", id="c1")]
    assert m.reciprocal_rank(objs, "a.md") == 0.5
    assert m.reciprocal_rank(objs, None, gold_chunk_id="c9") == 1.0
    with pytest.raises(ValueError):
        m.hit_at_k(objs, None, 3)
    with pytest.raises(ValueError):
        m.hit_at_k(objs, "a.md", 0)


def test_retrieval_means():
    lists = [["a.md"], ["x.md", "b.md"], []]
    assert m.mean_hit_at_k(lists, ["a.md", "b.md", "c.md"], k=2) == pytest.approx(2 / 3)
    assert m.mean_reciprocal_rank(lists, ["a.md", "b.md", "c.md"]) == pytest.approx((1 + 0.5 + 0) / 3)
    assert m.mean_hit_at_k([], [], k=1) is None


# ---------------------------------------------------------------- gold by answer text


def test_gold_by_answer_when_no_source_is_given():
    retrieved = [{"id": "c1", "text": "Support hours are 9 to 5."},
                 {"id": "c2", "text": "The SK-7000 router costs $129, shipped in 3 days."}]
    assert m.gold_rule(None, None, ["$129"]) == m.GOLD_BY_ANSWER
    assert m.gold_rank(retrieved, golds=["$129"]) == (2, m.GOLD_BY_ANSWER)
    assert m.hit_at_k(retrieved, None, 1, golds=["129"]) == 0.0
    assert m.hit_at_k(retrieved, None, 2, golds=["129"]) == 1.0
    assert m.reciprocal_rank(retrieved, None, golds=["sk7000"]) == 0.5  # SQuAD normalisation: "SK-7000"
    assert m.reciprocal_rank(retrieved, None, golds=["The 9 to 5"]) == 1.0  # articles dropped
    # whole tokens only: "12" is not in "$129"
    assert m.hit_at_k(retrieved, None, 2, golds=["12"]) == 0.0
    objs = [SimpleNamespace(source="a.md", id="x", text="Refunds within 30 days.")]
    assert m.hit_at_k(objs, None, 1, golds=["30 days"]) == 1.0


def test_a_label_wins_over_the_answer_text():
    retrieved = [{"source": "a.md", "text": "answer 42"}, {"source": "b.md", "text": "nothing"}]
    assert m.gold_rank(retrieved, "b.md", golds=["42"]) == (2, m.GOLD_BY_SOURCE)
    assert m.gold_rule("b.md", "c1") == m.GOLD_BY_SOURCE_OR_CHUNK
    assert m.gold_rule(None, None, ["", "  "]) is None
    with pytest.raises(ValueError):
        m.hit_at_k(retrieved, None, 1, golds=["..."])  # normalises to nothing: no rule applies


def test_means_with_answers_and_the_failure_split():
    lists = [[{"text": "x 7"}], [{"text": "y"}, {"text": "z 8"}]]
    assert m.mean_hit_at_k(lists, [None, None], k=1, golds=[["7"], ["8"]]) == pytest.approx(0.5)
    assert m.mean_reciprocal_rank(lists, [None, None], golds=[["7"], ["8"]]) == pytest.approx(0.75)
    assert m.failure_kind(False, 0.0) == m.RETRIEVAL_MISS
    assert m.failure_kind(False, 1.0) == m.GENERATION_ERROR
    assert m.failure_kind(True, 0.0) is None and m.failure_kind(False, None) is None
