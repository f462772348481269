"""A Compare-page conversation: each arm keeps its own history; exports to Markdown and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from core.evaluation.arms import ARM_TITLES, ArmAnswer, Turn


@dataclass
class Exchange:
    """One question and every arm's answer to it (with the prompt each arm received)."""

    question: str
    answers: dict[str, dict]  # arm -> ArmAnswer.record() + "prompt"
    asked: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(timespec="seconds"))


@dataclass
class Conversation:
    setup: dict = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)

    def histories(self) -> dict[str, list[Turn]]:
        """Per arm, its own earlier turns: each arm sees only what it answered itself."""
        out: dict[str, list[Turn]] = {}
        for exchange in self.exchanges:
            for arm, record in exchange.answers.items():
                out.setdefault(arm, []).append(Turn(exchange.question, record["answer"]))
        return out

    def add(self, question: str, answers: dict[str, ArmAnswer], prompts: dict[str, str]) -> Exchange:
        exchange = Exchange(question, {arm: {**a.record(), "prompt": prompts.get(arm, "")} for arm, a in answers.items()})
        self.exchanges.append(exchange)
        return exchange

    def to_json(self) -> str:
        return json.dumps({"setup": self.setup, "exchanges": [vars(e) for e in self.exchanges]}, indent=2)

    def to_markdown(self) -> str:
        lines = ["# Crossroads comparison", ""]
        if self.setup:
            lines += [f"- **{k}**: {v}" for k, v in self.setup.items()] + [""]
        for n, exchange in enumerate(self.exchanges, 1):
            lines += [f"## {n}. {exchange.question}", ""]
            for arm, record in exchange.answers.items():
                lines += [f"### {ARM_TITLES.get(arm, arm)}", "", record["answer"] or "_(empty answer)_", "",
                          f"_{figures_line(record)}_", ""]
                for i, source in enumerate(record.get("sources", []), 1):
                    lines.append(f"{i}. {source['file']} ({_where(source)}), score {source['score']:.2f}")
                if record.get("sources"):
                    lines.append("")
        return "\n".join(lines)


def _where(source: dict) -> str:
    parts = [f"p. {source['page']}"] if source.get("page") is not None else []
    return ", ".join(parts + [f"chunk {source.get('chunk', '?')}"])


def figures_line(record: dict) -> str:
    """A one-line summary of an answer's figures."""
    parts = []
    if record.get("retrieval_ms") is not None:
        parts.append(f"retrieval {record['retrieval_ms']:.0f} ms")
    if record.get("first_token_ms") is not None:
        parts.append(f"first token {record['first_token_ms']:.0f} ms")
    parts.append(f"total {record['total_ms']:.0f} ms")
    parts.append(f"{record['tokens']} tokens, {record['tokens_per_s']:.1f} tok/s")
    parts.append(f"prompt {record['prompt_tokens']} tokens")
    return " · ".join(parts)
