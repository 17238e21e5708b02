"""The latent views in real Chromium: Prior and holes, Directions, and the Interpolation page's diagnostics.

Each page is opened from the sidebar, checked for what it draws, timed (navigation click -> script done), and
screenshotted for the README (docs/screenshots under `make screenshots`). The Directions amount slider is dragged
with real pointer events: its image is decoded in the browser at every move (pointer move -> frame measured) and
its last frame compared with torch's. Timings are printed and written to tests/artifacts/latent_views_latency.json,
never asserted.
"""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest
import torch
from support.browser import (
    ARTIFACTS,
    EXCEPTION,
    MAIN,
    chromium,
    open_app,
    open_page,
    pick_model,
    save_small_png,
    screenshot_path,
    settle_for_screenshot,
    wait_until_idle,
)
from support.paths import DEFAULT_CHECKPOINT, ROOT

from vae_core.checkpoint import load_checkpoint
from vae_core.data import load_dataset
from vae_core.directions import class_mean
from vae_core.latent import prior_samples, slerp_at
from vae_core.metrics import encode_posterior

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

TALL_VIEWPORT = {"width": 1280, "height": 1900}  # the main area scrolls inside the app: a tall window shows it all
MAX_SCREENSHOT_BYTES = 400_000
TIMINGS: dict[str, float] = {}
SEED_B = 10  # with seed 0, two 16-D prior codes 120 degrees apart (cosine -0.51): lerp's midpoint has half the norm


@pytest.fixture(scope="module")
def session(app_url):
    with chromium() as browser:
        yield open_app(browser, app_url, viewport=TALL_VIEWPORT)
    ARTIFACTS.mkdir(exist_ok=True)
    timings = {name: round(seconds, 4) for name, seconds in TIMINGS.items()}
    (ARTIFACTS / "latent_views_latency.json").write_text(json.dumps(
        {"seconds": timings, "load_1min": round(os.getloadavg()[0], 2)}, indent=2))
    print("\nlatent views, seconds:", timings, f"(load {os.getloadavg()[0]:.1f})")


def timed_open(page, title: str, model: str = "mnist-2d") -> None:
    started = time.perf_counter()
    open_page(page, title)
    TIMINGS[f"open {title} ({model})"] = time.perf_counter() - started
    shown = page.locator(EXCEPTION)
    assert shown.count() == 0, f"exception on {title}: {shown.first.inner_text()[:500]}"


def save(page, name: str, top_text: str | None = None) -> None:
    """Screenshot the page (from the element showing `top_text` down, if given) as docs/screenshots/name."""
    settle_for_screenshot(page)
    clip = None
    if top_text:
        top = page.locator(MAIN).get_by_text(top_text).first.bounding_box()
        clip = {"x": 0, "y": max(0, top["y"] - 20), "width": TALL_VIEWPORT["width"],
                "height": TALL_VIEWPORT["height"] - max(0, top["y"] - 20)}
    size = save_small_png(page.screenshot(clip=clip), screenshot_path(name))
    assert size < MAX_SCREENSHOT_BYTES, f"{name} is {size} bytes"


def test_prior_and_holes_draws_the_density_the_circles_and_three_rows_of_decoded_samples(session):
    timed_open(session, "Prior and holes")
    main = session.locator(MAIN)
    # once each, waited for: a rerun in flight can show an element's stale copy beside its new one for a moment;
    # exact, since the chart's legend names two rows too ("prior samples: holes (lowest q)")
    for text in ("KL(p(z) || q(z))", "holes (lowest q)", "typical (median q)", "densest (highest q)"):
        sync_api.expect(main.get_by_text(text, exact=True)).to_have_count(1, timeout=30_000)
    session.wait_for_function("() => document.querySelector('[data-testid=stPlotlyChart] .contour') !== null",
                              timeout=60_000)
    save(session, "prior-and-holes.png")


PATH = ".latent-path"  # ui/components/latent_path: its root's data attributes say what it shows
PATH_FRAMES = """(since) => performance.getEntriesByName('latent-path:frame').filter(m => m.startTime >= since)
  .map(m => ({at: m.startTime, input: m.detail.inputTime, amount: m.detail.amount, decode: m.detail.decodeMs}))"""
PATH_PIXELS = "canvas => Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data)"


