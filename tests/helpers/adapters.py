"""Make a real (random-weight) LoRA adapter for the shared base model, in seconds."""

from __future__ import annotations

import json
from pathlib import Path


def make_random_adapter(data_dir: Path, name: str = "random", seed: int = 0, labels=()) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.runtime.models import converted_generator_dir
    from core.runtime.settings import BUNDLED_GENERATOR, Settings

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(converted_generator_dir(Settings(data_dir=data_dir)))
    config = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, config)
    target = data_dir / "adapters" / name
    model.save_pretrained(target)
    (target / "meta.json").write_text(json.dumps({
        "name": name, "base_model": BUNDLED_GENERATOR, "duration_s": 1.0, "trainable_params": 460800,
        "data": {"name": "random", "kind": "classification" if labels else "qa", "labels": list(labels)},
        "created": "2026-01-01T00:00:00+00:00",
    }))
    from tests.conftest import link_ct2_adapter

    link_ct2_adapter(target, data_dir)
    return target
