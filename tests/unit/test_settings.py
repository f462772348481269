import os
from pathlib import Path

import pytest

from core.runtime.errors import ConfigError
from core.runtime.settings import BUNDLED_EMBEDDER, BUNDLED_GENERATOR, get_settings, reset_settings


def test_offline_environment_is_set_on_import():
    import core.runtime.settings  # noqa: F401

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"


def test_defaults(data_dir):
    settings = get_settings()
    assert settings.data_dir == data_dir
    assert settings.generator == BUNDLED_GENERATOR
    assert settings.embedder == BUNDLED_EMBEDDER
    assert settings.chroma_mode == "embedded"
    assert settings.resolved_device == "cpu"  # no GPU on CI
    assert settings.dtype_name == "float32"
    assert settings.path("kb", "x") == data_dir / "kb" / "x"


def test_environment_overrides(data_dir, monkeypatch):
    monkeypatch.setenv("CROSSROADS_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CROSSROADS_CHROMA_PORT", "8123")
    monkeypatch.setenv("CROSSROADS_DEVICE", "cpu")
    monkeypatch.setenv("CROSSROADS_GENERATOR", "/models/qwen")
    reset_settings()
    settings = get_settings()
    assert settings.chroma_mode == "server"
    assert (settings.chroma_host, settings.chroma_port) == ("127.0.0.1", 8123)
    assert settings.generator == "/models/qwen"
    assert settings.with_data_dir("/x").data_dir == Path("/x")


def test_bad_port_is_a_clear_error(data_dir, monkeypatch):
    monkeypatch.setenv("CROSSROADS_CHROMA_PORT", "eighty")
    reset_settings()
    with pytest.raises(ConfigError, match="must be a number"):
        get_settings()


def test_settings_are_hashable_cache_keys(data_dir):
    assert hash(get_settings()) == hash(get_settings())
