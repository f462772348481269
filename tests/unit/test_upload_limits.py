"""Every uploader states the app's real limit; the server's maxUploadSize is only the ceiling."""

from __future__ import annotations

import ast
import tomllib

from core.knowledge.documents import DEFAULT_LIMITS
from tests.conftest import ROOT


def _uploader_limits() -> dict[str, ast.expr | None]:
    found = {}
    for path in [*ROOT.glob("app_pages/*.py"), *ROOT.glob("ui/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "file_uploader":
                limit = next((k.value for k in node.keywords if k.arg == "max_upload_size"), None)
                found[f"{path.relative_to(ROOT)}:{node.lineno}"] = limit
    return found


def test_every_uploader_states_its_own_limit_within_the_server_ceiling():
    ceiling = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    limits = _uploader_limits()
    assert limits and all(v is not None for v in limits.values()), limits  # none falls back to the ceiling
    literal = [v.value for v in limits.values() if isinstance(v, ast.Constant)]
    assert all(0 < v <= ceiling for v in literal) and ceiling == max(literal + [int(DEFAULT_LIMITS.max_file_mb)])
    knowledge = [ast.unparse(v) for k, v in limits.items() if k.startswith("app_pages/knowledge.py")]
    assert knowledge == ["int(DEFAULT_LIMITS.max_file_mb)"]  # documents: the app's own 50 MB cap
