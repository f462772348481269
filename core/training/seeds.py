"""Seed groups: N adapters trained on the same data with the same options, differing only in seed.

One training run is one draw: LoRA fine-tunes of small data move by several points between seeds
(Dodge et al. 2020 measured it over 2,100 BERT runs), so an adapter's effect is only real when it
survives that noise. `train_seeds` trains `name-s1 … name-sN` one after another (seed = the
options' seed + i - 1, which moves the data order and the LoRA init) with ONE held-out split (the
options' seed), then writes a group record `data/adapter_groups/<name>.json`; evaluation
(core/evaluation/seeds.py) runs every member and resamples seeds as well as questions.

    python -m core.training.seeds --run-dir D     the background job the Fine-tune page starts
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from core.runtime.errors import CrossroadsError
from core.runtime.settings import Settings, get_settings

KIND = "seeds"
MAX_SEEDS = 10
DEFAULT_SEEDS = 3  # for the bundled model, when the estimated time allows it (SEED_BUDGET_S)
SEED_BUDGET_S = 15 * 60  # the default drops to one seed when three would take longer than this


def member_names(name: str, n: int) -> list[str]:
    return [f"{name}-s{i}" for i in range(1, n + 1)]


def groups_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).path("adapter_groups")


def read_group(name: str | None, settings: Settings | None = None) -> dict | None:
    """The group record of `name`, or None when it is no seed group."""
    import json

    if not name:
        return None
    path = groups_dir(settings) / f"{Path(name).name}.json"
    try:
        group = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return group if isinstance(group, dict) and group.get("members") else None


def list_groups(settings: Settings | None = None) -> list[dict]:
    folder = groups_dir(settings)
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [g for g in (read_group(n, settings) for n in names) if g]


def representative(name: str | None, settings: Settings | None = None) -> str | None:
    """An adapter that stands for `name` where one adapter is needed (its held-out rows, its kb chunks):
    the first member of a group (all members share the split), else `name` itself."""
    group = read_group(name, settings)
    return group["members"][0] if group else name


def default_seeds(seconds_per_run: float | None) -> int:
    """3 seeds when three runs fit in SEED_BUDGET_S (or nothing is measured yet would be a guess: 1)."""
    if not seconds_per_run:
        return 1
    return DEFAULT_SEEDS if DEFAULT_SEEDS * seconds_per_run <= SEED_BUDGET_S else 1


def _check(name: str, n: int, overwrite: bool, settings: Settings) -> None:
    from core.training import adapters

    if not 2 <= n <= MAX_SEEDS:
        raise CrossroadsError(f"Seeds must be between 2 and {MAX_SEEDS}, got {n}.")
    adapters.check_name(name)
    if adapters.adapter_dir(name, settings).exists():
        raise CrossroadsError(f"An adapter named {name!r} exists: a seed group needs a name of its own.",
                              hint="Pick another name.")
    taken = [m for m in member_names(name, n) if adapters.adapter_dir(m, settings).exists()]
    if taken and not overwrite:
        raise CrossroadsError(f"Adapters {', '.join(taken)} already exist.", hint="Pick another name or overwrite.")


def train_seeds(data_path: Path, name: str, options, n: int, *, schema=None, data_name: str | None = None,
                overwrite: bool = False, settings: Settings | None = None, adapter_mode: dict | None = None,
                on_member: Callable[[int, object], None] | None = None,
                should_stop: Callable[[], bool] | None = None, poll: float = 0.5,
                on_progress: Callable[[dict], None] | None = None) -> dict:
    """Train the N members one after another and write the group record; returns it.

    `on_member(i, job)` is called as member i starts; `should_stop` cancels the member in training
    and raises (the members already trained are kept, no group record is written).
    """
    from core.runtime import jobs
    from core.training.finetune import TrainingError, start_finetune

    settings = settings or get_settings()
    _check(name, n, overwrite, settings)
    members, results = member_names(name, n), []
    for i, member in enumerate(members, 1):
        job = start_finetune(data_path, member, replace(options, seed=options.seed + i - 1), schema=schema,
                             data_name=data_name, overwrite=overwrite, settings=settings,
                             adapter_mode=adapter_mode, split_seed=options.seed)
        if on_member:
            on_member(i, job)
        while should_stop is not None and jobs.get(job.id, settings).active:  # the page's job: a stop cancels
            if should_stop():
                jobs.cancel(job.id, settings)
                jobs.wait(job.id, settings)
                raise TrainingError(f"Seed run stopped during {member}; {i - 1} of {n} seeds were trained.",
                                    hint="Start it again with overwrite to train every seed.")
            time.sleep(poll)
        job = jobs.wait(job.id, settings, poll=poll, on_progress=on_progress)  # reaps the finished worker
        if job.state != "completed":
            reason = job.status.get("error") or job.status.get("message") or job.state
            raise TrainingError(f"Seed {i} of {n} ({member}) {job.state}: {reason}")
        results.append({"adapter": member, "seed": options.seed + i - 1, "run": job.id,
                        **{k: (job.status.get("result") or {}).get(k) for k in ("train_loss", "eval_loss", "seconds")}})
    return write_group(name, results, options.seed, settings)


def write_group(name: str, results: list[dict], split_seed: int, settings: Settings | None = None) -> dict:
    from core.runtime.jobs import write_json_atomic

    group = {"name": name, "members": [r["adapter"] for r in results], "seeds": [r["seed"] for r in results],
             "split_seed": split_seed, "runs": results, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    folder = groups_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{name}.json", group)
    return group


def start_seed_group(data_path: Path, name: str, options, n: int, *, schema=None, data_name: str | None = None,
                     overwrite: bool = False, settings: Settings | None = None, adapter_mode: dict | None = None):
    """Start the seed group as a background job (the Fine-tune page); each member is an ordinary run."""
    from core.runtime import jobs

    settings = settings or get_settings()
    options.check()
    _check(name, n, overwrite, settings)
    spec = {"name": name, "n": n, "options": options.as_dict(), "overwrite": overwrite,
            "data_file": "data" + Path(data_path).suffix.lower(), "data_name": data_name or Path(data_path).name,
            "schema": schema.as_dict() if schema is not None else None, "adapter_mode": adapter_mode}
    return jobs.start(KIND, "core.training.seeds", spec, group=KIND, settings=settings,
                      files={spec["data_file"]: Path(data_path)})


def _worker(run_dir: Path) -> None:
    from core.runtime.jobrun import JobRun
    from core.training.finetune import TrainOptions
    from core.training.schema import Schema

    with JobRun(run_dir) as run:
        spec = run.spec
        schema = Schema.of(spec["schema"]["kind"], spec["schema"]["mapping"]) if spec.get("schema") else None
        n = int(spec["n"])
        run.update(total_steps=n, step=0, message=f"Training seed 1 of {n}…")

        def member(i: int, job) -> None:
            run.update(step=i - 1, message=f"Training seed {i} of {n} ({job.id})…")
            run.progress(step=i - 1, total=n, member=i, job=job.id)

        try:
            group = train_seeds(run.run_dir / spec["data_file"], spec["name"], TrainOptions.from_dict(spec["options"]),
                                n, schema=schema, data_name=spec.get("data_name"), overwrite=bool(spec.get("overwrite")),
                                adapter_mode=spec.get("adapter_mode"), on_member=member,
                                should_stop=run.stop_requested)
        except CrossroadsError as exc:
            # a member cancelled on the page (its own Cancel button) cancels the group too
            state = "cancelled" if run.stop_requested() or " cancelled:" in str(exc) else "failed"
            run.finish(state, error=str(exc), hint=getattr(exc, "hint", None))
            return
        run.finish("completed", step=n, result={"group": group["name"], "members": group["members"]},
                   message=f"Seed group {group['name']!r}: {n} adapters.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Crossroads seed-group worker")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="accepted for the job protocol; starts over")
    _worker(parser.parse_args().run_dir)
    sys.exit(0)
