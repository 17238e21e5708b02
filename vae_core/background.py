"""Training in a background thread: the trainer runs on, a UI reads what its events reported.

The app runs this thread inside a worker process (vae_core.train_worker, whose server-side job reads the same
way: both are a `TrainingRun`); tests and scripts may run it in their own process.

`TrainingJob` owns one `Trainer`, runs `Trainer.run()` in a daemon thread and keeps the rows of its events
in its own append-only lists, so `progress()` is a cheap snapshot that never waits for a step. Only reading
the weights (previews, saving) needs the trainer itself: each step runs while holding the training lock, so
weights copied at any moment are those between two optimisation steps, never half-way through an update. A
reader waits for at most the step in progress: the training thread lets waiting readers in before its next step.

Saving, previews and autosaves all read the run through `snapshot()` (a `train.TrainingSnapshot`), which is
also what turns it into a checkpoint. A run stops between two steps when asked (`stop`, with the reason its end
reports) and then lets go of its data and optimizer, keeping only what saving it needs. A UI showing a run calls
`keep_alive()`; `unseen_seconds()` says how long ago that was, for an app that ends runs nobody watches (its own
policy: the library never stops a run by itself).

A job given an `autosave` path writes the run so far there (atomically, weights, Adam's state and history) after
an epoch ends, at most every `JobConfig.autosave_every_s`, and once more when it ends: a server that dies or is
stopped mid-run leaves the last completed epochs on disk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from .checkpoint import Checkpoint, DatasetInfo
from .data import Dataset, class_balanced_indices
from .errors import TrainingError, VAEError
from .limits import Range, check
from .models import VAE, VAEConfig
from .replay import FormationReplay
from .train import (
    EpochEvent,
    FinishedEvent,
    SnapshotEvent,
    StepEvent,
    TrainConfig,
    Trainer,
    TrainingSnapshot,
    build_trainer,
)

logger = logging.getLogger(__name__)

PREVIEW_IMAGES = 32  # test images kept for previews (a copy: the job does not hold the dataset)


@dataclass(frozen=True)
class JobConfig:
    """How a background run shares its machine (how it trains is TrainConfig)."""

    AUTOSAVE_EVERY_S: ClassVar[Range] = Range(0.0, 24 * 3600.0)

    # Digits-sized models run fastest on one thread, and the UI (and other sessions) share the CPU cores.
    # torch.set_num_threads is per OS thread here, so this only affects the training thread.
    num_threads: int = 1
    # Writing MNIST 2-D's checkpoint (weights and Adam's state, 6 MB) takes tens of ms: every 30 s costs nothing.
    autosave_every_s: float = 30.0

    def __post_init__(self):
        check([
            (self.AUTOSAVE_EVERY_S.contains(self.autosave_every_s),
             f"autosave_every_s must be in {self.AUTOSAVE_EVERY_S} seconds, got {self.autosave_every_s}"),
            (self.num_threads >= 1, f"num_threads must be >= 1, got {self.num_threads}"),
        ])


@dataclass(frozen=True)
class Progress:
    """A consistent copy of where a job stands; safe to read while training continues."""

    train: list[dict]  # {step, epoch, recon, kl, elbo, beta} per step, resumed ones included
    test: list[dict]  # {step, epoch, recon, kl, elbo, examples}, one per epoch
    step: int
    epoch: int  # completed epochs, including those of a resumed checkpoint
    steps_done: int  # steps of this run
    total_steps: int  # steps this run will take if not stopped
    finished: FinishedEvent | None
    error: str | None  # an unexpected exception in the training thread (then finished.reason is "failed")
    steps_per_second: float
    replay: FormationReplay | None = None  # the formation replay so far (None: not recorded)

    @property
    def running(self) -> bool:
        return self.finished is None and self.error is None

    @property
    def fraction(self) -> float:
        return min(1.0, self.steps_done / max(1, self.total_steps))

    def train_points(self, max_points: int) -> list[dict]:
        """The train rows thinned by a stride to at most about max_points, the latest one always kept
        (a chart redrawn every second stays a small message on long runs)."""
        stride = max(1, -(-len(self.train) // max_points))
        return self.train[::-1][::stride][::-1]


class TrainingRun:
    """What a UI reads of a training run: the rows its events reported, and the models and checkpoints made from
    the snapshots `snapshot()` returns (a subclass says where they come from: a thread here, or a worker process)."""

    dataset: DatasetInfo
    command: str | None
    config: JobConfig
    autosave: Path | None
    _model_config: VAEConfig | None  # None: not known yet (a queued run that resumes a checkpoint)
    _train_config: TrainConfig
    _preview_x: torch.Tensor
    _preview_y: torch.Tensor
    _rows: threading.Lock  # held briefly to append or read the rows below
    _train: list[dict]
    _test: list[dict]
    _epoch: int
    _first_step: int
    _replay: FormationReplay | None
    _total_steps: int
    _finished: FinishedEvent | None
    _error: str | None
    _started: float
    _ended: float
    _seen: float  # time.monotonic() of the last keep_alive()

    def snapshot(self, with_adam: bool = True) -> TrainingSnapshot:
        """The run so far between two steps (Adam's state left out if not `with_adam`), or as it ended; raises
        TrainingError if there is nothing to save."""
        raise NotImplementedError

    def stop(self, reason: str = "stopped", why: str | None = None) -> None:
        """End the run before its next step, keeping the weights trained so far; its FinishedEvent has `reason`
        and a message that says where it stopped, then `why` when given."""
        raise NotImplementedError

    def keep_alive(self) -> None:
        """Say that a UI shows this run now."""
        self._seen = time.monotonic()

    def unseen_seconds(self) -> float:
        """Seconds since the last keep_alive() (or since the run was made)."""
        return time.monotonic() - self._seen

    def default_name(self) -> str:
        """A checkpoint name that says what this is, e.g. 'digits-2d-mlp-20ep' ('digits-2d-mlp-cvae-20ep' when
        conditional)."""
        config = self._model_config
        if config is None:  # a resumed run whose worker has not read its checkpoint yet
            return f"{self.dataset.name}-{self._epoch}ep"
        kind = f"{config.architecture}-cvae" if config.conditional else config.architecture
        return f"{self.dataset.name}-{config.latent_dim}d-{kind}-{self._epoch}ep"

    def progress(self) -> Progress:
        """Where the run stands, from the rows its events reported; never waits for a training step."""
        with self._rows:  # shallow copies: the rows themselves are never changed once appended
            train, test, epoch, replay = self._train[:], self._test[:], self._epoch, self._replay
            finished, error, ended = self._finished, self._error, self._ended
        step = self._last_step(train)
        steps_done = step - self._first_step
        elapsed = (ended or time.perf_counter()) - self._started
        return Progress(train=train, test=test, step=step, epoch=epoch, steps_done=steps_done,
                        total_steps=self._total_steps, finished=finished, error=error,
                        steps_per_second=steps_done / elapsed if elapsed > 0 else 0.0, replay=replay)

    def _last_step(self, train_rows: list[dict]) -> int:
        return train_rows[-1]["step"] if train_rows else self._first_step

    def model_copy(self) -> VAE:
        """A CPU copy of the model trained so far, in eval mode; training goes on undisturbed."""
        return self.snapshot(with_adam=False).model()

    def previews(self, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n (at most PREVIEW_IMAGES) test images x, the classes in turn, their reconstructions and n prior
        samples (fixed z, so successive previews show the same codes improving), each (n, C, H, W) in [0, 1],
        from the weights so far."""
        model = self.model_copy()
        x = self._preview_x[:n]
        samples = model.sample(len(x), generator=torch.Generator().manual_seed(seed))
        return x, model.reconstruct(x, self._preview_y[:n]), samples

    def checkpoint_bytes(self) -> bytes:
        """The model trained so far as the bytes of a checkpoint file (loadable while training runs)."""
        return self.snapshot().checkpoint_bytes(self.command)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save the model trained so far atomically; refuses to replace a file unless `overwrite`."""
        return self.snapshot().save(path, self.command, overwrite=overwrite)


class TrainingJob(TrainingRun):
    """Runs a Trainer in a daemon thread; `stop()` ends it between steps, keeping the weights so far."""

    def __init__(self, trainer: Trainer, *, command: str | None = None, config: JobConfig | None = None,
                 autosave: str | Path | None = None):
        self.dataset, self.command, self.config = DatasetInfo.of(trainer.dataset), command, config or JobConfig()
        self.autosave = Path(autosave) if autosave else None
        self._trainer: Trainer | None = trainer  # let go of once the run ends
        self._model_config, self._train_config = trainer.model.config, trainer.config
        preview = class_balanced_indices(trainer.dataset.y_test, PREVIEW_IMAGES)  # a split may be in class order
        self._preview_x = trainer.dataset.x_test[preview].clone()
        self._preview_y = trainer.dataset.y_test[preview].clone()
        self._lock = threading.Lock()  # held for each step and each copy of the weights
        self._readers = 0  # weight copies waiting for or holding the lock
        self._readers_changed = threading.Condition()
        self._rows = threading.Lock()  # held briefly to append or read the rows below
        self._train, self._test = list(trainer.history["train"]), list(trainer.history["test"])
        self._epoch, self._first_step = trainer.epoch, trainer.step
        self._replay: FormationReplay | None = trainer.replay  # replaced by each SnapshotEvent's (immutable)
        self._total_steps = trainer.run_steps
        self._finished: FinishedEvent | None = None
        self._error: str | None = None
        self._final: TrainingSnapshot | None = None  # the run as it ended
        self._stop = threading.Event()
        self._stop_reason: tuple[str, str | None] = ("stopped", None)
        self._seen = time.monotonic()
        self._autosaved = (trainer.epoch, time.monotonic())  # (epoch, when) of the last autosave
        self._started = self._ended = 0.0
        self._thread = threading.Thread(target=self._run, name="vae-training", daemon=True)

    def start(self) -> TrainingJob:
        self._started = time.perf_counter()
        self.keep_alive()
        self._thread.start()
        return self

    def stop(self, reason: str = "stopped", why: str | None = None) -> None:
        if not self._stop.is_set():
            self._stop_reason = (reason, why)
            self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # --- the training thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        torch.set_num_threads(self.config.num_threads)
        _lower_this_threads_priority()
        events = self._trainer.run()
        finished = error = None
        try:
            while finished is None:
                self._let_readers_in()
                with self._lock:  # the step mutates the weights: copies of them wait for it to finish
                    finished = self._stopped() or self._record(next(events, None))
                self._autosave_if_due()
        except Exception as exc:  # noqa: BLE001 - the UI shows it; a thread's exception would be lost
            error = f"training failed: {type(exc).__name__}: {exc}"
            finished = FinishedEvent("failed", error)
        finally:
            events.close()
            self._end(finished, error)
            self._autosave_if_due(ended=True)

    def _autosave_if_due(self, ended: bool = False) -> None:
        """Outside the training lock: the run so far to `autosave` once a new epoch has ended and the last autosave
        is config.autosave_every_s old (at once when the run has ended). A failed write is logged, never fatal."""
        epoch, when = self._autosaved
        if self.autosave is None or self._epoch == epoch:
            return
        if not ended and time.monotonic() - when < self.config.autosave_every_s:
            return
        try:
            self.autosave.parent.mkdir(parents=True, exist_ok=True)
            self.save(self.autosave, overwrite=True)
        except (OSError, VAEError) as exc:  # e.g. a full disk, or a failed run's weights (nothing to save)
            logger.warning("training run %s: autosave to %s failed: %s", self.default_name(), self.autosave, exc)
        self._autosaved = (self._epoch, time.monotonic())

    def _stopped(self) -> FinishedEvent | None:
        if not self._stop.is_set():
            return None
        reason, why = self._stop_reason
        where = f"{reason} at epoch {self._epoch}, step {self._last_step(self._train)}"
        return FinishedEvent(reason, f"{where}: {why}" if why else where)

    def _record(self, event: StepEvent | EpochEvent | FinishedEvent | None) -> FinishedEvent | None:
        """Keep the rows a UI draws; returns the event that ends the run, if this is it."""
        if event is None or isinstance(event, FinishedEvent):
            return event or FinishedEvent("completed", "training ended")
        with self._rows:
            if isinstance(event, StepEvent):
                self._train.append(event.history_row())
            elif isinstance(event, SnapshotEvent):
                self._replay = event.replay
            else:
                self._test.append(event.history_row())
                self._epoch = event.epoch
        return None

    def _end(self, finished: FinishedEvent | None, error: str | None) -> None:
        """Keep the final weights and Adam's state on the CPU; let go of the trainer (data, optimizer)."""
        with self._lock:
            final = None
            if error is None:  # after a failure the weights may be half-updated: nothing is kept to save
                try:
                    final = self._trainer.snapshot(with_adam=True)
                except Exception as exc:  # noqa: BLE001 - e.g. a CUDA error; the job must still end visibly
                    error = f"training ended but its weights could not be copied: {type(exc).__name__}: {exc}"
                    finished = FinishedEvent("failed", error)
            with self._rows:
                self._final, self._finished, self._error = final, finished, error
                self._ended = time.perf_counter()
            self._trainer = None

    def _let_readers_in(self) -> None:
        # A plain Lock is not fair: the training thread would re-take it right after each step and a
        # polling UI could wait seconds (measured: up to 3.9 s on digits). Waiting readers go first.
        with self._readers_changed:
            self._readers_changed.wait_for(lambda: self._readers == 0, timeout=1.0)

    # --- the weights, between two steps -----------------------------------------------------------------------

    @contextmanager
    def _reading(self):
        with self._readers_changed:
            self._readers += 1
        try:
            with self._lock:
                yield
        finally:
            with self._readers_changed:
                self._readers -= 1
                self._readers_changed.notify_all()

    def snapshot(self, with_adam: bool = True) -> TrainingSnapshot:
        with self._reading():
            if self._trainer is not None:
                return self._trainer.snapshot(with_adam)
            if self._final is None:
                raise TrainingError(f"{self._error}; the weights may be half-updated, so there is nothing to save")
            return self._final

    def rows_since(self, train_from: int, test_from: int) -> tuple[list[dict], list[dict], int,
                                                                   FormationReplay | None]:
        """The train and test rows from these positions on, the completed epochs and the replay so far."""
        with self._rows:
            return self._train[train_from:], self._test[test_from:], self._epoch, self._replay


def _lower_this_threads_priority(niceness: int = 10) -> None:
    """Let the app's own threads (other sessions' sliders) win the CPU over a background training run.

    On Linux a nice value applies to one thread, addressed by its native id; elsewhere this does nothing.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


def start_training(dataset: Dataset, train_config: TrainConfig, model_config: VAEConfig | None = None,
                   resume: Checkpoint | None = None, command: str | None = None,
                   job_config: JobConfig | None = None, autosave: str | Path | None = None) -> TrainingJob:
    """Start a fresh model from `model_config` or continue `resume` (see train.build_trainer) in the background,
    autosaved to `autosave` if given."""
    trainer = build_trainer(dataset, train_config, model_config, resume)
    return TrainingJob(trainer, command=command, config=job_config, autosave=autosave).start()
