"""Rules of the house that a test can enforce."""

import ast
import subprocess
import sys

import pytest

from tests import netguard
from tests.conftest import ROOT

ENGINE_LIBS = {"torch", "transformers", "peft", "chromadb", "langchain", "langchain_core",
               "langchain_community", "langchain_chroma", "langchain_huggingface", "ctranslate2"}


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_core_never_imports_streamlit():
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "core").rglob("*.py")
        if any(name.split(".")[0] == "streamlit" for name in imported_modules(path))
    ]
    assert offenders == []


def test_importing_every_core_module_does_not_load_streamlit():
    code = ("import importlib, pkgutil, sys, core\n"
            "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
            "    importlib.import_module(m.name)\n"
            "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def test_pages_do_not_import_engine_libraries():
    offenders = [
        str(path.relative_to(ROOT)) for folder in ("app_pages", "ui") for path in (ROOT / folder).glob("*.py")
        if any(name.split(".")[0] in ENGINE_LIBS for name in imported_modules(path))
    ]
    assert offenders == []


def test_no_legacy_pages_folder():
    # A `pages/` folder beside app.py makes Streamlit run a legacy multipage app when a fresh
    # server's first request is a page URL (a bookmark, a reload after a restart).
    assert not (ROOT / "pages").exists()


def test_no_unsafe_html_outside_tests():
    offenders = [str(p.relative_to(ROOT)) for folder in ("core", "app_pages", "ui") for p in (ROOT / folder).rglob("*.py")
                 if "unsafe_allow_html=True" in p.read_text(encoding="utf-8")]
    offenders += ["app.py"] if "unsafe_allow_html=True" in (ROOT / "app.py").read_text() else []
    assert offenders == []


@pytest.mark.parametrize("host", ["192.0.2.10", "example.com", "huggingface.co", "10.1.2.3"])
def test_network_guard_refuses_non_loopback_without_sending(host):
    before = len(netguard.violations)
    event = "socket.getaddrinfo" if host[0].isalpha() else "socket.connect"
    args = (host, 443, 0, 0, 0) if event == "socket.getaddrinfo" else (_FakeSocket(), (host, 443))
    with pytest.raises(netguard.NetworkBlocked):
        netguard.audit(event, args)
    del netguard.violations[before:]  # the refusal above is the expected outcome, not a leak


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_network_guard_allows_loopback(host):
    netguard.audit("socket.connect", (_FakeSocket(), (host, 8501)))


class _FakeSocket:
    import socket as _socket

    family = _socket.AF_INET


def test_no_source_file_over_400_lines():
    # One person reads a file at once; past that, split it by what its parts do.
    offenders = {str(p.relative_to(ROOT)): n for folder in ("core", "ui", "app_pages")
                 for p in (ROOT / folder).rglob("*.py")
                 if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert offenders == {}


def test_import_layers_hold():
    # The rooms of core/ import one way (contracts in pyproject.toml); make test runs it too.
    from pathlib import Path

    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, timeout=300,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
