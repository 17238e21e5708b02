"""Tiny real models, trained for seconds."""

from __future__ import annotations

import torch

from vae_core.data import Dataset
from vae_core.models import VAE, VAEConfig
from vae_core.train import TrainConfig, Trainer


def train_digits_model(digits: Dataset, epochs: int = 20, latent_dim: int = 2, **config) -> Trainer:
    """A real model trained on digits for a few seconds; returns the finished trainer."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=digits.image_shape, latent_dim=latent_dim, **config))
    trainer = Trainer(model, digits, TrainConfig(epochs=epochs, batch_size=64, learning_rate=2e-3, device="cpu"))
    for _ in trainer.run():
        pass
    return trainer
