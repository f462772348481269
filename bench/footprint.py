"""Start-up and memory: first model load (GGUF conversion) vs cached load, and the running
app's peak memory, idle vs after a four-arm answer in a real browser, on each engine (hf fp32,
the reference; ct2 float32, the default on CPU; ct2-int8, fast and approximate). Four arms over
one adapter: hf routes the adapter per row on one model, ct2 holds a merged copy per adapter
(CTranslate2 has no per-request LoRA). One run, one machine.

    python -m bench.footprint      -> bench/results/footprint.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENGINES = ("hf", "ct2", "ct2-int8")
QUESTION = "How long is the warranty on a Brindlemoor Skerry weather station?"


def timed_prepare(data_dir: Path, engine: str = "hf") -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core", "--data-dir", str(data_dir), "models", "prepare", "--engine", engine],
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def peak_rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    peaks = []
    for proc in [process, *process.children(recursive=True)]:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return round(sum(peaks), 1)


def app_memory(data_dir: Path, engine: str) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, serve_app, wait_for_app

    os.environ["CROSSROADS_ENGINE"] = engine  # the app server inherits it
    # Compare shows the exchanges saved on disk: the other engine's answer would end the wait at once.
    (data_dir / "compare" / "conversation.json").unlink(missing_ok=True)
    with serve_app(data_dir) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        wait_for_app(page)
        idle = peak_rss_mb(server.process.pid)
        page.get_by_test_id("stSidebarNav").get_by_text("Compare", exact=True).click()
        wait_for_app(page)
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(QUESTION)
        box.press("Enter")
        page.get_by_text("tok/s").nth(3).wait_for(timeout=300_000)
        after = peak_rss_mb(server.process.pid)
        browser.close()
    return {"idle_peak_rss_mb": idle, "after_four_arm_answer_peak_rss_mb": after}


def main() -> None:
    from bench.arms import make_adapter

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        first = timed_prepare(data_dir)
        cached = timed_prepare(data_dir)
        os.environ["CROSSROADS_DATA_DIR"] = str(data_dir)
        from core.knowledge.demo import load_demo_workspace

        load_demo_workspace()
        make_adapter(data_dir, "bench")
        for engine in ENGINES[1:]:  # every app starts from a prepared model: memory, not conversion
            timed_prepare(data_dir, engine)
        memory = {engine: app_memory(data_dir, engine) for engine in ENGINES}
    after = {engine: m["after_four_arm_answer_peak_rss_mb"] for engine, m in memory.items()}
    result = {"first_load_with_conversion_s": round(first, 1), "cached_load_s": round(cached, 1),
              "ratio": round(first / cached, 1), "memory_by_engine": memory,
              "vs_hf_memory_after_answer": {e: round(after[e] / after["hf"], 2) for e in ENGINES[1:]},
              "load_average_after": os.getloadavg(),
              "note": "load times are whole `python -m core models prepare` processes (interpreter, imports, "
                      "generator and embedder); memory is the app process tree's peak resident set (ct2's "
                      "first-time conversions run in short-lived worker processes, not counted)"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "footprint.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
