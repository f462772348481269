"""A parse that hangs on files named *slow* (runs inside the spawned parser worker, which imports
this module by name): a stand-in for a DOCX that exceeds the parse time limit."""

from __future__ import annotations

import time


def parse(path, check, limits):
    from core.knowledge.parsing import parse_file

    if "slow" in check.name:
        time.sleep(600)  # killed at the (test-lowered) time limit long before this ends
    docs = parse_file(path, check, limits)
    return [(d.page_content, d.metadata) for d in docs]
