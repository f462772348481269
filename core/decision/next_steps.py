"""Next steps after a recommendation (page links are app paths; the page renders them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.decision.answers import derived_factors
from core.decision.rules import cite


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


