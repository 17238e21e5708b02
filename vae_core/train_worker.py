"""A training run in a worker process, read on the server as a TrainingJob is (both are a `TrainingRun`).

The server sends the worker what to train, never tensors: the dataset's name and loading options (the worker
loads it through `DatasetInfo.load`), the configs, or a checkpoint file's bytes to continue. In the worker a
`TrainingJob` trains in its thread and autosaves itself, so a server that dies loses nothing that was saved; the
worker's main thread streams the rows of the trainer's events to the server every ROWS_EVERY_S and answers
requests for the weights (previews, saving) between two steps.

Messages, worker -> server: ("ready", _Ready) once the data is loaded; ("rows", train, test, epoch, replay or
None) as the run goes; ("weights", id, payload or None, error) on request; ("end", train, test, epoch, replay,
finished, error, final payload or None); ("failed", message) when the run could not start.
Server -> worker: ("stop", reason, why), ("weights", id, with_adam).
A weights payload is a `TrainingSnapshot` less what the server has already (its configs, dataset, rows and
replay): torch.save's bytes of {weights, adam, epoch, train_rows, test_rows} (read back with weights_only=True),
plain bytes through the pipe, no shared memory to leak. The worker sends the rows a snapshot holds before the
snapshot, so the server has them when it rebuilds the snapshot.
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

from .background import JobConfig, Progress, TrainingJob, TrainingRun
from .checkpoint import DatasetInfo, load_checkpoint_bytes
from .errors import TrainingError, VAEError
from .models import VAEConfig
from .replay import FormationReplay
from .roots import DataRoots
from .train import FinishedEvent, TrainConfig, TrainingSnapshot, build_trainer
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
        self._final: TrainingSnapshot | None = None
        self._started = self._ended = 0.0
        self._seen = time.monotonic()
        self._send_lock = threading.Lock()
        self._replies: dict[int, tuple[bytes | None, str | None]] = {}
        self._replied = threading.Condition()
        self._request_ids = itertools.count()

    # --- the WorkerJob side: what the queue and the page call ---------------------------------------------------

    def stop(self, reason: str = "stopped", why: str | None = None) -> None:
        """A queued run leaves the queue; a training one stops before its next step, keeping its weights."""
        if self.queued:
            message = f"{reason} before it started: {why}" if why else "removed from the queue before it started"
            self._end(FinishedEvent(reason, message), None, None)
        elif self.started:
            self._send(("stop", reason, why))

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

    def snapshot(self, with_adam: bool = True) -> TrainingSnapshot:
        if self.queued or self.preparing:
            raise TrainingError("this run has not started training yet: nothing is trained so far")
        if self.running:
            snapshot = self._ask_for_snapshot(with_adam)
            if snapshot is not None:
                return snapshot
        if self._final is None:
            raise TrainingError(f"{self._error}; the weights may be half-updated, so there is nothing to save")
        return self._final

    def _ask_for_snapshot(self, with_adam: bool) -> TrainingSnapshot | None:
        """The worker's run between two steps; None if the run ended first (its final snapshot is kept)."""
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
        return self._snapshot_from(payload) if payload is not None else None

    def _snapshot_from(self, payload: bytes) -> TrainingSnapshot:
        """The snapshot the worker sent (`_encode`), with the configs, dataset, rows and replay known here."""
        parts = torch.load(io.BytesIO(payload), weights_only=True)
        with self._rows:  # the worker sent these rows before the payload
            history = {"train": self._train[:parts["train_rows"]], "test": self._test[:parts["test_rows"]]}
            replay = self._replay
        return TrainingSnapshot(self._model_config, self._train_config, self.dataset, parts["weights"],
                                parts["adam"], parts["epoch"], history, replay)

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
            self._end(finished, error, self._snapshot_from(final) if final is not None else None)
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

    def _end(self, finished: FinishedEvent, error: str | None, final: TrainingSnapshot | None) -> None:
        with self._rows:
            self._finished, self._error, self._final = finished, error, final
            self._ended = time.perf_counter()
        self._mark_ended()
        with self._replied:
            self._replied.notify_all()


def _encode(snapshot: TrainingSnapshot) -> bytes:
    """What the server lacks of a snapshot (read back by `WorkerTrainingJob._snapshot_from`)."""
    buffer = io.BytesIO()
    torch.save({"weights": snapshot.weights, "adam": snapshot.adam, "epoch": snapshot.epoch,
                "train_rows": len(snapshot.history["train"]), "test_rows": len(snapshot.history["test"])}, buffer)
    return buffer.getvalue()


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
    _serve(_Stream(connection, job, len(train), len(test), replay))


def _job(request: _Request) -> TrainingJob:
    dataset = request.dataset.load(roots=request.roots)
    resume = load_checkpoint_bytes(request.resume) if request.resume is not None else None
    trainer = build_trainer(dataset, request.train_config, request.model_config, resume)
    config = dataclasses.replace(request.job_config, num_threads=torch.get_num_threads())
    return TrainingJob(trainer, command=request.command, config=config, autosave=request.autosave)


class _Stream:
    """The worker's side of the pipe: what it has sent the server of the run's rows, and sending the rest."""

    def __init__(self, connection: Connection, job: TrainingJob, sent_train: int, sent_test: int,
                 sent_replay: FormationReplay | None):
        self.connection, self.job = connection, job
        self.sent_train, self.sent_test, self.sent_replay = sent_train, sent_test, sent_replay

    def new_rows(self) -> tuple[list[dict], list[dict], int, FormationReplay | None]:
        """The rows (and the replay, None if unchanged) not sent yet, counted as sent from now on."""
        train, test, epoch, replay = self.job.rows_since(self.sent_train, self.sent_test)
        changed = None if replay is self.sent_replay else replay
        self.sent_train, self.sent_test, self.sent_replay = self.sent_train + len(train), self.sent_test + len(test), \
            replay
        return train, test, epoch, changed

    def send_rows(self) -> bool:
        """Send the new rows, if any; False once the server has gone."""
        train, test, epoch, replay = self.new_rows()
        if not (train or test or replay is not None):
            return True
        return send(self.connection, ("rows", train, test, epoch, replay))

    def send_snapshot(self, request_id: int, with_adam: bool) -> bool:
        """The run between two steps, after the rows it holds (so the server has them when the snapshot comes)."""
        try:
            snapshot, error = _encode(self.job.snapshot(with_adam)), None
        except TrainingError as exc:
            snapshot, error = None, str(exc)
        return self.send_rows() and send(self.connection, ("weights", request_id, snapshot, error))

    def send_end(self) -> None:
        progress = self.job.progress()
        try:
            final = _encode(self.job.snapshot(with_adam=True))
        except TrainingError:
            final = None
        send(self.connection, ("end", *self.new_rows(), progress.finished, progress.error, final))


def _serve(stream: _Stream) -> None:
    """Until the run ends: answer the server, and send it the new rows every ROWS_EVERY_S."""
    job, server_here = stream.job, True
    while job.running and server_here:
        server_here = _answer(stream) and stream.send_rows()
    if not server_here:  # nobody to report to: end the run; its final autosave keeps what it trained
        job.stop()
    job.join()
    stream.send_end()


def _answer(stream: _Stream) -> bool:
    """Handle what the server sent within ROWS_EVERY_S; False once the server has gone."""
    deadline = time.monotonic() + ROWS_EVERY_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            if not stream.connection.poll(left):
                return True
            kind, *payload = stream.connection.recv()
        except (EOFError, OSError):
            return False
        if kind == "stop":
            stream.job.stop(*payload)
        elif kind == "weights" and not stream.send_snapshot(*payload):
            return False
    return True
