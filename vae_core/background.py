"""Training in a background thread: the trainer runs on, a UI reads what its events reported.

The app runs this thread inside a worker process (vae_core.train_worker, whose server-side job reads the same
way: both are a `TrainingRun`); tests and scripts may run it in their own process.

`TrainingJob` owns one `Trainer`, runs `Trainer.run()` in a daemon thread and keeps the rows of its events
in its own append-only lists, so `progress()` is a cheap snapshot that never waits for a step. Only reading
the weights (previews, saving) needs the trainer itself: each step runs while holding the training lock, so
weights copied at any moment are those between two optimisation steps, never half-way through an update. A
reader waits for at most the step in progress: the training thread lets waiting readers in before its next step.

A job nobody looks at ends itself: a UI showing it calls `keep_alive()`; after `JobConfig.abandon_after_s`
without one, the job stops between steps ("abandoned") and lets go of its data and optimizer, keeping only
what saving it needs.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from .checkpoint import Checkpoint, DatasetInfo, checkpoint_bytes, save_checkpoint
from .data import Dataset, class_balanced_indices
from .errors import TrainingError, VAEError
from .limits import Range, check
from .models import VAE, VAEConfig
from .replay import FormationReplay
from .train import EpochEvent, FinishedEvent, SnapshotEvent, StepEvent, TrainConfig, Trainer, build_trainer

logger = logging.getLogger(__name__)

ABANDON_ENV = "VAE_ABANDON_AFTER_S"  # overrides JobConfig's default abandon time (load tests wait less)
PREVIEW_IMAGES = 32  # test images kept for previews (a copy: the job does not hold the dataset)


@dataclass(frozen=True)
class JobConfig:
    """How a background run shares a server (how it trains is TrainConfig)."""

    ABANDON_AFTER_S: ClassVar[Range] = Range(0.05, 24 * 3600.0)
    AUTOSAVE_EVERY_S: ClassVar[Range] = Range(0.0, 24 * 3600.0)

    # A UI showing the job calls keep_alive() every few seconds; a closed browser tab stops calling, and the run
    # stops instead of holding a core and memory forever. Generous, because browsers throttle the timers of a
    # hidden tab (Chrome: to once a minute after 5 minutes hidden), and a run in a tab left in the background
    # is not abandoned.
    abandon_after_s: float = field(default_factory=lambda: float(os.environ.get(ABANDON_ENV, 180.0)))
    # Digits-sized models run fastest on one thread, and the UI (and other sessions) share the CPU cores.
    # torch.set_num_threads is per OS thread here, so this only affects the training thread.
    num_threads: int = 1
    # Writing MNIST 2-D's checkpoint (weights and Adam's state, 6 MB) takes tens of ms: every 30 s costs nothing.
    autosave_every_s: float = 30.0

    def __post_init__(self):
        check([
            (self.AUTOSAVE_EVERY_S.contains(self.autosave_every_s),
             f"autosave_every_s must be in {self.AUTOSAVE_EVERY_S} seconds, got {self.autosave_every_s}"),
            (self.ABANDON_AFTER_S.contains(self.abandon_after_s),
             f"abandon_after_s must be in {self.ABANDON_AFTER_S} seconds, got {self.abandon_after_s}"),
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


@dataclass(frozen=True)
class Weights:
    """Weights and Adam's state copied to the CPU between two steps, with the epoch count they belong to."""

    state: dict[str, torch.Tensor]
    adam: dict | None  # None where the caller does not need it (previews)
    epoch: int
    train_rows: int  # how many history rows they belong to
    test_rows: int


