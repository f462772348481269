"""Fine-tune: labeled data -> validation + prompt preview -> options + estimate -> background LoRA run -> adapters."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import streamlit as st

from core.runtime import jobs
from core.runtime.errors import CrossroadsError
from core.runtime.settings import get_settings
from core.training import adapters, chat_format, data_files, datasets, finetune
from core.training.schema import ALIASES, KIND_TITLES, KINDS, Schema, detect_schema
from core.training.trainer_setup import complete_checkpoints
from ui import finetune_views as views
from ui.common import get_generator, show_error

ROOT = Path(__file__).resolve().parent.parent
DEMO_SETS = {
    "Support tickets — classification (demo/tickets.csv)": ROOT / "demo" / "tickets.csv",
    "Brindlemoor facts — Q&A (demo/qa_train.jsonl)": ROOT / "demo" / "qa_train.jsonl",
}
OPTION_ORDER = ("rank", "alpha", "dropout", "learning_rate", "epochs", "batch_size", "grad_accum",
                "max_length", "eval_fraction", "seed", "max_steps", "warmup_steps")
MODULE_CHOICES = finetune.ALL_LINEAR
MAX_UPLOAD_MB = 50

st.title("🎛️ Fine-tune")
st.caption("Teach the base model with your own labeled examples: a LoRA adapter trained in the background, "
           "with the loss computed on the answers only.")
settings = get_settings()


@st.cache_data(show_spinner="Validating…", max_entries=8)
def _validate(path: str, sha: str, name: str, kind: str | None, mapping: tuple, max_length: int, _tokenizer):
    schema = Schema.of(kind, dict(mapping)) if kind else None
    data = datasets.load_labeled(Path(path), name=name,
                                 schema=schema, tokenizer=_tokenizer, max_length=max_length)
    previews = chat_format.preview(data, _tokenizer, max_length, n=3) if data.rows else []
    return data, previews


def _slug(text: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:40] or "adapter")


# ---------------------------------------------------------------------------------------------
# 1 · Data

st.subheader("1 · Labeled data")
left, right = st.columns([3, 2])
with left:
    upload = st.file_uploader("Upload CSV, JSONL or JSON", type=["csv", "jsonl", "json"], key="ft_upload",
                              max_upload_size=MAX_UPLOAD_MB,
                              help="Columns: question/answer, instruction/input/output, prompt/completion, "
                                   "chat `messages`, or text/label for classification.")
with right:
    st.write("")
    if st.button("Load demo workspace", icon="🧪", help="Use the demo Q&A and classification sets in demo/."):
        st.session_state["ft_source"] = "demo"
    if st.session_state.get("ft_source") == "demo":
        st.radio("Demo set", list(DEMO_SETS), key="ft_demo_choice")

data_path: Path | None = None
display_name = ""
if upload is not None:
    try:
        raw = upload.getvalue()
        data_path = data_files.store_upload(raw, upload.name, settings)
        display_name = upload.name
        st.session_state["ft_source"] = "upload"
    except CrossroadsError as exc:
        show_error(exc)
elif st.session_state.get("ft_source") == "demo":
    choice = st.session_state.get("ft_demo_choice") or next(iter(DEMO_SETS))
    data_path, display_name = DEMO_SETS[choice], DEMO_SETS[choice].name

data = None
options = None
if data_path is None:
    st.info("Upload a labeled file, or click **Load demo workspace**.", icon="📄")
else:
    try:
        raw = data_path.read_bytes()
        records, columns, _ = data_files.read_records(raw, data_path.name)
        detected = detect_schema(columns)
    except CrossroadsError as exc:
        show_error(exc)
        st.stop()
    sha = hashlib.sha256(raw).hexdigest()

    with st.expander(f"Format: **{KIND_TITLES[detected.kind] if detected else 'not detected'}** "
                     f"· columns {', '.join(columns)} — change the mapping", expanded=detected is None):
        kinds = list(KINDS)
        kind = st.selectbox("Data format", kinds, index=kinds.index(detected.kind) if detected else 0,
                            format_func=lambda k: KIND_TITLES[k], key=f"ft_kind_{sha}")
        required, optional = KINDS[kind]
        mapping = {}
        map_cols = st.columns(len(required + optional))
        for col, role in zip(map_cols, required + optional, strict=True):
            default = (detected.mapping.get(role) if detected and detected.kind == kind else None)
            default = default or next((c for c in columns if c.lower() in ALIASES[role]), None)
            choices = ([""] if role in optional else []) + list(columns)
            mapping[role] = col.selectbox(f"{role} column", choices,
                                          index=choices.index(default) if default in choices else 0,
                                          key=f"ft_map_{sha}_{kind}_{role}")
    schema = Schema.of(kind, {r: c for r, c in mapping.items() if c})

    # -----------------------------------------------------------------------------------------
    # 2 · Options (chosen before validation: max length decides truncation)
    st.subheader("2 · Options")
    preset = st.segmented_control("Preset", list(finetune.PRESETS), default="quick", key="ft_preset",
                                  format_func=str.title) or "quick"
    st.caption(finetune.PRESET_HELP[preset])
    base = finetune.PRESETS[preset]
    values = {}
    with st.expander("Advanced LoRA and training options"):
        cols = st.columns(4)
        for i, name in enumerate(OPTION_ORDER):
            current = getattr(base, name)
            kwargs = {"help": finetune.option_help(name), "key": f"ft_opt_{preset}_{name}"}
            with cols[i % 4]:
                if isinstance(current, float):
                    if name == "learning_rate":
                        values[name] = st.number_input("learning rate", value=current, min_value=1e-7, format="%.1e",
                                                       step=1e-4, **kwargs)
                    elif name == "eval_fraction":
                        values[name] = st.number_input("eval split", value=current, min_value=0.0, max_value=0.5,
                                                       step=0.05, **kwargs)
                    else:
                        values[name] = st.number_input(name.replace("_", " "), value=current, min_value=0.0,
                                                       step=0.5 if name == "epochs" else 0.05, **kwargs)
                else:
                    values[name] = int(st.number_input(name.replace("_", " "), value=current, min_value=0, step=1,
                                                       **kwargs))
        values["target_modules"] = tuple(st.multiselect(
            "target modules", MODULE_CHOICES, default=list(base.target_modules), key=f"ft_opt_{preset}_modules",
            help=finetune.option_help("target_modules")))
    options = replace(base, **values)

    tokenizer = get_generator()[1]
    try:
        options.check()
        data, previews = _validate(str(data_path), sha, display_name, schema.kind, tuple(sorted(schema.mapping.items())),
                                   options.max_length, tokenizer)
    except CrossroadsError as exc:
        show_error(exc)
        st.stop()

    st.subheader("3 · Validation")
    views.validation_report(data)
    if previews:
        st.subheader("4 · What the model sees")
        st.caption("The exact training text of the first rows, chat template applied.")
        views.prompt_preview(previews)

# ---------------------------------------------------------------------------------------------
# 5 · Run

st.subheader("5 · Train")
active = jobs.active_job("train", settings)
if data is not None and options is not None:
    est_id = st.session_state.get("ft_estimate")
    if st.button("Estimate time and memory", icon="⏱️", disabled=not data.ok,
                      help="Runs a few real training steps in the background and measures them."):
        try:
            est_job = finetune.start_estimate(data_path, options, schema=schema, settings=settings)
            st.session_state["ft_estimate"] = est_id = est_job.id
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
        def _estimate():
            job = jobs.get(est_job.id, settings)
            views.estimate_view(job)
            if est_job.active and not job.active:
                st.rerun()
        _estimate()

    name = st.text_input("Adapter name", value=_slug(f"{Path(display_name).stem}-{preset}"), key=f"ft_adapter_name_{sha}",
                         help="Letters, digits, '.', '_' or '-'.")
    reason = ""
    if not data.ok:
        reason = f"Fix the data first: {data.report.reason()}"
    elif active is not None:
        reason = f"A training run is in progress ({active.id}); one run at a time."
    if st.button("Start training", type="primary", icon="🚀", disabled=bool(reason), help=reason or None):
        try:
            job = finetune.start_finetune(data_path, name, options, schema=schema, data_name=display_name,
                                          settings=settings)
            st.session_state["ft_run"] = job.id
            active = job
        except CrossroadsError as exc:
            show_error(exc)
    if reason:
        st.caption(reason)

run = active or views.latest_run()
if run is None:
    st.caption("No training run yet in this workspace.")
else:
    @st.fragment(run_every="1s" if run.active else None)
    def _run_panel(job_id: str):
        try:
            job = jobs.get(job_id, settings)
        except CrossroadsError as exc:
            show_error(exc)
            return
        views.run_panel(job)
        c1, c2, _ = st.columns([1, 1, 4])
        if job.active and c1.button("Cancel run", icon="⏹️", key=f"cancel_{job.id}"):
            jobs.cancel(job.id, settings)
        resumable = job.state in ("interrupted", "cancelled", "failed") and complete_checkpoints(job.run_dir)
        if resumable and c2.button("Resume", icon="▶️", key=f"resume_{job.id}",
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

# ---------------------------------------------------------------------------------------------
# 6 · Adapters

st.subheader("6 · Adapters")
records = adapters.list_adapters(settings)
if not records:
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
                           mime="application/zip", icon="⬇️", key="ft_download")
    except CrossroadsError as exc:
        show_error(exc)

    @st.dialog("Delete adapter")
    def _confirm_delete(name: str):
        st.write(f"Delete adapter **{name}**? This cannot be undone.")
        if st.button("Delete", type="primary", key="ft_delete_confirm"):
            adapters.delete(name, settings)
            st.rerun()

    if st.button("Delete…", key="ft_delete_btn", icon="🗑️"):
        _confirm_delete(pick)

with st.expander("Import an adapter zip"):
    st.caption("Safetensors only (a pickle .bin is refused unopened); checked against the base model "
               f"({settings.generator}) and for finite weights.")
    zip_upload = st.file_uploader("Adapter zip", type=["zip"], key="ft_zip", max_upload_size=200)
    zip_name = st.text_input("Name for the imported adapter", key="ft_zip_name",
                             value=_slug(Path(zip_upload.name).stem) if zip_upload else "")
    if st.button("Import", disabled=zip_upload is None, key="ft_import"):
        try:
            record = adapters.import_zip(zip_upload.getvalue(), name=zip_name or None, settings=settings)
            st.success(f"Imported **{record.name}**.")
            st.rerun()
        except CrossroadsError as exc:
            show_error(exc)
