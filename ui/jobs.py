"""Heavy jobs: the server-wide queue, each session's training run found again by its token, its status on every page.

Training runs and t-SNE/UMAP maps run in worker processes, at most a few at once (ui.job_queue, the policy);
a session has at most one training run, queued or training, and one per beta of its beta sweep (ui.sweep), each
under an owner key of its own that starts with the session's token. A run belongs to the visitor that started it: the
visitor's secret owner token (ui.workspace, also the key to its files) rides in the URL (`?ws=`) of every page, so a
browser reload on any page finds the run again, and a stranger without the token never sees it. Every page keeps a
run alive (`keep_alive`) by polling its status in the sidebar; a run no session polls any more is stopped by the
server's watchdog (ui.abandon).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import streamlit as st
import torch

from vae_core.checkpoint import DatasetInfo
from vae_core.errors import VAEError
from vae_core.eta import format_duration
from vae_core.roots import DataRoots
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob
from vae_core.workers import WorkerCall, warm_up, without_progress

from . import workspace
from .abandon import Watchdog
from .job_queue import TRAINING, JobQueue
from .session_keys import TRAIN_JOB
from .settings import settings
from .state import flash

MAX_KEPT_JOBS = 16  # finished jobs kept findable by their token, oldest dropped first
STATUS_POLL_SECONDS = 2.0
QUEUED_POLL_SECONDS = 3.0  # a waiting run's pages poll slower: in a class most pages wait, one trains
SHARED_WORK = "server"  # the owner of jobs every session may share (evaluations), as opposed to a visitor's run
EVALUATION = "evaluation"
SWEEP_KEY = "/sweep/beta="  # a sweep run's owner key: the session's token, this, its beta


@st.cache_resource
def queue() -> JobQueue:
    """Server-wide: every session's heavy jobs take turns here."""
    return JobQueue()


@st.cache_resource
def prepare_workers() -> None:
    """Once per server, at the first page view: the workers' forkserver imports torch before the first job waits."""
    warm_up()


@st.cache_resource
def _watchdog() -> Watchdog:
    """Server-wide: ends the runs no page has shown for the settings' limit, queued or training."""
    return Watchdog(settings().abandon)


@st.cache_resource
def _registry() -> dict[str, WorkerTrainingJob]:
    """Server-wide: a reload starts a new session, which finds its job again by the URL's token."""
    return {}


def owner() -> str:
    """This visitor's owner token: the owner of its jobs, and the key that finds its run again after a reload."""
    return workspace.owner_token(create=True)


def run_in_worker(name: str, function: Callable[..., Any], *args, **kwargs) -> Any:
    """`function(*args, **kwargs)` (one that reports no progress) as a job of the queue, in a worker process;
    waits its turn and its end, and returns its result. Raises VAEError with what went wrong."""
    job = WorkerCall(name, without_progress, (function, *map(_copy_of_tensors, args)),
                     {key: _copy_of_tensors(value) for key, value in kwargs.items()})
    queue().submit(job, SHARED_WORK, EVALUATION)
    job.join()
    if job.exception is not None:
        raise VAEError(f"{name} failed: {job.exception}")
    return job.result


def _copy_of_tensors(value: Any) -> Any:
    """Tensors and modules as copies: sending a tensor to a process moves its storage into shared memory in place,
    which leaves numpy views of the original (a page's labels, say) pointing at freed memory."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    return copy.deepcopy(value) if isinstance(value, torch.nn.Module) else value


def new_run(dataset: DatasetInfo, train_config: TrainConfig, stem: str, roots: DataRoots | None,
            **kwargs) -> WorkerTrainingJob:
    """A run to queue, autosaved in this visitor's workspace (a file named after `stem`) unless `kwargs` say where."""
    autosave = kwargs.pop("autosave", None) or workspace.new_autosave_path(stem)
    return WorkerTrainingJob(dataset, train_config, autosave=autosave, roots=roots, **kwargs)


def submit_training(job: WorkerTrainingJob, owner_key: str | None = None) -> None:
    """Queue `job` as this session's run (the owner token, in the URL, finds it again), or as another of its runs
    under `owner_key` (`sweep_key`); raises QueueError if that key already has a run queued or training."""
    key = owner_key or owner()
    queue().submit(job, key, TRAINING)
    _watchdog().watch(job)
    jobs = _registry()
    finished = [other_key for other_key, other in jobs.items() if not other.running and other_key != key]
    for other_key in finished[: max(0, len(jobs) - MAX_KEPT_JOBS + 1)]:
        del jobs[other_key]
    jobs[key] = job
    if owner_key is None:
        st.session_state[TRAIN_JOB] = job


