"""The draw pad (ui/components/draw_pad) driven with real pointer events: a stroke drawn at 60 Hz, the pad's
performance marks read back, and what it showed checked against torch (the Encode page's and the standalone page's
browser tests)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from vae_core.checkpoint import DatasetInfo, load_checkpoint, save_checkpoint
from vae_core.loss import reconstruction_log_likelihood

from .models import train_digits_model

DRAWING = ".draw-pad .drawing"
CLASS_PICKER = ".draw-pad .class"  # a conditional model's class: the encoder's and the decoder's other input
POSTERIOR = ".draw-pad .posterior"  # its data-mu: the posterior mean shown, per dimension
NEIGHBOURS = ".draw-pad .neighbours figure"
STROKE_MOVES = 40  # down the drawing over about two thirds of a second, as a hand draws a "1"
MOVE_INTERVAL_S = 1 / 60
GOAL_FRAMES_PER_MOVE = 0.9
POSTERIOR_TOLERANCE = 1e-3  # browser (WebAssembly) vs torch

# True once the pad has decoded a posterior (its first, of the blank drawing): the encoder and decoder are loaded.
READY = "() => performance.getEntriesByName('draw-pad:recon').length > 0"
# The pad's marks since `since`: stroke moves, posterior frames and recon frames.
MARKS = """(since) => {
  const after = (name) => performance.getEntriesByName(name).filter(m => m.startTime >= since);
  const shown = (name) => after(name).filter(m => m.detail.moveTime !== null && m.detail.moveTime >= since)
    .map(m => ({at: m.startTime, ...m.detail}));
  return {moves: after('draw-pad:move').length, posterior: shown('draw-pad:posterior'), recon: shown('draw-pad:recon')};
}"""


def draw_stroke(page, path, moves: int = STROKE_MOVES) -> tuple[float, float, list[str]]:
    """Press on the drawing at path(0, box), move along path(t, box) for t in (0, 1] at 60 Hz, release. Returns
    (performance.now() at the press, at the release) and the posterior readout read at each third of the stroke."""
    page.locator(DRAWING).scroll_into_view_if_needed()
    box = page.locator(DRAWING).bounding_box()
    page.mouse.move(*path(0.0, box))
    since = page.evaluate("performance.now()")
    page.mouse.down()
    readouts, started = [], time.perf_counter()
    for i in range(1, moves + 1):
        page.mouse.move(*path(i / moves, box))
        if i % (moves // 3) == 0:
            readouts.append(page.locator(POSTERIOR).get_attribute("data-mu"))
        time.sleep(max(0.0, started + i * MOVE_INTERVAL_S - time.perf_counter()))
    released = page.evaluate("performance.now()")
    page.mouse.up()
    page.wait_for_timeout(300)  # the last frames
    return since, released, readouts


def vertical_line(t: float, box: dict) -> tuple[float, float]:
    """A "1": down the middle of the drawing, from a fifth of its height to four fifths."""
    return box["x"] + box["width"] / 2, box["y"] + box["height"] * (0.2 + 0.6 * t)


def summary(moves: int, frames: list[dict]) -> dict:
    """Frames per stroke move, move -> frame latency and the model's run per frame, with the 1-minute load."""
    latency = [f["at"] - f["moveTime"] for f in frames]
    runs = [f.get("encodeMs", f.get("decodeMs")) for f in frames]
    p50, p95 = np.percentile(latency, [50, 95])
    return {"moves": moves, "frames": len(frames), "frames_per_move": round(len(frames) / moves, 3),
            "latency_p50_ms": round(float(p50), 1), "latency_p95_ms": round(float(p95), 1),
            "run_p50_ms": round(float(np.percentile(runs, 50)), 2), "load_1min": round(os.getloadavg()[0], 2)}


def assert_terms_equal_torch(checkpoint, shown: dict, posterior: list[dict]) -> None:
    """The browser's posterior, log p(x|z) and KL of what it drew are torch's for the same x and noise."""
    model = load_checkpoint(checkpoint).model
    x = torch.tensor(shown["x"], dtype=torch.float32).reshape(1, *model.config.image_shape)
    with torch.no_grad():
        q = model.encode(x)
        z = q.reparameterise(torch.tensor([shown["noise"]], dtype=torch.float32))
        recon = reconstruction_log_likelihood(model.decode(z), x, model.config.likelihood, model.config.gaussian_std)
    [browser_mu] = [f["mu"] for f in posterior if f["moveTime"] == shown["moveTime"]][-1:]
    assert np.abs(np.asarray(browser_mu) - q.mu.numpy()[0]).max() <= POSTERIOR_TOLERANCE
    assert shown["recon"] == pytest.approx(float(recon), rel=1e-3, abs=0.05)
    assert shown["kl"] == pytest.approx(float(q.kl().sum()), rel=1e-3, abs=1e-3)
    assert shown["elbo"] == pytest.approx(shown["recon"] - shown["kl"])


# --- a conditional model: the class picker is the encoder's and the decoder's other input ---

@pytest.fixture(scope="module")
def conditional_digits(digits, tmp_path_factory):
    """A conditional digits model (2-D, 8x8), trained for seconds, as a checkpoint file."""
    trainer = train_digits_model(digits, epochs=20, n_classes=len(digits.class_names))
    path = tmp_path_factory.mktemp("cvae") / "cvae-digits.safetensors"
    return save_checkpoint(path, trainer.model, DatasetInfo.of(digits), trainer.history, trainer.epoch,
                           "conditional encode test")


def latest(page, name: str, since: float) -> dict:
    """The newest mark `name` made after `since`, waited for."""
    page.wait_for_function("([name, since]) => performance.getEntriesByName(name).some(m => m.startTime > since)",
                           arg=[name, since], timeout=10_000)
    return page.evaluate("(name) => performance.getEntriesByName(name).at(-1).detail", name)


def example_then_another_class(page) -> tuple[dict, dict]:
    """Start from a dataset example (drawn; the class picker takes its label), then pick the next class: the
    reconstruction marks of both."""
    picker = page.locator(CLASS_PICKER)
    since = page.evaluate("performance.now()")
    page.locator(".draw-pad .example").click()
    example = latest(page, "draw-pad:recon", since)
    assert example["label"] == int(picker.input_value())
    since = page.evaluate("performance.now()")
    picker.select_option(str((example["label"] + 1) % picker.locator("option").count()))
    return example, latest(page, "draw-pad:recon", since)


def assert_each_class_encoded_like_torch(model, example: dict, chosen: dict) -> None:
    """The same drawing encoded and decoded as each class: its KL and log p(x|z) are torch's, and they differ."""
    assert chosen["label"] != example["label"] and chosen["x"] == example["x"]
    x = torch.tensor(example["x"], dtype=torch.float32).reshape(1, *model.config.image_shape)
    for shown in (example, chosen):
        label = torch.tensor([shown["label"]])
        with torch.no_grad():
            q = model.encode(x, label)
            z = q.reparameterise(torch.tensor([shown["noise"]], dtype=torch.float32))
            recon = reconstruction_log_likelihood(model.decode(z, label), x, model.config.likelihood,
                                                  model.config.gaussian_std)
        assert shown["kl"] == pytest.approx(float(q.kl().sum()), rel=1e-3, abs=1e-3)
        assert shown["recon"] == pytest.approx(float(recon), rel=1e-3, abs=0.05)
    assert chosen["kl"] != pytest.approx(example["kl"], rel=1e-3)  # the class changed the posterior
