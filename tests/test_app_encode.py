"""Encode page, driven through the app with AppTest; and what its neighbours mean on the shipped MNIST model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.apptest import page
from support.paths import DEFAULT_CHECKPOINT

from vae_core.checkpoint import load_checkpoint


@pytest.mark.parametrize("checkpoint", [None, "digits-8d.safetensors"])  # None: the app's default, MNIST 2-D
def test_the_encode_page_renders_on_a_shipped_model_without_error(checkpoint):
    at = page("pages/encode.py", checkpoint)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Encode a drawing"


def vertical_stroke(size: int = 28, width: int = 3) -> torch.Tensor:
    """A "1" as a hand draws it: a vertical bar down the middle, (1, 1, size, size) in [0, 1]."""
    x = torch.zeros(1, 1, size, size)
    left = (size - width) // 2
    x[..., 4:size - 4, left:left + width] = 1.0
    return x


def test_a_vertical_stroke_has_mostly_ones_among_its_ten_nearest_test_examples(mnist):
    """The sanity check behind the page's neighbours: the shipped MNIST model encodes a drawn "1" near the test
    set's ones (the browser test checks the same for a stroke drawn with the mouse)."""
    model = load_checkpoint(DEFAULT_CHECKPOINT).model  # the shipped MNIST 2-D
    test = mnist.split("test")

    codes = model.encode(test.x).mu.detach()
    mu = model.encode(vertical_stroke()).mu.detach()
    nearest = torch.cdist(mu, codes)[0].argsort()[:10]

    assert (test.y[nearest] == 1).sum() >= 6, test.y[nearest].tolist()
    assert np.isfinite(mu.numpy()).all()
