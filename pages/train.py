"""Train: pick data and a model, train in a background thread with a live ELBO chart, stop, use or save."""

from __future__ import annotations

import secrets
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages import common
from vae_core.background import Progress, TrainingJob, start_training
from vae_core.checkpoint import checkpoint_path
from vae_core.data import DATASETS
from vae_core.errors import VAEError
from vae_core.models import ARCHITECTURES, LIKELIHOODS, VAEConfig
from vae_core.train import TrainConfig

JOB_KEY = "train_job"  # the job belongs to this session and outlives page switches and reruns
RUN_PARAM = "run"  # ?run=<token> in the URL finds the job again after a browser reload
MAX_KEPT_JOBS = 16
POLL_SECONDS = 1.0
MAX_CHART_POINTS = 600  # per train series; long runs are thinned so each poll stays a small message
SERIES = [("recon", 1, common.CLASS_COLORS[0]), ("elbo", 1, common.CLASS_COLORS[2]), ("kl", 2, common.CLASS_COLORS[1])]


@st.cache_resource
def _jobs_by_token() -> dict[str, TrainingJob]:
    """Server-wide: a reload starts a new session, so its job is found again by the URL's secret token."""
    return {}


def remember_job(job: TrainingJob) -> None:
    jobs = _jobs_by_token()
    for token in [t for t, j in jobs.items() if not j.running][: max(0, len(jobs) - MAX_KEPT_JOBS + 1)]:
        del jobs[token]
    token = secrets.token_urlsafe(12)
    jobs[token] = job
    st.session_state[JOB_KEY] = job
    st.query_params[RUN_PARAM] = token


def session_job() -> TrainingJob | None:
    """This session's job, or the one named by the URL after a reload (never another session's by accident)."""
    if JOB_KEY not in st.session_state and RUN_PARAM in st.query_params:
        job = _jobs_by_token().get(st.query_params[RUN_PARAM])
        if job is not None:
            st.session_state[JOB_KEY] = job
    return st.session_state.get(JOB_KEY)


def default_data_root() -> str:
    return "../shared/data" if Path("../shared/data").is_dir() else "data"


def dataset_ui() -> tuple[str, dict]:
    name = st.selectbox("Dataset", list(DATASETS), key="train_dataset")
    if name == "digits":
        return name, {}
    if name == "folder":
        path = st.text_input("Image folder (subfolders become classes)", key="train_folder").strip()
        size = st.number_input("Image size (pixels)", 4, 256, 28, key="train_image_size")
        grayscale = st.checkbox("Grayscale", True, key="train_grayscale")
        return name, {"path": path, "size": int(size), "grayscale": grayscale}
    root = st.text_input("Data folder (torchvision layout)", default_data_root(), key="train_data_root")
    download = st.checkbox("Download if missing", False, key="train_download")
    return name, {"root": root, "download": download}


def model_ui() -> tuple[dict, str]:
    """The model settings, and the hidden sizes as typed (parsed when Start is pressed)."""
    architecture = st.selectbox("Architecture", ARCHITECTURES, key="train_architecture")
    latent_dim = st.number_input("Latent dimensions", 1, 128, 2, key="train_latent_dim")
    hidden = st.text_input("Hidden sizes (MLP widths or conv channels)", "256 128", key="train_hidden")
    likelihood = st.selectbox("Likelihood p(x|z)", LIKELIHOODS, key="train_likelihood")
    beta = st.number_input("beta (KL weight; 1 is a true VAE)", 0.0, 100.0, 1.0, key="train_beta")
    return {"architecture": architecture, "latent_dim": int(latent_dim), "likelihood": likelihood,
            "beta": float(beta)}, hidden


def parse_sizes(text: str) -> tuple[int, ...]:
    if not text.replace(",", " ").replace(" ", "").isdigit():
        raise ValueError(f"hidden sizes must be whole numbers separated by spaces, got {text!r}")
    return tuple(int(v) for v in text.replace(",", " ").split())


def training_ui() -> dict:
    left, right = st.columns(2)
    epochs = left.number_input("Epochs", 1, 10_000, 20, key="train_epochs")
    batch_size = right.number_input("Batch size", 1, 65_536, 64, key="train_batch_size")
    lr = left.number_input("Learning rate", 1e-5, 1.0, 2e-3, format="%.4f", key="train_lr")
    warmup = right.number_input("KL warm-up (epochs)", 0.0, 1000.0, 0.0, key="train_kl_warmup")
    seed = left.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
    return {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(lr),
            "kl_warmup_epochs": float(warmup), "seed": int(seed)}


