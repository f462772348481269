"""A Compare-page conversation: exchanges, exports to Markdown and JSON, and its file on disk.

By default every question is answered on its own, so a comparison is reproducible (the same
question gives the same answers whatever was asked before). In conversation mode each arm sees
its own earlier turns; every exchange records how many it saw (`history_turns`).

The conversation lives in DATA_DIR/compare/conversation.json (written atomically after every
exchange), so it survives a browser reload, a page switch and an app restart.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.evaluation.arms import ArmAnswer, Turn, arm_title
from core.knowledge.retrieval_setting import describe_setting
from core.knowledge.sanitize import answer_markdown
from core.runtime.jobs import write_json_atomic
from core.runtime.settings import Settings, get_settings
from core.runtime.text import md_escape


@dataclass
class Exchange:
    """One question and every arm's answer to it (with the prompt each arm received)."""

    question: str
    answers: dict[str, dict]  # arm -> ArmAnswer.record() + "prompt"
    asked: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(timespec="seconds"))
    history_turns: int = 0  # earlier turns each arm saw; 0 = answered on its own
    # What produced the answers (Arms.provenance): adapter, kb, retrieval, engine, model, decoding.
    # Per exchange, because the user may switch the adapter or the setting between questions.
    setup: dict = field(default_factory=dict)

    @property
    def history_note(self) -> str:
        if not self.history_turns:
            return "Answered on its own (no history)"
        return f"Conversation mode: each arm saw its own {self.history_turns} earlier turn(s)"


@dataclass
class Conversation:
    # No conversation-wide setup: each exchange keeps its own (`Exchange.setup`).
    exchanges: list[Exchange] = field(default_factory=list)
    use_history: bool = False  # conversation mode: each arm sees its own earlier turns

    def histories(self) -> dict[str, list[Turn]]:
        """Per arm, its own earlier turns: each arm sees only what it answered itself."""
        out: dict[str, list[Turn]] = {}
        for exchange in self.exchanges:
            for arm, record in exchange.answers.items():
                out.setdefault(arm, []).append(Turn(exchange.question, record["answer"]))
        return out

    def histories_for_next(self) -> dict[str, list[Turn]]:
        """What the next question is answered with: nothing, unless conversation mode is on."""
        return self.histories() if self.use_history else {}

    def add(self, question: str, answers: dict[str, ArmAnswer], prompts: dict[str, str],
            history_turns: int = 0, setup: dict | None = None) -> Exchange:
        exchange = Exchange(question, {arm: {**a.record(), "prompt": prompts.get(arm, "")} for arm, a in answers.items()},
                            history_turns=history_turns, setup=dict(setup or {}))
        self.exchanges.append(exchange)
        return exchange

    def as_dict(self) -> dict:
        return {"use_history": self.use_history, "exchanges": [vars(e) for e in self.exchanges]}

    @classmethod
    def from_dict(cls, data: dict) -> Conversation:
        if not isinstance(data, dict) or not isinstance(data.get("exchanges", []), list):
            raise ValueError("not a conversation object")
        exchanges = []
        for e in data.get("exchanges", []):
            if not isinstance(e, dict) or not isinstance(e.get("question"), str) or not isinstance(e.get("answers"), dict):
                raise ValueError("an exchange lacks its question or answers")
            setup = e.get("setup") if isinstance(e.get("setup"), dict) else {}
            exchanges.append(Exchange(e["question"], e["answers"], e.get("asked", ""), int(e.get("history_turns") or 0),
                                      setup))
        return cls(exchanges=exchanges, use_history=bool(data.get("use_history")))

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_markdown(self) -> str:
        # questions, names and answers are untrusted: escaped (answers also lose images and links),
        # so a CommonMark viewer of the export never fetches anything. No conversation-wide header:
        # each exchange says what produced it (the adapter or the setting may change between questions).
        e = md_escape
        lines = ["# Crossroads comparison", ""]
        for n, exchange in enumerate(self.exchanges, 1):
            lines += [f"## {n}. {e(exchange.question)}", "", f"_{e(exchange.history_note)}_", ""]
            lines += [f"- **{label}**: {text}" for label, text in setup_lines(exchange.setup)] + [""]
            for arm, record in exchange.answers.items():
                lines += [f"### {e(record.get('title') or arm_title(arm))}", "",
                          answer_markdown(record["answer"]) or "_(empty answer)_", "",
                          f"_{e(figures_line(record))}_", ""]
                for i, source in enumerate(record.get("sources", []), 1):
                    lines.append(f"{i}. {e(source['file'])} ({e(_where(source))}), score {source['score']:.2f}")
                if record.get("sources"):
                    lines.append("")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ on disk


def conversation_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).path("compare", "conversation.json")


def save_conversation(conversation: Conversation, settings: Settings | None = None) -> Path:
    path = conversation_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, conversation.as_dict())
    return path


def load_conversation(settings: Settings | None = None) -> tuple[Conversation, str | None]:
    """The saved conversation, and a warning when the file was unreadable (moved aside, not lost)."""
    path = conversation_path(settings)
    try:
        return Conversation.from_dict(json.loads(path.read_text(encoding="utf-8"))), None
    except FileNotFoundError:
        return Conversation(), None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        kept = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.replace(kept)
        except OSError:
            kept = path
        return Conversation(), (f"The saved Compare conversation ({path}) could not be read ({type(exc).__name__}: "
                                f"{str(exc)[:120]}). Starting a new one; the unreadable file is kept as {kept.name}.")


def clear_conversation(settings: Settings | None = None) -> None:
    conversation_path(settings).unlink(missing_ok=True)


def setup_lines(setup: dict | None) -> list[tuple[str, str]]:
    """An exchange's provenance as (label, markdown-safe text) pairs, for the page and the export."""
    if not setup:
        return [("Setup", "not recorded (asked before exchanges kept their setup)")]
    out = []
    if setup.get("adapter"):
        mode = "RAFT: trained to read retrieved context" if setup.get("adapter_mode") == "raft" else "closed-book"
        out.append(("Adapter", f"{md_escape(setup['adapter'])} ({mode})"))
    else:
        out.append(("Adapter", "none"))
    if setup.get("kb"):
        retrieval = setup.get("retrieval")
        out.append(("Knowledge base", md_escape(setup["kb"]) + (f" · {md_escape(describe_setting(retrieval))}" if retrieval
                                                                 else " (no retrieval arm asked)")))
    engine = setup.get("engine") or {}
    if engine:
        text = f"{engine.get('engine', '?')} {engine.get('quantization') or ''}".strip()
        if engine.get("device"):
            text += f" on {engine['device']}"
        out.append(("Engine", text))
    if setup.get("model"):
        out.append(("Model", md_escape(setup["model"])))
    decoding = setup.get("decoding") or {}
    if decoding:
        mode = f"sampling at T={decoding.get('temperature')}" if decoding.get("do_sample") else "greedy"
        out.append(("Decoding", f"{mode}, at most {decoding.get('max_new_tokens')} new tokens"))
    return out


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
