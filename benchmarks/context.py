"""Run settings (full or quick) and what the benchmark modules share: the data, trained models."""

from __future__ import annotations

import dataclasses
import gzip
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from vae_core.data import DATA_ROOT, Dataset, load_dataset
from vae_core.errors import DatasetError
from vae_core.files import write_atomically
from vae_core.models import VAE, VAEConfig
from vae_core.train import EpochEvent, TrainConfig, Trainer

REPO = Path(__file__).resolve().parent.parent
# The tutorial's torchvision.datasets.MNIST reads uncompressed idx files only: the bundled .gz copy is
# decompressed here once (git-ignored), and both pipelines read this folder.
DEFAULT_DATA_ROOT = REPO / "benchmarks" / "out" / "data"


def raw_mnist_root(folder: Path = DEFAULT_DATA_ROOT) -> Path:
    """`folder` holding MNIST/raw/*-ubyte, decompressed from the bundled data/MNIST/raw/*.gz when absent."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in (DATA_ROOT / "MNIST" / "raw").glob("*.gz"):
        if not (raw / gz.stem).exists():
            with gzip.open(gz) as src:
                write_atomically(raw / gz.stem, src.read())
    return folder
MNIST_MLP = VAEConfig(image_shape=(1, 28, 28), latent_dim=20, hidden_dims=(400,))  # the tutorial's 784-400-20


@dataclass(frozen=True)
class Settings:
    """How much work each benchmark does; `full()` fits 15 minutes on 2 cores, `quick()` 2 minutes."""

    quick: bool
    device: str = "cpu"  # where training runs: cpu | cuda
    data_root: Path = DEFAULT_DATA_ROOT
    mnist_train_limit: int | None = None  # first N training images (None: all 60,000)
    throughput_repeats: int = 3  # interleaved pairs of epochs, the tutorial's pipeline then ours
    digits_max_epochs: int = 400  # digits "to convergence" stops earlier when the test ELBO plateaus
    digits_quality_epochs: int = 100
    mnist_mlp_epochs: int = 2
    mnist_conv_epochs: int = 1
    mnist_eval_examples: int = 1000  # test images for recon/KL/ELBO/log p(x) on MNIST
    iwae_k: int = 100
    latent_dims: tuple[int, ...] = (2, 10, 20)
    decode_calls: int = 200
    slider_changes: int = 20
    tsne_points: int = 5000
    memory_train_steps: int = 200

    @classmethod
    def full(cls, **overrides) -> Settings:
        return cls(quick=False, **overrides)

    @classmethod
    def quick_run(cls, **overrides) -> Settings:
        return cls(
            quick=True, mnist_train_limit=6000, throughput_repeats=2, digits_max_epochs=80,
            digits_quality_epochs=20, mnist_mlp_epochs=1, mnist_eval_examples=300, latent_dims=(20,), iwae_k=100,
            decode_calls=50, slider_changes=5, tsne_points=500, memory_train_steps=30, **overrides,
        )


@dataclass
class Context:
    """Loaded once per run and shared: the datasets and the 28x28 models the quality benchmark trains."""

    settings: Settings
    mnist_models: dict[str, VAE] = field(default_factory=dict)  # "mlp-20" -> trained model
    mnist_missing: str = ""  # why MNIST is absent, once `mnist` has been asked for

    @cached_property
    def digits(self) -> Dataset:
        return load_dataset("digits")

    @cached_property
    def mnist(self) -> Dataset | None:
        """MNIST as tensors (sliced in quick runs), or None with the reason in `mnist_missing`."""
        try:
            full = load_dataset("mnist", root=self.settings.data_root)
        except DatasetError as exc:
            self.mnist_missing = f"MNIST skipped: {exc}"
            return None
        limit = self.settings.mnist_train_limit
        if limit is None:
            return full
        return dataclasses.replace(full, x_train=full.x_train[:limit], y_train=full.y_train[:limit])

    def mnist_model(self) -> VAE:
        """A trained 28x28 model for latency benchmarks: one the quality run made, else one quick epoch."""
        if self.mnist_models:
            return self.mnist_models.get("mlp-20") or next(iter(self.mnist_models.values()))
        model, _ = train(MNIST_MLP, self.mnist, TrainConfig(epochs=1, device="cpu"))
        return model


def train(config: VAEConfig, dataset: Dataset, train_config: TrainConfig, seed: int = 0) -> tuple[VAE, float]:
    """A freshly initialised model trained to the end; returns it (in eval mode, on the CPU) and its seconds."""
    torch.manual_seed(seed)
    model = VAE(config)
    trainer = Trainer(model, dataset, train_config)
    seconds = sum(e.seconds for e in trainer.run() if isinstance(e, EpochEvent))
    return model.cpu().eval(), seconds
