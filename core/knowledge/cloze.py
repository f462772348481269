"""Fill-in-the-blank questions generated offline (regex, no model) from knowledge-base chunks.

The generator lives with the documents it reads so both users can reach it: evaluation turns
the items into a cloze eval set (core.evaluation.cloze), training into Q&A rows when a user has
none (core.training.raft.generated_qa_rows). Each item names its chunk, so the two can be kept
apart (no chunk behind a training row also behind an eval question).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.knowledge.manifest import KnowledgeError
from core.runtime.settings import Settings

__all__ = ["BLANK", "CLOZE_PREFIX", "ClozeItem", "cloze_items", "kb_cloze_items"]

BLANK = "____"
CLOZE_PREFIX = "Fill in the blank: "
MAX_CLOZE_SENTENCE = 200


_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTHS})\.?,? \d{{4}}"          # 17 June 2024
    rf"|(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}"               # June 17, 2024
    rf"|(?:{_MONTHS}) \d{{4}}"                                             # June 2024
    r"|\d{4}-\d{2}-\d{2})\b")                                              # 2024-06-17
_TIME = re.compile(r"(?<![\w:.])\d{1,2}:\d{2}(?![\w:])")
_CODE = re.compile(r"(?<![\w.-])(?:[A-Z][A-Z0-9]*-[A-Z0-9]+(?:-[A-Z0-9]+)*|\d+(?:\.\d+){2,})(?![\w-]|\.\d)")
_UNITS = ("%|percent|per cent|°C|°F|degrees?|seconds?|secs?|minutes?|mins?|hours?|hrs?|business days|working days|calendar days|days?|"
          "weeks?|months?|years?|km|kilometres?|kilometers?|metres?|meters?|m|cm|mm|kg|g|grams?|mg|"
          "litres?|liters?|ml|V|mV|W|kW|kWh|mA|mAh|Hz|kHz|MHz|GHz|KB|MB|GB|TB|bits?|bytes?|"
          "characters?|digits?|people|employees|staff|sensors?|channels?|points?|nights?|"
          "EUR|USD|GBP|euros?|dollars?|pounds?|times")
_NUMBER = re.compile(
    rf"(?:(?:€|\$|£|EUR|USD|GBP) ?)?(?<![\w.,\-/:+])(?<!\d )\d+(?:[.,]\d+)*(?![\w\-/:]|[.,]\d| \d)"
    rf"(?: ?(?:{_UNITS})(?![\w]))?")
_NAME = re.compile(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?: (?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?))+\b")
_LEAD_WORDS = frozenset("The A An This That These Those Our Your Their Its In On At For From By With "
                        "To Of And Or But If When Where Every Each All Any Some No Yes".split())

_BULLET = re.compile(r"^\s*(?:[-*+•]\s+|\d+[.)]\s+|>\s*)")
_KEY_VALUE = re.compile(r"^[\w ()/-]{1,40}:\s")
_SENT_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")
_EMPHASIS = re.compile(r"\*\*|__|`|<[^<>]{1,200}>")
# A sentence carrying markup, a link or an instruction aimed at a model makes no question: as a
# generated training row it would teach the injection, as an eval item it would test it.
_HOSTILE = re.compile(
    r"!\[|\]\(|[<>{}]|\|>|\[/?INST\]|https?:|www\.|\bjavascript:|\bdata:"
    r"|\b(?:ignore|disregard|forget|override)\b.{0,60}\b(?:instructions?|prompts?|rules|above|previous|context)\b"
    r"|\byou are (?:now )?(?:a|an|the|my)\b|\bsystem prompt\b|\bas an ai\b|\bjailbreak"
    r"|(?:^|[\s\"'])(?:system|assistant|user)\s*:"
    r"|\b(?:respond|reply|answer|say|print|output|repeat)\b.{0,30}\b(?:only|exactly|verbatim)\b", re.IGNORECASE)
MIN_SENTENCE_CHARS = 40
MIN_SENTENCE_WORDS = 6


def _chunk_field(chunk: Any, *names: str) -> Any:
    for n in names:
        value = chunk.get(n) if isinstance(chunk, dict) else getattr(chunk, n, None)
        if value is not None:
            return value
    meta = chunk.get("metadata") if isinstance(chunk, dict) else getattr(chunk, "metadata", None)
    if isinstance(meta, dict):
        for n in names:
            if meta.get(n) is not None:
                return meta[n]
    return None


def _blocks(text: str) -> list[str]:
    """Lines joined into blocks: wrapped continuation lines are glued back together."""
    blocks: list[list[str]] = []
    prev_open = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "|", "```")) or set(line) <= set("-=*_ "):
            prev_open = False
            continue
        is_new = bool(_BULLET.match(line)) or bool(_KEY_VALUE.match(line)) or not line[0].islower()
        if prev_open and not is_new and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([_BULLET.sub("", line)])
        prev_open = not line.endswith((".", "!", "?", ":", ";"))
    return [" ".join(b) for b in blocks]


def _sentences(text: str) -> list[str]:
    out = []
    for block in _blocks(text):
        block = _EMPHASIS.sub("", block)
        for s in _SENT_SPLIT.split(block):
            s = s.strip()
            if s:
                out.append(s)
    return out


def _candidates(sentence: str) -> list[tuple[int, int, str]]:
    """Key spans (start, end, type) in a sentence, non-overlapping, higher-priority types first."""
    taken: list[tuple[int, int, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _ in taken)

    for kind, rx in (("date", _DATE), ("code", _CODE), ("time", _TIME), ("number", _NUMBER), ("name", _NAME)):
        for m in rx.finditer(sentence):
            a, b = m.span()
            if kind == "name":
                words = m.group(0).split(" ")
                while words and words[0] in _LEAD_WORDS:
                    a += len(words[0]) + 1
                    words = words[1:]
                if len(words) < 2:
                    continue
            span = sentence[a:b].strip()
            if span and free(a, b):
                taken.append((a, b, kind))
    return taken


def _trim(before: str, after: str, limit: int = MAX_CLOZE_SENTENCE) -> str:
    """The blanked sentence, cut at word boundaries to at most ``limit`` chars around the blank."""
    full = f"{before}{BLANK}{after}"
    if len(full) <= limit:
        return full
    room = limit - len(BLANK) - 6  # two "..." markers
    left_room = min(len(before), room // 2)
    right_room = room - left_room
    if len(after) < right_room:
        left_room += right_room - len(after)
        right_room = len(after)
    left, right = before, after
    if left_room < len(before):
        left = before[len(before) - left_room:]
        left = "..." + (left.split(" ", 1)[-1] if " " in left else left)
    if right_room < len(after):
        right = after[:right_room]
        right = (right.rsplit(" ", 1)[0] if " " in right else right) + "..."
    out = f"{left}{BLANK}{right}"
    return out[:limit]


@dataclass(frozen=True)
class ClozeItem:
    question: str  # "Fill in the blank: <sentence with ____>"
    answer: str  # the blanked span, exactly as in the chunk text
    source: str | None
    chunk_id: str | None
    context: str  # the whole sentence


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def cloze_items(chunks: Iterable[Any], n: int = 30, seed: int = 0, *,
                exclude_chunk_ids: Iterable[str] = ()) -> list[ClozeItem]:
    """Fill-in-the-blank questions generated from knowledge-base chunks, offline (regex, no model).

    Each chunk is a dict or object with ``text``, ``source`` (file name), ``chunk_id`` (or
    ``id``) and optionally ``page``; LangChain Documents work through their ``metadata``.
    From each sentence one key span is blanked: a date, a code ("SK-7000", "4.2.0"), a time,
    a number (with its unit when adjacent) or a capitalised multi-word name. The question is
    ``"Fill in the blank: <sentence with ____>"`` (sentence trimmed to 200 chars around the
    blank); ``golds`` is the span exactly as it appears in the chunk text.

    Rules: at most one question per sentence (repeated sentences, e.g. in overlapping
    chunks, count once); sentences shorter than 40 chars / 6 words, questions, and spans
    that occur twice in their sentence are skipped; sources take turns so the set covers
    as many files as possible. Deterministic for a given seed and chunk order. Returns
    fewer than ``n`` items when the text does not have enough candidates.

    Caveat: a cloze item tests recall of a specific fact; some blanks are ambiguous out of
    context (several answers fit). Use it as a relative measure between arms.
    Chunks in ``exclude_chunk_ids`` give no item (the chunks behind an adapter's generated
    training rows, so an eval set does not test what the adapter was trained on).
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = random.Random(seed)
    excluded = set(exclude_chunk_ids)
    by_source: dict[str, list[ClozeItem]] = {}
    seen_sentences: set[str] = set()
    for chunk in chunks:
        if excluded and str(_chunk_field(chunk, "chunk_id", "id")) in excluded:
            continue
        text = _chunk_field(chunk, "text", "page_content")
        if not text:
            continue
        text = str(text)
        source = _cell_text(_chunk_field(chunk, "source", "file")) or None
        if source:
            source = Path(source.replace("\\", "/")).name
        cid = _chunk_field(chunk, "chunk_id", "id")
        cid = None if cid is None else str(cid)
        for sentence in _sentences(text):
            key = " ".join(sentence.lower().split())
            if key in seen_sentences:
                continue
            if (len(sentence) < MIN_SENTENCE_CHARS or len(sentence.split()) < MIN_SENTENCE_WORDS
                    or sentence.endswith("?") or _HOSTILE.search(sentence)):
                continue
            options = []
            for a, b, _kind in _candidates(sentence):
                span = sentence[a:b]
                if sentence.count(span) != 1 or span not in text or len(span) > 0.6 * len(sentence):
                    continue
                options.append((a, b, span))
            if not options:
                continue
            seen_sentences.add(key)
            a, b, span = rng.choice(options)
            question = CLOZE_PREFIX + _trim(sentence[:a], sentence[b:])
            by_source.setdefault(source or "", []).append(
                ClozeItem(question=question, answer=span, source=source, chunk_id=cid, context=sentence))
    if not by_source:
        raise KnowledgeError("No sentence with a date, number, code or name to turn into a question.",
                             hint="Add documents with factual sentences to the knowledge base, or upload a file.")
    sources = list(by_source)
    rng.shuffle(sources)
    for s in sources:
        rng.shuffle(by_source[s])
    picked: list[ClozeItem] = []
    depth = 0
    while len(picked) < n:
        added = False
        for s in sources:
            pool = by_source[s]
            if depth < len(pool):
                picked.append(pool[depth])
                added = True
                if len(picked) == n:
                    break
        if not added:
            break
        depth += 1
    return picked


def kb_cloze_items(kb: str, n: int = 30, seed: int = 0, *, exclude_chunk_ids: Iterable[str] = (),
                   settings: Settings | None = None) -> list[ClozeItem]:
    """Fill-in-the-blank items generated offline from a knowledge base's complete files."""
    from core.knowledge.manifest import read_manifest
    from core.knowledge.store import file_chunks

    files = read_manifest(kb, settings).get("files", {})
    chunks = [chunk for file_id, entry in files.items() if entry.get("status") == "complete"
              for chunk in file_chunks(kb, file_id, settings=settings)]
    items = cloze_items(chunks, n=n, seed=seed, exclude_chunk_ids=exclude_chunk_ids)
    if not items:
        raise KnowledgeError(f"No fill-in-the-blank questions could be made from {kb!r}.",
                             hint="The documents need sentences with numbers, dates, codes or names.")
    return items
