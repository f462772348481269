"""The recommendation engine: the wizard's answers (+ an optional evaluation report) -> a record.

Pure functions only: no file or network I/O, no Streamlit. Everything the engine believes is
data in the tables below (SOURCES, QUESTIONS, STEPS, RULES, GATES, thresholds), so a reviewer
can read and change the weights in one place. Every weight cites the source it comes from
(../shared/design/evidence.md); no number here is made up.

How a recommendation is made
1. Answers are checked and normalised (`normalize_answers`); an unanswered question is neutral.
2. Derived factors are computed (labeled-example band, corpus vs context window, RAFT readiness).
3. Each answered factor adds its weights to the four options (the *prior* scores).
4. Gates remove options outright (e.g. citations required -> no pure fine-tune). Gates beat scores.
5. The best allowed option by prior score is the prior choice.
6. If an evaluation report is given, every pairwise difference whose confidence interval excludes
   zero is a *clear* measurement. If an allowed option clearly beats the prior choice, the
   measurement overrides the prior and the record says so. Unclear differences never override.
7. Confidence comes from the score margin, how many questions were answered, gates and evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPTIONS: tuple[str, ...] = ("rag", "finetune", "hybrid", "prompt_first")
# Tie order: the simpler option wins a tie.
TIE_ORDER: tuple[str, ...] = ("prompt_first", "rag", "hybrid", "finetune")
OPTION_LABELS: dict[str, str] = {
    "rag": "RAG (retrieval-augmented generation)",
    "finetune": "Fine-tune (LoRA)",
    "hybrid": "Hybrid (fine-tuned model + RAG)",
    "prompt_first": "Build a baseline / prompt first",
}
# The evaluation report's arms and the option each stands for.
ARM_TO_OPTION: dict[str, str] = {
    "base": "prompt_first",
    "rag": "rag",
    "ft": "finetune",
    "hybrid": "hybrid",
}
OPTION_TO_ARM = {v: k for k, v in ARM_TO_OPTION.items()}
ARM_LABELS = {"base": "base (prompt only)", "rag": "RAG", "ft": "fine-tuned", "hybrid": "hybrid"}

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
# Questions (the wizard asks these; the CLI accepts their ids)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    why: str
    kind: str = "choice"  # "choice" | "number"
    options: tuple[tuple[str, str], ...] = ()  # (value, plain-language label)
    min_value: float = 0
    unit: str = ""

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.options)

    def label(self, value: Any) -> str:
        for v, text in self.options:
            if v == value:
                return text
        return "not answered" if value is None else str(value)


QUESTIONS: tuple[Question, ...] = (
    Question(
        "goal",
        "What should the model get better at?",
        "Knowledge (facts from your documents) is context that retrieval supplies; behaviour "
        "(style, tone, format, labels) is what fine-tuning teaches.",
        options=(
            ("facts", "Knowing facts from our documents"),
            ("behaviour", "Behaving differently: style, format, schema, labels"),
            ("both", "Both"),
        ),
    ),
    Question(
        "novel_knowledge",
        "Are those facts new to the model: proprietary, recent or long-tail?",
        "A base model cannot know your private or recent facts, and fine-tuning does not reliably "
        "put them in (Ovadia: RAG 0.875 vs fine-tuning 0.504 on new events).",
        options=(("yes", "Yes, mostly new to any public model"), ("mixed", "Some"), ("no", "No, common knowledge")),
    ),
    Question(
        "volatility",
        "How often do those facts change?",
        "Re-indexing takes minutes; retraining takes hours to days. Facts that change often must "
        "live where they can be swapped.",
        options=(("static", "Rarely or never"), ("monthly", "About monthly"), ("weekly", "Weekly or faster")),
    ),
    Question(
        "citations",
        "Must answers cite the document they came from?",
        "Retrieval can show its sources; knowledge baked into weights cannot point to a source.",
        options=(("required", "Yes, required"), ("nice", "Nice to have"), ("no", "No")),
    ),
    Question(
        "tolerance",
        "How bad is a confident wrong answer?",
        "Low tolerance favours grounding answers in retrieved text; fine-tuning on unknown facts "
        "can raise hallucinations.",
        options=(("low", "Very bad (legal, medical, money)"), ("medium", "Annoying but tolerable"), ("high", "Fine, a human checks")),
    ),
    Question(
        "corpus_tokens",
        "How big is your document collection, in tokens?",
        "A collection that fits in half the model's context window can go straight into the prompt; "
        "a bigger one needs retrieval.",
        kind="number",
        unit="tokens",
    ),
    Question(
        "context_window",
        "Context window of the model you will use, in tokens",
        "Compared with the collection size above. SmolLM2-135M-Instruct (the bundled model) has 8,192 "
        "(read from its GGUF file).",
        kind="number",
        unit="tokens",
        min_value=1,
    ),
    Question(
        "labeled_examples",
        "How many labeled examples (an input and its expected output) do you have?",
        "OpenAI needs at least 10 and sees gains from 50-100; Google suggests 100+; Azure hundreds "
        "to thousands. Fewer means prompting.",
        kind="number",
        unit="examples",
    ),
    Question(
        "paraphrases",
        "Could you produce many paraphrases or Q&A pairs for each fact?",
        "Paraphrases make fine-tuning for facts work better, though still below RAG.",
        options=(("yes", "Yes"), ("no", "No")),
    ),
    Question(
        "task",
        "What kind of task is it?",
        "Classification, extraction and summarization are behaviours that fine-tuning learns well.",
        options=(
            ("qa", "Answering questions"),
            ("classification", "Classifying / labeling"),
            ("extraction", "Extracting fields"),
            ("summarization", "Summarizing"),
            ("generation", "Open-ended writing"),
        ),
    ),
    Question(
        "jargon",
        "Must outputs use heavy domain jargon, a DSL or tool-call syntax?",
        "Special vocabularies and output languages are learned best from examples in the weights.",
        options=(("yes", "Yes"), ("no", "No")),
    ),
    Question(
        "summaries",
        "Do you need summaries of whole documents?",
        "Retrieval returns a few chunks, so plain RAG cannot see a whole document at once.",
        options=(("yes", "Yes"), ("no", "No")),
    ),
    Question(
        "noisy_retrieval",
        "Does retrieval often bring back irrelevant passages next to the right one?",
        "With noisy retrieval and 100+ Q&A pairs, training the model to use retrieved documents "
        "(RAFT) beats plain fine-tuning and naive fine-tune + RAG.",
        options=(("yes", "Yes, often"), ("no", "No, it is mostly clean"), ("unknown", "Don't know yet")),
    ),
    Question(
        "latency",
        "How strict are your latency or volume needs?",
        "RAG adds retrieval time and many prompt tokens to every query; a fine-tuned model answers "
        "from a short prompt.",
        options=(("strict", "Strict: real-time or very high volume"), ("moderate", "Moderate"), ("relaxed", "Relaxed")),
    ),
    Question(
        "queries_per_day",
        "How many queries per day do you expect?",
        "Used for the cost and latency projection only.",
        kind="number",
        unit="queries/day",
    ),
    Question(
        "compute",
        "What training compute do you have?",
        "Without a GPU, fine-tuning means LoRA on a small model; LoRA trains ~10,000x fewer "
        "parameters with ~3x less GPU memory.",
        options=(("cpu", "CPU only"), ("some_gpu", "A modest GPU"), ("gpu", "Plenty of GPU")),
    ),
    Question(
        "team",
        "How much ML experience does your team have?",
        "Fine-tuning 'might require a data scientist'; a retrieval pipeline is ordinary engineering.",
        options=(("none", "None"), ("some", "Some"), ("strong", "Strong")),
    ),
    Question(
        "privacy",
        "What do your privacy / governance rules need?",
        "Per-user access and deletion are easy with an index and impossible inside weights; owning "
        "the model outright favours fine-tuning.",
        options=(
            ("per_user", "Per-user access, deletion, keep data out of weights"),
            ("own_model", "We want to own the model outright"),
            ("none", "No special rules"),
        ),
    ),
    Question(
        "model_churn",
        "Will you swap the base model often?",
        "A fine-tune must be redone for every new base model; an index and a prompt carry over.",
        options=(("often", "Yes, we follow new models"), ("rarely", "No, we'll stay on one")),
    ),
    Question(
        "baseline",
        "Do you have a prompting baseline and an eval set, and how does it do?",
        "No benchmark means not ready to fine-tune: measure a plain prompt first, then see what it "
        "fails at.",
        options=(
            ("none", "No baseline / no eval set yet"),
            ("failing_knowledge", "It fails on missing knowledge"),
            ("failing_format", "It fails on format / behaviour"),
            ("failing_both", "It fails on both"),
            ("good_enough", "It is already good enough"),
        ),
    ),
)
QUESTION_BY_ID: dict[str, Question] = {q.id: q for q in QUESTIONS}

# Wizard steps: one topic per step (the page walks these in order).
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Goal", ("goal",)),
    ("Your knowledge", ("novel_knowledge", "volatility")),
    ("Trust", ("citations", "tolerance")),
    ("Corpus size", ("corpus_tokens", "context_window")),
    ("Labeled data", ("labeled_examples", "paraphrases")),
    ("Task and output", ("task", "jargon", "summaries")),
    ("Retrieval quality", ("noisy_retrieval",)),
    ("Latency and volume", ("latency", "queries_per_day")),
    ("Compute and team", ("compute", "team")),
    ("Governance", ("privacy", "model_churn")),
    ("Baseline", ("baseline",)),
)

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
FACTOR_QUESTIONS: dict[str, tuple[str, ...]] = {
    "corpus_fit": ("corpus_tokens", "context_window"),
    "examples": ("labeled_examples",),
    "raft": ("noisy_retrieval", "labeled_examples"),
}


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


def _fired_gates(a: Mapping[str, Any], has_evidence: bool) -> list[str]:
    fired = []
    if a.get("citations") == "required":
        fired.append("citations_required")
    if a.get("volatility") == "weekly" and a.get("goal") in (None, "facts", "both"):
        fired.append("facts_change_weekly")
    if a.get("labeled_examples") is not None and a["labeled_examples"] < MIN_FT_EXAMPLES:
        fired.append("too_few_examples")
    # An evaluation report with a base arm *is* a baseline.
    if a.get("baseline") == "none" and not has_evidence:
        fired.append("no_baseline")
    return fired


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------
class AnswerError(ValueError):
    """An answers file holds a value the wizard does not know."""


def normalize_answers(answers: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check and clean answers. Returns (clean answers, notes about ignored keys).

    Unknown question ids are ignored (with a note); None / "" means unanswered (neutral).
    Raises AnswerError for a known id with a value it cannot take.
    """
    if not isinstance(answers, Mapping):
        raise AnswerError("The answers must be a JSON object of question id -> answer.")
    clean: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in answers.items():
        q = QUESTION_BY_ID.get(key)
        if q is None:
            notes.append(f"ignored unknown question id {key!r}")
            continue
        if value is None or value == "" or value == "unanswered":
            continue
        if q.kind == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise AnswerError(f"{key} must be a number, got {value!r}.") from None
            if isinstance(value, bool) or math.isnan(number) or number < q.min_value:
                raise AnswerError(f"{key} must be a number >= {q.min_value:g}, got {value!r}.")
            clean[key] = int(number) if number.is_integer() else number
        else:
            value = str(value).strip().lower()
            if value not in q.values:
                raise AnswerError(f"{key} must be one of {', '.join(q.values)}; got {value!r}.")
            clean[key] = value
    return clean, notes


