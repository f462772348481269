"""The wizard's rules (data): sources, thresholds, each answer's weights and the gates.

Everything the engine believes is in these tables, so a reviewer can read and change the
weights in one place. Every weight cites the source it comes from (../shared/design/evidence.md);
no number here is made up. When a gate fires is decided in core.decision.answers (fired_gates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Sources (short key -> citation shown in the UI and the report)
# --------------------------------------------------------------------------------------------
SOURCES: dict[str, str] = {
    "openai_ft": "OpenAI fine-tuning guide",
    "azure": "Azure OpenAI guidance (RAG vs fine-tuning)",
    "aws": "AWS prescriptive guidance (RAG vs fine-tuning)",
    "ibm": "IBM (RAG vs fine-tuning)",
    "google": "Google Vertex AI tuning guide",
    "anthropic": "Anthropic (contextual retrieval / long context guidance)",
    "databricks": "Databricks (RAG vs fine-tuning)",
    "ovadia": "Ovadia et al., Fine-Tuning or Retrieval?, EMNLP 2024 (arXiv 2312.05934)",
    "soudani": "Soudani et al., Fine Tuning vs. RAG for Less Popular Knowledge (arXiv 2403.01432)",
    "balaguer": "Balaguer et al., RAG vs Fine-tuning: agriculture case study (arXiv 2401.08406)",
    "raft": "Zhang et al., RAFT (arXiv 2403.10131)",
    "gekhman": "Gekhman et al., Fine-Tuning on New Knowledge and Hallucinations, EMNLP 2024 (arXiv 2405.05904)",
    "lewis": "Lewis et al., Retrieval-Augmented Generation, NeurIPS 2020",
    "lora": "Hu et al., LoRA, ICLR 2022",
    "mecklenburg": "Mecklenburg et al. (arXiv 2404.00213)",
}


def cite(*keys: str) -> str:
    """Join source keys into the citation text shown next to a reason."""
    return "; ".join(SOURCES[k] for k in keys)


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------
# labeled examples: <10 no FT; 10-49 few-shot; 50-99 FT pilot; 100-999 FT viable; >=1000 FT strong
EXAMPLE_BANDS: tuple[tuple[float, str], ...] = (
    (10, "lt10"),
    (50, "10_49"),
    (100, "50_99"),
    (1000, "100_999"),
    (math.inf, "1000_plus"),
)
MIN_FT_EXAMPLES = 10  # OpenAI: minimum 10
RAFT_MIN_QA = 100  # RAFT: noisy retrieval and >= 100 Q&A pairs
CORPUS_FITS_FRACTION = 0.5  # corpus <= half the window -> put it in the prompt (Anthropic)
BUNDLED_CONTEXT_WINDOW = 8192  # SmolLM2-135M-Instruct, llama.context_length in its GGUF
CHARS_PER_TOKEN = 4  # rule of thumb for English text, used only to estimate a corpus from characters
CLOSE_CALL_MARGIN = 1.0  # prior-score gap under which the top two are a close call
UPDATES_PER_MONTH = {"static": 0.0, "monthly": 1.0, "weekly": 52 / 12}


# --------------------------------------------------------------------------------------------
# Rules: factor -> answer -> effect on each option's prior score
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    weights: tuple[tuple[str, float], ...]
    text: str
    source: str

    def weight(self, option: str) -> float:
        return dict(self.weights).get(option, 0.0)


def _e(text: str, source: str, **weights: float) -> Effect:
    return Effect(tuple(sorted(weights.items())), text, source)


RULES: dict[str, dict[str, Effect]] = {
    "goal": {
        "facts": _e(
            "You want answers grounded in facts from documents: that is context, which retrieval "
            "supplies (new events: RAG 0.875 vs fine-tuning 0.504 vs base 0.481 on Mistral-7B).",
            cite("openai_ft", "azure", "ovadia"), rag=3, hybrid=1, finetune=-1,
        ),
        "behaviour": _e(
            "You want to change behaviour (style, format, schema, labels): that is what "
            "fine-tuning teaches.",
            cite("openai_ft", "azure"), finetune=3, hybrid=0.5, rag=-1,
        ),
        "both": _e(
            "You need both facts and behaviour: retrieval for the facts, a fine-tune for the "
            "behaviour (fine-tuning + RAG adds accuracy on top of fine-tuning alone).",
            cite("azure", "balaguer"), hybrid=3, rag=0.5, finetune=0.5,
        ),
    },
    "novel_knowledge": {
        "yes": _e(
            "The facts are new or long-tail: RAG wins by a wide margin there, and fine-tuning on "
            "facts the model did not know can raise hallucinations.",
            cite("ovadia", "soudani", "gekhman"), rag=2, hybrid=1, finetune=-1,
        ),
        "mixed": _e(
            "Some facts are new to the model: retrieval covers those.",
            cite("soudani", "azure"), rag=1, hybrid=0.5,
        ),
    },
    "volatility": {
        "weekly": _e(
            "Facts change weekly or faster: they must live in retrieval. Swapping the index updates "
            "answers without retraining (70% correct with the matching index, 12% with a stale one).",
            cite("aws", "lewis"), rag=2, hybrid=1, finetune=-2,
        ),
        "monthly": _e(
            "Facts change about monthly: re-indexing takes minutes, retraining hours to days.",
            cite("aws"), rag=1, finetune=-0.5,
        ),
    },
    "citations": {
        "required": _e(
            "Citations are required: fine-tuned weights cannot cite a source, so the answer must "
            "include retrieval.",
            cite("aws", "ibm"), rag=2, hybrid=2, finetune=-2, prompt_first=-1,
        ),
        "nice": _e(
            "Citations are nice to have: retrieval can show its sources.",
            cite("aws", "ibm"), rag=1, hybrid=1,
        ),
    },
    "tolerance": {
        "low": _e(
            "Wrong answers are costly: ground answers in retrieved text; if you fine-tune, use "
            "early stopping or 'I don't know' labels.",
            cite("aws", "gekhman"), rag=1.5, hybrid=1, finetune=-0.5,
        ),
    },
    "corpus_fit": {
        "fits": _e(
            "Your whole collection fits in half the context window: put it straight into the prompt "
            "before building retrieval (a knowledge base under ~200k tokens can go in the prompt).",
            cite("anthropic"), prompt_first=5, rag=-1,
        ),
        "larger": _e(
            "Your collection is larger than half the context window: it cannot go in the prompt, "
            "so it needs retrieval.",
            cite("anthropic"), rag=1.5, hybrid=0.5,
        ),
    },
    "examples": {
        "lt10": _e(
            "Fewer than 10 labeled examples: fine-tuning is not possible (minimum 10).",
            cite("openai_ft"), prompt_first=1, finetune=-3, hybrid=-2,
        ),
        "10_49": _e(
            "10-49 labeled examples: use them as few-shot examples in the prompt; gains from "
            "fine-tuning start around 50-100.",
            cite("openai_ft"), prompt_first=3, finetune=-1.5,
        ),
        "50_99": _e(
            "50-99 labeled examples: enough for a fine-tuning pilot (start with 50).",
            cite("openai_ft"), finetune=1, hybrid=0.5,
        ),
        "100_999": _e(
            "100-999 labeled examples: fine-tuning is viable (Google suggests 100+).",
            cite("openai_ft", "google"), finetune=2, hybrid=1.5,
        ),
        "1000_plus": _e(
            "1,000+ labeled examples: a strong case for fine-tuning (hundreds to thousands).",
            cite("google", "azure"), finetune=3, hybrid=2.5,
        ),
    },
    "paraphrases": {
        "yes": _e(
            "You can produce many paraphrases per fact: that makes fine-tuning for facts viable, "
            "still below RAG.",
            cite("ovadia", "mecklenburg"), finetune=0.5, hybrid=0.5,
        ),
    },
    "task": {
        "classification": _e(
            "Classification is a behaviour fine-tuning learns well.",
            cite("google", "aws", "azure"), finetune=2, hybrid=1.5,
        ),
        "extraction": _e(
            "Extraction into a fixed schema is a behaviour fine-tuning learns well.",
            cite("google", "aws", "azure"), finetune=2, hybrid=1.5,
        ),
        "summarization": _e(
            "Summarization is a behaviour fine-tuning learns well.",
            cite("google", "aws"), finetune=1.5, hybrid=1,
        ),
    },
    "jargon": {
        "yes": _e(
            "Outputs use heavy jargon, a DSL or tool calls: learned best in the weights.",
            cite("google", "azure"), finetune=1.5, hybrid=1,
        ),
    },
    "summaries": {
        "yes": _e(
            "Whole-document summaries: plain RAG only sees a few chunks; use a fine-tune or a long "
            "context instead.",
            cite("aws"), finetune=1.5, prompt_first=0.5, rag=-1.5,
        ),
    },
    "raft": {
        "ready": _e(
            "Retrieval is noisy and you have 100+ Q&A pairs: train the model to use retrieved "
            "documents with distractors (RAFT), which beats plain fine-tuning and naive "
            "fine-tune + RAG.",
            cite("raft"), hybrid=2, rag=-0.5,
        ),
        "noisy_few": _e(
            "Retrieval is noisy but you have fewer than 100 Q&A pairs: improve retrieval first; "
            "naive fine-tune + RAG can be worse than fine-tuning alone.",
            cite("raft"), rag=0.5,
        ),
    },
    "latency": {
        "strict": _e(
            "Strict latency or high volume: RAG adds retrieval time and prompt tokens to every "
            "query; a fine-tuned model answers from a short prompt (LoRA adds no latency once merged).",
            cite("openai_ft", "databricks", "lora"), finetune=2, rag=-1, hybrid=-1,
        ),
        "moderate": _e(
            "Moderate latency needs: RAG's extra prompt tokens cost something at volume.",
            cite("databricks"), finetune=0.5,
        ),
    },
    "compute": {
        "cpu": _e(
            "CPU only: fine-tuning is limited to LoRA on a small model.",
            cite("lora", "anthropic"), finetune=-1, hybrid=-1,
        ),
        "gpu": _e(
            "Plenty of GPU: fine-tuning is feasible.",
            cite("lora"), finetune=1, hybrid=1,
        ),
    },
    "team": {
        "none": _e(
            "No ML experience on the team: fine-tuning 'might require a data scientist'; retrieval "
            "and prompting are ordinary engineering.",
            cite("aws", "azure"), rag=1.5, prompt_first=1, finetune=-1.5, hybrid=-1.5,
        ),
        "strong": _e(
            "A strong ML team can run and maintain fine-tunes.",
            cite("aws", "azure"), finetune=1, hybrid=1,
        ),
    },
    "privacy": {
        "per_user": _e(
            "Per-user access and deletion, data kept out of weights: only an index can do that.",
            cite("ibm", "databricks"), rag=2, finetune=-2, hybrid=-1,
        ),
        "own_model": _e(
            "You want to own the model outright: a fine-tune is yours.",
            cite("ibm", "databricks"), finetune=1.5, hybrid=0.5,
        ),
    },
    "model_churn": {
        "often": _e(
            "You will swap base models often: a fine-tune must be redone for each one; an index "
            "and a prompt carry over.",
            cite("anthropic", "azure"), rag=1.5, prompt_first=1, finetune=-1.5, hybrid=-1,
        ),
    },
    "baseline": {
        "none": _e(
            "There is no prompting baseline or eval set yet: no benchmark means not ready to "
            "fine-tune. Build the eval set and baseline first.",
            cite("azure", "openai_ft", "anthropic"), prompt_first=2,
        ),
        "failing_knowledge": _e(
            "Your baseline fails on missing knowledge: add the knowledge as context.",
            cite("openai_ft", "azure"), rag=2, hybrid=1,
        ),
        "failing_format": _e(
            "Your baseline fails on format or behaviour: that is what fine-tuning fixes.",
            cite("openai_ft", "azure"), finetune=2, hybrid=1,
        ),
        "failing_both": _e(
            "Your baseline fails on both knowledge and format: combine retrieval and a fine-tune.",
            cite("openai_ft", "azure"), hybrid=2.5, rag=0.5, finetune=0.5,
        ),
        "good_enough": _e(
            "Your prompting baseline is already good enough: keep it, and measure before adding "
            "complexity.",
            cite("openai_ft", "anthropic"), prompt_first=3.5,
        ),
    },
}
# Display order of factors (ties in reason ranking follow this order too).
FACTOR_ORDER: tuple[str, ...] = tuple(RULES)


# --------------------------------------------------------------------------------------------
# Gates: hard rules applied before scores; they remove options
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    id: str
    blocks: tuple[str, ...]
    text: str
    source: str


GATES: dict[str, Gate] = {
    "citations_required": Gate(
        "citations_required", ("finetune", "prompt_first"),
        "Citations are required, so the answer must include retrieval (RAG or hybrid).",
        cite("aws", "ibm"),
    ),
    "facts_change_weekly": Gate(
        "facts_change_weekly", ("finetune",),
        "Facts change weekly or faster, so facts must live in retrieval, not only in weights.",
        cite("aws", "lewis"),
    ),
    "too_few_examples": Gate(
        "too_few_examples", ("finetune", "hybrid"),
        "Fewer than 10 labeled examples: no fine-tune is possible yet.",
        cite("openai_ft"),
    ),
    "no_baseline": Gate(
        "no_baseline", ("finetune", "hybrid"),
        "No eval set or prompting baseline: build one before any fine-tune (step 0).",
        cite("azure", "openai_ft", "anthropic"),
    ),
}

