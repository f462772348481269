"""Ctrl-C on `python -m core evaluate` saves the partial report and exits cleanly (a real process, real model).

Before: SIGINT reached the main thread while the generation thread was inside torch; the
interpreter exited under it ("terminate called without an active exception", SIGABRT) and
nothing was saved.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_ctrl_c_saves_the_partial_report_and_exits_130(model_data_dir):
    cmd = [sys.executable, "-m", "core", "evaluate", "--data", str(ROOT / "demo" / "qa_test.jsonl"),
           "--arms", "base", "--max-new-tokens", "64", "--batch-size", "2", "--limit", "20",
           "--data-dir", str(model_data_dir)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in proc.stderr:  # wait until the first batch is in, then press Ctrl-C mid-run
        lines.append(line)
        if line.startswith("2/20 questions"):
            break
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=300)
    print(f"Ctrl-C to exit: {time.monotonic() - sent:.1f} s")  # a figure for the report, not asserted
    err = "".join(lines) + err
    assert proc.returncode == 130, err
    assert "terminate called" not in err
    report = json.loads(out)
    assert report["partial"] is True and 2 <= report["n"] < 20
    assert report["verdict"].startswith("Partial run")
    saved = json.loads((model_data_dir / "reports" / f"{report['id']}.json").read_text())
    assert saved["n"] == report["n"] and saved["partial"]
