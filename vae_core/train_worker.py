"""A training run in a worker process, read on the server as a TrainingJob is (both are a `TrainingRun`).

The server sends the worker what to train, never tensors: the dataset's name and loading options (the worker
loads it through `DatasetInfo.load`), the configs, or a checkpoint file's bytes to continue. In the worker a
`TrainingJob` trains in its thread and autosaves itself, so a server that dies loses nothing that was saved; the
worker's main thread streams the rows of the trainer's events to the server every ROWS_EVERY_S and answers
requests for the weights (previews, saving) between two steps.

Messages, worker -> server: ("ready", _Ready) once the data is loaded; ("rows", train, test, epoch, replay or
None) as the run goes; ("weights", id, payload or None, error) on request; ("end", train, test, epoch, replay,
finished, error, final payload or None); ("failed", message) when the run could not start.
Server -> worker: ("alive",), ("stop",), ("weights", id, with_adam).
A weights payload is torch.save's bytes of {state, adam, epoch, train_rows, test_rows} (read back with
weights_only=True): plain bytes through the pipe, no shared memory to leak.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import torch

from .background import JobConfig, Progress, TrainingJob, TrainingRun, Weights
from .checkpoint import DatasetInfo, load_checkpoint_bytes
from .errors import TrainingError, VAEError
from .models import VAEConfig
from .replay import FormationReplay
from .roots import DataRoots
from .train import FinishedEvent, TrainConfig, build_trainer
from .workers import WorkerJob, send

logger = logging.getLogger(__name__)

ROWS_EVERY_S = 0.1  # how often the worker sends new rows: a UI polling every second sees at most this old a run
WEIGHTS_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class _Request:
    """What the worker trains: everything a spawned process needs, nothing it could share by reference."""

    dataset: DatasetInfo
    train_config: TrainConfig
    model_config: VAEConfig | None
    resume: bytes | None  # a checkpoint file to continue
    command: str | None
    job_config: JobConfig
    autosave: Path | None
    roots: DataRoots | None  # where the dataset may be read (None: as its options say, a trusted local run)


@dataclass(frozen=True)
class _Ready:
    dataset: DatasetInfo
    model_config: VAEConfig
    preview_x: np.ndarray
    preview_y: np.ndarray
    first_step: int
    total_steps: int
    epoch: int
    train: list[dict]
    test: list[dict]
    replay: FormationReplay | None


class WorkerTrainingJob(WorkerJob, TrainingRun):
    """A run trained by a worker process once a queue starts it (`start(threads)`); until then it waits, queued.

    `dataset` is the DatasetInfo to load, inside `roots` when given (vae_core.roots; None: as its options say, for
    a trusted local run); `resume` a checkpoint file's bytes to continue (its own dataset is then `dataset`)."""

    def __init__(self, dataset: DatasetInfo, train_config: TrainConfig, model_config: VAEConfig | None = None,
                 resume: bytes | None = None, command: str | None = None, job_config: JobConfig | None = None,
                 autosave: str | Path | None = None, roots: DataRoots | None = None):
        WorkerJob.__init__(self, f"vae-training {dataset.name}")
        self.dataset, self.command, self.config = dataset, command, job_config or JobConfig()
        self.autosave = Path(autosave) if autosave else None
        self._request = _Request(dataset, train_config, model_config, resume, command, self.config, self.autosave,
                                 roots)
        self._model_config, self._train_config = model_config, train_config
        self._preview_x = self._preview_y = None
        self._rows = threading.Lock()
        self._train, self._test, self._epoch, self._first_step = [], [], 0, 0
        self._replay: FormationReplay | None = None
        self._total_steps = 0  # until the worker has loaded the data and knows the steps per epoch
        self._finished: FinishedEvent | None = None
        self._error: str | None = None
        self._final: Weights | None = None
        self._started = self._ended = 0.0
        self._seen = time.monotonic()
        self._send_lock = threading.Lock()
        self._replies: dict[int, tuple[bytes | None, str | None]] = {}
        self._replied = threading.Condition()
        self._request_ids = itertools.count()

    # --- the WorkerJob side: what the queue and the page call ---------------------------------------------------

    def start(self, threads: int = 1) -> WorkerTrainingJob:
        unseen = time.monotonic() - self._seen
        if self.queued and unseen >= self.config.abandon_after_s:
            self._end(FinishedEvent("abandoned", f"abandoned before it started: no page showed this run for "
                                                 f"{unseen:.0f} s while it waited in the queue"), None, None)
            return self
        super().start(threads)
        return self

    def keep_alive(self) -> None:
        """Say that a UI still shows this run; without a call for config.abandon_after_s it stops itself."""
        self._seen = time.monotonic()
        if self.started:
            self._send(("alive",))

    def stop(self) -> None:
        """A queued run leaves the queue; a training one stops before its next step, keeping its weights."""
        super().stop()
        if self.started:
            self._send(("stop",))

    @property
    def preparing(self) -> bool:
        """Started, and its worker still loading the data."""
        return self.started and self.running and self._preview_x is None

    @property
    def has_model(self) -> bool:
        """Whether there are weights to show or save: it is training, or it ended with its final weights."""
        return self._final is not None or (self.running and self.started and not self.preparing)

    def remaining_seconds(self) -> float | None:
        progress = self.progress()
        if not self.started or progress.steps_per_second <= 0:
            return None
        return (progress.total_steps - progress.steps_done) / progress.steps_per_second

    def progress(self) -> Progress:
        progress = super().progress()
        if self._started == 0.0:  # not training yet: no rate to report
            return dataclasses.replace(progress, steps_per_second=0.0)
        return progress

    def weights(self, with_adam: bool) -> Weights:
        if self.queued or self.preparing:
            raise TrainingError("this run has not started training yet: nothing is trained so far")
        if self.running:
            payload = self._ask_for_weights(with_adam)
            if payload is not None:
                return payload
        if self._final is None:
            raise TrainingError(f"{self._error}; the weights may be half-updated, so there is nothing to save")
        return self._final

    def _ask_for_weights(self, with_adam: bool) -> Weights | None:
        """The worker's weights between two steps; None if the run ended first (its final weights are kept)."""
        request_id = next(self._request_ids)
        if not self._send(("weights", request_id, with_adam)):
            return None
        with self._replied:
            answered = self._replied.wait_for(lambda: request_id in self._replies or not self.running,
                                              WEIGHTS_TIMEOUT_S)
            payload, error = self._replies.pop(request_id, (None, None))
        if not answered:
            raise TrainingError(f"the training worker did not send its weights within {WEIGHTS_TIMEOUT_S:g} s; "
                                "try again")
        if error is not None:
            raise TrainingError(error)
        return _decode(payload) if payload is not None else None

    def _send(self, message: tuple) -> bool:
        with self._send_lock:
            return super()._send(message)

    # --- messages from the worker ------------------------------------------------------------------------------

    def _worker(self):
        return _train_in_worker, (self._request,)

    def _receive(self, message: tuple) -> None:
        kind, *payload = message
        if kind == "ready":
            self._ready(payload[0])
        elif kind == "rows":
            self._add_rows(*payload)
        elif kind == "weights":
            request_id, weights, error = payload
            with self._replied:
                self._replies[request_id] = (weights, error)
                self._replied.notify_all()
        elif kind == "end":
            *rows, finished, error, final = payload
            self._add_rows(*rows)
            self._end(finished, error, _decode(final) if final is not None else None)
        elif kind == "failed":
            self._end(FinishedEvent("failed", payload[0]), payload[0], None)

    def _ready(self, ready: _Ready) -> None:
        with self._rows:
            self.dataset, self._model_config = ready.dataset, ready.model_config
            self._preview_x, self._preview_y = torch.from_numpy(ready.preview_x), torch.from_numpy(ready.preview_y)
            self._first_step, self._total_steps, self._epoch = ready.first_step, ready.total_steps, ready.epoch
            self._train, self._test, self._replay = list(ready.train), list(ready.test), ready.replay
            self._started = time.perf_counter()

    def _add_rows(self, train: list[dict], test: list[dict], epoch: int, replay: FormationReplay | None) -> None:
        with self._rows:
            self._train.extend(train)
            self._test.extend(test)
            self._epoch = epoch
            self._replay = replay or self._replay

    def _lost(self, reason: str) -> None:
        error = f"training failed: {reason}; the last autosave (if any) holds what it had trained"
        self._end(FinishedEvent("failed", error), error, None)

    def _end_unstarted(self) -> None:
        self._end(FinishedEvent("stopped", "removed from the queue before it started"), None, None)

    def _end(self, finished: FinishedEvent, error: str | None, final: Weights | None) -> None:
        with self._rows:
            self._finished, self._error, self._final = finished, error, final
            self._ended = time.perf_counter()
        self._mark_ended()
        with self._replied:
            self._replied.notify_all()


