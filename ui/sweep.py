"""A beta sweep started from the Compare page: one Train-page run per beta (same data, architecture, seed and
epochs) in the job queue, each under its own owner key (`jobs.sweep_key`), so the runs take turns like any others
and a reload finds them again by the session's token. Each run autosaves into the visitor's models as
`<dataset>-sweep-beta<b>`: the file it ends with is a checkpoint in the picker, ready to compare."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import streamlit as st

from vae_core.checkpoint import Checkpoint, DatasetInfo
from vae_core.data import Dataset, datasets_in_roots
from vae_core.errors import ConfigError, VAEError
from vae_core.limits import check
from vae_core.models import VAEConfig
from vae_core.roots import DataRoots
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob

from . import cache, jobs, state, workspace
from .comparison import MODELS_KEY
from .settings import settings

DEFAULT_DATASET = "mnist"  # when no model is chosen yet


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep trains: one run per beta; every other setting is the Train page's default."""

    MAX_BETAS: ClassVar[int] = 4

    betas: tuple[float, ...] = (0.5, 1.0, 4.0)
    epochs: int = 5
    seed: int = TrainConfig.seed

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(sorted(float(beta) for beta in self.betas)))
        check([(1 <= len(self.betas) <= self.MAX_BETAS,
                f"a sweep trains 1 to {self.MAX_BETAS} betas, got {len(self.betas)}"),
               (len(set(self.betas)) == len(self.betas), "give each beta once"),
               *[(VAEConfig.BETA.contains(beta), f"each beta must be in {VAEConfig.BETA}, got {beta:g}")
                 for beta in self.betas],
               (TrainConfig.EPOCHS.contains(self.epochs), f"epochs must be {TrainConfig.EPOCHS}, got {self.epochs}"),
               (TrainConfig.SEED.contains(self.seed), f"the seed must be {TrainConfig.SEED}, got {self.seed}")])

    @classmethod
    def parse(cls, betas: str, epochs: int, seed: int) -> SweepConfig:
        """From the form's text ("0.5, 1, 4"); ConfigError says what is wrong."""
        words = [word for word in re.split(r"[\s,;]+", betas) if word]
        try:
            values = tuple(float(word) for word in words)
        except ValueError:
            raise ConfigError(f"betas must be numbers separated by commas, like \"0.5, 1, 4\"; got {betas!r}") from None
        return cls(values, int(epochs), int(seed))

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, seed=self.seed)


def checkpoint_stem(dataset: str, beta: float) -> str:
    return f"{Path(dataset).name}-sweep-beta{beta:g}"


def dataset_of(first: Checkpoint | None) -> tuple[Dataset, DataRoots | None]:
    """The dataset of the first chosen model, reloaded the one safe way, else MNIST (inside the data roots when
    shared); raises VAEError when it cannot be loaded."""
    if first is not None:
        roots = state.dataset_roots(first)
        return cache.checkpoint_dataset(first, roots), roots
    roots = state.data_roots() if settings().shared else None
    options = dict(datasets_in_roots(roots)).get(DEFAULT_DATASET, {}) if roots is not None else {}
    return cache.dataset(DEFAULT_DATASET, options, roots), roots