def example_band(n: float) -> str:
    for upper, band in EXAMPLE_BANDS:
        if n < upper:
            return band
    return EXAMPLE_BANDS[-1][1]


def derived_factors(a: Mapping[str, Any]) -> dict[str, str]:
    """Factor values computed from several answers (or from a number)."""
    out: dict[str, str] = {}
    if a.get("labeled_examples") is not None:
        out["examples"] = example_band(a["labeled_examples"])
    if a.get("corpus_tokens") is not None:
        window = a.get("context_window", BUNDLED_CONTEXT_WINDOW)
        out["corpus_fit"] = (
            "fits" if a["corpus_tokens"] <= CORPUS_FITS_FRACTION * window else "larger"
        )
    if a.get("noisy_retrieval") == "yes":
        enough = a.get("labeled_examples") is not None and a["labeled_examples"] >= RAFT_MIN_QA
        out["raft"] = "ready" if enough else "noisy_few"
    return out


def factor_values(a: Mapping[str, Any]) -> dict[str, str]:
    """Every scored factor -> its value (answers + derived factors)."""
    values = {k: v for k, v in a.items() if k in RULES}
    values.update(derived_factors(a))
    return values


# --------------------------------------------------------------------------------------------
# Evidence from an evaluation report
# --------------------------------------------------------------------------------------------
PRIMARY_METRICS = ("f1", "contains", "exact_match", "rougeL")
CLASSIFICATION_METRICS = ("accuracy", "macro_f1")