def settings_and_start() -> None:
    """Read the settings; on Start, load the data, start the job in the background and show it."""
    checkpoint = common.current_checkpoint()
    resume = st.checkbox(f"Continue training the current model ({common.describe(checkpoint)})", key="train_resume")
    data_col, model_col, train_col = st.columns(3)
    with data_col:
        choice = (checkpoint.dataset.name, checkpoint.dataset.options) if resume else dataset_ui()
    with model_col:
        model_kwargs, hidden = ({}, "") if resume else model_ui()
    with train_col:
        train_settings = training_ui()
    if not st.button("Start training", type="primary", key="train_start"):
        return
    try:
        if choice[0] == "folder" and not choice[1]["path"]:
            raise ValueError("enter the path of a folder of png/jpg images")
        dataset = common.load_dataset_cached(*choice)
        if resume:
            job = start_training(dataset, TrainConfig(**train_settings), resume=checkpoint)
        else:
            config = VAEConfig(image_shape=dataset.image_shape, hidden_dims=parse_sizes(hidden), **model_kwargs)
            job = start_training(dataset, TrainConfig(**train_settings), config)
    except (VAEError, ValueError) as exc:
        st.error(f"Cannot start training: {exc}. Fix the setting and press Start again.")
        return
    remember_job(job)
    st.rerun()


def history_figure(progress: Progress) -> go.Figure:
    """Recon and ELBO on top, KL below (it is ~100x smaller): train per step (thin), test per epoch (bold)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.6, 0.4],
                        subplot_titles=("Reconstruction E[log p(x|z)] and ELBO (nats)", "KL(q(z|x) || p(z)) (nats)"))
    train = progress.train_points(MAX_CHART_POINTS)
    for key, row, color in SERIES:
        fig.add_trace(go.Scattergl(x=[r["step"] for r in train], y=[r[key] for r in train], name=f"train {key}",
                                   mode="lines", line={"color": color, "width": 1}, opacity=0.5), row=row, col=1)
        fig.add_trace(go.Scatter(x=[r["step"] for r in progress.test], y=[r[key] for r in progress.test],
                                 name=f"test {key}", mode="lines+markers", line={"color": color, "width": 3}),
                      row=row, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(height=460, margin={"t": 40, "b": 40}, legend={"orientation": "h"}, uirevision="train")
    return fig


def draw_job(job: TrainingJob, progress: Progress) -> None:
    st.progress(progress.fraction, text=f"epoch {progress.epoch} · step {progress.steps_done:,} of "
                                         f"{progress.total_steps:,} · {progress.steps_per_second:.0f} steps/s")
    st.plotly_chart(history_figure(progress), key="train_chart")  # a stable key updates in place, no blank remount
    x, x_recon, samples = job.previews()
    for title, images in [("Test images", x), ("Reconstructions", x_recon), ("Prior samples", samples)]:
        st.caption(title)
        common.show_images(images, size=72)


@st.fragment(run_every=POLL_SECONDS)
def live_view() -> None:
    """Redraws only this part every poll, so the thread trains on and the rest of the app stays usable."""
    job: TrainingJob = st.session_state[JOB_KEY]
    if not job.running:
        st.rerun()  # the whole page switches to the results view
    if st.button("Stop (keeps the model trained so far)", key="train_stop"):
        job.stop()
        job.join(timeout=30)
        st.rerun()
    draw_job(job, job.progress())


def save_ui(job: TrainingJob) -> None:
    name = st.text_input("Save as (in checkpoints/)", job.default_name(), key="train_save_name")
    try:
        path = checkpoint_path(common.CHECKPOINT_DIR, name)
    except VAEError as exc:
        st.error(f"{exc}.")
        return
    clash = path.exists() and st.session_state.get("train_saved_path") != str(path)
    overwrite = clash and st.checkbox(f"Replace the existing {path.name}", key="train_overwrite")
    if clash and not overwrite:
        st.warning(f"{path.name} already exists: tick the box to replace it, or choose another name.")
    if st.button("Save", key="train_save", disabled=clash and not overwrite):
        try:
            job.save(path, overwrite=overwrite or not clash)
        except VAEError as exc:
            st.error(f"Not saved: {exc}")
            return
        st.session_state["train_saved_path"] = str(path)
        st.success(f"Saved {path.name}; it is now in the sidebar's checkpoint list.")


def results_view(job: TrainingJob) -> None:
    progress = job.progress()
    if progress.error:
        st.error(f"{progress.error}. Try other settings and start again.")
        return
    show = {"completed": st.success, "stopped": st.info, "diverged": st.warning}[progress.finished.reason]
    show(f"Training {progress.finished.reason}: {progress.finished.message}")
    use_col, save_col = st.columns(2)
    if use_col.button("Use this model now", type="primary", key="train_use"):
        common.set_current_model(f"{job.default_name()} (unsaved)", job.checkpoint_bytes())
        use_col.success("This is now the current model on every page.")
    with save_col:
        save_ui(job)
    draw_job(job, progress)


def main() -> None:
    st.title("Train a VAE")
    st.caption("Training runs in the background: switch pages freely and come back. The chart shows the two "
               "terms of the ELBO as they change: reconstruction (higher is better) and KL to the prior.")
    job = session_job()
    if job is not None and job.running:
        live_view()
        return
    if job is not None:
        results_view(job)
    with st.expander("New training run", expanded=job is None):
        settings_and_start()


main()
