"""The ct2 engine (float32, the CPU default) on the real model: base rows on the base generator,
adapter rows on the merged one; the merged copy rebuilt on change, gone with the adapter, never
exported; a converter crash is a clear error; grouped float32 answers equal one-by-one answers.
Cache verification (damaged copies rebuilt, no orphan converter): test_ct2_cache.py."""

import io
import os
import sys
import zipfile

import pytest

from core.runtime.engines import ct2_cache
from core.runtime.generation import ChatRow, Decoding
from tests.helpers.adapters import make_random_adapter

pytestmark = pytest.mark.slow
SHORT = Decoding(max_new_tokens=12)
SEA = [{"role": "user", "content": "Describe the sea in one sentence."}]


@pytest.fixture
def ct2(model_data_dir, monkeypatch):
    from core.runtime.engines import get_engine
    from core.runtime.settings import reset_settings

    monkeypatch.setenv("CROSSROADS_ENGINE", "ct2")
    reset_settings()
    return get_engine()


def test_rows_are_routed_to_their_own_model(ct2, model_data_dir):
    folder = make_random_adapter(model_data_dir, "rnd")
    ct2.load_adapters({"rnd": folder})
    (alone,), _ = ct2.generate([ChatRow(SEA)], SHORT)
    texts, _ = ct2.generate([ChatRow(SEA), ChatRow(SEA, "rnd"), ChatRow(SEA), ChatRow(SEA, "rnd")], SHORT)
    assert texts[0] == texts[2] == alone  # base rows: untouched by the adapter next to them
    assert texts[1] == texts[3] != alone  # adapter rows: the (random, strong) adapter


def test_arms_change_only_the_adapter_arms(ct2, model_data_dir):
    from core.evaluation.arms import Arms, ArmSetup

    make_random_adapter(model_data_dir, "rnd")
    plain = Arms(ArmSetup(arms=("base",), decoding=SHORT)).answer("Describe the sea in one sentence.")
    arms = Arms(ArmSetup(arms=("base", "ft"), adapter="rnd", decoding=SHORT))
    answers = arms.answer("Describe the sea in one sentence.")
    assert answers["base"].text == plain["base"].text
    assert answers["ft"].text != plain["base"].text
    record = answers["ft"].record()
    assert (record["engine"], record["quantization"]) == ("ct2", "float32")


def test_merged_copy_is_rebuilt_on_change_and_removed_with_the_adapter(ct2, model_data_dir):
    from core.training import adapters

    folder = make_random_adapter(model_data_dir, "rnd", seed=0)
    first = ct2_cache.prepare_ct2_adapter(folder)
    assert first.parent == folder and (first / "model.bin").is_file()
    ct2.load_adapters({"rnd": folder})
    (before,), _ = ct2.generate([ChatRow(SEA, "rnd")], SHORT)

    make_random_adapter(model_data_dir, "rnd", seed=1)  # new weights, same name and folder
    ct2.load_adapters({"rnd": folder})
    second = ct2_cache.merged_ct2_dir(folder)
    assert second != first and (second / "model.bin").is_file()
    assert not first.exists()  # the copy of the old weights is gone
    (after,), _ = ct2.generate([ChatRow(SEA, "rnd")], SHORT)
    assert after != before

    names = zipfile.ZipFile(io.BytesIO(adapters.export_zip("rnd"))).namelist()
    assert names and not any("ct2" in n or n.endswith(".bin") for n in names)
    adapters.delete("rnd")
    assert not folder.exists() and not second.exists()


def test_a_converter_crash_is_a_clear_error(model_data_dir, monkeypatch, tmp_path):
    from core.runtime.settings import Settings

    settings = Settings(data_dir=tmp_path / "fresh")
    (tmp_path / "fresh").mkdir()
    monkeypatch.setattr(ct2_cache, "_converter_command",
                        lambda out, settings, adapter, quantization: [sys.executable, "-c", "import os; os.abort()"])
    with pytest.raises(ct2_cache.ModelConversionFailed, match="killed by signal") as info:
        ct2_cache.prepare_ct2_generator(settings)
    assert "CROSSROADS_ENGINE=hf" in info.value.hint
    target = ct2_cache.ct2_generator_dir(settings)
    assert not target.exists() and not list(target.parent.glob(target.name + ".tmp*"))


