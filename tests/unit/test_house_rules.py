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


# --- Untrusted text never reaches a markdown-rendering call raw (issue 25, item 1) -------------
# Streamlit renders markdown in these calls' first argument and in `label` / `text` / `help`; a
# file name, eval-set name, gold answer or column header placed there unescaped becomes a link or
# an image the browser fetches. Every interpolated part of an f-string (or a `+` operand) passed to
# one must be `md_escape(...)`, a number (a numeric format spec: it fails on a string), or an
# expression rooted at a name below that only ever holds the app's own text or numbers.
MD_SINKS = {"markdown", "caption", "info", "warning", "error", "success", "write", "subheader", "title", "header",
            "expander", "popover", "tabs", "metric", "toast", "button", "checkbox", "radio", "selectbox",
            "multiselect", "text_input", "text_area", "number_input", "slider", "select_slider", "toggle",
            "file_uploader", "download_button", "link_button", "page_link", "form_submit_button", "status",
            "chat_input", "progress", "pills", "segmented_control", "spinner"}
MD_KWARGS = {"label", "body", "text", "help"}
SAFE_CALLS = {"md_escape", "answer_markdown", "len", "int", "round", "abs", "fmt_seconds", "human_size", "metric_name",
              # a number and a constant word; the app's own plan / time wording; a job line that escapes its names
              "plural", "plan_text", "since", "describe"}
SAFE_ROOTS = {
    # numbers and counters
    "n", "i", "rank", "step", "total", "n_items", "history_turns", "with_oracle", "removed", "N", "options",
    "chunking", "stats", "tokens", "p",
    # the app's own wording (constants, questions, rules, presets, generated ids and states)
    "ARM_TITLES", "ENGINE_WHAT", "TASK_TITLES", "PRESETS", "OPTION_LABELS", "PAGE_TITLES", "QUESTIONS", "STATE_ICONS", "q",
    "engine", "state", "mode", "loading", "eta", "what", "title", "figures", "issue", "what_it_will_do", "rec",
    "settings",
}
SAFE_EXPRS = {"job.id", "job.state", "eval_set.kind"}
NUMERIC_SPEC = set("dfeg%,xnb")


def _safe_part(node):
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(_safe_part(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        spec = "".join(v.value for v in node.format_spec.values if isinstance(v, ast.Constant)) \
            if node.format_spec else ""
        return bool(NUMERIC_SPEC & set(spec[-1:])) or _safe_part(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _safe_part(node.left) and _safe_part(node.right)
    if isinstance(node, ast.IfExp):
        return _safe_part(node.body) and _safe_part(node.orelse)
    if isinstance(node, ast.BoolOp):
        return all(_safe_part(v) for v in node.values)
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name in SAFE_CALLS:
            return True
    if isinstance(node, ast.Compare | ast.BinOp):
        return True  # arithmetic or a comparison: a number or a bool
    if ast.unparse(node) in SAFE_EXPRS:
        return True
    root = node
    while isinstance(root, ast.Attribute | ast.Subscript | ast.Call):
        root = root.func if isinstance(root, ast.Call) else root.value
    return isinstance(root, ast.Name) and root.id in SAFE_ROOTS


def markdown_sink_offenders(tree):
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MD_SINKS):
            continue
        args = node.args[:1] + [k.value for k in node.keywords if k.arg in MD_KWARGS]
        for arg in args:
            # only built strings are judged: a bare variable is the call site's own text or already escaped
            if isinstance(arg, ast.JoinedStr | ast.BinOp | ast.IfExp) and not _safe_part(arg):
                yield node.lineno, ast.unparse(arg)[:80]


def test_markdown_sink_check_catches_a_raw_file_name():
    # the check itself can fail: a raw name is found, an escaped one and a number are not
    bad = ast.parse('st.caption(f"Using **{name}**")\nst.expander("x" + name)')
    good = ast.parse('st.caption(f"Using **{md_escape(name)}** in {n} rows, {x:.2f}")')
    assert len(list(markdown_sink_offenders(bad))) == 2
    assert list(markdown_sink_offenders(good)) == []


def test_untrusted_text_is_escaped_in_markdown_calls():
    offenders = [f"{p.relative_to(ROOT)}:{line}: {src}" for folder in ("ui", "app_pages")
                 for p in sorted((ROOT / folder).rglob("*.py"))
                 for line, src in markdown_sink_offenders(ast.parse(p.read_text(encoding="utf-8")))]
    assert offenders == []
