"""Background jobs: a subprocess with a run directory. The directory is the whole state.

    data/runs/<job-id>/
        spec.json        what to do (written once by the starter)
        status.json      state, pid, step/total, message, error, result (written atomically)
        progress.jsonl   one JSON record per event (loss, eval loss, ...), append-only
        log              the worker's stdout + stderr
        STOP             present = cancel requested (the worker checks it every step)

Anything that can read the data directory can list, watch, cancel and resume jobs: a page
after a browser reload, another tab, a restarted app, the CLI. A worker is any module with a
`--run-dir` entry point that wraps its work in `core.runtime.jobrun.JobRun` (see core/training/finetune.py). Jobs of one
`group` (e.g. "train") run one at a time per data directory: the worker holds a file lock for
its lifetime, which the OS releases if the process dies (even on kill -9).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.run_status import DamagedJobFile, read_status
from core.runtime.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]  # the checkout: jobs run `python -m` from here
ACTIVE = ("queued", "running", "stopping")
TERMINAL = ("completed", "failed", "cancelled", "interrupted")
_children: dict[str, subprocess.Popen] = {}


class JobError(CrossroadsError):
    """A job cannot be started, found or controlled."""


class JobBusy(JobError):
    """Another job of the same group is running in this data directory."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def read_json_object(path: Path) -> dict:  # {} when missing, unreadable or not an object
    return value if isinstance(value := read_json(path), dict) else {}


def runs_root(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).path("runs")


def _lock_path(group: str, settings: Settings | None = None) -> Path:
    return runs_root(settings) / f".{group}.lock"


@dataclass
class Job:
    id: str
    run_dir: Path
    status: dict

    @property
    def kind(self) -> str:
        return self.status.get("kind", "")

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def spec(self) -> dict:
        return read_json_object(self.run_dir / "spec.json")

    def progress(self) -> list[dict]:
        return read_progress(self.run_dir)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.run_dir / "log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def read_progress(run_dir: Path) -> list[dict]:
    """Every complete record of progress.jsonl (a half-written last line is ignored)."""
    try:
        text = (Path(run_dir) / "progress.jsonl").read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):  # a foreign line is skipped like a half-written one
            out.append(record)
    return out


