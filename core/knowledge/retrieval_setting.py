"""Where a retrieval setting came from, recorded and said in one line.

Every screen that retrieves (Ask, Compare, Evaluate, RAFT training, the CLI) starts from one
setting, the *base*: the knowledge base's own (stored by the Retrieval lab), or, for a RAFT
adapter, the setting it was trained with. A screen may override fields; the record then lists
each overridden field with the base's value, so an answer, an export or a report says exactly
what retrieved its context and whether it was the kb's setting.

The record is plain JSON (it goes into Compare exchanges, exports and reports) and
`describe_setting` reads it back, so a stored record is described the same way years later.
"""

from __future__ import annotations

from typing import Any

from core.knowledge.retrieval import RetrievalConfig, kb_retrieval, retrieval_record
from core.runtime.settings import Settings

# The fields a screen can change, in the order the line names them.
COMPARED = ("search_type", "k", "min_score", "keyword_weight", "lambda_mult", "fetch_k")
_FIELD_WORDS = {"search_type": "search", "min_score": "min relevance", "keyword_weight": "keyword weight",
                "lambda_mult": "MMR λ", "fetch_k": "candidates"}


def _day(iso: str | None) -> str | None:
    return iso[:10] if isinstance(iso, str) and len(iso) >= 10 else None


def kb_setting_origin(kb: str, settings: Settings | None = None) -> str:
    """Who stored the kb's setting and when, in words ("set by the Retrieval lab on 2026-12-07")."""
    from core.knowledge.manifest import KnowledgeError, read_manifest

    try:
        stored = read_manifest(kb, settings).get("retrieval")
    except KnowledgeError:
        stored = None
    if not isinstance(stored, dict):
        return "the default (no setting stored for this knowledge base)"
    note = str(stored.get("note") or "")
    who = "the Retrieval lab" if note.startswith("retrieval lab") else "hand"
    day = _day(stored.get("set"))
    return f"set by {who}" + (f" on {day}" if day else "")


def field_text(name: str, value: Any) -> str:
    if value is None:
        return f"{_FIELD_WORDS.get(name, name)} off"
    if name == "k":
        return f"k={value}"
    if name == "search_type":
        return str(value)
    return f"{_FIELD_WORDS.get(name, name)} {value:g}" if isinstance(value, int | float) else f"{name} {value}"


def overrides(config: RetrievalConfig, base: RetrievalConfig) -> list[dict]:
    """The fields `config` changes from `base`: [{"field", "value", "base"}]."""
    return [{"field": name, "value": getattr(config, name), "base": getattr(base, name)}
            for name in COMPARED if getattr(config, name) != getattr(base, name)]


def setting_record(config: RetrievalConfig, kb: str | None, *, base: RetrievalConfig | None = None,
                   base_from: str | None = None, settings: Settings | None = None) -> dict:
    """The retrieval record of reports, exports and the CLI, with where it came from.

    `base` is what the screen started from (default: the kb's own setting), `base_from` says what
    that is ("the kb's setting, set by the Retrieval lab on …", "the setting adapter x was trained with").
    """
    from core.knowledge.manifest import KnowledgeError

    record = retrieval_record(config, kb, settings)
    if not kb:
        return record
    try:
        kb_own = kb_retrieval(kb, settings)
    except KnowledgeError:  # a kb deleted since: the record says what was used, nothing more
        return record
    if base is None:
        base = kb_own
        base_from = base_from or f"the kb's setting, {kb_setting_origin(kb, settings)}"
    record["base"] = base.as_dict()
    record["base_from"] = base_from or "the kb's setting"
    record["override"] = overrides(config, base)
    if kb_own != base:  # e.g. a RAFT adapter's training setting: the kb's own differs from it
        record["kb_setting"] = kb_own.as_dict()
    return record


def _shape(record: dict) -> str:
    parts = [str(record.get("search_type", "?")), f"k={record.get('k', '?')}"]
    if record.get("min_score") is not None:
        parts.append(f"min relevance {record['min_score']:g}")
    chunking = record.get("chunking")
    if isinstance(chunking, dict) and chunking.get("size"):
        unit = "" if chunking.get("unit", "chars") == "chars" else f" {chunking['unit']}"
        parts.append(f"{chunking['size']}/{chunking.get('overlap', 0)}{unit} chunks")
    return " · ".join(parts)


def describe_setting(record: dict | None) -> str:
    """One line: "hybrid · k=2 · min relevance 0.3 · 400/120 chunks, the kb's setting, set by the
    Retrieval lab on 2026-12-07", or "… · override: k=4, the kb's setting is k=2"."""
    if not isinstance(record, dict) or not record:
        return "no retrieval"
    line = _shape(record)
    changed = record.get("override") or []
    base_from = record.get("base_from")
    if changed:
        now = ", ".join(field_text(c["field"], c["value"]) for c in changed)
        was = ", ".join(field_text(c["field"], c["base"]) for c in changed)
        source = (base_from or "the kb's setting").split(",")[0]
        line += f" · override: {now}, {source} is {was}"
    elif base_from:
        line += f", {base_from}"
    if isinstance(record.get("kb_setting"), dict):
        own = RetrievalConfig.from_dict(record["kb_setting"])
        line += f" (the kb's own setting: {own.search_type}, k={own.k})"
    return line
