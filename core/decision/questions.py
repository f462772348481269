"""The wizard's questions (data): the options it chooses between, what it asks, in which steps.

Data only: the engine (core.decision.engine) scores the answers; the page walks STEPS. A
question's `why` is shown next to it; its ids and values are what answers files and the CLI use.
"""

from __future__ import annotations

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
    # a classification / extraction report's retrieval arm: few-shot prompting with the most similar
    # training rows (no training), i.e. the prompt-first option
    "examples": "prompt_first",
}
ARM_LABELS = {"base": "base (prompt only)", "rag": "RAG", "ft": "fine-tuned", "hybrid": "hybrid",
              "examples": "few-shot (retrieved examples)"}

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
        "How big is your document collection?",
        "A collection that fits in half the model's context window can go straight into the prompt; "
        "a bigger one needs retrieval.",
        kind="number",
        unit="tokens",
    ),
    Question(
        "context_window",
        "Context window of the model you will use",
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
