"""Evaluation: ELBO on a dataset, importance-weighted log p(x), active units, KL per dimension.

log p(x) = ELBO(x) + KL(q(z|x) || p(z|x)) >= ELBO(x). The importance-weighted bound of Burda et al.
(2016), log (1/K) sum_k p(x, z_k) / q(z_k|x) with z_k ~ q(z|x), equals the ELBO in expectation for K = 1
and rises towards log p(x) as K grows, so the difference exposes the posterior gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .distributions import DiagonalGaussian, StandardNormal
from .limits import Range, check
from .loss import elbo_terms, reconstruction_log_likelihood
from .models import VAE

OnBatch = Callable[[int, int], None]  # on_batch(done, total)


@dataclass(frozen=True)
class EvalConfig:
    """How much work an evaluation does. The default is a quick estimate (seconds even for a conv model on a
    CPU); FULL_EVAL is the whole test split with K = 100, as in Burda et al. (2016)."""

    K: ClassVar[Range] = Range(1, 10_000)

    k: int = 10  # importance samples per example for log p(x)
    examples: int | None = 500  # a fixed random sample of this many test examples; None: all of them
    seed: int = 0  # picks the sample

    def __post_init__(self):
        check([(self.K.contains(self.k), f"K must be {self.K}, got {self.k}"),
               (self.examples is None or self.examples >= 1, f"examples must be >= 1, got {self.examples}")])

    def sample(self, n: int) -> torch.Tensor | None:
        """Sorted positions of the examples to evaluate out of n, or None for all of them."""
        if self.examples is None or self.examples >= n:
            return None
        chosen = np.random.default_rng(self.seed).choice(n, self.examples, replace=False)
        return torch.from_numpy(np.sort(chosen))

    def chosen(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The rows of (x, y) this config evaluates (`sample`)."""
        rows = self.sample(len(x))
        return (x, y) if rows is None else (x[rows], None if y is None else y[rows])


FULL_EVAL = EvalConfig(k=100, examples=None)


def _labelled_batches(x: torch.Tensor, y: torch.Tensor | None, batch_size: int):
    """(x, y) batches on the same rows; y None (an unconditional model needs no labels) gives None each time."""
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size], None if y is None else y[start:start + batch_size]


def _eval_mode(model: VAE) -> bool:
    was_training = model.training
    model.eval()
    return was_training


@torch.no_grad()
def evaluate_elbo(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None,
                  batch_size: int = 1024) -> dict[str, float]:
    """Mean recon, KL and ELBO (nats per example) over x (N, C, H, W) (labels y (N,) for a conditional model),
    one z sample each."""
    was_training = _eval_mode(model)
    totals = {"recon": 0.0, "kl": 0.0}
    for batch, labels in _labelled_batches(x, y, batch_size):
        terms = elbo_terms(model(batch.to(model.device), labels), batch.to(model.device), model.config)
        totals["recon"] += terms.recon.sum().item()
        totals["kl"] += terms.kl.sum().item()
    model.train(was_training)
    recon, kl = totals["recon"] / len(x), totals["kl"] / len(x)
    return {"recon": recon, "kl": kl, "elbo": recon - kl}


