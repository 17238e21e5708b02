"""Training loop that reports instead of printing: it yields typed events a CLI or UI draws live.

The objective maximised is recon - beta_t * kl (beta_t ramps to config.beta during KL warm-up); the
"elbo" reported everywhere is the true bound recon - kl, so runs with different betas compare.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from .checkpoint import Checkpoint, DatasetInfo, checkpoint_bytes
from .data import Dataset
from .distributed import World
from .errors import ConfigError
from .files import write_atomically
from .limits import Range, check
from .loss import elbo_terms
from .metrics import encode_posterior, evaluate_elbo
from .models import VAE, VAEConfig, VAEOutput
from .replay import MAX_POINTS, FormationReplay


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains. The class constants are the allowed values; the CLI help and the app read them."""

    EPOCHS: ClassVar[Range] = Range(1, 10_000)
    BATCH_SIZE: ClassVar[Range] = Range(1, 65_536)
    LEARNING_RATE: ClassVar[Range] = Range(1e-6, 1.0)
    KL_WARMUP_EPOCHS: ClassVar[Range] = Range(0.0, 10_000.0)
    SEED: ClassVar[Range] = Range(0, 2**31 - 1)
    REPLAY_POINTS: ClassVar[Range] = Range(0, MAX_POINTS)
    DEVICES: ClassVar[tuple[str, ...]] = ("auto", "cpu", "cuda")
    PRECISIONS: ClassVar[tuple[str, ...]] = ("fp32", "bf16")

    epochs: int = 50  # epochs to run in this call (resuming adds to the checkpoint's count)
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    kl_warmup_epochs: float = 0.0  # beta ramps linearly from 0 over this many epochs
    device: str = "auto"  # one of DEVICES; "auto" picks cuda when available
    precision: str = "fp32"  # one of PRECISIONS; "bf16" is autocast, cuda only
    compile: bool = False  # torch.compile the network (off by default: see benchmarks/RESULTS.md)
    # Test codes snapshotted after every epoch for the formation replay (vae_core.replay); 0 takes none.
    # Encoding 2,000 codes costs well under 1% of an MNIST epoch (benchmarks/replay_cost.py).
    replay_points: int = MAX_POINTS

    def __post_init__(self):
        check([
            (self.EPOCHS.contains(self.epochs), f"epochs must be {self.EPOCHS}, got {self.epochs}"),
            (self.BATCH_SIZE.contains(self.batch_size), f"batch size must be {self.BATCH_SIZE}, got {self.batch_size}"),
            (self.LEARNING_RATE.contains(self.learning_rate),
             f"learning rate must be in {self.LEARNING_RATE}, got {self.learning_rate}"),
            (self.KL_WARMUP_EPOCHS.contains(self.kl_warmup_epochs),
             f"KL warm-up must be {self.KL_WARMUP_EPOCHS} epochs, got {self.kl_warmup_epochs}"),
            (self.SEED.contains(self.seed), f"seed must be {self.SEED}, got {self.seed}"),
            (self.device in self.DEVICES, f"device must be one of {self.DEVICES}, got {self.device!r}"),
            (self.precision in self.PRECISIONS, f"precision must be one of {self.PRECISIONS}, got {self.precision!r}"),
            (self.REPLAY_POINTS.contains(self.replay_points),
             f"replay points must be {self.REPLAY_POINTS}, got {self.replay_points}"),
        ])


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda when available; asking for cuda without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


@dataclass
class StepEvent:
    """One optimisation step; recon/kl/elbo are means over the batch, in nats per example."""

    step: int
    epoch: float  # fractional: 2.5 = half-way through the third epoch
    recon: float
    kl: float
    elbo: float
    beta: float

    def history_row(self) -> dict:
        """The row kept in the training history (and checkpoints): {step, epoch, recon, kl, elbo, beta}."""
        return vars(self).copy()