class TrainingRun:
    """What a UI reads of a training run: the rows its events reported, and the models and checkpoints made from
    the weights `weights()` returns (a subclass says where they come from: a thread here, or a worker process)."""

    dataset: DatasetInfo
    command: str | None
    config: JobConfig
    autosave: Path | None
    _model_config: VAEConfig
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

    def weights(self, with_adam: bool) -> Weights:
        """The weights so far (and Adam's state if asked), or the final ones; raises TrainingError if none."""
        raise NotImplementedError

    def default_name(self) -> str:
        """A checkpoint name that says what this is, e.g. 'digits-2d-mlp-20ep' ('digits-2d-mlp-cvae-20ep' when
        conditional)."""
        config = self._model_config
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

    def _model(self, weights: Weights) -> VAE:
        model = VAE(self._model_config)
        model.load_state_dict(weights.state)
        return model.eval()

    def model_copy(self) -> VAE:
        """A CPU copy of the model trained so far, in eval mode; training goes on undisturbed."""
        return self._model(self.weights(with_adam=False))

    def previews(self, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n (at most PREVIEW_IMAGES) test images x, the classes in turn, their reconstructions and n prior
        samples (fixed z, so successive previews show the same codes improving), each (n, C, H, W) in [0, 1],
        from the weights so far."""
        model = self.model_copy()
        x = self._preview_x[:n]
        samples = model.sample(len(x), generator=torch.Generator().manual_seed(seed))
        return x, model.reconstruct(x, self._preview_y[:n]), samples

    def _checkpoint_parts(self) -> tuple[VAE, dict, int, dict | None, FormationReplay | None]:
        weights = self.weights(with_adam=True)
        with self._rows:  # the rows only grow: these are the ones the weights belong to
            history = {"train": self._train[:weights.train_rows], "test": self._test[:weights.test_rows]}
            replay = self._replay  # checkpoint_bytes keeps its frames up to the weights' epoch
        return self._model(weights), history, weights.epoch, weights.adam, replay

    def checkpoint_bytes(self) -> bytes:
        """The model trained so far as the bytes of a checkpoint file (loadable while training runs)."""
        model, history, epoch, adam, replay = self._checkpoint_parts()
        return checkpoint_bytes(model, self.dataset, history, epoch, self.command, vars(self._train_config), adam,
                                replay)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save the model trained so far atomically; refuses to replace a file unless `overwrite`."""
        model, history, epoch, adam, replay = self._checkpoint_parts()
        return save_checkpoint(path, model, self.dataset, history, epoch, self.command, vars(self._train_config),
                               overwrite=overwrite, optimizer_state=adam, replay=replay)


class TrainingJob(TrainingRun):
    """Runs a Trainer in a daemon thread; `stop()` ends it between steps, keeping the weights so far."""

    def __init__(self, trainer: Trainer, dataset: DatasetInfo, command: str | None = None,
                 config: JobConfig | None = None, autosave: str | Path | None = None):
        self.dataset, self.command, self.config = dataset, command, config or JobConfig()
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
        self._final: Weights | None = None  # the weights and Adam's state once the run has ended
        self._stop = threading.Event()
        self._seen = time.monotonic()
        self._autosaved = (trainer.epoch, time.monotonic())  # (epoch, when) of the last autosave
        self._started = self._ended = 0.0
        self._thread = threading.Thread(target=self._run, name="vae-training", daemon=True)

    def start(self) -> TrainingJob:
        self._started = time.perf_counter()
        self.keep_alive()
        self._thread.start()
        return self

    def keep_alive(self) -> None:
        """Say that a UI still shows this job; without a call for config.abandon_after_s it stops itself."""
        self._seen = time.monotonic()

    def stop(self) -> None:
        """Ask the trainer to stop before its next step; the weights trained so far stay."""
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
        events = self._trainer.run(should_stop=self._stop.is_set)
        finished = error = None
        try:
            while finished is None:
                self._let_readers_in()
                with self._lock:  # the step mutates the weights: copies of them wait for it to finish
                    finished = self._abandoned() or self._record(next(events, None))
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

    def _abandoned(self) -> FinishedEvent | None:
        unseen = time.monotonic() - self._seen
        if unseen < self.config.abandon_after_s:
            return None
        message = (f"abandoned at epoch {self._epoch}, step {self._last_step(self._train)}: no page showed this run "
                   f"for {unseen:.0f} s (limit {self.config.abandon_after_s:g} s)")
        logger.warning("training run %s %s", self.default_name(), message)
        return FinishedEvent("abandoned", message)

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
                    final = self._copy_weights(with_adam=True)
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

    def _copy_weights(self, with_adam: bool) -> Weights:
        """Call holding the training lock: the trainer's weights (and Adam's state) copied to the CPU."""
        trainer = self._trainer
        state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
        adam = None
        if with_adam:
            adam = {i: {k: v.detach().to("cpu", copy=True) for k, v in s.items()}
                    for i, s in trainer.optimizer.state_dict()["state"].items()}
        with self._rows:
            return Weights(state, adam, self._epoch, len(self._train), len(self._test))

    def weights(self, with_adam: bool) -> Weights:
        with self._reading():
            if self._trainer is not None:
                return self._copy_weights(with_adam)
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
    return TrainingJob(trainer, DatasetInfo.of(dataset), command, job_config, autosave).start()
