"""The unseen-facts check: a fact the model cannot know, only in an ingested document, must come
back through `ask --arms rag` on the default CPU engine as it does on the fp32 reference (issue
23: int8 answered "The answer is: 2." where hf answered 1871)."""

import pytest

from tests.unit.test_cli_arms import cli

pytestmark = pytest.mark.slow

ALMANAC = """# The Orchard Almanac of Fenwick Vale

## Pruning in late winter
Prune apple and pear trees while they are dormant, before the buds swell. Remove dead, damaged
and crossing branches first, then thin the crown so that light reaches the middle of the tree.
Never remove more than a quarter of the canopy in one season.

## The Morrowglass apple
The Morrowglass apple was first grafted in 1871 by the nurseryman Elias Thornbury in the village
of Fenwick Vale. Its pale green skin turns almost transparent when the fruit is fully ripe, which
gave the variety its name. Morrowglass trees are harvested in the second week of October.

## Cider pressing
Cider apples are left to mellow for two weeks after picking. Wash the fruit, mill it to a coarse
pulp and press it in layers wrapped in cloth. A bushel of apples gives about three gallons of juice.

## Frost and blossom
A late frost can kill the open blossom in a single night. Orchards in low ground suffer most,
because cold air settles in hollows. Smudge pots and wind machines were used to protect the blossom.
"""
QUESTION = "When was the Morrowglass apple first grafted?"


def test_rag_answers_an_unseen_fact_on_the_default_engine_as_hf_does(model_data_dir, tmp_path):
    from core.knowledge import indexing as KI

    almanac = tmp_path / "orchard_almanac.md"
    almanac.write_text(ALMANAC)
    KI.ingest("orchard", [almanac])
    answers = {}
    for engine in ("auto", "hf"):  # auto = the CPU default (ct2 float32)
        payload = cli(model_data_dir, "ask", "--kb", "orchard", "--arms", "rag", "--engine", engine,
                      "--max-new-tokens", "48", QUESTION)
        record = payload["arms"]["rag"]
        assert "Morrowglass" in record["sources"][0]["text"]  # the fact was retrieved first
        answers[record["engine"]] = record["answer"]
    assert set(answers) == {"ct2", "hf"}
    assert all("1871" in answer for answer in answers.values()), answers