@dataclass
class EpochEvent:
    """End of an epoch: test-set means and throughput."""

    epoch: int
    step: int
    recon: float
    kl: float
    elbo: float
    seconds: float
    examples_per_second: float
    test_examples: int  # test examples averaged, over all ranks

    def history_row(self) -> dict:
        """The row kept in the test history (and checkpoints): {step, epoch, recon, kl, elbo, examples}."""
        return {"step": self.step, "epoch": self.epoch, "recon": self.recon, "kl": self.kl, "elbo": self.elbo,
                "examples": self.test_examples}


@dataclass
class SnapshotEvent:
    """After an EpochEvent: the formation replay with this epoch's frame added (frames are never changed, so
    the replay may be kept as is). Not to be confused with `TrainingSnapshot`, the whole run's state."""

    epoch: int
    replay: FormationReplay


@dataclass
class FinishedEvent:
    """The last event of a run. The trainer ends with "completed", "stopped" or "diverged"; a background job
    (vae_core.background) adds "failed" (an unexpected exception) and the reason it was stopped with (the app says
    "abandoned" for a run no page showed)."""

    reason: str
    message: str


TrainEvent = StepEvent | EpochEvent | SnapshotEvent | FinishedEvent


def _as_float32(output: VAEOutput) -> VAEOutput:
    return VAEOutput(*(t.float() for t in (output.x_logits, output.mu, output.logvar, output.z)))


def new_history() -> dict:
    return {"train": [], "test": []}


def _cpu_copy(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().to("cpu", copy=True) for key, value in tensors.items()}


@dataclass(frozen=True)
class TrainingSnapshot:
    """A run between two steps, copied to the CPU: everything its checkpoint holds, and the one way a run becomes
    a checkpoint (`checkpoint_bytes`, `save`: the CLI's saves, a background job's saves, autosaves and previews).

    It shares no tensor with the trainer, so it may be kept, saved or sent elsewhere while training goes on; the
    history's rows and the replay are never changed once made, so the lists are copied, not the rows."""

    model_config: VAEConfig
    train_config: TrainConfig
    dataset: DatasetInfo
    weights: dict[str, torch.Tensor]  # the model's state_dict
    adam: dict[int, dict[str, torch.Tensor]] | None  # Adam's per-parameter state; None where it was left out
    epoch: int  # completed epochs, including those of a resumed checkpoint
    history: dict[str, list[dict]]  # {"train": rows, "test": rows}: the rows these weights come after
    replay: FormationReplay | None

    def model(self) -> VAE:
        """A new model (CPU, eval mode) with these weights."""
        model = VAE(self.model_config)
        model.load_state_dict(self.weights)
        return model.eval()

    def checkpoint_bytes(self, command: str | None = None) -> bytes:
        """The bytes of its checkpoint file; `command` is the command line recorded as what trained it."""
        return checkpoint_bytes(self.model(), self.dataset, self.history, self.epoch, command, vars(self.train_config),
                                self.adam, self.replay)

    def save(self, path: str | Path, command: str | None = None, overwrite: bool = False) -> Path:
        """Write its checkpoint to `path` atomically; refuses to replace a file unless `overwrite`."""
        return write_atomically(path, self.checkpoint_bytes(command), overwrite=overwrite)


