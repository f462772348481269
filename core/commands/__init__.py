"""CLI commands, one module each (auto-discovered by core/__main__.py)."""
