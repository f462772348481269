"""A tiny random checkpoint of a second architecture (2-layer Qwen2), built offline in seconds.

Its tokenizer is the bundled model's (copied from the converted checkpoint) with a chat template of
its own, so the prompts differ from SmolLM2's and the app must take them from the model. Random
weights: the answers are noise, which is all a test of the plumbing needs.
"""

from __future__ import annotations

from pathlib import Path

TINY_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def make_tiny_qwen2(target: Path, bundled_dir: Path, seed: int = 0) -> Path:
    """Save a 2-layer Qwen2 (hidden size 64) with its tokenizer and chat template into `target`."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(bundled_dir, local_files_only=True)
    tokenizer.chat_template = TINY_TEMPLATE
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target
