"""Next steps after a recommendation, given what the workspace already holds.

A step is {"text", "page", "source", "link"}: `page` is an app path the page renders as a link,
`link` the link's label. What already exists (a knowledge base, an adapter, a report) is used,
not asked for again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.decision.answers import derived_factors
from core.decision.rules import cite

RAFT_MODE = "for use with retrieval (RAFT)"  # the Fine-tune page's training mode, by its name
PAGE_TITLES = {
    "app_pages/evaluate.py": "Evaluate", "app_pages/knowledge.py": "Knowledge",
    "app_pages/finetune.py": "Fine-tune", "app_pages/compare.py": "Compare",
}


def _names(items: Any) -> list[str]:
    return [str(i["name"] if isinstance(i, Mapping) else i) for i in items or []]


def _listed(names: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def next_steps(
    choice: str, a: Mapping[str, Any], *, variant: str | None = None,
    has_evidence: bool = False, no_baseline: bool = False, assets: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    assets = assets or {}
    kbs = _names(assets.get("kbs"))
    adapters = [ad if isinstance(ad, Mapping) else {"name": ad} for ad in assets.get("adapters") or []]
    raft_adapters = [ad["name"] for ad in adapters if ad.get("mode") == "raft"]
    reports = int(assets.get("reports") or 0)
    steps: list[dict[str, str]] = []

    def add(text: str, page: str, source: str = "", link: str = "") -> None:
        steps.append({"text": text, "page": page, "source": source,
                      "link": link or f"Open {PAGE_TITLES.get(page, page)}"})

    if no_baseline:
        add("Step 0: write 20-50 real questions with expected answers and measure the plain "
            "prompt (base arm) on them.", "app_pages/evaluate.py", cite("azure", "openai_ft"))
    if choice in ("rag", "hybrid"):
        if kbs:
            add(f"Check retrieval on your knowledge base {_listed(kbs)} with real questions: do the top "
                "chunks hold the answers?", "app_pages/knowledge.py")
        else:
            add("Build a knowledge base from your documents and test retrieval.", "app_pages/knowledge.py")
    if choice in ("finetune", "hybrid"):
        n = a.get("labeled_examples")
        need = "" if n is None or n >= 50 else f" (you have {n:g}; collect at least 50)"
        if variant == "raft" and raft_adapters:
            add(f"Your RAFT adapter {_listed(raft_adapters)} exists: evaluate hybrid (RAFT) against RAG on "
                "questions it was not trained on.", "app_pages/evaluate.py", cite("raft"))
        elif variant == "raft":
            add(f"Train an adapter in the Fine-tune mode \"{RAFT_MODE}\": each example = question + the "
                f"golden document + distractors, answer from the document{need}.",
                "app_pages/finetune.py", cite("raft"), link="Open Fine-tune (RAFT mode)")
        elif adapters:
            add(f"Your adapter {_listed(_names(adapters))} exists: evaluate it on held-out examples; retrain "
                "only if it falls short" + (need or "") + ".", "app_pages/evaluate.py", cite("openai_ft"))
        else:
            add("Train a LoRA adapter with >= 50 examples" + need + ".", "app_pages/finetune.py",
                cite("openai_ft"))
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
    elif reports:
        add(f"You have {reports} finished evaluation report{'s' if reports != 1 else ''}: select one above "
            "to weigh the measurement.", "app_pages/evaluate.py", link="Open Evaluate")
    else:
        add("Evaluate with your data: run your eval set through base, RAG, fine-tuned and hybrid, "
            "then come back and select the report here.", "app_pages/evaluate.py")
    return steps
