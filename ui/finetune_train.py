"""Fine-tune page, steps 5 and 6: estimate, start, follow and resume a run; the adapters list."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from core.runtime import jobs
from core.runtime.errors import CrossroadsError
from core.runtime.text import md_escape
from core.training import adapters, finetune, seeds
from core.training.trainer_setup import complete_checkpoints
from ui import finetune_views as views
from ui.common import show_error


def slug(text: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:40] or "adapter")


def _estimate(choice, options, data, settings) -> float | None:
    est_id = st.session_state.get("ft_estimate")
    if st.button("Estimate time and memory", icon=":material/timer:", disabled=not data.ok,
                 help="Runs a few real training steps in the background and measures them."):
        try:
            est_id = finetune.start_estimate(choice.path, options, schema=choice.schema, settings=settings).id
            st.session_state["ft_estimate"] = est_id
        except CrossroadsError as exc:
            show_error(exc)
    est_job = None
    if est_id:
        try:
            est_job = jobs.get(est_id, settings)
        except CrossroadsError:
            est_job = None
    if est_job is not None:
        @st.fragment(run_every="1s" if est_job.active else None)
        def _follow():
            job = jobs.get(est_job.id, settings)
            views.estimate_view(job)
            if est_job.active and not job.active:
                st.rerun()
        _follow()
        if est_job.state == "completed":
            return (est_job.status.get("result") or {}).get("total_seconds")
    return None


def _seeds_input(seconds: float | None, settings) -> int:
    """"Repeat with N seeds": 3 for the bundled model when three runs fit the budget; the cost shown first."""
    from core.runtime.settings import BUNDLED_GENERATOR

    default = seeds.default_seeds(seconds) if settings.generator == BUNDLED_GENERATOR else 1
    n = int(st.number_input("Repeat with N seeds", 1, seeds.MAX_SEEDS, default, key="ft_seeds",
                            help="Trains N adapters that differ only in seed (data order, LoRA init; one held-out "
                                 "split), named NAME-s1…sN and grouped as NAME. Evaluate runs every seed, so a "
                                 "fine-tune's effect counts only when it beats the noise between training runs."))
    if seconds:
        st.caption(f":material/schedule: {n} × {views.fmt_seconds(seconds)} ≈ **{views.fmt_seconds(n * seconds)}** "
                   "of training (from the estimate above).")
    elif n > 1:
        st.caption(":material/schedule: Estimate time first to see what N seeds cost.")
    return n


def train_section(choice, preset: str, options, data, draft: dict, settings, adapter_mode: dict | None = None):
    """Estimate + adapter name + Start. Returns (the active job or None, the adapter name).
    `adapter_mode`: the training mode for the adapter's meta (ui/raft_view.py)."""
    active = jobs.active_job("train", settings)
    if choice is None or data is None:
        return active, None
    n_seeds = _seeds_input(_estimate(choice, options, data, settings), settings)
    default_name = draft.get("adapter_name") or slug(f"{Path(choice.display_name).stem}-{preset}")
    name = st.text_input("Adapter name", value=default_name, key=f"ft_adapter_name_{choice.sha}",
                         help="Letters, digits, '.', '_' or '-'.")
    reason = ""
    if not data.ok:
        reason = f"Fix the data first: {data.report.reason()}"
    elif active is not None or jobs.active_job(seeds.KIND, settings) is not None:
        reason = f"A training run is in progress ({(active or jobs.active_job(seeds.KIND, settings)).id}); one at a time."
    if st.button("Start training", type="primary", icon=":material/rocket_launch:", disabled=bool(reason),
                 help=reason or None):
        try:
            if n_seeds > 1:  # a coordinator job trains the members one after another (core/training/seeds.py)
                seeds.start_seed_group(choice.path, name, options, n_seeds, schema=choice.schema,
                                       data_name=choice.display_name, settings=settings, adapter_mode=adapter_mode)
                st.rerun()
            job = finetune.start_finetune(choice.path, name, options, schema=choice.schema,
                                          data_name=choice.display_name, settings=settings,
                                          adapter_mode=adapter_mode)
            st.session_state["ft_run"] = job.id
            active = job
        except CrossroadsError as exc:
            show_error(exc)
    if reason:
        st.caption(md_escape(reason))
    return active, name