def primary_metric(report: Mapping[str, Any], task: str | None = None) -> str | None:
    """The metric the comparison uses: accuracy / macro-F1 for classification, else F1."""
    seen: set[str] = set()
    for delta in (report.get("deltas") or {}).values():
        if isinstance(delta, Mapping):
            seen.update(delta)
    order = (CLASSIFICATION_METRICS + PRIMARY_METRICS) if task == "classification" else (
        PRIMARY_METRICS + CLASSIFICATION_METRICS
    )
    for m in order:
        if m in seen:
            return m
    return sorted(seen)[0] if seen else None


def read_comparisons(report: Mapping[str, Any], metric: str) -> list[dict[str, Any]]:
    """Pairwise differences 'a-b' -> records with the interval and whether it is clear."""
    out = []
    for pair, delta in (report.get("deltas") or {}).items():
        if "-" not in pair or not isinstance(delta, Mapping) or metric not in delta:
            continue
        a, b = pair.split("-", 1)
        if a not in ARM_TO_OPTION or b not in ARM_TO_OPTION:
            continue
        interval = delta[metric]
        if not isinstance(interval, list | tuple) or len(interval) != 3:
            continue
        low, mean, high = (float(x) for x in interval)
        winner = a if low > 0 else b if high < 0 else None
        out.append({
            "pair": pair, "a": a, "b": b, "metric": metric,
            "low": low, "mean": mean, "high": high,
            "clear": winner is not None, "winner": winner,
            "loser": (b if winner == a else a) if winner else None,
        })
    return out


