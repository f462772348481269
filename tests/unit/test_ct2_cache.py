"""The ct2 caches are verified when opened: a copy whose files do not match the manifest written
at conversion (truncated model.bin, garbage config.json, no manifest at all) is rebuilt; each
conversion writes into a tmp folder of its own; the converter dies with the process that
started it. A stand-in converter (writes two small files) keeps these fast; the real one is in
test_engines.py."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.runtime.engines import ct2_cache
from core.runtime.settings import Settings

FAKE = ("import json, os, sys; out = sys.argv[1]; os.makedirs(out, exist_ok=True); "
        "open(os.path.join(out, 'model.bin'), 'wb').write(b'w' * 4096); "
        "json.dump({'n': 1}, open(os.path.join(out, 'config.json'), 'w')); "
        "open(sys.argv[2], 'a').write(out + '\\n')")


@pytest.fixture
def fake_converter(monkeypatch, tmp_path):
    calls = tmp_path / "calls.txt"
    calls.write_text("")
    monkeypatch.setattr(ct2_cache, "_converter_command",
                        lambda out, settings, adapter, quantization: [sys.executable, "-c", FAKE, str(out), str(calls)])
    settings = Settings(data_dir=tmp_path / "data")
    return settings, lambda: calls.read_text().splitlines()


def test_a_conversion_writes_a_manifest_and_is_reused(fake_converter):
    settings, calls = fake_converter
    folder = ct2_cache.prepare_ct2_generator(settings)
    manifest = json.loads((folder / ct2_cache.MANIFEST).read_text())
    assert manifest["files"]["model.bin"]["size"] == 4096
    assert ct2_cache.prepare_ct2_generator(settings) == folder and len(calls()) == 1
    assert calls()[0].endswith(f".tmp{os.getpid()}")  # this process's own tmp folder
    assert folder.name.endswith("-ct2-float32")  # the default: float32, keyed by quantization
    assert ct2_cache.ct2_generator_dir(settings, "int8").name.endswith("-ct2-int8")


@pytest.mark.parametrize("damage", ["truncate model.bin", "garbage config.json", "no manifest", "same size, other bytes"])
def test_a_damaged_copy_is_rebuilt(fake_converter, damage):
    settings, calls = fake_converter
    folder = ct2_cache.prepare_ct2_generator(settings)
    if damage == "truncate model.bin":
        (folder / "model.bin").write_bytes(b"w" * 100)
    elif damage == "garbage config.json":
        (folder / "config.json").write_text("garbage")
    elif damage == "no manifest":  # a conversion killed before its last step, or an older layout
        (folder / ct2_cache.MANIFEST).unlink()
    else:  # hashed once per process per folder: forget that this one was checked
        (folder / "model.bin").write_bytes(b"x" * 4096)
        ct2_cache._hash_verified.clear()
    assert not ct2_cache.ct2_generator_is_converted(settings)
    assert ct2_cache.prepare_ct2_generator(settings) == folder
    assert len(calls()) == 2 and ct2_cache.ct2_generator_is_converted(settings)
    assert (folder / "model.bin").read_bytes() == b"w" * 4096


def test_leftover_tmp_folders_of_a_killed_run_are_cleared(fake_converter):
    settings, calls = fake_converter
    target = ct2_cache.ct2_generator_dir(settings)
    left = target.with_name(f"{target.name}.tmp999999")
    (left / "partial").mkdir(parents=True)
    ct2_cache.prepare_ct2_generator(settings)
    assert not left.exists() and len(calls()) == 1


def test_the_converter_dies_with_its_parent(tmp_path):
    """kill -9 of the command during a conversion: its converter must not run on as an orphan."""
    pid_file = tmp_path / "child.pid"
    child = ("from core.runtime.engines.convert import die_with_parent; die_with_parent(); "
             f"open({str(pid_file)!r}, 'w').write(str(__import__('os').getpid())); __import__('time').sleep(120)")
    parent = ("import subprocess, sys, time; "
              f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(120)")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", parent], env=env)
    try:
        for _ in range(600):  # the child has started and armed its death signal
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        child_pid = int(pid_file.read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for _ in range(600):
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)  # a zombie reaped by init also counts as gone below
        else:
            state = open(f"/proc/{child_pid}/stat").read().split()[2] if os.path.exists(f"/proc/{child_pid}") else "gone"
            assert state in ("Z", "gone"), f"converter {child_pid} outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_copy_ctranslate2_cannot_open_is_rebuilt_once_then_a_clear_error(tmp_path):
    """Damaged after its check (or written by another CTranslate2): rebuilt once; if it still
    cannot be opened, `models prepare` and the app show a clear error, not a raw RuntimeError."""
    from core.runtime.engines.ct2 import CT2Engine

    engine = object.__new__(CT2Engine)  # only the opening logic; the real model is in test_engines.py
    folder = tmp_path / "copy"
    prepared = []

    def prepare():
        prepared.append(folder.exists())
        folder.mkdir(exist_ok=True)
        return folder

    outcomes = iter([RuntimeError("Unsupported model binary version"), "generator"])

    def open_once_broken(path):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    engine._open = open_once_broken
    assert engine._open_cached(prepare) == "generator"
    assert prepared == [False, False]  # the unreadable copy was removed before the rebuild

    def never_opens(path):
        raise RuntimeError("bad model.bin")

    engine._open = never_opens
    with pytest.raises(ct2_cache.ModelConversionFailed, match="cannot be opened") as info:
        engine._open_cached(prepare)
    assert "CROSSROADS_ENGINE=hf" in info.value.hint
