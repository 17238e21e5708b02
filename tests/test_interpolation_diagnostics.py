"""Interpolation diagnostics: norms against the sqrt(D) shell, the prior log-density, re-encoding consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support.apptest import page
from support.latent_views import SHIPPED, shipped
from support.paths import ROOT

from ui.session_keys import INTERPOLATE_DIAGNOSTICS, INTERPOLATE_PATHS
from vae_core.checkpoint import load_checkpoint
from vae_core.distributions import DiagonalGaussian
from vae_core.latent import lerp, path_diagnostics, prior_samples, reencode, slerp
from vae_core.metrics import encode_posterior


def test_slerp_between_two_codes_of_norm_r_keeps_norm_r():
    z0, z1 = prior_samples(2, 64, seed=3)
    r = 7.5
    path = slerp(z0 / z0.norm() * r, z1 / z1.norm() * r, 25)
    np.testing.assert_allclose(path.norm(dim=1), r, rtol=1e-5)


def test_the_lerp_midpoint_of_two_high_dimensional_prior_codes_falls_inside_the_shell():
    d = 256
    z0, z1 = prior_samples(2, d, seed=0)
    diagnostics = {name: path_diagnostics(_identity_model(d), f(z0, z1, 11)) for name, f in
                   (("lerp", lerp), ("slerp", slerp))}
    shell = math.sqrt(d)
    assert diagnostics["lerp"].shell == shell
    # Two independent prior codes are nearly orthogonal, so the lerp midpoint has norm about sqrt(D / 2).
    assert diagnostics["lerp"].norm[5] == pytest.approx(shell / math.sqrt(2), rel=0.1)
    assert diagnostics["slerp"].norm.min() > 0.9 * shell
    # ... and there the prior's density is e^(D/4) = e^64 times the shell's: a point no prior sample lands on.
    gain = diagnostics["lerp"].prior_log_density[5] - diagnostics["slerp"].prior_log_density[5]
    assert gain == pytest.approx(d / 4, rel=0.15)


def test_the_prior_log_density_along_a_path_is_the_closed_form():
    path = lerp(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([3.0, 0.0, 4.0]), 3)
    got = path_diagnostics(_identity_model(3), path).prior_log_density
    norms = np.array([0.0, 2.5, 5.0])
    np.testing.assert_allclose(got, -0.5 * norms ** 2 - 1.5 * math.log(2 * math.pi), rtol=1e-6)


def test_reencoding_error_is_small_at_the_codes_of_data_and_large_far_from_them(digits):
    model = load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model
    mu = encode_posterior(model, digits.x_test[:20]).mu
    far = torch.tensor([[12.0, -12.0]])
    errors = path_diagnostics(model, torch.cat([mu, far])).reencoding_error
    assert np.median(errors[:20]) < 0.5
    assert errors[-1] > 10 * np.median(errors[:20])
    np.testing.assert_allclose(errors, (reencode(model, torch.cat([mu, far])) - torch.cat([mu, far])).norm(dim=1),
                               rtol=1e-6)


class _Identity(torch.nn.Module):
    """A stand-in 'model' whose decoder and encoder are exact inverses: re-encoding gives z back."""

    def __init__(self, d: int):
        super().__init__()
        self.d = d
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives it a device

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    def decode_image(self, z: torch.Tensor, y=None) -> torch.Tensor:
        return z.view(len(z), 1, 1, self.d)

    def encode(self, x: torch.Tensor, y=None) -> DiagonalGaussian:
        return DiagonalGaussian(x.flatten(1), torch.zeros(len(x), self.d))


def _identity_model(d: int) -> _Identity:
    return _Identity(d)


def test_an_exact_autoencoder_has_zero_reencoding_error():
    path = slerp(*prior_samples(2, 16, seed=1), 9)
    np.testing.assert_allclose(path_diagnostics(_identity_model(16), path).reencoding_error, 0.0, atol=1e-5)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_interpolation_page_charts_the_diagnostics_of_the_paths_it_decodes(name):
    at = page("pages/interpolate.py", name)
    at.radio(key="interpolate_source").set_value("Random prior samples").run()
    assert not at.exception and not at.error
    model = shipped(name).checkpoint.model
    paths, shown = at.session_state[INTERPOLATE_PATHS], at.session_state[INTERPOLATE_DIAGNOSTICS]
    for method, path in paths.items():
        expected = path_diagnostics(model, torch.from_numpy(path))
        np.testing.assert_allclose(shown[method].norm, expected.norm, rtol=1e-6)
        np.testing.assert_allclose(shown[method].prior_log_density, expected.prior_log_density, rtol=1e-6)
        np.testing.assert_allclose(shown[method].reencoding_error, expected.reencoding_error, rtol=1e-4, atol=1e-5)
    middle = len(paths["linear"]) // 2
    assert shown["linear"].norm[middle] < shown["spherical"].norm[middle]
    assert shown["linear"].prior_log_density[middle] > shown["spherical"].prior_log_density[middle]
    assert shown["spherical"].shell == pytest.approx(model.config.latent_dim ** 0.5)
