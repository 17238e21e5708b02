"""Latent space helpers: interpolation, traversals, prior samples, the PCA plane (2-D maps: test_projection.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.latent import (
    interpolate,
    latent_grid,
    lerp,
    prior_samples,
    slerp,
    traversal_grid,
)
from vae_core.projection import pca_plane


@pytest.mark.parametrize("interp", [lerp, slerp])
def test_interpolation_endpoints_are_exact(interp):
    z0, z1 = torch.tensor([0.3, -1.7, 2.2]), torch.tensor([-0.9, 0.4, 1.1])
    path = interp(z0, z1, 7)
    assert path.shape == (7, 3) and path.dtype == z0.dtype
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


def test_lerp_steps_are_evenly_spaced():
    path = lerp(torch.zeros(2), torch.tensor([4.0, -8.0]), 5)
    assert torch.allclose(path, torch.tensor([[0, 0], [1, -2], [2, -4], [3, -6], [4, -8.0]]))


def test_slerp_keeps_the_norm_where_lerp_cuts_through_the_centre():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    assert torch.allclose(slerp(z0, z1, 9).norm(dim=1), torch.full((9,), 3.0), atol=1e-5)
    assert lerp(z0, z1, 9).norm(dim=1)[4] == pytest.approx(3.0 / np.sqrt(2), rel=1e-5)
    assert torch.allclose(slerp(z0, z1, 3)[1], torch.tensor([3.0, 3.0]) / np.sqrt(2), atol=1e-5)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    z0 = torch.tensor([1.0, 2.0])
    assert torch.allclose(slerp(z0, 2 * z0, 5), lerp(z0, 2 * z0, 5))


def test_interpolate_dispatches_and_rejects_unknown_methods():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.equal(interpolate(z0, z1, 4, "linear"), lerp(z0, z1, 4))
    assert torch.equal(interpolate(z0, z1, 4, "spherical"), slerp(z0, z1, 4))
    with pytest.raises(ValueError, match="interpolation"):
        interpolate(z0, z1, 4, "cubic")


def test_prior_samples_are_standard_normal_and_seeded():
    z = prior_samples(20_000, 3, seed=1)
    assert z.shape == (20_000, 3)
    assert torch.equal(z, prior_samples(20_000, 3, seed=1)) and not torch.equal(z, prior_samples(20_000, 3, seed=2))
    assert z.mean(0).abs().max() < 0.05 and (z.std(0) - 1).abs().max() < 0.05


def test_traversal_changes_only_the_image_rows_of_the_moved_dimension(trained_digits):
    model = trained_digits.model.eval()
    values = torch.linspace(-2, 2, 5)
    grid = traversal_grid(model, torch.zeros(2), [0, 1], values)
    assert grid.shape == (2, 5, 1, 8, 8)
    assert torch.all((grid >= 0) & (grid <= 1))
    for row in range(2):  # moving a dimension of a trained model changes the decoded digit
        assert (grid[row, 0] - grid[row, -1]).abs().mean() > 0.05
    assert torch.allclose(grid[0, 2], grid[1, 2])  # both rows pass through z = 0


def test_latent_grid_runs_left_to_right_top_to_bottom():
    grid = latent_grid(3, extent=2.0)
    assert grid.shape == (9, 2)
    assert torch.equal(grid[0], torch.tensor([-2.0, 2.0])) and torch.equal(grid[-1], torch.tensor([2.0, -2.0]))


def test_pca_plane_maps_codes_to_the_plane_and_back_exactly():
    mu = np.random.default_rng(0).normal(size=(500, 6)) * np.arange(1, 7)
    origin, basis = pca_plane(mu)
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-9)  # orthonormal rows
    z = mu[:5]
    u = (z - origin) @ basis.T  # (5, 2): where the pad draws each code
    residual = (z - origin) - u @ basis
    np.testing.assert_allclose(origin + u @ basis + residual, z, atol=1e-9)
    moved = origin + (u + [1.0, -2.0]) @ basis + residual  # a drag on the pad moves only the plane's part
    np.testing.assert_allclose((moved - origin) @ basis.T, u + [1.0, -2.0], atol=1e-9)
