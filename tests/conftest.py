"""Shared fixtures: an isolated data directory per test, and a shared converted model cache."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import netguard

ROOT = Path(__file__).resolve().parent.parent
# Converting the bundled GGUF takes ~40 s: do it once per machine into this cache and copy
# (hard-link) it into each test's data directory.
MODEL_CACHE = Path(os.environ.get("CROSSROADS_TEST_MODEL_CACHE", ROOT / ".venv" / "crossroads-test-models"))


@pytest.fixture(scope="session")
def converted_models() -> Path:
    """A data dir holding the converted bundled generator (made once per machine)."""
    from core.runtime import models
    from core.runtime.engines import ct2_cache
    from core.runtime.settings import Settings

    settings = Settings(data_dir=MODEL_CACHE)
    if not models.generator_is_converted(settings):
        models.convert_bundled_generator(settings)
    # The default engine's float32 copy too: converted once per machine, linked like the rest.
    ct2_cache.prepare_ct2_generator(settings)
    return MODEL_CACHE / "models"


def link_ct2_adapter(adapter: Path, data_dir: Path) -> None:
    """Give a test adapter its ct2 copy from the machine cache: adapters with the same weights
    (the seeded random ones) are merged and converted once per machine, not once per test."""
    from core.runtime.engines import CT2_ENGINES, ct2_cache, engine_name
    from core.runtime.settings import Settings, get_settings

    quantization = CT2_ENGINES.get(engine_name(get_settings()))
    if quantization is None:
        return
    target = ct2_cache.merged_ct2_dir(adapter, quantization)
    shared = MODEL_CACHE / "ct2-adapters" / target.name
    if not ct2_cache._ct2_ready(shared):  # absent, or left by an older layout without a manifest
        shutil.rmtree(shared, ignore_errors=True)
        built = ct2_cache.prepare_ct2_adapter(adapter, Settings(data_dir=data_dir), quantization=quantization)
        tmp = shared.with_name(f"{shared.name}.tmp{os.getpid()}")
        shutil.copytree(built, tmp)
        try:
            tmp.rename(shared)
        except OSError:  # another worker published it first
            shutil.rmtree(tmp, ignore_errors=True)
        return
    if not target.exists():
        shutil.copytree(shared, target, copy_function=os.link)


def _link_models(src: Path, data_dir: Path) -> None:
    dest = data_dir / "models"
    if dest.exists():
        return
    shutil.copytree(src, dest, copy_function=os.link, ignore=shutil.ignore_patterns("*.lock", "*.tmp*"))


@contextmanager
def data_dir_env(path: Path):
    """Point the process at `path` as its data directory (for module-scoped fixtures)."""
    from core.runtime.settings import reset_settings

    old = os.environ.get("CROSSROADS_DATA_DIR")
    os.environ["CROSSROADS_DATA_DIR"] = str(path)
    reset_settings()
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("CROSSROADS_DATA_DIR", None)
        else:
            os.environ["CROSSROADS_DATA_DIR"] = old
        reset_settings()


def module_data_dir(tmp_path_factory, converted_models, name: str) -> Path:
    """A fresh data directory with the converted generator linked in."""
    path = tmp_path_factory.mktemp(name) / "data"
    path.mkdir()
    _link_models(converted_models, path)
    return path


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty data directory set in the environment; settings re-read for the test."""
    from core.runtime.settings import reset_settings

    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("CROSSROADS_DATA_DIR", str(path))
    for var in ("CROSSROADS_CHROMA_HOST", "CROSSROADS_CHROMA_PORT", "CROSSROADS_GENERATOR", "CROSSROADS_EMBEDDER",
                "CROSSROADS_MODEL"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    yield path
    reset_settings()


@pytest.fixture
def model_data_dir(data_dir, converted_models) -> Path:
    """Like data_dir, with the converted generator already in place (no 40 s conversion)."""
    _link_models(converted_models, data_dir)
    return data_dir


netguard.install()


@pytest.fixture(autouse=True)
def no_network_access():
    """Fail any test during which something tried to reach beyond 127.0.0.1."""
    before = len(netguard.violations)
    yield
    new = netguard.violations[before:]
    assert not new, f"network access attempted: {new}"


@pytest.fixture(autouse=True)
def keep_main_module():
    """AppTest runs a page as `__main__` and leaves it there. A process that spawns workers later
    (the document parser pool) would make each child re-run that script first; a script made by
    AppTest.from_function cannot run outside AppTest, so every later parse failed. Put it back."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
