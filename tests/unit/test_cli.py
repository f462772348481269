import json
import subprocess
import sys

from tests.conftest import ROOT


def run_cli(*args, data_dir=None):
    cmd = [sys.executable, "-m", "core", *(["--data-dir", str(data_dir)] if data_dir else []), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "info" in result.stdout


def test_info_prints_valid_json(tmp_path):
    result = run_cli("info", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["data_dir"] == str(tmp_path.resolve())
    assert info["device"] == "cpu"
    assert info["generator"]["converted"] is False
    assert info["generator"]["gguf"].endswith(".gguf")
    assert info["versions"]["torch"].startswith("2.13.0")
    assert info["chroma"]["mode"] == "embedded"
    engine = info["engine"]  # the CPU default, with its measured fidelity next to its speed
    assert (engine["in_use"], engine["quantization"]) == ("ct2", "float32")
    assert engine["ct2_dir"].endswith("-ct2-float32")
    assert engine["fidelity"]["label"] and engine["speed"]["label"]


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode == 2
    assert "usage" in result.stdout


def test_data_dir_is_accepted_after_the_command_too(tmp_path):
    # The README says every command takes --data-dir; a user types it where it reads naturally.
    after = subprocess.run([sys.executable, "-m", "core", "info", "--data-dir", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["data_dir"] == str(tmp_path.resolve())
    nested = subprocess.run([sys.executable, "-m", "core", "kb", "list", "--data-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert nested.returncode == 0, nested.stderr
    assert json.loads(nested.stdout) == []


def test_ingest_help_states_the_real_chunking_default():
    from core.knowledge.documents import ChunkSettings

    default = ChunkSettings()
    text = " ".join(run_cli("ingest", "--help").stdout.split())
    assert f"(default {default.size})" in text and f"(default {default.overlap})" in text


def test_an_unexpected_error_is_one_line_not_a_traceback(monkeypatch, capsys, tmp_path):
    import core.commands.info
    from core.__main__ import main

    def broken(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(core.commands.info, "run", broken)
    assert main(["info", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: unexpected RuntimeError: disk on fire")
