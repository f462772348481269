"""Reading a run's status.json defensively: what a worker writes, or a clear DamagedJobFile."""

from __future__ import annotations

import json
from pathlib import Path

from core.runtime.errors import CrossroadsError


class DamagedJobFile(CrossroadsError):
    """A run directory's status.json is not what a worker writes; the run is skipped."""


_NUMBER_FIELDS = ("step", "total_steps", "epoch", "elapsed_s", "eta_s", "train_loss", "eval_loss", "pid",
                  "pid_started", "resumes")
_TEXT_FIELDS = ("id", "kind", "group", "module", "state", "message", "error", "hint", "created", "started",
                "finished", "updated")


def read_status(run_dir: Path) -> dict | None:
    """status.json of a run as a dict of the expected types (None if there is none), or
    DamagedJobFile naming the file and what to do.

    A hand-edited, truncated or foreign file (e.g. `[]`) must never break a page that lists runs.
    """
    path = Path(run_dir) / "status.json"
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
        problem = None if isinstance(status, dict) else f"it holds {type(status).__name__}, not an object"
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        status, problem = None, f"it is not readable JSON ({type(exc).__name__})"
    if problem is None:
        wrong = [k for k in _NUMBER_FIELDS if status.get(k) is not None
                 and (isinstance(status[k], bool) or not isinstance(status[k], int | float))]
        wrong += [k for k in _TEXT_FIELDS if status.get(k) is not None and not isinstance(status[k], str)]
        wrong += [k for k in ("result",) if status.get(k) is not None and not isinstance(status[k], dict)]
        problem = f"field(s) {', '.join(wrong)} have the wrong type" if wrong else None
    if problem:
        raise DamagedJobFile(f"The run file {path} is damaged ({problem}); the run is skipped.",
                             hint=f"Delete the folder {path.parent} (or restore the file); other runs are unaffected.")
    return status