def _fmt_cmp(c: Mapping[str, Any], n: Any) -> str:
    a, b = ARM_LABELS[c["a"]], ARM_LABELS[c["b"]]
    ci = f"CI {c['low']:+.3f} to {c['high']:+.3f}"
    size = f", n={n}" if n else ""
    if c["clear"]:
        w, l_ = ARM_LABELS[c["winner"]], ARM_LABELS[c["loser"]]
        diff = abs(c["mean"])
        return f"Measured: {w} beat {l_} by {diff:.3f} {c['metric']} ({a} - {b} = {c['mean']:+.3f}, {ci}{size})."
    return (
        f"Measured: {a} vs {b} is not clear on {c['metric']} ({c['mean']:+.3f}, {ci} includes 0{size})."
    )


# --------------------------------------------------------------------------------------------
# The recommendation
# --------------------------------------------------------------------------------------------
def _rank(options: list[str], scores: Mapping[str, float]) -> list[str]:
    return sorted(options, key=lambda o: (-scores[o], TIE_ORDER.index(o)))


def confidence_reading(confidence: float) -> str:
    if confidence >= 0.85:
        return "high: the answers and evidence point one way"
    if confidence >= 0.7:
        return "moderate: a clear lean, worth confirming with a measurement"
    if confidence >= 0.6:
        return "low: a lean, not a verdict; measure both on your data"
    return "a toss-up: measure the top options on your own data before deciding"


