"""Shared fixtures: the real digits data, the bundled MNIST, tiny real models, and ../shared/data's MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from support.browser import CHROMIUM, FOREIGN_REQUESTS, chromium, streamlit_server
from support.models import train_digits_model
from support.paths import SHARED_DATA

from ui.cache import CACHE_ENV
from ui.workspace import AUTOSAVE_ENV
from vae_core.checkpoint import DatasetInfo, save_checkpoint
from vae_core.data import DATA_ROOT, Dataset, load_dataset, load_digits_dataset
from vae_core.models import VAE, VAEConfig
from vae_core.train import Trainer

# their fixtures: checkpoint_dir and train_page; canvas_url; conditional_digits
pytest_plugins = ["support.train_page", "support.canvas", "support.draw_pad"]

torch.set_num_threads(1)  # tiny models: one thread is as fast and keeps parallel jobs from thrashing


@pytest.fixture(scope="session", autouse=True)
def disk_caches(tmp_path_factory):
    """The app's disk caches (encodings, per-example terms, projections) and its training runs' autosaves in
    temporary folders for the whole run, apps started by browser tests included: not the checkout's checkpoints/."""
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("disk-cache"))
    os.environ[AUTOSAVE_ENV] = str(tmp_path_factory.mktemp("autosave"))


@pytest.fixture(autouse=True)
def nothing_leaves_the_machine(request):
    """A browser test fails on any request its pages made to another host (support.browser.local_only)."""
    if request.node.get_closest_marker("browser") is None:
        yield
        return

    FOREIGN_REQUESTS.clear()
    yield
    assert not FOREIGN_REQUESTS, f"the app asked other hosts for: {FOREIGN_REQUESTS[:5]}"


@pytest.fixture(autouse=True)
def no_jobs_left_running():
    """The app's job queue is server-wide (st.cache_resource): what one test left running would hold the next
    test's runs in the queue."""
    yield
    from ui import jobs

    jobs.queue().stop_all()


@pytest.fixture(scope="module")
def app_url():
    """The app itself (`streamlit run app.py`), one server for the module."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (Playwright's sync API allows one running instance per thread)."""
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_digits_dataset()


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """torchvision's root of the MNIST copy this repository bundles (data/MNIST/raw/*.gz): always present."""
    return DATA_ROOT


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """The bundled MNIST, loaded once (60,000 + 10,000 images, ~0.3 s)."""
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def reference_mnist_root() -> Path:
    """The reference machine's uncompressed MNIST (../shared/data), which the bundled copy was made from."""
    if not (SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        pytest.skip(f"reference MNIST raw files not found under {SHARED_DATA}/MNIST/raw (only on the reference "
                    "machine); the bundled copy's own checksums are in data/README.md")
    return SHARED_DATA


@pytest.fixture(scope="session")
def trained_digits(digits) -> Trainer:
    return train_digits_model(digits)


@pytest.fixture(scope="session")
def trained_checkpoint(trained_digits, digits, tmp_path_factory) -> Path:
    """The trained digits model saved as a checkpoint file."""
    path = tmp_path_factory.mktemp("ckpt") / "trained.safetensors"
    info = DatasetInfo.of(digits)
    save_checkpoint(path, trained_digits.model, info, trained_digits.history, trained_digits.epoch, "test fixture")
    return path


# --- fixtures for the vae_core unit, attack and reliability tests ---

TINY_CONFIG = {"image_shape": (1, 8, 8), "latent_dim": 2, "hidden_dims": (16, 8)}


@pytest.fixture
def digits_info(digits) -> DatasetInfo:
    return DatasetInfo.of(digits)


@pytest.fixture
def tiny_config() -> VAEConfig:
    """A digits-shaped model small enough to train for an epoch in a fraction of a second."""
    return VAEConfig(**TINY_CONFIG)


@pytest.fixture
def tiny_checkpoint(tmp_path, digits_info, tiny_config) -> Path:
    """An untrained tiny digits model saved as a valid checkpoint (a few kB), fresh per test."""
    torch.manual_seed(0)
    model = VAE(tiny_config)
    history = {"train": [{"step": 1, "epoch": 0.1, "recon": -40.0, "kl": 0.5, "elbo": -40.5, "beta": 1.0}],
               "test": [{"step": 1, "epoch": 1, "recon": -41.0, "kl": 0.5, "elbo": -41.5}]}
    return save_checkpoint(tmp_path / "tiny.safetensors", model, digits_info, history, 1, "tiny fixture")
