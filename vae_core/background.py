"""Training in a background thread: the trainer runs on, a UI polls consistent snapshots of it.

`TrainingJob` owns one `Trainer`, runs `Trainer.run()` in a daemon thread and records its events under a
lock. Each step runs while holding that lock, so a snapshot of the weights or the history taken at any
moment is one that lies between two optimisation steps, never half-way through an update. A reader
waits for at most the step in progress: the training thread lets waiting readers in before its next step.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import Checkpoint, DatasetInfo, checkpoint_bytes, save_checkpoint
from .data import Dataset
from .models import VAE, VAEConfig
from .train import FinishedEvent, TrainConfig, Trainer, new_history

# Digits-sized models run fastest on one thread, and the UI (and other sessions) share the CPU cores.
# torch.set_num_threads is per OS thread here, so this only affects the training thread.
DEFAULT_TRAINING_THREADS = 1


@dataclass(frozen=True)
class Progress:
    """A consistent copy of where a job stands; safe to read while training continues."""

    train: list[dict]  # the trainer's history rows {step, epoch, recon, kl, elbo, beta}, resumed ones included
    test: list[dict]  # {step, epoch, recon, kl, elbo}, one per epoch
    step: int
    epoch: int  # completed epochs, including those of a resumed checkpoint
    steps_done: int  # steps of this run
    total_steps: int  # steps this run will take if not stopped
    finished: FinishedEvent | None
    error: str | None  # an unexpected exception in the training thread
    steps_per_second: float

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


class TrainingJob:
    """Runs a Trainer in a daemon thread; `stop()` ends it between steps, keeping the weights so far."""

    def __init__(self, trainer: Trainer, dataset: DatasetInfo, command: str | None = None,
                 num_threads: int = DEFAULT_TRAINING_THREADS):
        self.trainer, self.dataset, self.command, self.num_threads = trainer, dataset, command, num_threads
        self._lock = threading.Lock()  # held for each step and each snapshot
        self._readers = 0  # snapshots waiting for or holding the lock
        self._readers_changed = threading.Condition()
        self._stop = threading.Event()
        self._first_step = trainer.step
        steps_per_epoch = -(-len(trainer.x_train) // trainer.batch_size)
        self._total_steps = trainer.config.epochs * steps_per_epoch
        self._finished: FinishedEvent | None = None
        self._error: str | None = None
        self._started = self._ended = 0.0
        self._thread = threading.Thread(target=self._run, name="vae-training", daemon=True)

    def start(self) -> TrainingJob:
        self._started = time.perf_counter()
        self._thread.start()
        return self

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

    def default_name(self) -> str:
        """A checkpoint name that says what this is, e.g. 'digits-2d-mlp-20ep'."""
        config = self.trainer.model.config
        return f"{self.dataset.name}-{config.latent_dim}d-{config.architecture}-{self.trainer.epoch}ep"

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

    def _let_readers_in(self) -> None:
        # A plain Lock is not fair: the training thread would re-take it right after each step and a
        # polling UI could wait seconds (measured: up to 3.9 s on digits). Waiting readers go first.
        with self._readers_changed:
            self._readers_changed.wait_for(lambda: self._readers == 0, timeout=1.0)

    def _run(self) -> None:
        torch.set_num_threads(self.num_threads)
        _lower_this_threads_priority()
        events = self.trainer.run(should_stop=self._stop.is_set)
        try:
            while True:
                self._let_readers_in()
                with self._lock:  # the step mutates weights and history: snapshots wait for it to finish
                    event = next(events, None)
                    if event is None or isinstance(event, FinishedEvent):
                        self._finished = event or FinishedEvent("completed", "training ended")
                        break
        except Exception as exc:  # noqa: BLE001 - the UI shows it; a thread's exception would be lost
            with self._lock:
                self._error = f"training failed: {type(exc).__name__}: {exc}"
        finally:
            self._ended = time.perf_counter()

    def progress(self) -> Progress:
        with self._reading():
            history = self.trainer.history
            steps_done = self.trainer.step - self._first_step
            elapsed = (self._ended or time.perf_counter()) - self._started
            return Progress(
                train=list(history["train"]), test=list(history["test"]), step=self.trainer.step,
                epoch=self.trainer.epoch, steps_done=steps_done, total_steps=self._total_steps,
                finished=self._finished, error=self._error,
                steps_per_second=steps_done / elapsed if elapsed > 0 else 0.0,
            )

    def _snapshot(self) -> tuple[VAE, dict, int, dict]:
        """Weights (copied to a CPU model in eval mode), history, epoch and Adam's state, as they are between
        two steps."""
        with self._reading():
            state = {k: v.detach().to("cpu", copy=True) for k, v in self.trainer.model.state_dict().items()}
            history, epoch = copy.deepcopy(self.trainer.history), self.trainer.epoch
            adam = {i: {k: v.detach().to("cpu", copy=True) for k, v in s.items()}
                    for i, s in self.trainer.optimizer.state_dict()["state"].items()}
        model = VAE(self.trainer.model.config)
        model.load_state_dict(state)
        return model.eval(), history, epoch, adam

    def model_copy(self) -> VAE:
        """A CPU copy of the model trained so far, in eval mode; training goes on undisturbed."""
        return self._snapshot()[0]

    def previews(self, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first n test images x, their reconstructions and n prior samples (fixed z, so successive
        previews show the same codes improving), each (n, C, H, W) in [0, 1], from the weights so far."""
        model = self.model_copy()
        x = self.trainer.dataset.x_test[:n]
        return x, model.reconstruct(x), model.sample(n, generator=torch.Generator().manual_seed(seed))

    def checkpoint_bytes(self) -> bytes:
        """The model trained so far as the bytes of a checkpoint file (loadable while training runs)."""
        model, history, epoch, adam = self._snapshot()
        return checkpoint_bytes(model, self.dataset, history, epoch, self.command, vars(self.trainer.config), adam)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Save the model trained so far atomically; refuses to replace a file unless `overwrite`."""
        model, history, epoch, adam = self._snapshot()
        return save_checkpoint(path, model, self.dataset, history, epoch, self.command,
                               vars(self.trainer.config), overwrite=overwrite, optimizer_state=adam)


def _lower_this_threads_priority(niceness: int = 10) -> None:
    """Let the app's own threads (other sessions' sliders) win the CPU over a background training run.

    On Linux a nice value applies to one thread, addressed by its native id; elsewhere this does nothing.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


def dataset_info(dataset: Dataset) -> DatasetInfo:
    return DatasetInfo(dataset.name, dataset.image_shape, dataset.class_names, dataset.options)


def start_training(dataset: Dataset, train_config: TrainConfig, model_config: VAEConfig | None = None,
                   resume: Checkpoint | None = None, command: str | None = None) -> TrainingJob:
    """Build a fresh model from `model_config` (seeded by train_config.seed), or continue `resume`
    (a copy of it: a loaded checkpoint may be shared by other sessions), and start training it."""
    if resume is not None:
        model, history, epoch = copy.deepcopy(resume.model), copy.deepcopy(resume.history), resume.epoch
        optimizer_state = copy.deepcopy(resume.optimizer_state)
    elif model_config is not None:
        torch.manual_seed(train_config.seed)
        model, history, epoch, optimizer_state = VAE(model_config), new_history(), 0, None
    else:
        raise ValueError("start_training needs a model_config or a checkpoint to resume")
    trainer = Trainer(model, dataset, train_config, history, epoch, optimizer_state=optimizer_state)
    return TrainingJob(trainer, dataset_info(dataset), command).start()