def _encode(weights: Weights) -> bytes:
    buffer = io.BytesIO()
    torch.save({f.name: getattr(weights, f.name) for f in dataclasses.fields(weights)}, buffer)
    return buffer.getvalue()


def _decode(payload: bytes) -> Weights:
    return Weights(**torch.load(io.BytesIO(payload), weights_only=True))


# --- in the worker process --------------------------------------------------------------------------------------

def _train_in_worker(connection: Connection, request: _Request) -> None:
    try:
        job = _job(request)
    except Exception as exc:  # noqa: BLE001 - a VAEError's message is for the user; anything else is said as is
        why = str(exc) if isinstance(exc, VAEError) else f"{type(exc).__name__}: {exc}"
        send(connection, ("failed", f"training could not start: {why}"))
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: job.stop())  # the server died: stop, autosave, end
    train, test, epoch, replay = job.rows_since(0, 0)
    preview_x, preview_y = job._preview_x.numpy(), job._preview_y.numpy()
    send(connection, ("ready", _Ready(job.dataset, job._model_config, preview_x, preview_y, job._first_step,
                                      job._total_steps, epoch, train, test, replay)))
    job.start()
    _serve(connection, job, len(train), len(test), replay)


def _job(request: _Request) -> TrainingJob:
    dataset = request.dataset.load(roots=request.roots)
    resume = load_checkpoint_bytes(request.resume) if request.resume is not None else None
    trainer = build_trainer(dataset, request.train_config, request.model_config, resume)
    config = dataclasses.replace(request.job_config, num_threads=torch.get_num_threads())
    return TrainingJob(trainer, DatasetInfo.of(dataset), request.command, config, request.autosave)


