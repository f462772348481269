"""Typed errors with a message a user understands and a hint on what to do."""


class CrossroadsError(Exception):
    """Base class: `message` says what went wrong, `hint` says what to do about it."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ModelNotFound(CrossroadsError):
    """A configured model folder or id is not available offline."""


class ConfigError(CrossroadsError):
    """A setting has a value we cannot use."""


class NoChatTemplate(ModelNotFound):
    """A model whose tokenizer has no chat template: its prompts cannot be built as it was trained."""


class AdapterRefused(ModelNotFound):
    """An adapter folder we will not load (missing, pickle weights, wrong base model)."""


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC as an OSError, or inside the text of a library's own error (chromadb, SQLite and
    safetensors wrap it in their own types)."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left" in text or "disk is full" in text
