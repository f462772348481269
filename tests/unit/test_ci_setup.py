"""`make test` sets up the browser the e2e tests need, or stops at once with the command to run."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import ROOT

SCRIPT = ROOT / ".ci" / "ensure-chromium"


def _run(tmp_path, chromium: str, uid: int) -> subprocess.CompletedProcess:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    # A fake `id` (the script's root check) and a fake `apt-get` that must not run for non-root.
    (fake_bin / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (fake_bin / "apt-get").write_text(f"#!/bin/sh\necho apt-get \"$@\" >> {tmp_path}/apt.log\n")
    for tool in fake_bin.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "CROSSROADS_CHROMIUM": chromium}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_non_root_without_chromium_stops_with_the_command(tmp_path):
    result = _run(tmp_path, str(tmp_path / "no-chromium"), uid=1000)
    assert result.returncode == 1
    assert "apt-get install -y -qq chromium" in result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_root_without_chromium_installs_it(tmp_path):
    result = _run(tmp_path, str(tmp_path / "no-chromium"), uid=0)
    assert "install -y -qq chromium" in (tmp_path / "apt.log").read_text()
    assert result.returncode == 1  # the fake apt-get installed nothing: said so, not passed silently


def test_present_chromium_passes_without_apt(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    assert _run(tmp_path, str(browser), uid=1000).returncode == 0
    assert not (tmp_path / "apt.log").exists()


def test_make_test_checks_the_browser_before_pytest():
    recipe = (ROOT / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index(".ci/ensure-chromium") < recipe.index("pytest")
