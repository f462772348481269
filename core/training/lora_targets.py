"""Which linear layers a LoRA adapter targets, per architecture (issue 26).

Training options name layers the Llama way (`q_proj`, `k_proj`, `v_proj`, `o_proj` for attention,
`gate_proj`, `up_proj`, `down_proj` for the MLP): one vocabulary for the UI, the CLI and the
presets. Here those names become the layers the base model really has: Llama, Qwen2/3, Mistral and
Gemma use the same names; Phi (phi-2) calls its output projection `dense` and its MLP `fc1`/`fc2`;
Phi-3 fuses q/k/v into `qkv_proj` and gate/up into `gate_up_proj`. A name outside the Llama
vocabulary (chosen by hand on the CLI) is passed as it is; PEFT refuses one the model lacks.
"""

from __future__ import annotations

LLAMA_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_SAME = {name: (name,) for name in LLAMA_NAMES}
FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    **dict.fromkeys(("llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "gemma2", "gemma3_text"), _SAME),
    "phi": {"q_proj": ("q_proj",), "k_proj": ("k_proj",), "v_proj": ("v_proj",), "o_proj": ("dense",),
            "gate_proj": ("fc1",), "up_proj": ("fc1",), "down_proj": ("fc2",)},
    "phi3": {"q_proj": ("qkv_proj",), "k_proj": ("qkv_proj",), "v_proj": ("qkv_proj",), "o_proj": ("o_proj",),
             "gate_proj": ("gate_up_proj",), "up_proj": ("gate_up_proj",), "down_proj": ("down_proj",)},
}


def target_modules(architecture: str | None, requested) -> list[str]:
    """The layer names of `architecture` (a config's model_type) for the Llama-style `requested`
    names, in order, without duplicates."""
    table = FAMILIES.get(str(architecture or "").lower())
    out: list[str] = []
    for name in requested:
        for real in (table.get(name, (name,)) if table else (name,)):
            if real not in out:
                out.append(real)
    return out


def known_architecture(architecture: str | None) -> bool:
    return str(architecture or "").lower() in FAMILIES