def start(config: SweepConfig, dataset: Dataset, roots: DataRoots | None, model: VAEConfig) -> None:
    """Queue one run of `model` per beta; VAEError when a sweep of this session still runs, or (shared mode) its
    checkpoints would pass the visitor's limit of saved models."""
    if any(job.running for job in jobs.sweep_jobs().values()):
        raise VAEError("this session's beta sweep is still running: stop it before starting another")
    paths = workspace.save_paths([checkpoint_stem(dataset.name, beta) for beta in config.betas], overwrite=True)
    jobs.forget_sweep()
    info = DatasetInfo.of(dataset)
    for beta, path in zip(config.betas, paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        job = jobs.new_run(info, config.train_config(), path.stem, roots, autosave=path,
                           model_config=dataclasses.replace(model, beta=beta))
        jobs.submit_training(job, jobs.sweep_key(beta))


def state_of(job: WorkerTrainingJob) -> str:
    """"queued: position 2, ...", "loading the data", "training: epoch 1, 40%", "saved as ..." or why it ended."""
    if jobs.waits(job):
        return jobs.queue_status(job) or "loading the data"
    progress = job.progress()
    if job.running:
        return f"training: epoch {progress.epoch}, {progress.fraction:.0%}"
    if progress.error:
        return progress.error
    if job.has_model and job.autosave.exists():
        return f"{progress.finished.reason}, saved as {workspace.checkpoint_name(job.autosave)}"
    return progress.finished.message


def saved_names(runs: dict[float, WorkerTrainingJob]) -> list[str]:
    """The picker names of the sweep's checkpoints, by beta, once every run has ended."""
    if any(job.running for job in runs.values()):
        return []
    return [workspace.checkpoint_name(job.autosave) for job in runs.values() if job.has_model
            and job.autosave.exists()]


def model_like(first: Checkpoint | None, choice: str, dataset: Dataset) -> VAEConfig:
    """The first chosen model's architecture (`choice` "first"), else the Train page's defaults for `dataset`."""
    return first.config if choice == "first" and first is not None else VAEConfig(image_shape=dataset.image_shape)


def form(first: Checkpoint | None, first_name: str | None) -> None:
    """The sweep's settings; on Start, queue its runs (or say why not)."""
    defaults, c = SweepConfig(), TrainConfig
    on = first.dataset.name if first is not None else DEFAULT_DATASET
    whose = "the first chosen model's dataset" if first is not None else "no model chosen yet"
    with st.form("compare_sweep"):
        st.caption(f"On {on} ({whose}): one run per beta in the job queue, each saved in your models as "
                   f"`{checkpoint_stem(on, 1.0).removesuffix('1')}<b>` as it ends.")
        betas = st.text_input(f"Betas (at most {SweepConfig.MAX_BETAS}, in {VAEConfig.BETA})",
                              ", ".join(f"{beta:g}" for beta in defaults.betas), key="compare_sweep_betas")
        left, right = st.columns(2)
        epochs = left.number_input("Epochs", c.EPOCHS.low, c.EPOCHS.high, defaults.epochs, key="compare_sweep_epochs")
        seed = right.number_input("Seed", c.SEED.low, c.SEED.high, defaults.seed, key="compare_sweep_seed")
        labels = {"train": "the Train page's defaults"} | ({"first": f"as {first_name}"} if first else {})
        choice = st.radio("Architecture", list(labels), format_func=labels.get, horizontal=True,
                          key="compare_sweep_architecture")
        if not st.form_submit_button("Start the sweep", type="primary"):
            return
    try:
        config = SweepConfig.parse(betas, epochs, seed)
        dataset, roots = dataset_of(first)
        start(config, dataset, roots, model_like(first, choice, dataset))
    except VAEError as exc:
        st.error(f"Sweep not started: {exc}.")
        return
    st.rerun()


def status() -> None:
    """Each run of this session's sweep: polled while any runs; then a button to compare what they saved."""
    runs = jobs.sweep_jobs()
    if any(job.running for job in runs.values()):
        _running()
    elif runs:
        for beta, job in runs.items():
            st.caption(f"beta {beta:g}: {state_of(job)}")
        names = saved_names(runs)
        if len(names) >= 2:
            st.button("Compare the sweep's models", key="compare_sweep_compare",
                      on_click=st.session_state.__setitem__, args=(MODELS_KEY, names[:SweepConfig.MAX_BETAS]))


@st.fragment(run_every=jobs.STATUS_POLL_SECONDS)
def _running() -> None:
    runs = jobs.sweep_jobs()
    if not any(job.running for job in runs.values()):
        st.rerun()  # the whole page: the picker lists the new checkpoints
    for beta, job in runs.items():
        job.keep_alive()
        st.progress(job.progress().fraction if not jobs.waits(job) else 0.0, text=f"beta {beta:g}: {state_of(job)}")
    if st.button("Stop the sweep (each run keeps what it trained)", key="compare_sweep_stop"):
        for job in runs.values():
            jobs.stop(job)
        st.rerun()


def section(names: list[str], files: dict[str, Path]) -> None:
    """The Compare page's sweep: its runs' states, and the form in an expander."""
    status()
    first = None
    if names:
        try:
            first = cache.checkpoint(files[names[0]].read_bytes())
        except (VAEError, OSError):
            pass  # the comparison below says why it cannot be read
    with st.expander("Train a beta sweep"):
        form(first, names[0] if first is not None else None)
