"""What the Compare page compares: the checkpoints it offers (the sidebar picker's files and this visitor's
autosaved runs), each as a `ModelView`, with its test evaluation (`python -m vae_core eval`'s quick numbers) kept
per checkpoint sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from vae_core.errors import VAEError
from vae_core.latent import most_moved
from vae_core.metrics import EvalConfig, evaluate_test_sample

from . import cache, model_view, state, workspace
from .model_view import ModelView

MAX_MODELS = 4
MODELS_KEY = "compare_models"  # the page's multiselect of picker names
BETA_SWEEP = "mnist-2d"  # the shipped beta sweep: mnist-2d (beta 1) and mnist-2d-beta*.safetensors
EVAL = EvalConfig()  # the CLI's quick estimate: the page's points are the numbers `vae_core eval` prints


@dataclass(frozen=True)
class Compared:
    """One model on the page: its picker name, its view and its test evaluation."""

    name: str
    view: ModelView
    evaluation: dict

    @property
    def beta(self) -> float:
        return self.view.checkpoint.config.beta

    @property
    def label(self) -> str:
        return f"{Path(self.name).stem} (beta {self.beta:g})"

    @torch.no_grad()
    def reconstruction(self, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """The model's mean reconstructions (N, C, H, W) of x (labels y, read by a conditional model)."""
        model = self.view.model
        return model.reconstruct(x, y if model.config.conditional else None).cpu().numpy()

    @property
    def rate(self) -> float:
        return self.evaluation["kl"]

    @property
    def distortion(self) -> float:
        return -self.evaluation["recon"]


def offered() -> dict[str, Path]:
    """The checkpoints the sidebar picker offers (shipped, saved) and the autosaved runs, by picker name."""
    files = workspace.checkpoint_files() + workspace.autosaves()
    return {workspace.checkpoint_name(path): path for path in files}


def default_choice(names: list[str]) -> list[str]:
    """The shipped beta sweep, by beta, when it is there."""
    stems = {name: Path(name).stem for name in names}
    return [name for name, stem in stems.items() if stem == BETA_SWEEP or stem.startswith(f"{BETA_SWEEP}-beta")][
        :MAX_MODELS]


@st.cache_data(max_entries=32, show_spinner="Evaluating on the test set (as `python -m vae_core eval`)...")
def _evaluation(sha256: str, _view: ModelView) -> dict:
    test = _view.dataset.split("test")
    return evaluate_test_sample(_view.model, test.x, test.y, EVAL)


def load(names: list[str], files: dict[str, Path]) -> list[Compared]:
    """The chosen checkpoints as views with their evaluations, by beta; VAEError when one cannot be read or they
    are not of one dataset."""
    models = []
    for name in names:
        try:
            checkpoint = cache.checkpoint(files[name].read_bytes())
        except OSError as exc:
            raise VAEError(f"{name} could not be read: {exc}") from exc
        view = model_view.of(checkpoint, state.dataset_roots(checkpoint))
        if view.problem is not None:
            raise VAEError(f"{name}'s dataset could not be loaded: {view.problem}")
        models.append(Compared(name, view, _evaluation(checkpoint.sha256, view)))
    datasets = {model.view.checkpoint.dataset.name for model in models}
    if len(datasets) > 1:
        raise VAEError(f"compare models of one dataset; these were trained on {', '.join(sorted(datasets))}")
    return sorted(models, key=lambda model: model.beta)


@st.cache_data(max_entries=16, show_spinner="Finding each example's nearest neighbours in both models...")
def moved(sha256_a: str, sha256_b: str, _codes_a: np.ndarray, _codes_b: np.ndarray, k: int,
          top: int) -> tuple[np.ndarray, np.ndarray]:
    """`vae_core.latent.most_moved` of two models' test codes, kept per pair of checkpoints."""
    return most_moved(_codes_a, _codes_b, k, top)
