"""Train: pick data and a model, train in the background with a live ELBO chart, stop, use or save."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import cache, jobs, model_view, state, workspace
from ui.components.live_training import live_training
from ui.dataset_report import show_dataset_report
from ui.navigation import page_header
from ui.replay_view import replay_view
from ui.session_keys import TRAIN_JOB, TRAIN_OFFERED
from ui.settings import settings
from ui.training_history import history_figure
from ui.widgets import describe, image_rows
from vae_core.background import Progress
from vae_core.checkpoint import Checkpoint, DatasetInfo
from vae_core.data import DATASETS, DEFAULT_IMAGE_SIZE, datasets_in_roots
from vae_core.errors import DatasetError, VAEError
from vae_core.eta import format_duration
from vae_core.models import VAEConfig
from vae_core.roots import DataRoots
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob

POLL_SECONDS = 1.0
TRAIN_DEFAULTS, MODEL_DEFAULTS = TrainConfig(), VAEConfig()
ARCHIVE_KEY = "train_archive"


def folder_options_ui(path: str, roots: DataRoots | None) -> dict:
    """Size and colour of an image folder's images, and its loading report once it has a path."""
    side = VAEConfig.IMAGE_SIDE
    size = st.number_input("Image size (pixels)", side.low, side.high, DEFAULT_IMAGE_SIZE, key="train_image_size")
    grayscale = st.checkbox("Grayscale", True, key="train_grayscale")
    options = {"path": path, "size": int(size), "grayscale": grayscale}
    if path:
        try:
            show_dataset_report(cache.dataset("folder", options, roots))
        except VAEError as exc:
            st.error(f"{exc}.")
    return options


def typed_dataset_ui() -> tuple[str, dict]:
    """Local mode: any registered dataset, from a folder the user types, downloaded if asked."""
    name = st.selectbox("Dataset", list(DATASETS), index=list(DATASETS).index("mnist"), key="train_dataset")
    if name == "digits":
        return name, {}
    if name == "folder":
        return name, folder_options_ui(st.text_input("Image folder (subfolders become classes)",
                                                     key="train_folder").strip(), None)
    root = st.text_input("Data folder (torchvision layout; empty: this repository's data/, which bundles MNIST)",
                         key="train_data_root").strip()
    download = st.checkbox("Download if missing", False, key="train_download")
    return name, {"root": root or None, "download": download}


def _on_archive() -> None:
    upload = st.session_state[ARCHIVE_KEY]
    if upload is None:
        return
    try:
        extracted = workspace.add_uploaded_dataset(upload.name, upload.getvalue())
    except VAEError as exc:
        state.flash("error", f"Archive not used: {exc}.")
        return
    st.session_state[TRAIN_OFFERED] = extracted.folder.name
    state.flash("success", f"{extracted.images:,} images extracted into your dataset '{extracted.folder.name}'"
                           + (f" ({extracted.skipped} other files left out)" if extracted.skipped else "") + ".")


def _offered_label(name: str, options: dict, own: Path | None) -> str:
    if name != "folder":
        return name
    path = Path(options["path"])
    return f"your upload: {path.name}" if own is not None and path.parent == own else f"image folder: {path.name}"


def offered_dataset_ui() -> tuple[str, dict]:
    """Shared mode: the datasets of the server's data roots and the visitor's uploaded archives, by name only."""
    roots, own = state.data_roots(), workspace.current()
    offered = {_offered_label(name, options, own and own.data): (name, options)
               for name, options in datasets_in_roots(roots)}
    uploads = [label for label in offered if label.startswith("your upload: ")]
    if st.session_state.get(TRAIN_OFFERED):  # an archive just extracted: choose it
        st.session_state["train_dataset"] = f"your upload: {st.session_state.pop(TRAIN_OFFERED)}"
    label = st.selectbox("Dataset", list(offered), key="train_dataset",
                         index=list(offered).index("mnist") if "mnist" in offered else 0)
    st.file_uploader(f"...or upload your images as a zip or tar archive (subfolders become classes; max "
                     f"{state.MAX_UPLOAD_MB} MB; you keep {len(uploads)} of at most "
                     f"{settings().uploaded_datasets_per_owner})", type=["zip", "tar", "gz", "tgz", "bz2", "xz"],
                     key=ARCHIVE_KEY, on_change=_on_archive)
    name, options = offered[label]
    return (name, folder_options_ui(options["path"], roots)) if name == "folder" else (name, options)


def dataset_ui() -> tuple[str, dict]:
    return offered_dataset_ui() if settings().shared else typed_dataset_ui()


