"""Class-mean directions and latent arithmetic on real models: walking toward a class moves the decoded images there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint
from vae_core.directions import (
    DirectionsConfig,
    arithmetic,
    class_mean,
    class_means,
    group_means,
    nearest_class,
    walk,
)
from vae_core.latent import reencode
from vae_core.metrics import encode_posterior


def test_class_means_average_each_class_and_mark_empty_ones():
    mu = torch.tensor([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0]])
    labels = np.array([0, 0, 2])
    means = class_means(mu, labels, 3)
    torch.testing.assert_close(means[0], torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(means[2], torch.tensor([10.0, 10.0]))
    assert torch.isnan(means[1]).all()
    torch.testing.assert_close(class_mean(mu, labels, 0), means[0])
    with pytest.raises(ValueError, match="class 1 has no examples"):
        class_mean(mu, labels, 1)
    assert nearest_class(torch.tensor([[1.5, 1.5], [9.0, 9.0]]), means).tolist() == [0, 2]


def test_group_means_average_a_selection_against_the_rest_or_a_second_group():
    mu = torch.tensor([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0], [4.0, 2.0]])
    mean_a, rest = group_means(mu, [1, 3])
    torch.testing.assert_close(mean_a, torch.tensor([3.0, 3.0]))
    torch.testing.assert_close(rest, torch.tensor([5.0, 5.0]))
    _, mean_b = group_means(mu, [1, 3], [2])
    torch.testing.assert_close(mean_b, torch.tensor([10.0, 10.0]))
    with pytest.raises(ValueError, match="at least one example"):
        group_means(mu, [0, 1, 2, 3])


def test_a_walk_of_the_whole_direction_from_the_source_mean_ends_on_the_target_mean():
    source, target = torch.tensor([1.0, -1.0, 0.0]), torch.tensor([0.0, 2.0, 3.0])
    path = walk(source, target - source, np.linspace(0, 1, DirectionsConfig.strip_steps))
    torch.testing.assert_close(path[0], source)
    torch.testing.assert_close(path[-1], target)
    np.testing.assert_allclose(np.diff(path.numpy(), axis=0), np.diff(path.numpy(), axis=0)[:1].repeat(8, 0),
                               atol=1e-6)  # equal steps


def test_arithmetic_moves_c_by_the_offset_from_b_to_a():
    a, b, c = torch.tensor([3.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.0, 5.0])
    torch.testing.assert_close(arithmetic(a, b, c), torch.tensor([2.0, 5.0]))
    torch.testing.assert_close(arithmetic(a, a, c), c)


def distance_to_target_along_walk(name: str, dataset, source: int, target: int) -> np.ndarray:
    """||mu(decode(z)) - mean(target)|| along the walk from mean(source) to mean(target), 9 steps."""
    model = load_checkpoint(ROOT / "checkpoints" / f"{name}.safetensors").model
    mu = encode_posterior(model, dataset.x_test).mu
    labels = dataset.y_test.numpy()
    start, end = class_mean(mu, labels, source), class_mean(mu, labels, target)
    path = walk(start, end - start, np.linspace(0, 1, DirectionsConfig.strip_steps))
    return (reencode(model, path) - end).norm(dim=1).numpy()


@pytest.mark.parametrize("name", ["digits-2d", "digits-8d"])
@pytest.mark.parametrize("source,target", [(3, 8), (1, 0), (7, 4)])
def test_moving_along_a_class_direction_moves_the_decoded_images_encoding_toward_the_target_mean(
        name, source, target, digits):
    distance = distance_to_target_along_walk(name, digits, source, target)
    assert distance[-1] < 0.5 * distance[0]
    assert (np.diff(distance) < 0).sum() >= 6  # of 8 steps: down nearly all the way
    assert np.corrcoef(np.arange(len(distance)), distance)[0, 1] < -0.9


@pytest.mark.parametrize("name", ["mnist-2d", "mnist-conv"])
def test_on_mnist_walking_from_3_toward_8_moves_the_decoded_images_encoding_toward_the_8s(name, mnist):
    distance = distance_to_target_along_walk(name, mnist, 3, 8)
    assert distance[-1] < 0.5 * distance[0]
    assert np.corrcoef(np.arange(len(distance)), distance)[0, 1] < -0.9
