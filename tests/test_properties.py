"""Property tests (hypothesis): KL, interpolation, model shapes and checkpoints over random inputs and configs."""

from __future__ import annotations

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vae_core.checkpoint import DatasetInfo, checkpoint_bytes, load_checkpoint_bytes
from vae_core.distributions import DiagonalGaussian
from vae_core.latent import slerp
from vae_core.loss import discrete_kl
from vae_core.models import VAE, VAEConfig

FAST = settings(max_examples=60, deadline=None)
MODELS = settings(max_examples=12, deadline=None)  # each example builds a real model

weights = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
distributions = st.integers(2, 6).flatmap(
    lambda n: st.tuples(st.lists(weights, min_size=n, max_size=n), st.lists(weights, min_size=n, max_size=n))
).filter(lambda pq: sum(pq[0]) > 1e-3 and sum(pq[1]) > 1e-3)
coords = st.floats(min_value=-10, max_value=10, allow_nan=False, width=32)


def _normalised(w: list[float]) -> list[float]:
    return [v / sum(w) for v in w]


@FAST
@given(distributions)
def test_discrete_kl_is_non_negative_and_zero_only_for_equal_distributions(pq):
    p, q = pq
    kl = discrete_kl(p, q)
    assert kl >= 0
    assert discrete_kl(p, p) == 0
    gap = max(abs(a - b) for a, b in zip(_normalised(p), _normalised(q)))
    if gap > 1e-3:
        assert kl > 0


@FAST
@given(st.lists(st.tuples(coords, st.floats(-20, 20, allow_nan=False, width=32)), min_size=1, max_size=8),
       st.sampled_from([torch.float32, torch.float64]))
def test_gaussian_kl_is_non_negative_and_zero_only_at_the_prior(params, dtype):
    mu = torch.tensor([[m for m, _ in params]], dtype=dtype)
    logvar = torch.tensor([[lv for _, lv in params]], dtype=dtype)
    kl = DiagonalGaussian(mu, logvar).kl()
    assert torch.all(kl >= 0), (mu, logvar, kl)
    far = (mu.abs() > 1e-2) | (logvar.abs() > 1e-2)
    assert torch.all(kl[far] > 0)
    assert torch.all(DiagonalGaussian(torch.zeros_like(mu), torch.zeros_like(logvar)).kl() == 0)


vectors = st.integers(1, 16).flatmap(lambda d: st.tuples(st.lists(coords, min_size=d, max_size=d),
                                                         st.lists(coords, min_size=d, max_size=d)))


@FAST
@given(vectors, st.integers(2, 12))
def test_slerp_endpoints_are_exact(pair, steps):
    z0, z1 = (torch.tensor(v) for v in pair)
    path = slerp(z0, z1, steps)
    assert path.shape == (steps, len(z0))
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


@FAST
@given(vectors, st.floats(0.1, 10), st.integers(3, 12))
def test_slerp_keeps_the_norm_between_equal_norm_vectors(pair, radius, steps):
    a, b = (torch.tensor(v, dtype=torch.float64) for v in pair)
    assume(len(a) >= 2 and a.norm() > 1e-3 and b.norm() > 1e-3)
    z0, z1 = a / a.norm() * radius, b / b.norm() * radius
    assume(torch.dot(z0, z1) / radius**2 > -0.99)  # antipodal points have no unique great circle
    norms = slerp(z0.float(), z1.float(), steps).double().norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, radius), rtol=1e-4)


configs = st.builds(
    lambda arch, shape, latent, hidden, likelihood, beta: VAEConfig(
        image_shape=shape, latent_dim=latent, architecture=arch, hidden_dims=hidden, likelihood=likelihood,
        beta=beta),
    st.sampled_from(["mlp", "conv"]),
    st.sampled_from([(1, 8, 8), (3, 8, 8), (1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32)]),
    st.integers(1, 16),
    st.lists(st.integers(2, 24), min_size=1, max_size=3).map(tuple),
    st.sampled_from(["bernoulli", "gaussian"]),
    st.floats(0, 10, allow_nan=False),
)


@MODELS
@given(configs, st.integers(1, 3))
def test_encode_and_decode_shapes_follow_the_config(config, batch):
    model = VAE(config)
    x = torch.rand(batch, *config.image_shape)
    posterior = model.encode(x)
    mu = posterior.mu
    assert mu.shape == posterior.logvar.shape == (batch, config.latent_dim)
    assert model.decode(mu).shape == (batch, *config.image_shape)
    assert model.sample(2).shape == (2, *config.image_shape)


@MODELS
@given(configs, st.integers(0, 10_000))
def test_checkpoint_round_trip_for_random_configs(config, epoch):
    model = VAE(config)
    info = DatasetInfo("folder", config.image_shape, ("a", "b"), {"path": "/data", "size": config.image_shape[1]})
    history = {"train": [{"step": 1, "epoch": 0.5, "recon": -1.5, "kl": 0.25, "elbo": -1.75, "beta": config.beta}],
               "test": []}
    ckpt = load_checkpoint_bytes(checkpoint_bytes(model, info, history, epoch, command="prop"))
    assert ckpt.config == config and ckpt.epoch == epoch and ckpt.history == history and ckpt.dataset == info
    loaded = ckpt.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