def model_ui() -> tuple[dict, str]:
    """The model settings, and the hidden sizes as typed (parsed when Start is pressed)."""
    architecture = st.selectbox("Architecture", VAEConfig.ARCHITECTURES, key="train_architecture")
    latent = VAEConfig.LATENT_DIM
    latent_dim = st.number_input("Latent dimensions", latent.low, latent.high, MODEL_DEFAULTS.latent_dim,
                                 key="train_latent_dim")
    default_hidden = " ".join(map(str, VAEConfig.DEFAULT_HIDDEN_DIMS[architecture]))
    hidden = st.text_input("Hidden sizes (MLP widths or conv channels)", default_hidden,
                           key=f"train_hidden_{architecture}")
    likelihood = st.selectbox("Likelihood p(x|z)", VAEConfig.LIKELIHOODS, key="train_likelihood")
    beta = st.number_input("beta (KL weight; 1 is a true VAE)", VAEConfig.BETA.low, VAEConfig.BETA.high,
                           MODEL_DEFAULTS.beta, key="train_beta")
    conditional = st.checkbox("Conditional VAE (encoder and decoder also see the class)", key="train_conditional")
    return {"architecture": architecture, "latent_dim": int(latent_dim), "likelihood": likelihood,
            "beta": float(beta), "conditional": conditional}, hidden


def parse_sizes(text: str) -> tuple[int, ...]:
    if not text.replace(",", " ").replace(" ", "").isdigit():
        raise ValueError(f"hidden sizes must be whole numbers separated by spaces, got {text!r}")
    return tuple(int(v) for v in text.replace(",", " ").split())


def training_ui() -> dict:
    left, right = st.columns(2)
    c, d = TrainConfig, TRAIN_DEFAULTS
    epochs = left.number_input("Epochs", c.EPOCHS.low, c.EPOCHS.high, d.epochs, key="train_epochs")
    batch_size = right.number_input("Batch size", c.BATCH_SIZE.low, c.BATCH_SIZE.high, d.batch_size,
                                    key="train_batch_size")
    lr = left.number_input("Learning rate", c.LEARNING_RATE.low, c.LEARNING_RATE.high, d.learning_rate,
                           format="%.4f", key="train_lr")
    warmup = right.number_input("KL warm-up (epochs)", c.KL_WARMUP_EPOCHS.low, c.KL_WARMUP_EPOCHS.high,
                                d.kl_warmup_epochs, key="train_kl_warmup")
    seed = left.number_input("Seed", c.SEED.low, c.SEED.high, d.seed, key="train_seed")
    return {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(lr),
            "kl_warmup_epochs": float(warmup), "seed": int(seed)}


def start_job(checkpoint: Checkpoint, resume: bool, choice: tuple[str, dict], model_kwargs: dict, hidden: str,
              train_settings: dict) -> WorkerTrainingJob:
    """The run to queue (its worker loads the data again); raises VAEError / ValueError with a message for the
    user."""
    train_config = TrainConfig(**train_settings)
    if resume:  # the checkpoint's own dataset, reloaded the one safe way (its stored options are not trusted)
        view = model_view.current()
        if view.problem is not None:
            raise view.problem
        stem = f"{Path(checkpoint.dataset.name).name}-continued"
        return jobs.new_run(DatasetInfo.of(view.dataset), train_config, stem, view.roots,
                            resume=state.current_model().data)
    name, options = choice
    if name == "folder" and not options["path"]:
        raise ValueError("enter the path of a folder of png/jpg images")
    roots = state.data_roots() if settings().shared else None  # local mode: the user's typed path, as it is
    dataset = cache.dataset(name, options, roots)
    n_classes = len(dataset.class_names) if model_kwargs.pop("conditional", False) else 0
    config = VAEConfig(image_shape=dataset.image_shape, hidden_dims=parse_sizes(hidden), n_classes=n_classes,
                       **model_kwargs)
    stem = f"{Path(dataset.name).name}-{config.latent_dim}d-{config.architecture}"
    return jobs.new_run(DatasetInfo.of(dataset), train_config, stem, roots, model_config=config)


def settings_and_start() -> None:
    """Read the settings; on Start, load the data, start the job in the background and show it."""
    checkpoint = state.current_checkpoint()
    resume = st.checkbox(f"Continue training the current model ({describe(checkpoint)})", key="train_resume")
    data_col, model_col, train_col = st.columns(3)
    with data_col:
        choice = (checkpoint.dataset.name, {}) if resume else dataset_ui()
    with model_col:
        model_kwargs, hidden = ({}, "") if resume else model_ui()
    with train_col:
        train_settings = training_ui()
    if not st.button("Start training", type="primary", key="train_start"):
        return
    try:
        jobs.submit_training(start_job(checkpoint, resume, choice, model_kwargs, hidden, train_settings))
    except (VAEError, ValueError) as exc:
        can_download = isinstance(exc, DatasetError) and (exc.fix or {}).get("download") and not settings().shared
        hint = " (here: tick 'Download if missing')" if can_download else ""
        st.error(f"Cannot start training: {exc}{hint}. Fix the setting and press Start again.")
        return
    st.rerun()


