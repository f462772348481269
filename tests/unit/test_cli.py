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


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode == 2
    assert "usage" in result.stdout