def test_a_model_the_converter_refuses_is_a_clear_error(data_dir, monkeypatch, tmp_path):
    from core.runtime.settings import get_settings, reset_settings

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    monkeypatch.setenv("CROSSROADS_GENERATOR", str(broken))
    reset_settings()
    with pytest.raises(ct2_cache.ModelConversionFailed, match="failed \\(exit code"):
        ct2_cache.prepare_ct2_generator(get_settings())
    assert not os.listdir(data_dir / "models") or not ct2_cache.ct2_generator_is_converted()


def test_ct2_batches_only_equal_or_short_prompts_together():
    """Mixed prompt lengths in one CTranslate2 batch feed the whole prompt token by token (a
    546- and a 52-token prompt: 10.3 s to the first token against 0.5 s each alone)."""
    from core.runtime.engines.ct2 import SHORT_PROMPT, length_batches

    lengths = [43, 443, 51, 371, 443, 40, 415, SHORT_PROMPT + 1]
    batches = length_batches(range(len(lengths)), lengths, per_batch=4)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every row once
    for batch in batches:
        sizes = {lengths[i] for i in batch}
        assert len(sizes) == 1 or max(sizes) <= SHORT_PROMPT, batch
    assert [0, 2, 5] in [sorted(b) for b in batches]  # the short ones share a batch
    assert [1, 4] in [sorted(b) for b in batches]  # two equal long prompts do too
    assert all(len(b) <= 2 for b in length_batches(range(6), [10] * 6, per_batch=2))


def test_float32_groups_long_prompts_of_close_lengths():
    from core.runtime.engines.ct2 import CLOSE_PROMPTS, CLOSE_ROWS, SHORT_PROMPT, length_batches

    lengths = [400, 410, 420, 424, 430, 470, 500, 43, 51]
    batches = length_batches(range(len(lengths)), lengths, per_batch=8, close=CLOSE_PROMPTS)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        sizes = [lengths[i] for i in batch]
        assert max(sizes) <= SHORT_PROMPT or (min(sizes) > SHORT_PROMPT and max(sizes) - min(sizes) <= CLOSE_PROMPTS)
        assert len(batch) <= CLOSE_ROWS or max(sizes) <= SHORT_PROMPT
    assert [0, 1, 2, 3] in [sorted(b) for b in batches]  # 400..424: within 24 tokens, four rows
    assert [5] in batches and [6] in batches  # too far from any other


def _rag_prompts() -> list[list[dict]]:
    """Real RAG prompts of different lengths: the RAG arm's prompt over demo passages."""
    from pathlib import Path

    from core.evaluation.fidelity import passage_messages

    text = (Path(__file__).resolve().parents[2] / "demo" / "sources" / "employee_handbook.txt").read_text()
    paragraphs = [p for p in text.split("\n\n") if len(p) > 200]
    return [passage_messages(question, paragraphs[i:i + 2]) for i, question in enumerate([
        "Who is the CEO?", "How many days of paid leave does a full-time employee get?",
        "What are the office hours?", "What does the handbook say about remote work?"])]


def test_grouped_float32_answers_equal_one_by_one_answers(ct2):
    """In float32, rows of different prompt lengths batched together (the prompt fed token by
    token) give the very token ids each row gets alone: the reason close lengths may share a batch."""
    from core.runtime.engines.ct2 import SHORT_PROMPT

    prompts = [ct2.prompt_ids(m) for m in _rag_prompts()]
    lengths = [len(p) for p in prompts]
    assert len(set(lengths)) == len(lengths) and min(lengths) > SHORT_PROMPT  # really mixed, really long
    options = ct2._decode_options(Decoding(max_new_tokens=24))
    tokens = [ct2.tokenizer.convert_ids_to_tokens(p) for p in prompts]
    generator = ct2._generators[None]
    alone = [generator.generate_batch([t], **options)[0].sequences_ids[0] for t in tokens]
    grouped = [r.sequences_ids[0] for r in generator.generate_batch(tokens, max_batch_size=len(tokens), **options)]
    assert grouped == alone
    assert ct2.quantization == "float32" and ct2.close_prompts > 0
