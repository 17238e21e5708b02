"""Projections of a whole split, computed once server-wide in the background and kept on disk.

Interface (the scatter page polls it from an `st.fragment(run_every=...)`):
- `request(view, split, params, retry=False) -> ProjectionRun` returns at once. Direct and PCA are computed
  on the spot (milliseconds); t-SNE and UMAP come from the disk store (`vae_core.projection.ProjectionStore`,
  reopening is instant) or from one worker-process job per (checkpoint sha256, split, params.key()) shared by
  every session that asks; the finished map is written to the store. `retry=True` starts a failed run again.
- `ProjectionRun`: `fraction` (0..1), `message` (its place in the queue while it waits), `result` (a `Projection`
  once done), `error` (a clear sentence, never a traceback), `done`, `from_disk`.
The jobs wait their turn in the server's job queue (ui.jobs.queue) with the training runs, so t-SNEs asked by
several sessions on a small server neither starve the app nor each other.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from vae_core.projection import Projection, ProjectionParams, ProjectionStore, compute, warm_up_umap
from vae_core.workers import WorkerCall, without_progress

from . import jobs
from .cache import disk_store
from .model_view import ModelView

logger = logging.getLogger(__name__)

MAPS_POOL = "projections"  # the t-SNE/UMAP workers: one kept warm, its imports and compiled kernels with it
MAX_KEPT_RUNS = 32  # finished runs kept in memory (their maps are also on disk); oldest dropped first


@dataclass
class ProjectionRun:
    key: tuple[str, str, str]  # (checkpoint sha256, split, params.key())
    params: ProjectionParams
    fraction: float = 0.0
    message: str = "waiting to start"
    result: Projection | None = None
    error: str | None = None
    from_disk: bool = False
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None  # how long the computation took, once done
    job: WorkerCall | None = field(default=None, repr=False)  # its worker job, while queued or computing

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def report(self, fraction: float, message: str) -> None:
        self.fraction, self.message = max(self.fraction, min(1.0, fraction)), message


def store() -> ProjectionStore:
    return ProjectionStore(disk_store("projections").root)


PROJECTIONS_OWNER = "projections"  # projections are shared by every session that asks: the server owns them


@st.cache_resource
def _registry() -> tuple[dict[tuple[str, str, str], ProjectionRun], threading.Lock]:
    """Server-wide: the runs by key and the lock guarding that dict."""
    return {}, threading.Lock()


def request(view: ModelView, split: str, params: ProjectionParams, retry: bool = False) -> ProjectionRun:
    """The run of this projection of a model's split: finished (computed now, or read from disk) or in progress in
    the background."""
    key = (view.sha256, split, params.key())
    if params.info.places_points:  # linear maps: fast enough to compute while the page draws
        run = ProjectionRun(key, params, fraction=1.0, message="done")
        try:
            run.result = view.projection(params, split)
        except ValueError as exc:
            run.error = str(exc)
        return run
    runs, runs_lock = _registry()
    with runs_lock:
        run = runs.get(key)
        if run is not None and not (retry and run.error is not None):
            return _with_queue_place(run)
    cached = store().get(view.sha256, split, params)
    if cached is not None:
        return _remember(ProjectionRun(key, params, 1.0, "done (from the disk cache)", cached, from_disk=True,
                                       seconds=0.0))
    mu, labels = view.encodings(split)[0], view.labels(split)
    run = ProjectionRun(key, params)
    with runs_lock:
        if key in runs and not (retry and runs[key].error is not None):
            return runs[key]  # another session started it meanwhile
        _remember(run, locked=True)
    # In its own process the map may use the cores the queue gives it (the worker caps BLAS/OpenMP to those).
    run.job = WorkerCall(f"vae-projection {key[2]}", compute, (mu, params),
                         {"labels": labels, "threads": os.cpu_count() or 1},
                         on_progress=run.report, warm_pool=MAPS_POOL)
    run.job.on_end(functools.partial(_finish, run))
    run.message = "waiting for the server's map worker to start (once per server)"
    # After the warm-up, whose worker (umap-learn imported, kernels compiled) the map then reuses: a map asked
    # for meanwhile would otherwise compile the same kernels in a second worker on the same cores.
    warm_up_maps().on_end(lambda _: jobs.queue().submit(run.job, PROJECTIONS_OWNER, params.method))
    return _with_queue_place(run)


def _with_queue_place(run: ProjectionRun) -> ProjectionRun:
    """While the run waits in the queue, its message says where it stands."""
    job = run.job
    if job is not None and job.queued:
        run.message = jobs.queue_status(job) or run.message
    return run


def _remember(run: ProjectionRun, locked: bool = False) -> ProjectionRun:
    runs, runs_lock = _registry()
    if not locked:
        with runs_lock:
            return _remember(run, locked=True)
    finished = [key for key, other in runs.items() if other.done]
    for key in finished[: max(0, len(runs) - MAX_KEPT_RUNS + 1)]:
        del runs[key]
    runs[run.key] = run
    return run


def _finish(run: ProjectionRun, job: WorkerCall) -> None:
    """When its worker job ends: write the map to disk, or turn the failure into a sentence for the page."""
    sha256, split, _ = run.key
    exc = job.exception
    if exc is None:
        run.message = _save(sha256, split, run.params, job.result)
        run.result = job.result
    elif isinstance(exc, ImportError):
        run.error = (f"{run.params.method} needs a package that is not installed ({exc.name}): "
                     "pip install -r requirements.txt")
    else:
        logger.error("projection %s failed: %s: %s", run.key, type(exc).__name__, exc)
        run.error = f"the {run.params.method} projection failed: {exc}"
    run.seconds = job.ended_at - job.started_at if job.started_at is not None else 0.0
    run.job = None


def _save(sha256: str, split: str, params: ProjectionParams, result: Projection) -> str:
    """Write a finished map to the disk cache; a failed write only costs the next server a recomputation."""
    try:
        store().put(sha256, split, params, result)
        return "done"
    except OSError as exc:
        logger.warning("projection %s not saved to disk: %s", params.key(), exc)
        return f"done (not saved to disk: {exc})"


@st.cache_resource
def warm_up_maps() -> WorkerCall:
    """Once per server, at the first page view: a worker of the maps' pool imports umap-learn and compiles (or
    reads from numba's disk cache) its kernels, then waits in the pool, so the first map asked for pays for
    neither. Outside the queue: a training run started meanwhile should not wait for it."""
    job = WorkerCall("vae-projection warm-up", without_progress, (warm_up_umap,), warm_pool=MAPS_POOL)
    return job.start(jobs.queue().config.threads_per_job)
