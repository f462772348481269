"""A real `streamlit run` on a free port and a headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, module_data_dir

CHROMIUM = os.environ.get("CROSSROADS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    url: str
    data_dir: Path
    process: subprocess.Popen
    log: Path
    network_log: Path

    def network_violations(self) -> list[str]:
        return self.network_log.read_text().splitlines()


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@contextmanager
def serve_app(data_dir: Path):
    """`streamlit run app.py` on a free port over `data_dir`, under the network guard."""
    port = free_port()
    log = data_dir.parent / "streamlit.log"
    network_log = data_dir.parent / "network-violations.log"
    network_log.touch()
    env = {**os.environ, "CROSSROADS_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    for var in ("CROSSROADS_CHROMA_HOST", "CROSSROADS_CHROMA_PORT"):
        env.pop(var, None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "netguard.py"), str(network_log),
             "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield AppServer(url=url, data_dir=data_dir, process=process, log=log, network_log=network_log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, converted_models):
    """The app served from this checkout with its own data directory (models pre-converted)."""
    with serve_app(module_data_dir(tmp_path_factory, converted_models, "app")) as server:
        yield server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` (see .ci/run).")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}, "accept_downloads": True}


def screenshot(page, name: str) -> Path:
    """Save a screenshot of the whole page under test-artifacts/screenshots/.

    Streamlit scrolls inside its main container, so a "full page" shot would stop at the
    viewport: grow the viewport to the content's height for the shot instead.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 6000))})
    try:
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
    return path


def wait_for_app(page) -> None:
    """Wait until Streamlit has finished running the script (no 'Running' indicator)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000
    )


def open_expander(page, title: str):
    """Open the expander titled `title` (if it is closed) and return it.

    Reads the expander's own state (its body is `inert` while collapsed) rather than clicking
    blindly: after a reload or a rerun an expander may already be open, and clicking an open
    expander closes it.
    """
    expander = page.get_by_test_id("stExpander").filter(has_text=title).first
    expander.wait_for(timeout=60_000)
    details = expander.get_by_test_id("stExpanderDetails").first
    if details.get_attribute("inert") is not None:
        expander.get_by_text(title).first.click()
    page.wait_for_function(
        "(el) => el && !el.hasAttribute('inert')", arg=details.element_handle(), timeout=30_000)
    return expander


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of what the page showed (failed-<test>.png)."""
    outcome = yield
    report = outcome.get_result()
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and page is not None:
        try:
            screenshot(page, f"failed-{item.name}")
        except Exception:  # the page may be gone; the failure itself is what matters
            pass