def recommend(
    answers: Mapping[str, Any],
    evidence: Mapping[str, Any] | None = None,
    *,
    evidence_id: str | None = None,
) -> dict[str, Any]:
    """Answers (+ an optional evaluation report) -> the recommendation record (JSON-ready)."""
    a, notes = normalize_answers(answers)
    has_evidence = bool(evidence and evidence.get("deltas"))
    factors = factor_values(a)

    # 1. prior scores
    scores = {o: 0.0 for o in OPTIONS}
    applied: list[tuple[str, str, Effect]] = []
    for factor in FACTOR_ORDER:
        value = factors.get(factor)
        effect = RULES[factor].get(value) if value is not None else None
        if effect is None:
            continue
        applied.append((factor, value, effect))
        for option, w in effect.weights:
            scores[option] += w

    # 2. gates
    fired = _fired_gates(a, has_evidence)
    blocked: dict[str, list[str]] = {}
    for gid in fired:
        for o in GATES[gid].blocks:
            blocked.setdefault(o, []).append(gid)
    allowed = [o for o in OPTIONS if o not in blocked]  # "rag" is never blocked
    ranking = _rank(allowed, scores)
    prior_choice = ranking[0]
    unblocked_top = _rank(list(OPTIONS), scores)[0]

    # 3. evidence
    metric = primary_metric(evidence, a.get("task")) if has_evidence else None
    comparisons = read_comparisons(evidence, metric) if metric else []
    n = evidence.get("n") if evidence else None
    clear = [c for c in comparisons if c["clear"]]
    net_wins = {o: 0 for o in OPTIONS}
    for c in clear:
        net_wins[ARM_TO_OPTION[c["winner"]]] += 1
        net_wins[ARM_TO_OPTION[c["loser"]]] -= 1

    def beaten_by(o: str) -> list[dict[str, Any]]:
        return [
            c for c in clear
            if ARM_TO_OPTION[c["loser"]] == o and ARM_TO_OPTION[c["winner"]] in allowed
        ]

    choice = prior_choice
    overrides: list[dict[str, Any]] = []
    if beaten_by(prior_choice):
        candidates = [o for o in allowed if not beaten_by(o)]
        if candidates:
            choice = sorted(
                candidates, key=lambda o: (-net_wins[o], -scores[o], TIE_ORDER.index(o))
            )[0]
            against = beaten_by(prior_choice)
            overrides.append({
                "prior_choice": prior_choice,
                "choice": choice,
                "text": (
                    f"Your answers pointed to {OPTION_LABELS[prior_choice]}, but the measurement "
                    f"is clear: {_fmt_cmp(against[0], n).removeprefix('Measured: ')}"
                ),
                "source": "your evaluation report" + (f" {evidence_id}" if evidence_id else ""),
            })

    # 4. reasons (top first)
    ev_source = "your evaluation report" + (f" {evidence_id}" if evidence_id else "")
    reasons: list[dict[str, Any]] = []
    for c in comparisons:
        involved = {ARM_TO_OPTION[c["a"]], ARM_TO_OPTION[c["b"]]}
        if choice not in involved and not overrides:
            continue
        support = 0.0  # a comparison not involving the choice neither supports nor opposes it
        if c["clear"] and ARM_TO_OPTION[c["winner"]] == choice:
            support = 100.0
        elif c["clear"] and ARM_TO_OPTION[c["loser"]] == choice:
            support = -100.0
        reasons.append({
            "factor": "measured", "answer": c["pair"], "text": _fmt_cmp(c, n), "source": ev_source,
            "supports": support, "kind": "evidence",
        })
    for factor, value, effect in applied:
        w = effect.weight(choice)
        others = [effect.weight(o) for o in OPTIONS if o != choice]
        reasons.append({
            "factor": factor, "answer": value, "text": effect.text, "source": effect.source,
            "supports": w, "separation": w - max(others), "kind": "prior",
            "weights": dict(effect.weights),
        })
    order = {f: i for i, f in enumerate(FACTOR_ORDER)}
    reasons.sort(key=lambda r: (
        -r["supports"], -r.get("separation", 0), order.get(r["factor"], -1),
    ))
    for r in reasons:
        r["direction"] = "for" if r["supports"] > 0 else "against" if r["supports"] < 0 else "neutral"

    # 5. confidence
    others = [o for o in allowed if o != choice]
    margin = scores[choice] - max(scores[o] for o in others) if others else math.inf
    answered = sum(1 for q in QUESTIONS if q.id in a and q.id != "queries_per_day")
    coverage = answered / (len(QUESTIONS) - 1)
    if math.isinf(margin):
        conf = 0.85
    else:
        raw = 0.5 + 0.45 * (1 - math.exp(-max(margin, 0.0) / 3))
        conf = 0.5 + (raw - 0.5) * (0.5 + 0.5 * coverage)
    measured_clear_for_choice = [
        c for c in clear if ARM_TO_OPTION[c["winner"]] == choice
    ]
    if overrides:
        conf = max(conf, 0.8)
    elif measured_clear_for_choice and not beaten_by(choice):
        conf = max(conf, 0.9)
    conf = round(min(conf, 0.97), 2)
    close_call = bool(not math.isinf(margin) and margin < CLOSE_CALL_MARGIN and not overrides
                      and not measured_clear_for_choice)

    variant = None
    if choice == "hybrid" and factors.get("raft") == "ready":
        variant = "raft"

    gates = [
        {"id": g, "text": GATES[g].text, "source": GATES[g].source, "blocks": list(GATES[g].blocks)}
        for g in fired
    ]
    if unblocked_top != prior_choice:
        notes.append(
            f"The scores alone favoured {OPTION_LABELS[unblocked_top]}, but a gate ruled it out."
        )

    return {
        "choice": choice,
        "choice_label": OPTION_LABELS[choice] + (" with RAFT-style training" if variant else ""),
        "variant": variant,
        "confidence": conf,
        "confidence_reading": (
            "moderate: a clear measurement decided against what your answers suggested"
            if overrides else confidence_reading(conf)
        ),
        "close_call": close_call,
        # After an override the runner-up is what the answers alone chose.
        "runner_up": prior_choice if overrides else (_rank(others, scores)[0] if others else None),
        "margin": None if overrides or math.isinf(margin) else round(margin, 2),
        "scores": {o: round(scores[o], 2) for o in OPTIONS},
        "allowed": allowed,
        "blocked": blocked,
        "prior_choice": prior_choice,
        "reasons": reasons,
        "gates": gates,
        "overrides": overrides,
        "evidence": {
            "used": has_evidence,
            "id": evidence_id,
            "metric": metric,
            "n": n,
            "comparisons": comparisons,
            "net_clear_wins": net_wins if has_evidence else {},
        },
        "answers": a,
        "factors": factors,
        "answered": answered,
        "coverage": round(coverage, 2),
        "notes": notes,
        "next_steps": next_steps(choice, a, variant=variant, has_evidence=has_evidence,
                                 no_baseline="no_baseline" in fired),
    }