def _serve(connection: Connection, job: TrainingJob, sent_train: int, sent_test: int,
           sent_replay: FormationReplay | None) -> None:
    """Until the run ends: answer the server, and send it the new rows every ROWS_EVERY_S."""
    server_here = True
    while job.running and server_here:
        server_here = _answer(connection, job)
        train, test, epoch, replay = job.rows_since(sent_train, sent_test)
        if train or test or replay is not sent_replay:
            server_here = server_here and send(connection, ("rows", train, test, epoch,
                                                            None if replay is sent_replay else replay))
            sent_train, sent_test, sent_replay = sent_train + len(train), sent_test + len(test), replay
    if not server_here:  # nobody to report to: end the run; its final autosave keeps what it trained
        job.stop()
    job.join()
    train, test, epoch, replay = job.rows_since(sent_train, sent_test)
    progress = job.progress()
    try:
        final = _encode(job.weights(with_adam=True))
    except TrainingError:
        final = None
    send(connection, ("end", train, test, epoch, None if replay is sent_replay else replay, progress.finished,
                      progress.error, final))


def _answer(connection: Connection, job: TrainingJob) -> bool:
    """Handle what the server sent within ROWS_EVERY_S; False once the server has gone."""
    deadline = time.monotonic() + ROWS_EVERY_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            if not connection.poll(left):
                return True
            message = connection.recv()
        except (EOFError, OSError):
            return False
        kind, *payload = message
        if kind == "alive":
            job.keep_alive()
        elif kind == "stop":
            job.stop()
        elif kind == "weights":
            request_id, with_adam = payload
            try:
                reply = ("weights", request_id, _encode(job.weights(with_adam)), None)
            except TrainingError as exc:
                reply = ("weights", request_id, None, str(exc))
            if not send(connection, reply):
                return False
    return True