@dataclass
class Trainer:
    """Trains `model` on `dataset`; `run()` yields events and can be stopped between steps.

    Pass the history and epoch count of a checkpoint to resume: the history continues from there.
    """

    model: VAE
    dataset: Dataset
    config: TrainConfig = field(default_factory=TrainConfig)
    history: dict = field(default_factory=new_history)
    epoch: int = 0  # completed epochs, including those of a resumed checkpoint
    step: int = 0
    world: World = field(default_factory=World)  # several ranks under torchrun, else one process
    optimizer_state: dict | None = None  # Adam's state from a checkpoint: resuming continues exactly
    replay: FormationReplay | None = None  # a checkpoint's formation replay continues; else one starts

    def __post_init__(self):
        if tuple(self.dataset.image_shape) != tuple(self.model.config.image_shape):
            raise ConfigError(
                f"model expects images {self.model.config.image_shape}, dataset has {self.dataset.image_shape}"
            )
        self.device = resolve_device(self.config.device)
        if self.device.type == "cuda" and self.world.is_distributed:
            self.device = torch.device("cuda", self.world.local_rank)
        self.model.to(self.device)
        if self.config.precision == "bf16" and self.device.type != "cuda":
            raise ConfigError("bf16 mixed precision needs a CUDA device; use --precision fp32 on the CPU")
        self.network = self._wrap_for_world(self.model)
        if self.config.compile:
            self.network = torch.compile(self.network)
        # The fused kernel does Adam's per-parameter updates in one pass: ~25% faster steps (benchmarks/).
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate, fused=True)
        if self.optimizer_state:  # the moments come from the checkpoint, the learning rate from this config
            groups = self.optimizer.state_dict()["param_groups"]
            self.optimizer.load_state_dict({"state": self.optimizer_state, "param_groups": groups})
        if self.history["train"]:
            self.step = self.history["train"][-1]["step"]
        # The whole split moves to the device once; batches are index lookups, no per-item work.
        self.x_train = self._to_device(self._shard(self.dataset.x_train))
        self.y_train = self._to_device(self._shard(self.dataset.y_train))
        self.x_test = self._to_device(self._shard(self.dataset.x_test))
        self.y_test = self._to_device(self._shard(self.dataset.y_test))
        self._start_replay()
        self.batch_size = max(1, self.config.batch_size // self.world.world_size)  # per rank

    def _start_replay(self) -> None:
        """Pick the replay's test subsample (the resumed one's, if it still fits this test set); only the main
        rank records one, from the whole test set."""
        self.records_replay = self.config.replay_points > 0 and self.world.is_main
        if not self.records_replay:
            return
        y_test = self.dataset.y_test.numpy()
        if self.replay is None or not self.replay.frames or self.replay.indices.max() >= len(y_test):
            self.replay = FormationReplay.for_test_set(y_test, self.config.replay_points, self.config.seed)
        rows = torch.from_numpy(self.replay.indices)
        self.x_replay = self._to_device(self.dataset.x_test[rows])
        self.y_replay = self._to_device(self.dataset.y_test[rows])

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-len(self.x_train) // self.batch_size))

    @property
    def run_steps(self) -> int:
        """Steps one `run()` takes if it is not stopped: config.epochs epochs."""
        return self.config.epochs * self.steps_per_epoch

    def _wrap_for_world(self, model: VAE) -> torch.nn.Module:
        if not self.world.is_distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def _shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's equal share (strided, so each holds every class); all of x in one process."""
        per_rank = len(x) // self.world.world_size
        return x[self.world.rank::self.world.world_size][:per_rank]

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return x.pin_memory().to(self.device, non_blocking=True)
        return x

    def beta_at(self, epoch: float) -> float:
        warmup = self.config.kl_warmup_epochs
        ramp = 1.0 if warmup == 0 else min(1.0, epoch / warmup)
        return self.model.config.beta * ramp

    def snapshot(self, with_adam: bool = True) -> TrainingSnapshot:
        """The run as it stands, copied to the CPU (Adam's state too unless `with_adam` is False); call it between
        two steps, i.e. not while `run()` is inside one."""
        adam = None
        if with_adam:
            adam = {index: _cpu_copy(state) for index, state in self.optimizer.state_dict()["state"].items()}
        return TrainingSnapshot(self.model.config, self.config, DatasetInfo.of(self.dataset),
                                _cpu_copy(self.model.state_dict()), adam, self.epoch,
                                {split: rows[:] for split, rows in self.history.items()}, self.replay)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[TrainEvent]:
        """Train for config.epochs more epochs, yielding a StepEvent per step and an EpochEvent per epoch."""
        n, steps_per_epoch = len(self.x_train), self.steps_per_epoch
        for _ in range(self.config.epochs):
            # Seeded per epoch, so a run resumed from a checkpoint at an epoch boundary repeats exactly.
            torch.manual_seed(self.config.seed + self.epoch)
            started = time.perf_counter()
            order = torch.randperm(n, device=self.device)
            self.model.train()
            for i in range(steps_per_epoch):
                if should_stop():
                    yield FinishedEvent("stopped", f"stopped at epoch {self.epoch}, step {self.step}")
                    return
                rows = order[i * self.batch_size:(i + 1) * self.batch_size]
                event = self._train_step(self.x_train[rows], self.y_train[rows], self.epoch + (i + 1) / steps_per_epoch)
                if event is None:
                    yield FinishedEvent(
                        "diverged",
                        f"the loss became NaN/inf at step {self.step + 1}; the weights of the last good "
                        "step are kept. Try a lower learning rate or a KL warm-up.",
                    )
                    return
                yield event
            self.epoch += 1
            yield self._end_epoch(time.perf_counter() - started, n * self.world.world_size)
            if self.records_replay:
                yield self._replay_frame()
        yield FinishedEvent("completed", f"trained to epoch {self.epoch}")

    def _train_step(self, batch: torch.Tensor, labels: torch.Tensor, epoch: float) -> StepEvent | None:
        beta = self.beta_at(epoch)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
            output = self.network(batch, labels)
        # The loss is computed in float32 even under autocast: the sums over pixels need the precision.
        terms = elbo_terms(_as_float32(output), batch, self.model.config)
        loss = -terms.elbo(beta).mean()
        # One host sync per step (a single .tolist()), not one per number: it is what bounds a GPU step.
        stats = torch.stack([terms.recon.mean(), terms.kl.mean(), (~torch.isfinite(loss)).float()])
        recon, kl, non_finite = self.world.mean(stats.tolist())
        if non_finite > 0:  # every rank agrees, so all stop together
            return None  # no optimizer step: the weights stay those of the last good step
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        # 1e-4 nats is far below the step-to-step noise; rounding halves the history stored in checkpoints.
        recon, kl = round(recon, 4), round(kl, 4)
        event = StepEvent(self.step, round(epoch, 4), recon, kl, round(recon - kl, 4), round(beta, 6))
        self.history["train"].append(event.history_row())
        return event

    def _end_epoch(self, seconds: float, n_examples: int) -> EpochEvent:
        test = evaluate_elbo(self.model, self.x_test, self.y_test)
        n = len(self.x_test)
        recon_sum, kl_sum, count = self.world.sum([test["recon"] * n, test["kl"] * n, float(n)])
        recon, kl = recon_sum / count, kl_sum / count
        event = EpochEvent(self.epoch, self.step, recon, kl, recon - kl, seconds, n_examples / seconds, int(count))
        self.history["test"].append(event.history_row())
        return event

    def _replay_frame(self) -> SnapshotEvent:
        mu = encode_posterior(self.model, self.x_replay, self.y_replay).mu
        self.replay = self.replay.with_frame(self.epoch, mu.numpy())
        return SnapshotEvent(self.epoch, self.replay)


def build_trainer(dataset: Dataset, config: TrainConfig, model_config: VAEConfig | None = None,
                  resume: Checkpoint | None = None, world: World | None = None) -> Trainer:
    """The one way to start a run: a fresh model from `model_config` (initialised from config.seed), or a
    copy of the checkpoint `resume` (a loaded checkpoint may be shared, e.g. by the app's sessions) whose
    weights, history, epoch count and Adam state continue exactly where it stopped."""
    if (model_config is None) == (resume is None):
        raise ConfigError("start a run from either a model config or a checkpoint to resume, not both or neither")
    world = world or World()
    if resume is None:
        torch.manual_seed(config.seed)
        return Trainer(VAE(model_config), dataset, config, new_history(), 0, world=world)
    return Trainer(copy.deepcopy(resume.model), dataset, config, copy.deepcopy(resume.history), resume.epoch,
                   world=world, optimizer_state=copy.deepcopy(resume.optimizer_state), replay=resume.replay)