@torch.no_grad()
def log_importance_weights(model: VAE, x: torch.Tensor, k: int, batch_size: int | None = None,
                           y: torch.Tensor | None = None, on_batch: OnBatch | None = None) -> torch.Tensor:
    """log p(x, z_k) - log q(z_k|x) for K samples z_k ~ q(z|x): (N, K), in nats (given y for a conditional model:
    then it bounds log p(x|y)); `on_batch(done, total)` reports the examples done."""
    was_training = _eval_mode(model)
    batch_size = batch_size or max(1, 8192 // k)
    out = []
    for batch, labels in _labelled_batches(x, y, batch_size):
        batch = batch.to(model.device)
        posterior = model.encode(batch, labels)[:, None].expand(-1, k, -1)  # (B, K, D): each q(z|x) K times
        z = posterior.sample()  # (B, K, D)
        repeated = None if labels is None else labels.repeat_interleave(k)
        logits = model.decode(z.flatten(0, 1), repeated)  # (B*K, C, H, W)
        targets = batch.repeat_interleave(k, dim=0)
        log_px_z = reconstruction_log_likelihood(
            logits, targets, model.config.likelihood, model.config.gaussian_std
        ).view(len(batch), k)
        log_pz = StandardNormal.log_prob(z).sum(dim=-1)
        log_qz = posterior.log_prob(z).sum(dim=-1)
        out.append((log_px_z + log_pz - log_qz).cpu())
        if on_batch is not None:
            on_batch(sum(len(w) for w in out), len(x))
    model.train(was_training)
    return torch.cat(out)


def iwae_bound(log_weights: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """Importance-weighted bound from the first k columns of log weights (N, K): (N,) estimates."""
    lw = log_weights if k is None else log_weights[:, :k]
    return torch.logsumexp(lw, dim=1) - math.log(lw.shape[1])


def importance_weighted_log_px(model: VAE, x: torch.Tensor, k: int = 100,
                               y: torch.Tensor | None = None, on_batch: OnBatch | None = None) -> torch.Tensor:
    """Estimate of log p(x) per example (N,) with K importance samples from q(z|x)."""
    return iwae_bound(log_importance_weights(model, x, k, y=y, on_batch=on_batch))


@torch.no_grad()
def encode_posterior(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 2048,
                     on_batch: OnBatch | None = None) -> DiagonalGaussian:
    """The posteriors q(z|x) of many examples x (N, C, H, W), mu and logvar (N, D) on the CPU, encoded on the
    model's device in batches (memory stays bounded by one batch on the device); labels y (N,) for a conditional
    model; `on_batch(done, total)` reports progress."""
    was_training = _eval_mode(model)
    mus, logvars = [], []
    for batch, labels in _labelled_batches(x, y, batch_size):
        posterior = model.encode(batch.to(model.device), labels).to("cpu")
        mus.append(posterior.mu)
        logvars.append(posterior.logvar)
        if on_batch is not None:
            on_batch(sum(len(m) for m in mus), len(x))
    model.train(was_training)
    return DiagonalGaussian(torch.cat(mus), torch.cat(logvars))


def kl_per_dimension(posterior: DiagonalGaussian) -> torch.Tensor:
    """Mean KL(q(z_d|x) || N(0, 1)) over the examples of `posterior` (N, D), per latent dimension: (D,)."""
    return posterior.kl().mean(dim=0)


@dataclass(frozen=True)
class DimensionActivity:
    """How much a model uses each latent dimension: its mean KL to the prior over a set of examples (the test split's
    in the app). A dimension the encoder ignores keeps q(z_d|x) = N(0, 1) for every x, so its KL is 0."""

    ACTIVE_KL: ClassVar[float] = 0.01  # nats; below this the encoder (nearly) ignores the dimension

    kl: np.ndarray  # (D,) nats

    @classmethod
    def of(cls, posterior: DiagonalGaussian) -> DimensionActivity:
        return cls(kl_per_dimension(posterior).numpy())

    @property
    def most_active_first(self) -> list[int]:
        """The dimensions by decreasing KL (ties in index order)."""
        return [int(d) for d in np.argsort(-self.kl, kind="stable")]

    def is_active(self, dim: int) -> bool:
        return bool(self.kl[dim] >= self.ACTIVE_KL)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """Dimensions whose posterior mean varies with x: Var_x(E_q[z_d]) > threshold (Burda et al., 2016)."""
    return int((mu.var(dim=0) > threshold).sum())


def evaluate(model: VAE, x: torch.Tensor, k: int = 100, y: torch.Tensor | None = None,
             on_batch: OnBatch | None = None) -> dict[str, float]:
    """Everything the CLI's `eval` prints: recon, KL, ELBO, log p(x) (K samples), gap, active units;
    `on_batch(done, total)` reports the examples whose log p(x) is done (most of the time)."""
    result = evaluate_elbo(model, x, y)
    result["log_px"] = importance_weighted_log_px(model, x, k, y, on_batch).mean().item()
    result["gap"] = result["log_px"] - result["elbo"]
    result["active_units"] = active_units(encode_posterior(model, x, y).mu)
    result["k"] = k
    return result


def evaluate_seeded(model: VAE, x: torch.Tensor, k: int = 100, y: torch.Tensor | None = None, seed: int = 0,
                    on_batch: OnBatch | None = None) -> dict[str, float]:
    """`evaluate` with its z draws seeded (the global RNG is left as it was), so the same model and examples give
    the same numbers wherever they are evaluated: the CLI's `eval` and the Compare page."""
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(seed)
        return evaluate(model, x, k=k, y=y, on_batch=on_batch)


def evaluate_test_sample(model: VAE, x_test: torch.Tensor, y_test: torch.Tensor | None,
                         config: EvalConfig = EvalConfig(), on_batch: OnBatch | None = None) -> dict[str, float]:
    """What `python -m vae_core eval` prints for `config` (the quick estimate by default): `evaluate_seeded` on the
    config's examples of the test split."""
    x, y = config.chosen(x_test, y_test)
    return evaluate_seeded(model, x, k=config.k, y=y, seed=config.seed, on_batch=on_batch)


@torch.no_grad()
def per_example_terms(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 1024,
                      seed: int | None = 0, on_batch: OnBatch | None = None) -> dict[str, np.ndarray]:
    """recon, KL and ELBO per example (N,) float32 each, in nats, exactly as `evaluate_elbo` sums them: one
    z ~ q(z|x) per example for recon, the closed-form KL, elbo = recon - kl (beta 1); labels y (N,) for a
    conditional model. `seed` fixes the z draws (the global RNG is left as it was; None draws from it);
    `on_batch(done, total)` reports progress."""
    was_training = _eval_mode(model)
    recon, kl = [], []
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        if seed is not None:
            torch.manual_seed(seed)
        for batch, labels in _labelled_batches(x, y, batch_size):
            batch = batch.to(model.device)
            terms = elbo_terms(model(batch, labels), batch, model.config)
            recon.append(terms.recon.cpu())
            kl.append(terms.kl.cpu())
            if on_batch is not None:
                on_batch(sum(len(r) for r in recon), len(x))
    model.train(was_training)
    recon, kl = torch.cat(recon).numpy(), torch.cat(kl).numpy()
    return {"recon": recon, "kl": kl, "elbo": recon - kl}