def sweep_key(beta: float) -> str:
    """The owner key of this session's sweep run with `beta`: one run per key, and the token finds them all."""
    return f"{owner()}{SWEEP_KEY}{beta:g}"


def _sweep_entries() -> list[tuple[str, WorkerTrainingJob]]:
    """(owner key, run) of this session's sweep runs (found again by the URL's token after a reload): never
    another's."""
    token = workspace.owner_token()
    prefix = f"{token}{SWEEP_KEY}"
    return [(key, job) for key, job in list(_registry().items()) if token is not None and key.startswith(prefix)]


def sweep_jobs() -> dict[float, WorkerTrainingJob]:
    """This session's sweep runs by beta."""
    return dict(sorted((float(key.rpartition(SWEEP_KEY)[2]), job) for key, job in _sweep_entries()))


def forget_sweep() -> None:
    """Drop this session's ended sweep runs (a new sweep replaces them)."""
    for key, job in _sweep_entries():
        if not job.running:
            _registry().pop(key, None)


def forget_job() -> None:
    """Drop this session's run (one that left the queue before it started has nothing to show)."""
    job = st.session_state.pop(TRAIN_JOB, None)
    if _registry().get(owner()) is job:
        del _registry()[owner()]


def session_job() -> WorkerTrainingJob | None:
    """This session's job, or the one its owner token (from the URL after a reload) names: never another's."""
    token = workspace.owner_token()  # also puts it back in the URL, which a page switch drops
    if TRAIN_JOB not in st.session_state and token is not None:
        job = _registry().get(token)
        if job is not None:
            st.session_state[TRAIN_JOB] = job
    return st.session_state.get(TRAIN_JOB)


def queue_status(job) -> str | None:
    """"queued: position 2, starts in about 3 min" while `job` waits; None once it runs."""
    position = queue().position(job)
    if position is None:
        return None
    seconds = queue().estimated_start(job)
    when = ("starts when a running job ends" if seconds is None
            else "starts in a moment" if seconds < 1 else f"starts in about {format_duration(seconds)}")
    return f"queued: position {position}, {when}"


def stop(job: WorkerTrainingJob) -> None:
    """Stop one of this session's runs: a queued one leaves the queue (the session's own run also leaves the
    session), a training one keeps its model."""
    was_queued = job.queued
    job.stop()
    job.join(timeout=30)
    if was_queued and st.session_state.get(TRAIN_JOB) is job:
        forget_job()
        flash("info", "Removed from the queue before it started.")


def waits(job: WorkerTrainingJob) -> bool:
    """Queued, or its worker still loading the data: nothing trained to show yet."""
    return job.running and (job.queued or job.preparing)


def sidebar_status() -> None:
    """On every page but Train while this session's job runs: its progress and a Stop button (keeping it alive)."""
    job = session_job()  # also puts the owner token back in the URL, so a reload on this page finds the run
    if job is not None and job.running:
        with st.sidebar:
            _waiting_status() if waits(job) else _training_status()


def sweep_keep_alive() -> None:
    """On every page while this session's beta sweep runs: polls its runs, so that none is taken as abandoned."""
    if any(job.running for job in sweep_jobs().values()):
        with st.sidebar:
            _sweep_status()


@st.fragment(run_every=QUEUED_POLL_SECONDS)
def _sweep_status() -> None:
    running = [job for job in sweep_jobs().values() if job.running]
    if not running:
        st.rerun()
    for job in running:
        job.keep_alive()
    st.caption(f"Beta sweep: {len(running)} of {len(sweep_jobs())} runs to go (see the Compare page).")


@st.fragment(run_every=QUEUED_POLL_SECONDS)
def _waiting_status() -> None:
    job = st.session_state.get(TRAIN_JOB)
    if job is None or not waits(job):
        st.rerun()  # the whole page redraws without this poll
    job.keep_alive()
    st.progress(0.0, text=f"Training {queue_status(job) or 'starting: loading the data'}")
    _stop_button(job)


@st.fragment(run_every=STATUS_POLL_SECONDS)
def _training_status() -> None:
    job = st.session_state.get(TRAIN_JOB)
    if job is None or not job.running:
        st.rerun()
    job.keep_alive()
    progress = job.progress()
    st.progress(progress.fraction, text=f"Training · epoch {progress.epoch} · step {progress.steps_done:,} of "
                                        f"{progress.total_steps:,}")
    _stop_button(job)


def _stop_button(job: WorkerTrainingJob) -> None:
    if st.button("Stop training (keeps the model so far)", key="app_stop_training"):
        stop(job)
        st.rerun()
