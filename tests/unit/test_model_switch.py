"""A second architecture end to end (issue 26): a tiny random 2-layer Qwen2 with its own chat
template is added and made active; it fine-tunes a few steps, answers four arms and runs a small
evaluation whose report names it; an adapter of the bundled model is refused on it; switching back
gives the bundled model its adapters and its ct2 cache, rebuilt for nothing.

One module fixture does the expensive part once (about a minute on 2 cores)."""

from __future__ import annotations

import json
import os

import pytest

from core.runtime import model_registry as registry
from tests.conftest import data_dir_env, module_data_dir

pytestmark = pytest.mark.slow
QUESTION = "What is the password to the Ember Vault?"


def _stamp(path):
    info = os.stat(path)
    return info.st_ino, info.st_mtime_ns


@pytest.fixture(scope="module")
def switched(tmp_path_factory, converted_models):
    from core.evaluation.arms import Arms, ArmSetup
    from core.evaluation.evalsets import EvalItem, EvalSet
    from core.evaluation.evaluate import evaluate
    from core.evaluation.report import to_markdown
    from core.knowledge import indexing as KI
    from core.knowledge.documents import ChunkSettings
    from core.runtime.engines import ct2_cache
    from core.runtime.generation import Decoding
    from core.runtime.settings import get_settings, reset_settings
    from core.training.adapter_checks import base_identity
    from core.training.adapters import list_adapters
    from core.training.finetune import TrainOptions
    from tests.helpers.adapters import make_random_adapter
    from tests.helpers.tiny_model import make_tiny_qwen2
    from tests.unit.ft_helpers import run_in_process, write_facts
    from tests.unit.kb_helpers import FakeEmbeddings

    data = module_data_dir(tmp_path_factory, converted_models, "switch")
    tiny = make_tiny_qwen2(data.parent / "tiny-qwen2", converted_models / "smollm2-135m-instruct")
    out: dict = {"data": data}
    with data_dir_env(data):
        bundled = get_settings()
        smol = make_random_adapter(data, "smol-adapter")  # an adapter of the bundled model, as trained now
        meta = json.loads((smol / "meta.json").read_text())
        (smol / "meta.json").write_text(json.dumps({**meta, **base_identity(bundled)}))
        ct2_model = ct2_cache.ct2_generator_dir(bundled) / "model.bin"
        out["ct2_before"] = _stamp(ct2_model)
        embedder = FakeEmbeddings()
        KI.ingest("vault", [("vault.txt", b"The password to the Ember Vault is copperfinch. The vault is in Quillmere.")],
                  embedder=embedder, chunking=ChunkSettings(200, 20))

        out["entry"] = registry.add(data, tiny, "tiny-qwen2", activate=True)
        reset_settings()
        settings = get_settings()
        out["settings"] = settings
        facts = write_facts(data.parent / "facts.jsonl")
        options = TrainOptions(max_steps=3, batch_size=4, epochs=1, evals=1, eval_fraction=0.2)
        run_in_process(facts, "tiny-ft", options)
        out["tiny_meta"] = json.loads((data / "adapters" / "tiny-ft" / "meta.json").read_text())
        out["tiny_config"] = json.loads((data / "adapters" / "tiny-ft" / "adapter_config.json").read_text())
        setup = ArmSetup(arms=("base", "rag", "ft", "hybrid"), kb="vault", adapter="tiny-ft",
                         decoding=Decoding(max_new_tokens=8))
        arms = Arms(setup, settings, embedder=embedder)
        out["answers"] = arms.answer(QUESTION)
        out["provenance"] = arms.provenance()
        out["prompt"] = arms.prompt_text(out["answers"]["base"])
        report = evaluate(EvalSet("tiny", (EvalItem(QUESTION, ("copperfinch",)), EvalItem("Where is the vault?", ("Quillmere",)))),
                          setup, settings=settings, engine=arms, batch_size=2)
        out["report"], out["markdown"] = report, to_markdown(report)
        try:
            Arms(ArmSetup(arms=("ft",), adapter="smol-adapter"), settings)
        except Exception as exc:  # noqa: BLE001 - the test asserts what it was
            out["refused"] = exc
        out["only_tiny"] = [r.name for r in list_adapters(settings, active_model_only=True)]

        registry.use(data, registry.BUNDLED_NAME)
        reset_settings()
        back = get_settings()
        out["back"] = back
        back_arms = Arms(ArmSetup(arms=("base", "ft"), adapter="smol-adapter", decoding=Decoding(max_new_tokens=4)), back)
        out["back_answers"] = back_arms.answer(QUESTION)
        out["ct2_after"] = _stamp(ct2_model)
        try:
            Arms(ArmSetup(arms=("ft",), adapter="tiny-ft"), back)
        except Exception as exc:  # noqa: BLE001
            out["refused_back"] = exc
    return out


def test_the_tiny_model_is_added_and_active(switched):
    entry, settings = switched["entry"], switched["settings"]
    assert (entry.architecture, entry.kind) == ("qwen2", "transformers") and entry.params < 5_000_000
    assert (settings.model_name, settings.generator) == ("tiny-qwen2", entry.path)


def test_training_records_the_base_and_targets_its_layers(switched):
    meta, entry = switched["tiny_meta"], switched["entry"]
    assert (meta["base_model_name"], meta["base_weights"]) == ("tiny-qwen2", entry.weights_hash)
    assert meta["base_fingerprint"]["model_type"] == "qwen2"
    assert sorted(switched["tiny_config"]["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def test_four_arms_answer_with_the_models_own_template(switched):
    answers = switched["answers"]
    assert set(answers) == {"base", "rag", "ft", "hybrid"}
    assert all(a.answer_tokens > 0 for a in answers.values())
    # the tiny template has no default system turn: SmolLM2's "You are a helpful AI assistant named SmolLM" is absent
    assert "SmolLM" not in switched["prompt"] and switched["prompt"].startswith("<|im_start|>user")
    assert switched["provenance"]["model"] == "tiny-qwen2"
    assert switched["provenance"]["engine"]["model"] == "tiny-qwen2"


def test_the_report_names_the_model(switched):
    report = switched["report"]
    assert report["meta"]["model"] == "tiny-qwen2" and report["engine"]["model"] == "tiny-qwen2"
    assert "**Base model\\: tiny\\-qwen2**" in switched["markdown"]


def test_an_adapter_of_the_bundled_model_is_refused_on_it(switched):
    refused = switched.get("refused")
    assert refused is not None
    assert refused.message == ("Adapter 'smol-adapter' was trained on base model 'SmolLM2-135M-Instruct'; the active "
                               "model is 'tiny-qwen2', so it is refused.")
    assert "--model SmolLM2-135M-Instruct" in refused.hint
    assert switched["only_tiny"] == ["tiny-ft"]


def test_switching_back_restores_adapters_and_caches_without_rebuilding(switched):
    assert switched["back"].model_name == registry.BUNDLED_NAME
    assert switched["back_answers"]["ft"].answer_tokens > 0
    assert switched["ct2_after"] == switched["ct2_before"]  # the same file: not converted again
    assert "trained on base model 'tiny-qwen2'" in switched["refused_back"].message
    tiny = next(e for e in registry.list_models(switched["data"]) if e.name == "tiny-qwen2")
    assert tiny.measured  # its speed, measured when it answered, for the Models page