def reap_children() -> None:
    """Collect every finished worker this process started (on every status read, no SIGCHLD
    handler needed): an exited child that nobody waits for stays a <defunct> zombie."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:  # poll() waits for the exited child: its zombie is gone
            _children.pop(pid, None)


def _process_alive(pid: int | None, started: float | None) -> bool:
    if not pid:
        return False
    child = _children.get(str(pid))
    if child is not None and child.poll() is not None:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 2.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reconcile(run_dir: Path, status: dict) -> dict:
    """An 'active' job whose process is gone was killed or crashed: mark it interrupted."""
    if status.get("state") not in ACTIVE or _process_alive(status.get("pid"), status.get("pid_started")):
        return status
    if status.get("state") == "queued" and not status.get("pid"):
        try:  # created, the starter has not recorded the worker's pid yet
            if time.time() - (run_dir / "status.json").stat().st_mtime < 30:
                return status
        except OSError:
            pass
    time.sleep(0.05)  # the worker may have just written its final state and exited
    try:
        fresh = read_status(run_dir) or status
    except DamagedJobFile:
        fresh = status
    if fresh.get("state") not in ACTIVE:
        return fresh
    if fresh.get("state") == "stopping" or (run_dir / "STOP").exists():
        fresh.update(state="cancelled", finished=now_iso(), message="Cancelled.")
    else:
        fresh.update(state="interrupted", finished=now_iso(),
                     message="The worker process stopped unexpectedly (killed or crashed). "
                             "Resume continues from the last complete checkpoint.")
    write_json_atomic(run_dir / "status.json", fresh)
    return fresh


def get(job_id: str, settings: Settings | None = None) -> Job:
    if not job_id or "/" in job_id or job_id.startswith("."):
        raise JobError(f"No job {job_id!r}.")
    reap_children()
    run_dir = runs_root(settings) / job_id
    status = read_status(run_dir)
    if status is None:
        raise JobError(f"No job {job_id!r} in this data directory.", hint="List jobs with the Fine-tune page.")
    return Job(job_id, run_dir, _reconcile(run_dir, status))


def _scan(settings: Settings | None) -> tuple[list[Job], list[DamagedJobFile]]:
    root = runs_root(settings)
    found: tuple[list[Job], list[DamagedJobFile]] = ([], [])
    if not root.is_dir():
        return found
    for run_dir in root.iterdir():
        if run_dir.name.startswith(".") or not (run_dir / "status.json").exists():
            continue
        try:
            found[0].append(get(run_dir.name, settings))
        except DamagedJobFile as exc:
            found[1].append(exc)
        except JobError:
            continue
    return found


def list_jobs(kind: str | None = None, settings: Settings | None = None) -> list[Job]:
    """All jobs (newest first), optionally of one kind; damaged run files are skipped (`damaged_runs`)."""
    jobs = [job for job in _scan(settings)[0] if kind is None or job.kind == kind]
    return sorted(jobs, key=lambda j: (j.status.get("created") or "", j.id), reverse=True)


def damaged_runs(settings: Settings | None = None) -> list[DamagedJobFile]:
    """The runs `list_jobs` skipped, each error naming its file and what to do (pages show them)."""
    return _scan(settings)[1]


def active_job(group: str, settings: Settings | None = None) -> Job | None:
    for job in list_jobs(settings=settings):
        if job.active and job.status.get("group") == group:
            return job
    return None


def _spawn(job_id: str, run_dir: Path, module: str, settings: Settings, extra_args: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "CROSSROADS_DATA_DIR": str(settings.data_dir),
        "CROSSROADS_GENERATOR": settings.generator,
        "CROSSROADS_EMBEDDER": settings.embedder,
        "CROSSROADS_DEVICE": settings.device,
        "PYTHONUNBUFFERED": "1",
    }
    with open(run_dir / "log", "ab") as log:
        # A new session: the job outlives the app (restart, Ctrl-C of `streamlit run`).
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--run-dir", str(run_dir), *extra_args],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[str(process.pid)] = process
    return process


def pid_started(pid: int) -> float | None:
    import psutil
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def create(
    kind: str,
    module: str,
    spec: dict,
    *,
    group: str | None = None,
    settings: Settings | None = None,
    files: dict[str, Path | bytes] | None = None,
) -> Path:
    """Create a run directory with spec.json and a queued status.json; start nothing.

    `files`: the job's own inputs, written into the run directory under the given relative
    names (a path is copied, bytes are written).
    """
    settings = settings or get_settings()
    root = runs_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    job_id = f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    run_dir = root / job_id
    run_dir.mkdir()
    for name, src in (files or {}).items():
        target = run_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(src) if isinstance(src, bytes) else shutil.copyfile(src, target)
    write_json_atomic(run_dir / "spec.json", spec)
    write_json_atomic(run_dir / "status.json", {
        "id": job_id, "kind": kind, "group": group, "module": module, "state": "queued",
        "created": now_iso(), "message": "Starting…"})
    return run_dir


def start(
    kind: str,
    module: str,
    spec: dict,
    *,
    group: str | None = None,
    settings: Settings | None = None,
    min_free_bytes: int = 0,
    files: dict[str, Path | bytes] | None = None,
) -> Job:
    """Create a run directory (see `create`) and start `python -m module --run-dir D` in it.

    `group`: jobs of one group run one at a time per data directory (JobBusy otherwise).
    """
    from filelock import FileLock

    settings = settings or get_settings()
    root = runs_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    if min_free_bytes and shutil.disk_usage(root).free < min_free_bytes:
        raise JobError(f"Less than {min_free_bytes / 1e9:.1f} GB free in the data directory.",
                       hint="Free some disk space (old runs under data/runs can go) and start again.")
    with FileLock(str(root / ".start.lock")):
        if group:
            _check_free(group, settings)
        run_dir = create(kind, module, spec, group=group, settings=settings, files=files)
        process = _spawn(run_dir.name, run_dir, module, settings, [])
        _set_pid(run_dir, process.pid)
    return get(run_dir.name, settings)


def _set_pid(run_dir: Path, pid: int) -> None:
    status = read_json_object(run_dir / "status.json")
    if status.get("state") == "queued" and not status.get("pid"):
        status.update(pid=pid, pid_started=pid_started(pid))
        write_json_atomic(run_dir / "status.json", status)


def _check_free(group: str, settings: Settings) -> None:
    from filelock import FileLock, Timeout

    busy = active_job(group, settings)
    if busy is None:
        lock = FileLock(str(_lock_path(group, settings)))
        try:
            # Held a moment more after kill -9: the job reads "interrupted" (its leader thread is a zombie)
            # while its other threads still exit with the lock open.
            lock.acquire(timeout=10)
            lock.release()
            return
        except Timeout:
            pass
    which = f" ({busy.id}, {busy.state})." if busy else "."
    raise JobBusy(f"Another {group} job is running in this data directory{which}",
                  hint=f"Wait for it to finish or cancel it; one {group} job at a time per data directory.")


def resume(job_id: str, settings: Settings | None = None) -> Job:
    """Start the worker again on an interrupted / cancelled / failed run directory (`--resume`)."""
    from filelock import FileLock

    settings = settings or get_settings()
    job = get(job_id, settings)
    if job.active:
        raise JobError(f"Job {job_id} is still {job.state}.", hint="Cancel it first, or wait for it to end.")
    if job.state == "completed":
        raise JobError(f"Job {job_id} already completed.", hint="Start a new run instead.")
    with FileLock(str(runs_root(settings) / ".start.lock")):
        if job.status.get("group"):
            _check_free(job.status["group"], settings)
        (job.run_dir / "STOP").unlink(missing_ok=True)
        status = {**job.status, "state": "queued", "message": "Resuming…", "pid": None, "pid_started": None,
                  "error": None, "finished": None, "resumes": job.status.get("resumes", 0) + 1}
        write_json_atomic(job.run_dir / "status.json", status)
        process = _spawn(job_id, job.run_dir, job.status["module"], settings, ["--resume"])
        _set_pid(job.run_dir, process.pid)
    return get(job_id, settings)


def cancel(job_id: str, settings: Settings | None = None) -> Job:
    """Ask the worker to stop (it checks the STOP file every step); a dead job is marked at once."""
    job = get(job_id, settings)
    if not job.active:
        return job
    (job.run_dir / "STOP").touch()
    status = read_json_object(job.run_dir / "status.json") or job.status
    if status.get("state") in ACTIVE:
        status.update(state="stopping", message="Stopping at the end of the current step…")
        write_json_atomic(job.run_dir / "status.json", status)
    return get(job_id, settings)


def delete(job_id: str, settings: Settings | None = None) -> None:
    if (job := get(job_id, settings)).active:
        raise JobError(f"Job {job_id} is still {job.state}.", hint="Cancel it first.")
    shutil.rmtree(job.run_dir, ignore_errors=True)


def wait(job_id: str, settings: Settings | None = None, timeout: float | None = None,
         poll: float = 0.5, on_progress=None) -> Job:
    """Block until the job ends; `on_progress(record)` is called for each new progress record."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    while True:
        job = get(job_id, settings)
        if on_progress:
            records = job.progress()
            for record in records[seen:]:
                on_progress(record)
            seen = len(records)
        if not job.active:
            if (child := _children.pop(str(job.status.get("pid")), None)) is not None:
                child.wait(timeout=30)
            return job
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"Job {job_id} did not finish in {timeout:.0f} s.")
        time.sleep(poll)