def draw_job(job: WorkerTrainingJob, progress: Progress) -> None:
    rate, steps_left = progress.steps_per_second, progress.total_steps - progress.steps_done
    eta = f" · about {format_duration(steps_left / rate)} left" if rate > 0 and progress.running else ""
    st.progress(progress.fraction, text=f"epoch {progress.epoch} · step {progress.steps_done:,} of "
                                         f"{progress.total_steps:,} · {progress.steps_per_second:.0f} steps/s{eta}")
    if progress.running:
        live_training(progress, job.dataset.class_names, key="train_live")
    else:
        st.plotly_chart(history_figure(progress), key="train_chart")
    try:
        x, x_recon, samples = job.previews()
    except VAEError:  # the run ended (or failed) since this poll began: the next one shows how
        return
    st.caption("Live from the weights so far: test images (the classes in turn), their reconstructions, and "
               "fixed prior samples decoded.")
    image_rows({"test images": x, "reconstructions": x_recon, "prior samples": samples}, size=72)


def stop_button(job: WorkerTrainingJob, waiting: bool) -> None:
    label = "Remove from the queue" if waiting else "Stop (keeps the model trained so far)"
    if st.button(label, key="train_stop"):
        jobs.stop(job)
        st.rerun()


@st.fragment(run_every=jobs.QUEUED_POLL_SECONDS)
def waiting_view() -> None:
    """A queued run's place in the queue; polled slowly, since a class's waiting pages would share the CPU with the
    run that trains."""
    job: WorkerTrainingJob = st.session_state[TRAIN_JOB]
    if not jobs.waits(job):
        st.rerun()  # the whole page switches to the live view (or the results)
    job.keep_alive()
    waiting = jobs.queue_status(job)
    stop_button(job, waiting=waiting is not None)
    st.info(f"Training {waiting or 'starting: its worker is loading the data'}. Heavy jobs take turns on this "
            "server; this page follows the run once it starts.")


@st.fragment(run_every=POLL_SECONDS)
def live_view() -> None:
    """Redraws only this part every poll, so the worker trains on and the rest of the app stays usable."""
    job: WorkerTrainingJob = st.session_state[TRAIN_JOB]
    if not job.running:
        st.rerun()  # the whole page switches to the results view
    job.keep_alive()
    stop_button(job, waiting=False)
    if job.autosave is not None:
        st.caption(f"Autosaved to {workspace.checkpoint_name(job.autosave)} after an epoch, at most every "
                   f"{job.config.autosave_every_s:g} s: if the server stops, pick it under Autosaved runs in the "
                   "sidebar.")
    draw_job(job, job.progress())


def save_ui(job: WorkerTrainingJob) -> None:
    where = "your models" if settings().shared else "checkpoints/user/"
    name = st.text_input(f"Save as (in {where})", job.default_name(), key="train_save_name")
    overwrite = st.session_state.get("train_overwrite", False)
    try:
        path = workspace.save_path(name, overwrite)
    except VAEError as exc:
        st.error(f"{exc}.")
        return
    clash = path.exists()
    overwrite = clash and st.checkbox(f"Replace the existing {path.name}", key="train_overwrite")
    if clash and not overwrite:
        st.warning(f"{path.name} already exists: tick the box to replace it, or choose another name.")
    if st.button("Save", key="train_save", disabled=clash and not overwrite):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            job.save(path, overwrite=overwrite)
        except (VAEError, OSError) as exc:
            st.error(f"Not saved: {exc}")
            return
        state.saved_as(job.default_name(), path)
        state.flash("success", f"Saved {path.name}; it is now in the sidebar's checkpoint list.")
        st.rerun()  # the sidebar, drawn before this page, lists the new file only on a new run


def results_view(job: WorkerTrainingJob) -> None:
    progress = job.progress()
    if progress.error:
        st.error(f"{progress.error}. Try other settings and start again.")
        return
    show = {"completed": st.success, "stopped": st.info}.get(progress.finished.reason, st.warning)
    show(f"Training {progress.finished.reason}: {progress.finished.message}")
    if not job.has_model:  # it ended before it trained (e.g. abandoned while it waited in the queue)
        return
    use_col, save_col = st.columns(2)
    if use_col.button("Use this model now", type="primary", key="train_use"):
        state.set_current_model(state.unsaved_name(job.default_name()), job.checkpoint_bytes(), trusted=True)
        state.flash("success", "This is now the current model on every page.")
        st.rerun()  # the sidebar, drawn before this page, shows the new model only on a new run
    with save_col:
        save_ui(job)
    draw_job(job, progress)
    st.subheader("How the latent space formed")
    replay_view(progress.replay, job.dataset.class_names, progress.test, key="train_replay")


def main() -> None:
    page_header("Train a VAE",
                "Training runs in the background: switch pages freely and come back. The chart shows the two "
                "terms of the ELBO as they change: reconstruction (higher is better) and KL to the prior.")
    job = jobs.session_job()
    if job is not None and job.running:
        waiting_view() if jobs.waits(job) else live_view()
        return
    if job is not None:
        results_view(job)
    with st.expander("New training run", expanded=job is None):
        settings_and_start()
    if job is None:
        checkpoint = state.current_checkpoint()
        with st.expander(f"How the current model's latent space formed ({describe(checkpoint)})"):
            replay_view(checkpoint.replay, checkpoint.dataset.class_names, checkpoint.history["test"],
                        key="train_model_replay")


main()