def what_if(
    answers: Mapping[str, Any], question_id: str, value: Any,
    evidence: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Change one answer and re-run: {"before", "after", "flipped"}."""
    if question_id not in QUESTION_BY_ID:
        raise AnswerError(f"unknown question id {question_id!r}")
    before = recommend(answers, evidence)
    changed = dict(answers)
    changed[question_id] = value
    after = recommend(changed, evidence)
    return {
        "question": question_id, "value": value,
        "before": before["choice"], "after": after["choice"],
        "flipped": before["choice"] != after["choice"],
        "record": after,
    }


def flips(answers: Mapping[str, Any], evidence: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every single-answer change (choice questions) that would flip the recommendation."""
    base = recommend(answers, evidence)["choice"]
    out = []
    for q in QUESTIONS:
        if q.kind != "choice":
            continue
        for value, label in q.options:
            if answers.get(q.id) == value:
                continue
            changed = dict(answers)
            changed[q.id] = value
            new = recommend(changed, evidence)["choice"]
            if new != base:
                out.append({"question": q.id, "prompt": q.prompt, "value": value, "label": label,
                            "from": answers.get(q.id), "choice": new})
    return out


# --------------------------------------------------------------------------------------------
# Next steps (page links are app paths; the page renders them as st.page_link)
# --------------------------------------------------------------------------------------------
def next_steps(
    choice: str, a: Mapping[str, Any], *, variant: str | None = None,
    has_evidence: bool = False, no_baseline: bool = False,
) -> list[dict[str, str]]:
    steps: list[dict[str, str]] = []

    def add(text: str, page: str, source: str = "") -> None:
        steps.append({"text": text, "page": page, "source": source})

    if no_baseline:
        add("Step 0: write 20-50 real questions with expected answers and measure the plain "
            "prompt (base arm) on them.", "app_pages/evaluate.py", cite("azure", "openai_ft"))
    if choice in ("rag", "hybrid"):
        add("Build a knowledge base from your documents and test retrieval.", "app_pages/knowledge.py")
    if choice in ("finetune", "hybrid"):
        n = a.get("labeled_examples")
        need = "" if n is None or n >= 50 else f" (you have {n:g}; collect at least 50)"
        text = ("Train a RAFT-style adapter: each example = question + the golden document + "
                "distractors, answer quoting the document" if variant == "raft"
                else "Train a LoRA adapter with >= 50 examples")
        add(text + need + ".", "app_pages/finetune.py", cite("raft") if variant == "raft" else cite("openai_ft"))
        if a.get("tolerance") == "low" or a.get("novel_knowledge") == "yes":
            add("Use early stopping and add 'I don't know' examples to limit hallucinations.",
                "app_pages/finetune.py", cite("gekhman"))
    if choice == "prompt_first":
        if derived_factors(a).get("corpus_fit") == "fits":
            add("Put your whole collection in the prompt and try it on real questions.",
                "app_pages/compare.py", cite("anthropic"))
        else:
            add("Write a prompt with a few examples and try it on real questions (base arm).",
                "app_pages/compare.py", cite("openai_ft"))
    add("Ask a question and compare the arms side by side.", "app_pages/compare.py")
    if has_evidence:
        add("Re-run the evaluation after each change to see whether the gap holds.",
            "app_pages/evaluate.py")
    else:
        add("Evaluate with your data: run your eval set through base, RAG, fine-tuned and hybrid, "
            "then come back and select the report here.", "app_pages/evaluate.py")
    return steps


# --------------------------------------------------------------------------------------------
# Corpus size from a knowledge-base manifest
# --------------------------------------------------------------------------------------------
def corpus_tokens_from_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Estimate a knowledge base's size in tokens from its manifest (core/knowledge/store.py format).

    Only files whose status is "complete" (or that have no status) count. Uses, in order:
    per-file "tokens"; per-file "chars" / 4; chunk count x chunk size, with the chunk size and
    unit from the file's "chunking", else the manifest's "chunking" (or "settings"). Chunk
    count x size is an upper bound (chunks overlap and the last one is short).
    Returns {"tokens": int|None, "chunks": int, "method": str}.
    """
    files = manifest.get("files") or []
    if isinstance(files, Mapping):
        files = list(files.values())
    files = [f for f in files if isinstance(f, Mapping) and f.get("status", "complete") == "complete"]
    default = manifest.get("chunking") or manifest.get("settings") or manifest

    def chunk_count(f: Mapping[str, Any]) -> int:
        c = f.get("chunks", f.get("chunk_ids", 0))
        return len(c) if isinstance(c, list | tuple) else int(c or 0)

    chunks = sum(chunk_count(f) for f in files)
    if files and all(isinstance(f.get("tokens"), int | float) for f in files):
        return {"tokens": int(sum(f["tokens"] for f in files)), "chunks": chunks,
                "method": "sum of per-file token counts"}
    if files and all(isinstance(f.get("chars"), int | float) for f in files):
        chars = sum(f["chars"] for f in files)
        return {"tokens": int(chars / CHARS_PER_TOKEN), "chunks": chunks,
                "method": f"{int(chars):,} characters / {CHARS_PER_TOKEN} characters per token (estimate)"}
    tokens = 0.0
    units: set[str] = set()
    for f in files:
        ch = f.get("chunking") or default
        size = ch.get("size", ch.get("chunk_size"))
        if not isinstance(size, int | float) or size <= 0:
            return {"tokens": None, "chunks": chunks, "method": "the manifest has no chunk size"}
        unit = ch.get("unit", ch.get("chunk_unit", "chars"))
        units.add(unit)
        tokens += chunk_count(f) * size / (1 if unit == "tokens" else CHARS_PER_TOKEN)
    if not chunks:
        return {"tokens": None, "chunks": 0, "method": "the knowledge base has no indexed chunks"}
    if units == {"tokens"}:
        method = f"{chunks} chunks x chunk size in embedder tokens (upper bound)"
    else:
        method = (f"{chunks} chunks x chunk size in characters / {CHARS_PER_TOKEN} characters per "
                  "token (upper bound estimate)")
    return {"tokens": int(tokens), "chunks": chunks, "method": method}


# --------------------------------------------------------------------------------------------
# Cost and latency projection (from measured numbers only)
# --------------------------------------------------------------------------------------------
def projection(
    answers: Mapping[str, Any],
    report: Mapping[str, Any] | None = None,
    *,
    train_seconds: float | None = None,
    reindex_seconds: float | None = None,
) -> dict[str, Any]:
    """Per-arm latency / prompt tokens and update cost, from measured numbers only.

    Anything not measured is reported as "not measured yet" with the action that measures it.
    """
    a, _ = normalize_answers(answers)
    qpd = a.get("queries_per_day")
    arms_out = []
    missing: list[str] = []
    arms = (report or {}).get("arms") or {}
    for arm in ("base", "rag", "ft", "hybrid"):
        m = arms.get(arm)
        if not isinstance(m, Mapping):
            continue
        p50, p95 = m.get("latency_p50_ms"), m.get("latency_p95_ms")
        tokens = m.get("prompt_tokens_mean")
        row = {
            "arm": arm, "label": ARM_LABELS[arm],
            "latency_p50_ms": p50, "latency_p95_ms": p95,
            "tokens_per_s": m.get("tokens_per_s"),
            "prompt_tokens_per_query": tokens,
            "serving_seconds_per_day": (
                round(qpd * p50 / 1000, 1) if qpd is not None and isinstance(p50, int | float) else None
            ),
            "prompt_tokens_per_day": (
                round(qpd * tokens) if qpd is not None and isinstance(tokens, int | float) else None
            ),
        }
        arms_out.append(row)
    if not arms_out:
        missing.append("Per-query latency: not measured yet — run an evaluation on the Evaluate "
                       "page and select its report here.")
    elif not any(r["prompt_tokens_per_query"] is not None for r in arms_out):
        missing.append("Prompt tokens per query: not in this report — re-run the evaluation with "
                       "the current version to record them.")
    if qpd is None:
        missing.append("Daily totals: enter your expected queries per day in the wizard.")

    meta = (report or {}).get("meta") or {}
    if train_seconds is None and isinstance(meta.get("train_seconds"), int | float):
        train_seconds = meta["train_seconds"]
    if reindex_seconds is None and isinstance(meta.get("reindex_seconds"), int | float):
        reindex_seconds = meta["reindex_seconds"]
    volatility = a.get("volatility")
    per_month = UPDATES_PER_MONTH.get(volatility) if volatility else None
    if train_seconds is None:
        missing.append("Retraining time: not measured yet — train an adapter on the Fine-tune page.")
    if reindex_seconds is None:
        missing.append("Re-index time: not measured yet — ingest your documents on the Knowledge page.")
    if per_month is None:
        missing.append("Monthly update cost: answer how often your facts change.")
    updates = {
        "updates_per_month": None if per_month is None else round(per_month, 2),
        "reindex_seconds": reindex_seconds,
        "train_seconds": train_seconds,
        "reindex_seconds_per_month": (
            round(per_month * reindex_seconds, 1)
            if per_month is not None and reindex_seconds is not None else None
        ),
        "train_seconds_per_month": (
            round(per_month * train_seconds, 1)
            if per_month is not None and train_seconds is not None else None
        ),
    }
    return {"queries_per_day": qpd, "arms": arms_out, "updates": updates, "missing": missing}


# --------------------------------------------------------------------------------------------
# The decision report (Markdown), readable by someone who never opened the app
# --------------------------------------------------------------------------------------------
def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "not measured"
    if isinstance(v, float):
        v = f"{v:,.1f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def to_markdown(record: Mapping[str, Any], proj: Mapping[str, Any] | None = None,
                *, created: str | None = None) -> str:
    """The decision report as Markdown."""
    L: list[str] = []
    L.append(f"# Crossroads decision report: {record['choice_label']}")
    if created:
        L.append(f"_Created {created}._")
    L.append("")
    L.append("Question: should this use case put its knowledge in retrieval (RAG), in the model's "
             "weights (a LoRA fine-tune), both (hybrid), or start with a prompt and a baseline?")
    L.append("")
    L.append("## Recommendation")
    L.append("")
    L.append(f"- **Choice:** {record['choice_label']} (`{record['choice']}`)")
    L.append(f"- **Confidence:** {record['confidence']:.2f} — {record['confidence_reading']}")
    if record.get("close_call"):
        L.append(f"- **Close call:** yes — the runner-up is {OPTION_LABELS[record['runner_up']]} "
                 f"(score gap {record['margin']}).")
    else:
        L.append("- **Close call:** no")
    L.append(f"- Questions answered: {record['answered']} of {len(QUESTIONS) - 1}")
    for o in record.get("overrides", []):
        L.append(f"- **Measurement override:** {o['text']}")
    L.append("")
    L.append("## Scores (prior, from the answers)")
    L.append("")
    L.append("| option | score | status |")
    L.append("|---|---:|---|")
    for o in OPTIONS:
        status = "chosen" if o == record["choice"] else (
            "ruled out by " + ", ".join(record["blocked"][o]) if o in record["blocked"] else "allowed")
        L.append(f"| {OPTION_LABELS[o]} | {record['scores'][o]:+.1f} | {status} |")
    L.append("")
    L.append("## Gates that fired")
    L.append("")
    if record["gates"]:
        for g in record["gates"]:
            L.append(f"- {g['text']} _Source: {g['source']}_")
    else:
        L.append("- none")
    L.append("")
    L.append("## Reasons (strongest first)")
    L.append("")
    L.append("| # | for / against | reason | source |")
    L.append("|---:|---|---|---|")
    for i, r in enumerate(record["reasons"], 1):
        L.append(f"| {i} | {r['direction']} | {r['text']} | {r['source']} |")
    L.append("")
    ev = record["evidence"]
    L.append("## Measured evidence")
    L.append("")
    if ev["used"]:
        L.append(f"Report {ev['id'] or ''}: metric **{ev['metric']}**, n={ev['n']}. A difference "
                 "counts as clear only when its confidence interval excludes zero.")
        L.append("")
        L.append("| comparison | mean difference | confidence interval | clear? | winner |")
        L.append("|---|---:|---|---|---|")
        for c in ev["comparisons"]:
            L.append(f"| {c['pair']} | {c['mean']:+.3f} | [{c['low']:+.3f}, {c['high']:+.3f}] | "
                     f"{'yes' if c['clear'] else 'no'} | {ARM_LABELS[c['winner']] if c['winner'] else '—'} |")
    else:
        L.append("No evaluation report was used: this recommendation rests on the answers and "
                 "published results only.")
    L.append("")
    if proj is not None:
        L.append("## Cost and latency projection")
        L.append("")
        if proj["arms"]:
            qpd = proj.get("queries_per_day")
            L.append(f"Measured per-query numbers{f', at {qpd:,} queries/day' if qpd else ''}:")
            L.append("")
            L.append("| arm | latency p50 (ms) | latency p95 (ms) | prompt tokens / query | "
                     "serving s / day | prompt tokens / day |")
            L.append("|---|---:|---:|---:|---:|---:|")
            for r in proj["arms"]:
                L.append(f"| {r['label']} | {_fmt(r['latency_p50_ms'])} | {_fmt(r['latency_p95_ms'])} | "
                         f"{_fmt(r['prompt_tokens_per_query'])} | {_fmt(r['serving_seconds_per_day'])} | "
                         f"{_fmt(r['prompt_tokens_per_day'])} |")
            L.append("")
        u = proj["updates"]
        L.append("| keeping knowledge current | per update (s) | per month (s) |")
        L.append("|---|---:|---:|")
        L.append(f"| re-index (RAG) | {_fmt(u['reindex_seconds'])} | {_fmt(u['reindex_seconds_per_month'])} |")
        L.append(f"| retrain (fine-tune) | {_fmt(u['train_seconds'])} | {_fmt(u['train_seconds_per_month'])} |")
        if u["updates_per_month"] is not None:
            L.append("")
            L.append(f"Updates per month assumed from your answer: {u['updates_per_month']}.")
        for m in proj["missing"]:
            L.append(f"- {m}")
        L.append("")
    L.append("## Your answers")
    L.append("")
    L.append("| question | answer |")
    L.append("|---|---|")
    for q in QUESTIONS:
        v = record["answers"].get(q.id)
        shown = q.label(v) if q.kind == "choice" else ("not answered" if v is None else f"{v:,} {q.unit}")
        L.append(f"| {q.prompt} | {shown} |")
    L.append("")
    L.append("## Next steps")
    L.append("")
    for i, s in enumerate(record["next_steps"], 1):
        L.append(f"{i}. {s['text']}" + (f" _({s['source']})_" if s.get("source") else ""))
    if record.get("notes"):
        L.append("")
        L.append("## Notes")
        L.append("")
        for n in record["notes"]:
            L.append(f"- {n}")
    L.append("")
    L.append("## Sources")
    L.append("")
    for s in SOURCES.values():
        L.append(f"- {s}")
    L.append("")
    return "\n".join(L)