def run_section(active, settings) -> None:
    group_job = jobs.active_job(seeds.KIND, settings)
    if group_job is not None:  # the member in training shows below as an ordinary run
        st.info(f"Seed group: {md_escape(group_job.status.get('message', ''))}", icon=":material/repeat:")
    run = active or views.latest_run()
    if run is None:
        st.caption("No training run yet in this workspace.")
        return

    @st.fragment(run_every="1s" if run.active else None)
    def _run_panel(job_id: str):
        try:
            job = jobs.get(job_id, settings)
        except CrossroadsError as exc:
            show_error(exc)
            return
        views.run_panel(job)
        c1, c2, _ = st.columns([1, 1, 4])
        if job.active and c1.button("Cancel run", icon=":material/stop_circle:", key=f"cancel_{job.id}"):
            jobs.cancel(job.id, settings)
        resumable = job.state in ("interrupted", "cancelled", "failed") and complete_checkpoints(job.run_dir)
        if resumable and c2.button("Resume", icon=":material/play_arrow:", key=f"resume_{job.id}",
                                   help="Continue from the last complete checkpoint."):
            try:
                jobs.resume(job.id, settings)
                st.rerun()
            except CrossroadsError as exc:
                show_error(exc)
        if st.session_state.get("ft_run_was_active") and not job.active:
            st.session_state["ft_run_was_active"] = False
            st.rerun()  # the whole page: the adapter list and the Start button change
        st.session_state["ft_run_was_active"] = job.active

    with st.container(border=True):
        _run_panel(run.id)


def adapters_section(settings) -> None:
    every = adapters.list_adapters(settings)
    only_active = st.toggle(f"Only the active model's adapters ({settings.model_name})", value=True, key="ft_only_active",
                            help="Adapters of another base model are refused on this one; switch models on the Models page.")
    records = [r for r in every if r.base_name in (settings.model_name, "?")] if only_active else every
    if every and not records:
        st.caption(f"No adapter of {md_escape(settings.model_name)} yet ({len(every)} of other base models: "
                   "turn the filter off to see them).")
    elif not records:
        st.caption("No adapters yet: train one above, or import a zip below.")
    else:
        views.adapters_table(records)
        names = [r.name for r in records]
        pick = st.selectbox("Adapter", names, key="ft_adapter_pick")
        c1, c2, c3 = st.columns([2, 1, 1])
        new_name = c1.text_input("New name", value=pick, key=f"ft_rename_{pick}", label_visibility="collapsed")
        if c2.button("Rename", key="ft_rename_btn", disabled=new_name == pick):
            try:
                adapters.rename(pick, new_name, settings)
                st.rerun()
            except CrossroadsError as exc:
                show_error(exc)
        try:
            c3.download_button("Download zip", data=adapters.export_zip(pick, settings), file_name=f"{pick}.zip",
                               mime="application/zip", icon=":material/download:", key="ft_download")
        except CrossroadsError as exc:
            show_error(exc)

        @st.dialog("Delete adapter")
        def _confirm_delete(name: str):
            st.write(f"Delete adapter **{md_escape(name)}**? This cannot be undone.")
            if st.button("Delete", type="primary", key="ft_delete_confirm"):
                adapters.delete(name, settings)
                st.rerun()

        if st.button("Delete…", key="ft_delete_btn", icon=":material/delete:"):
            _confirm_delete(pick)

    with st.expander("Import an adapter zip"):
        st.caption("Safetensors only (a pickle .bin is refused unopened); checked against the base model "
                   f"({md_escape(settings.model_name)}) and for finite weights.")
        zip_upload = st.file_uploader("Adapter zip", type=["zip"], key="ft_zip", max_upload_size=200)
        zip_name = st.text_input("Name for the imported adapter", key="ft_zip_name",
                                 value=slug(Path(zip_upload.name).stem) if zip_upload else "")
        if st.button("Import", disabled=zip_upload is None, key="ft_import"):
            try:
                record = adapters.import_zip(zip_upload.getvalue(), name=zip_name or None, settings=settings)
                st.success(f"Imported **{md_escape(record.name)}**.")
                st.rerun()
            except CrossroadsError as exc:
                show_error(exc)
