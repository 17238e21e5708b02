"""A conditional model on the latent canvas, in real Chromium with real pointer events: one decoder graph for
every class (the class is the graph's second input), and the row of the same z decoded as every class drawn by
the canvas itself, following the pointer (each frame one batch of K codes through the same session).

Frames per move and decode ms per frame, for the conditional model beside the shipped unconditional mnist-2d
(the same decoder widths), are printed (-s) and written to tests/artifacts/browser_canvas_conditional.json with
the 1-minute load average.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.browser import (
    CANVAS_PAD,
    ROOT,
    arc_across_pad,
    drag_on_canvas,
    results_artifact,
    save_small_png,
    screenshot_path,
)
from support.canvas import open_canvas, row_pixels
from support.models import train_digits_model

from vae_core.checkpoint import DatasetInfo, load_checkpoint, save_checkpoint
from vae_core.images import to_uint8
from vae_core.models import VAE

pytestmark = pytest.mark.browser

ARTIFACT = ROOT / "tests" / "artifacts" / "browser_canvas_conditional.json"
PIXEL_TOLERANCE = 1e-3  # browser (WebAssembly) vs torch, per pixel in [0, 1]
ROW_TOLERANCE = 1  # uint8 levels: the row's canvases hold rounded pixels
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def conditional_digits(digits, tmp_path_factory):
    """A conditional digits model (2-D), trained for seconds, as a checkpoint file."""
    trainer = train_digits_model(digits, epochs=20, n_classes=len(digits.class_names))
    path = tmp_path_factory.mktemp("cvae") / "cvae-digits.safetensors"
    info = DatasetInfo.of(digits)
    return save_checkpoint(path, trainer.model, info, trainer.history, trainer.epoch, "conditional canvas test")


@pytest.fixture(scope="module")
def conditional_mnist_shaped(tmp_path_factory):
    """mnist-2d's architecture made conditional (untrained: its decode costs what a trained one's does)."""
    shipped = load_checkpoint(ROOT / "checkpoints" / "mnist-2d.safetensors")
    torch.manual_seed(0)
    model = VAE(shipped.config.__class__(**{**shipped.config.__dict__, "n_classes": 10}))
    path = tmp_path_factory.mktemp("cvae") / "cvae-mnist.safetensors"
    return save_checkpoint(path, model, shipped.dataset, {"train": [], "test": []}, 0, "timing only")


write_results = results_artifact(ARTIFACT, RESULTS)


def test_the_canvas_decodes_every_class_with_one_graph_and_its_row_follows_the_pointer(
        browser, canvas_url, conditional_digits):
    model = load_checkpoint(conditional_digits).model
    page = open_canvas(browser, canvas_url, conditional_digits)
    since = page.evaluate("performance.now()")

    result = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)

    z = torch.tensor([result.z], dtype=torch.float32)
    pad_image = model.decode_image(z, torch.tensor([0])).flatten().numpy()  # canvas_app decodes as class 0
    assert np.abs(np.asarray(result.pixels, dtype=np.float32) - pad_image).max() <= PIXEL_TOLERANCE
    every_class = to_uint8(model.decode_every_class(z[0])).reshape(10, -1).astype(int)
    shown = row_pixels(page).astype(int)
    assert shown.shape == every_class.shape
    assert np.abs(shown - every_class).max() <= ROW_TOLERANCE
    assert np.abs(every_class[0] - every_class[1]).max() > 20  # the row shows different classes
    batches = page.evaluate("""(since) => performance.getEntriesByName('latent-canvas:frame')
      .filter(m => m.startTime >= since && m.detail.moveTime !== null).map(m => m.detail.batch)""", since)
    assert len(batches) == result.frames > 1 and set(batches) == {10}  # the row was decoded at every frame
    models = page.evaluate("() => [...globalThis.__latentCanvasModels.keys()]")
    assert models == [load_checkpoint(conditional_digits).sha256]  # one graph, named by the checkpoint alone
    save_small_png(page.screenshot(), screenshot_path("canvas-class-row.png"))
    page.context.close()


@pytest.mark.parametrize("name", ["mnist-2d", "conditional mnist-2d"])
def test_frames_per_move_and_decode_time_with_and_without_the_every_class_row(
        browser, canvas_url, conditional_mnist_shaped, name):
    checkpoint = conditional_mnist_shaped if name.startswith("conditional") else \
        ROOT / "checkpoints" / "mnist-2d.safetensors"
    page = open_canvas(browser, canvas_url, checkpoint)

    result = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)

    RESULTS[f"pad, {name}"] = result.summary()
    print(f"\npad drag, {name}: {result.summary()}")
    assert result.frames > 1 and len(result.decode_ms) == result.frames  # measured, not a goal
    page.context.close()
