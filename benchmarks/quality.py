"""Model quality: test reconstruction, KL, ELBO and importance-weighted log p(x) for digits and MNIST."""

from __future__ import annotations

import torch

from vae_core.data import Dataset
from vae_core.metrics import evaluate
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig

from .context import Context, train
from .report import Table

HIDDEN = {  # per dataset and architecture: MLP widths or conv channels
    ("digits", "mlp"): (256, 128), ("digits", "conv"): (16, 32),
    ("mnist", "mlp"): (400,), ("mnist", "conv"): (16, 32),
}
# Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders", Table 1 (MNIST, VAE, k = 1,
# one stochastic layer). Their setting differs from ours: dynamically binarised MNIST, 784-200-200-50
# tanh networks, 3,280 passes over the data, log p(x) estimated with k = 5,000.
PUBLISHED = ("MNIST (binarised)", "Burda et al. 2016, Table 1: VAE k=1, 1 stochastic layer", 50, 3280, "-86.76")


def bernoulli_floor(x: torch.Tensor) -> float:
    """Best possible Bernoulli log-likelihood of grey-level images: minus their pixel entropy, per image."""
    p = x.clamp(1e-6, 1 - 1e-6)
    return float((p * p.log() + (1 - p) * (1 - p).log()).flatten(1).sum(1).mean())


def evaluate_row(table: Table, ctx: Context, data: Dataset, x_eval: torch.Tensor, arch: str, latent: int,
                 epochs: int, warmup: float, k: int) -> None:
    config = VAEConfig(image_shape=data.image_shape, latent_dim=latent, architecture=arch,
                       hidden_dims=HIDDEN[(data.name, arch)])
    train_config = TrainConfig(epochs=epochs, batch_size=128, learning_rate=1e-3, kl_warmup_epochs=warmup,
                               device=ctx.settings.device)
    model, seconds = train(config, data, train_config)
    torch.manual_seed(0)
    result = evaluate(model, x_eval, k)
    if data.name == "mnist":
        ctx.mnist_models[f"{arch}-{latent}"] = model
    table.add(data.name, f"{arch} {'-'.join(map(str, config.hidden_dims))}", latent, epochs, seconds,
              result["recon"], result["kl"], result["elbo"], result["log_px"], result["active_units"], "-")


def run(ctx: Context) -> list[Table]:
    settings = ctx.settings
    table = Table("Model quality (test set, nats per image; higher is better)", [
        "dataset", "model", "latent", "epochs", "train s", "recon", "KL", "ELBO", "log p(x) (IWAE)",
        "active units", "published log p(x)"])
    digits = ctx.digits
    for arch in ("mlp", "conv"):
        for latent in settings.latent_dims:
            evaluate_row(table, ctx, digits, digits.x_test, arch, latent, settings.digits_quality_epochs,
                         warmup=10, k=settings.iwae_k)
    table.notes.append(f"digits: all {len(digits.x_test)} test images, log p(x) with K = {settings.iwae_k}, "
                       "KL warm-up 10 epochs, batch 128, Adam 1e-3; no published figure for this setting.")
    mnist = ctx.mnist
    if mnist is None:
        table.notes.append(ctx.mnist_missing)
        return [table]
    x_eval = mnist.x_test[:settings.mnist_eval_examples]
    for arch, epochs in (("mlp", settings.mnist_mlp_epochs), ("conv", settings.mnist_conv_epochs)):
        for latent in settings.latent_dims:
            evaluate_row(table, ctx, mnist, x_eval, arch, latent, epochs, warmup=0, k=settings.iwae_k)
    dataset, model, latent, epochs, log_px = PUBLISHED
    table.add(dataset, model, latent, epochs, "-", "-", "-", "-", "-", "-", log_px)
    table.notes += [
        f"MNIST: trained on {len(mnist.x_train):,} images; every column measured on the first {len(x_eval):,} "
        f"test images, log p(x) with K = {settings.iwae_k}; batch 128, Adam 1e-3, no KL warm-up.",
        "MNIST is modelled at its grey levels with a Bernoulli decoder (as the PyTorch tutorial does), so "
        "the numbers are not comparable to binarised-MNIST results: even a perfect decoder scores "
        f"{bernoulli_floor(x_eval):.1f} nats on these images (minus their pixel entropy). The published row "
        "is there for scale only; its setting differs (binarised data, latent 50, 3,280 epochs, K = 5,000).",
    ]
    return [table]