def drag_path_slider(page, path, distance: float, moves: int = 30) -> tuple[list[dict], float]:
    """Press on the middle of a latent path's slider (`path`: its root's locator) and move right by `distance` of
    its width in `moves` real pointer moves; returns the frames it drew and the amount its last frame shows."""
    path.and_(page.locator(f"{PATH}[data-state=ready][data-amount]")).wait_for(timeout=60_000)  # first image drawn
    box = path.locator("input.amount").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    since = page.evaluate("performance.now()")
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, moves + 1):
        page.mouse.move(x + distance * box["width"] * step / moves, y)
        page.wait_for_timeout(16)
    page.mouse.up()
    page.wait_for_timeout(300)
    frames = page.evaluate(PATH_FRAMES, since)
    # the image followed the pointer (on a busy box a frame may show the newest of several moves)
    assert len(frames) >= 0.6 * moves, frames
    amounts = [f["amount"] for f in frames]
    assert amounts == sorted(amounts)
    return frames, float(path.get_attribute("data-amount"))


def path_pixels(path, shape: tuple[int, int]) -> np.ndarray:
    """The latent path's image as the browser drew it (the red channel: grey images), uint8 levels as floats."""
    pixels = np.asarray(path.locator("canvas.image").evaluate(PATH_PIXELS), np.float64)
    return pixels.reshape(*shape, 4)[..., 0]


def test_directions_amount_dragged_with_the_pointer_is_decoded_in_the_browser_at_every_move(session):
    timed_open(session, "Directions")
    moves = 30
    frames, amount = drag_path_slider(session, session.locator(PATH).first, 0.4, moves)
    assert amount > 1.2  # from 0.5, 0.4 of the slider's -0.5..1.5 to the right
    latency = sorted(f["at"] - f["input"] for f in frames)
    TIMINGS["directions: pointer move -> frame shown, p50"] = latency[len(latency) // 2] / 1000
    TIMINGS["directions: pointer move -> frame shown, p95"] = latency[int(0.95 * (len(latency) - 1))] / 1000
    print(f"\ndirections amount slider: {len(frames)} frames for {moves} moves, decode p50 "
          f"{sorted(f['decode'] for f in frames)[len(frames) // 2]:.2f} ms")
    wait_until_idle(session)

    # The last frame is decode(mean of 3 + amount x (mean of 8 - mean of 3)), as torch decodes it.
    model = load_checkpoint(DEFAULT_CHECKPOINT).model
    test = load_dataset("mnist").split("test")
    x_test, y_test = test.x, test.y
    mu = encode_posterior(model, x_test).mu
    mean_3, mean_8 = (class_mean(mu, y_test.numpy(), c) for c in (3, 8))
    expected = model.decode_image((mean_3 + amount * (mean_8 - mean_3))[None])[0, 0].numpy() * 255
    assert np.abs(path_pixels(session.locator(PATH).first, (28, 28)) - expected).max() <= 2
    assert session.locator(EXCEPTION).count() == 0
    save(session, "directions.png")


def test_interpolation_diagnostics_of_a_16d_model_show_lerp_leaving_the_shell(session):
    """Last: it switches the session to the 16-D model, whose holes are screenshotted too."""
    pick_model(session, "mnist-conv")
    timed_open(session, "Interpolation", "mnist-conv")
    main = session.locator(MAIN)
    main.get_by_text("Random prior samples").click()
    session.wait_for_timeout(300)
    wait_until_idle(session)
    seed = main.get_by_label("Seed B", exact=True)
    seed.fill(str(SEED_B))
    seed.press("Enter")
    session.wait_for_timeout(300)
    wait_until_idle(session)
    assert main.get_by_text(re.compile("slerp turns along the shell")).count() == 1
    # Anywhere along the slerp path, decoded in the browser as the pointer moves: slerp_at(A, B, t) as torch does.
    slerp_path = session.locator(PATH).nth(1)
    _, t = drag_path_slider(session, slerp_path, 0.3)
    model = load_checkpoint(ROOT / "checkpoints" / "mnist-conv.safetensors").model
    a, b = (prior_samples(1, model.config.latent_dim, seed)[0] for seed in (0, SEED_B))
    expected = model.decode_image(slerp_at(a, b, torch.tensor([t])).float())[0, 0].numpy() * 255
    assert 0.7 < t < 0.9 and np.abs(path_pixels(slerp_path, (28, 28)) - expected).max() <= 2
    session.wait_for_function(
        "() => document.querySelectorAll('[data-testid=stVegaLiteChart], [data-testid=stArrowVegaLiteChart]')"
        ".length >= 3", timeout=60_000)
    save(session, "interpolation-diagnostics.png", top_text="Linear (lerp)")
    timed_open(session, "Prior and holes", "mnist-conv")
    assert session.locator(MAIN).get_by_text("PCA plane of the codes").count() == 1
    save(session, "prior-and-holes-16d.png")
