"""Training: labeled data in, LoRA adapters out.

datasets (schema detection, validation, chat formatting), finetune (the training worker),
adapters (the adapter store: list, rename, delete, export, import) and adapter_checks (what may
be loaded onto the base model, and the checked loader), seeds (N adapters differing only in seed,
grouped). May import core.knowledge and
core.runtime.
"""
