"""Child process of `ct2_cache`: convert the generator (or the generator with one LoRA adapter
merged in) to a CTranslate2 checkpoint in `--out`.

    python -m core.runtime.engines.convert --data-dir D --generator G --out DIR [--adapter FOLDER]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def die_with_parent() -> None:
    """End this converter when the process that started it dies (kill -9 of the command): an
    orphan would keep two cores busy for a minute and race the next run's conversion. Linux:
    the kernel sends SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere nothing (the next run uses its
    own tmp folder anyway)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        raise SystemExit(1)


def _merged_checkpoint(source: str, adapter: Path, into: Path) -> str:
    """A fresh fp32 copy of the base model with the adapter merged in, saved as a checkpoint.
    Fresh: merging changes the weights in place, and fp32 so the merge itself loses nothing."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, local_files_only=True)
    merged = PeftModel.from_pretrained(base, str(adapter), is_trainable=False).merge_and_unload()
    merged.save_pretrained(into, safe_serialization=True)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(into)
    return str(into)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--generator", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quantization", default="float32", choices=["float32", "int8"])
    parser.add_argument("--adapter")
    args = parser.parse_args(argv)
    die_with_parent()

    from dataclasses import replace

    import ctranslate2

    from core.runtime import models
    from core.runtime.settings import get_settings

    settings = replace(get_settings(), data_dir=Path(args.data_dir), generator=args.generator)
    source = models.generator_path(settings, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    # Beside --out (not in /tmp): a converter killed with its parent leaves it where the next
    # conversion of the same target clears it (ct2_cache removes `<target>.tmp*` under its lock).
    scratch = Path(f"{args.out}-merge")
    try:
        if args.adapter:
            source = _merged_checkpoint(source, Path(args.adapter), scratch)
        converter = ctranslate2.converters.TransformersConverter(source, low_cpu_mem_usage=True)
        converter.convert(args.out, quantization=args.quantization, force=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"converted into {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
