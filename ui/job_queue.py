"""The job queue's policy, without Streamlit: at most `max_running` heavy jobs at once, the rest wait first come
first served, except that short jobs somebody watches (a map, an evaluation) go before the training runs that
wait; one training run per owner; where a waiting job stands and about when it starts.

Jobs are `vae_core.workers.WorkerJob`s: the queue starts one (`start(threads)`) when a slot frees and hears of
its end through `on_end`. Stopping a waiting job ends it at once, and it leaves the queue. The owner is an opaque
string (ui.jobs passes the session's token).
"""

from __future__ import annotations

import heapq
import os
import threading
from dataclasses import dataclass, field
from typing import ClassVar

from vae_core.errors import VAEError
from vae_core.limits import Range, check
from vae_core.workers import WorkerJob

TRAINING = "training"
QUEUE_ENV = "VAE_MAX_JOBS"  # overrides the default number of jobs running at once


class QueueError(VAEError):
    """A job the queue refuses (e.g. a second training run for one session)."""


def default_max_running(cores: int | None = None) -> int:
    """As many jobs at once as the machine has cores, one thread each (`threads_per_job`). Workers run niced, so
    the server's own threads (every visitor's sliders) still come first.

    The Train page's models train faster on one thread than on two (a two-thread team waits for whichever of its
    threads was descheduled), so on 2 cores two runs at once, one thread each, train about twice what one run on
    both cores does: 338 against 144 steps/s outside the app, and 0.93 against 0.73 of one run alone in the
    classroom benchmark (benchmarks/RESULTS.md, "The class with the live view in the browser")."""
    env = os.environ.get(QUEUE_ENV)
    if env:
        return int(env)
    return max(1, cores or os.cpu_count() or 1)


@dataclass(frozen=True)
class QueueConfig:
    MAX_RUNNING: ClassVar[Range] = Range(1, 1024)

    max_running: int = field(default_factory=default_max_running)
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    def __post_init__(self):
        check([(self.MAX_RUNNING.contains(self.max_running),
                f"max_running must be {self.MAX_RUNNING}, got {self.max_running}")])

    @property
    def threads_per_job(self) -> int:
        """The cores a running job may use: the machine's, shared by the jobs that may run at once (one each by
        default; the server's threads keep the priority: workers run niced)."""
        return max(1, self.cores // self.max_running)


@dataclass
class _Entry:
    job: WorkerJob
    owner: str
    kind: str


class JobQueue:
    def __init__(self, config: QueueConfig | None = None):
        self.config = config or QueueConfig()
        self._lock = threading.Lock()
        self._waiting: list[_Entry] = []
        self._running: list[_Entry] = []

    def submit(self, job: WorkerJob, owner: str, kind: str) -> WorkerJob:
        """Queue `job` (it starts at once if a slot is free); refuses a second training run for one owner."""
        entry = _Entry(job, owner, kind)
        with self._lock:
            if kind == TRAINING:
                self._refuse_a_second_training(owner)
                self._waiting.append(entry)
            else:  # ahead of the waiting training runs: a run takes minutes, a map or an evaluation seconds
                first_run = next((i for i, other in enumerate(self._waiting) if other.kind == TRAINING),
                                 len(self._waiting))
                self._waiting.insert(first_run, entry)
        job.on_end(self._ended)
        self._dispatch()
        return job

    def _refuse_a_second_training(self, owner: str) -> None:
        for entry in self._running + self._waiting:
            if entry.owner == owner and entry.kind == TRAINING and entry.job.running:
                where = "is training" if entry in self._running else \
                    f"waits in the queue (position {self._waiting.index(entry) + 1})"
                raise QueueError("this session already has a training run, which " + where +
                                 ": stop it before starting another")

    def position(self, job: WorkerJob) -> int | None:
        """1 for the next job to start; None once it has started (or left the queue)."""
        with self._lock:
            for i, entry in enumerate(self._waiting):
                if entry.job is job:
                    return i + 1
        return None

    def estimated_start(self, job: WorkerJob) -> float | None:
        """Seconds until a waiting job should start, from the running jobs' progress (0 if it is next and a slot
        is free); None while a running or waiting job ahead cannot say how long it takes."""
        with self._lock:
            running = [entry.job for entry in self._running]
            ahead = []
            for entry in self._waiting:
                if entry.job is job:
                    break
                ahead.append(entry.job)
            else:
                return None
        return _first_free_slot(running, ahead, self.config.max_running)

    def counts(self) -> tuple[int, int]:
        """(running, waiting)."""
        with self._lock:
            return len(self._running), len(self._waiting)

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stop every job, waiting ones first (so none starts), and wait for them to end."""
        with self._lock:
            entries = self._waiting[:] + self._running[:]
        for entry in entries:
            entry.job.stop()
        for entry in entries:
            entry.job.join(timeout)

    def _dispatch(self) -> None:
        """Start waiting jobs while slots are free (the process starts outside the lock)."""
        while True:
            with self._lock:
                self._waiting = [entry for entry in self._waiting if entry.job.running]
                if len(self._running) >= self.config.max_running or not self._waiting:
                    return
                entry = self._waiting.pop(0)
                self._running.append(entry)
            entry.job.start(self.config.threads_per_job)

    def _ended(self, job: WorkerJob) -> None:
        with self._lock:
            self._running = [entry for entry in self._running if entry.job is not job]
            self._waiting = [entry for entry in self._waiting if entry.job is not job]
        self._dispatch()


def _first_free_slot(running: list[WorkerJob], ahead: list[WorkerJob], slots: int) -> float | None:
    """When a slot frees for the job behind `ahead`, each job ahead taking one as it frees."""
    durations = [job.duration_seconds() for job in running]
    known = [d for d in durations if d is not None]
    typical = sum(known) / len(known) if known else None  # a waiting job's length, guessed from those running
    free_at = [job.remaining_seconds() for job in running]
    if any(t is None for t in free_at):
        return None
    free_at += [0.0] * (slots - len(free_at))
    heapq.heapify(free_at)
    for job in ahead:
        duration = job.duration_seconds() or typical
        if duration is None:
            return None
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(0.0, free_at[0])
