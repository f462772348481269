"""Untrusted text made inert for markdown: file names, eval-set names, gold answers, column
headers, adapter names. Streamlit labels and captions and the Markdown exports all render
markdown, so every such string goes through `md_escape` before it is placed in one."""

from __future__ import annotations

import re

# Every character that starts markdown, Streamlit's own `:color[...]` / `:icon:` directives and
# LaTeX (`$`): escaped, so `![x](https://…)` can never become an image request.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md_escape(text: object) -> str:
    """`text` safe to place inside markdown (labels, captions, tables, exports): every markdown
    character escaped, line breaks flattened so it cannot start a heading or a list."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\r", " ").replace("\n", " ")


def nesting_depth(value: object, limit: int = 64) -> int:
    """How deeply `value` nests lists / dicts, counted without recursion (so a 100,000-deep
    document cannot hit the recursion limit here); stops counting past `limit`."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list | tuple):
            deepest = max(deepest, level + 1)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def plural(n: float, word: str, many: str | None = None) -> str:
    """'1 chunk', '2 chunks', '1 update', '0.5 updates', '12,345 files': the one helper for every
    count shown to the user. `many` for irregular plurals ("1 query" / "queries")."""
    shown = f"{int(n):,}" if float(n).is_integer() else f"{n:.2g}"
    return f"{shown} {word if n == 1 else many or word + 's'}"
