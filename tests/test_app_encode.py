"""Encode page, driven through the app with AppTest; and what its neighbours mean on the shipped MNIST model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from vae_core.checkpoint import load_checkpoint

SHIPPED_MNIST = ROOT / "checkpoints" / "mnist-2d.safetensors"


def encode_page(checkpoint: str | None = None) -> AppTest:
    """The Encode page; None keeps the app's default model (MNIST 2-D)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    if checkpoint:
        at.sidebar.selectbox(key="app_checkpoint").select(checkpoint).run()
    at.switch_page("pages/encode.py").run()
    return at


@pytest.mark.parametrize("checkpoint", [None, "digits-8d.safetensors"])
def test_the_encode_page_renders_on_a_shipped_model_without_error(checkpoint):
    at = encode_page(checkpoint)

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
    model = load_checkpoint(SHIPPED_MNIST).model
    test = mnist.split("test")

    codes = model.encode(test.x).mu.detach()
    mu = model.encode(vertical_stroke()).mu.detach()
    nearest = torch.cdist(mu, codes)[0].argsort()[:10]

    assert (test.y[nearest] == 1).sum() >= 6, test.y[nearest].tolist()
    assert np.isfinite(mu.numpy()).all()
