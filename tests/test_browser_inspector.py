"""The Latent scatter page's embedding inspector in real Chromium, driven with real pointer events.

The app's default model (MNIST, 2-D) draws its 10,000 test codes directly, so the test knows where every point
is: the component's root says how it maps data to the screen (data-transform), and the test places the pointer
on a point's own position. Hover must show that example's image, pixel for pixel, and its reconstruction; a click
must select it and the panel must show it with its nearest neighbours in the latent space; a box must select
exactly the points inside it. A conditional model (trained here on digits, uploaded in the sidebar) shows the
reconstruction too: its mean decoded, in the browser, as the point's own label.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from support.browser import (
    FIRST_LOAD_MS,
    INSPECTOR,
    MAIN,
    ROOT,
    SIDEBAR,
    new_page,
    open_app,
    open_page,
    save_small_png,
    screenshot_path,
    streamlit_server,
    wait_for_inspector,
    wait_until_idle,
)
from support.models import train_digits_model

from vae_core.checkpoint import DatasetInfo, load_checkpoint, save_checkpoint
from vae_core.data import load_dataset
from vae_core.images import to_uint8
from vae_core.latent import nearest_neighbours
from vae_core.metrics import encode_posterior

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

STAGE = f"{INSPECTOR} .stage"
THUMB_IMAGE = f"{INSPECTOR} .thumb-image"
THUMB_RECON = f"{INSPECTOR} .thumb-recon"
RECON_TOLERANCE = 2  # uint8 levels: the browser's decoder (WebAssembly float32) vs torch, rounded


@pytest.fixture(scope="module")
def model_and_data():
    checkpoint = load_checkpoint(ROOT / "checkpoints" / "mnist-2d.safetensors")
    x = load_dataset("mnist").split("test").x
    posterior = encode_posterior(checkpoint.model, x)
    return checkpoint, x, posterior.mu.numpy(), posterior.logvar.numpy()


@pytest.fixture(scope="module")
def page(browser):
    with streamlit_server() as url:
        page = new_page(browser, url)
        open_inspector(page, url)
        yield page
        page.context.close()


def open_inspector(page, url: str) -> None:
    page.goto(f"{url}/scatter")
    wait_until_idle(page, FIRST_LOAD_MS)
    wait_for_inspector(page, FIRST_LOAD_MS)


def on_screen(page, coords: np.ndarray) -> np.ndarray:
    """Page pixel positions (M, 2) of data points (M, 2), from the component's own transform."""
    t = json.loads(page.locator(INSPECTOR).get_attribute("data-transform"))
    box = page.locator(STAGE).bounding_box()
    border = (box["width"] - t["width"]) / 2
    x = box["x"] + border + t["width"] / 2 + (coords[:, 0] - t["cx"]) * t["sx"]
    y = box["y"] + border + t["height"] / 2 - (coords[:, 1] - t["cy"]) * t["sy"]
    return np.column_stack([x, y])


def loneliest_visible_point(page, mu: np.ndarray) -> int:
    """The point farthest (on screen) from any other, among those inside the stage: a hover there is unambiguous."""
    screen = on_screen(page, mu)
    box = page.locator(STAGE).bounding_box()
    inside = np.flatnonzero((screen[:, 0] > box["x"] + 20) & (screen[:, 0] < box["x"] + box["width"] - 20)
                            & (screen[:, 1] > box["y"] + 20) & (screen[:, 1] < box["y"] + box["height"] - 20))
    _, distances = nearest_neighbours(screen[inside], np.arange(len(inside)), 1)
    return int(inside[np.argmax(distances[:, 0])])


def canvas_pixels(page, selector: str) -> np.ndarray:
    """A thumbnail canvas's pixels as (H, W, 3) uint8 (its own resolution, before CSS scaling)."""
    canvas = page.locator(selector)
    width, height, rgba = canvas.evaluate(
        "c => [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]")
    return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3]


def hover(page, mu: np.ndarray, index: int) -> None:
    x, y = map(float, on_screen(page, mu[index:index + 1])[0])
    page.mouse.move(x + 3, y + 3)
    page.mouse.move(x, y)
    page.locator(f"{THUMB_IMAGE}[data-index='{index}']").wait_for(state="attached", timeout=10_000)


def panel_captions(page) -> list[str]:
    """The captions of the selection panel's image tables, in order (a selected example's name its terms, a
    neighbour's its distance)."""
    return [text.strip() for text in page.locator(f"{MAIN} td").all_inner_texts() if text.strip().startswith("#")]


def test_hovering_a_point_shows_its_own_image_and_reconstruction(page, model_and_data):
    checkpoint, x, mu, _ = model_and_data
    index = loneliest_visible_point(page, mu)

    hover(page, mu, index)

    assert page.locator(INSPECTOR).get_attribute("data-hover-index") == str(index)
    np.testing.assert_array_equal(canvas_pixels(page, THUMB_IMAGE)[..., 0], to_uint8(x[index]))
    page.locator(f"{THUMB_RECON}[data-index='{index}']").wait_for(state="attached", timeout=10_000)
    expected = to_uint8(checkpoint.model.decode_image(torch.from_numpy(mu[index:index + 1]))[0]).astype(int)
    assert np.abs(canvas_pixels(page, THUMB_RECON)[..., 0].astype(int) - expected).max() <= RECON_TOLERANCE
    save_small_png(page.screenshot(), screenshot_path("scatter-hover.png"))


def click_loneliest_point(page, mu: np.ndarray) -> int:
    """Click (real mouse down/up) the visible point farthest from the others; wait for the panel; its index."""
    index = loneliest_visible_point(page, mu)
    x, y = map(float, on_screen(page, mu[index:index + 1])[0])
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()
    page.locator(MAIN).get_by_role("heading", name=re.compile(r"^1 selected")).wait_for(timeout=30_000)
    return index


def test_a_click_selects_the_point_and_the_panel_shows_its_nearest_neighbours(page, model_and_data):
    _, _, mu, _ = model_and_data
    index = click_loneliest_point(page, mu)

    main = page.locator(MAIN)
    main.get_by_text(f"#{index}: ").first.wait_for(timeout=30_000)
    captions = panel_captions(page)
    assert f"#{index}: " in captions[0] and f"test/{index}" in captions[0]
    neighbours, distances = nearest_neighbours(mu, [index], 8)
    shown = [c for c in captions if "d = " in c]
    assert [int(re.match(r"#(\d+): ", c).group(1)) for c in shown] == list(neighbours[0]), shown
    assert [c.split("d = ")[1] for c in shown] == [f"{d:.3f}" for d in distances[0]]
    assert page.locator(INSPECTOR).get_attribute("data-selected") == "1"
    main.get_by_text("nearest neighbours in the full 2-D latent space").scroll_into_view_if_needed()
    save_small_png(page.screenshot(), screenshot_path("scatter-neighbours.png"))
    page.locator(STAGE).scroll_into_view_if_needed()


def overlay_alpha_near(page, x: float, y: float, reach: int = 2) -> int:
    """The alpha of the most opaque red pixel of the overlay canvas within `reach` px of stage position (x, y):
    0 when nothing red is drawn there."""
    return page.locator(f"{INSPECTOR} canvas.overlay").evaluate("""(c, [x, y, r]) => {
      const ratio = c.width / c.clientWidth;
      const d = c.getContext('2d').getImageData(Math.round((x - r) * ratio), Math.round((y - r) * ratio),
                                                2 * r + 1, 2 * r + 1).data;
      let best = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] - d[i + 1] > 80) best = Math.max(best, d[i + 3]);
      return best;
    }""", [float(x), float(y), int(reach)])


def test_the_selected_posterior_is_drawn_as_its_1_and_2_sigma_ellipses(page, model_and_data):
    _, _, mu, logvar = model_and_data
    index = click_loneliest_point(page, mu)
    page.locator(STAGE).scroll_into_view_if_needed()
    x, y = map(float, on_screen(page, mu[index:index + 1])[0])
    box = page.locator(STAGE).bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(x, y)  # drag it to the middle (the pan tool), then zoom in on it: ellipses tens of px wide
    page.mouse.down()
    for t in np.linspace(0, 1, 10)[1:]:
        page.mouse.move(x + t * (centre[0] - x), y + t * (centre[1] - y))
    page.mouse.up()
    for _ in range(8):
        page.mouse.wheel(0, -120)
        page.wait_for_timeout(50)
    page.mouse.move(box["x"] - 5, box["y"] - 5)  # off the map: no thumbnail over the screenshot
    page.wait_for_timeout(300)

    t = json.loads(page.locator(INSPECTOR).get_attribute("data-transform"))
    px = t["width"] / 2 + (mu[index, 0] - t["cx"]) * t["sx"]
    py = t["height"] / 2 - (mu[index, 1] - t["cy"]) * t["sy"]
    rx, ry = np.exp(0.5 * logvar[index]) * [t["sx"], t["sy"]]
    assert 8 < rx < t["width"] / 4 and 8 < ry < t["height"] / 4, (rx, ry)
    down = 1 if py + 2 * ry < t["height"] else -1  # the side of the ellipse that is on the stage
    assert overlay_alpha_near(page, px + rx, py) > 100  # 1 sigma (solid), at its right and its top or bottom
    assert overlay_alpha_near(page, px, py + down * ry) > 100
    assert overlay_alpha_near(page, px + 2 * rx, py) > 100  # 2 sigma (dashed), at its right, where the dashes start
    assert overlay_alpha_near(page, px + 1.5 * rx, py, reach=1) == 0  # nothing red between them
    path = screenshot_path("scatter-sigma-ellipses.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.locator(STAGE).screenshot(path=str(path))
    page.locator(f"{INSPECTOR} .reset").click()


def assert_the_panel_shows_the_selection(page, inside: np.ndarray) -> None:
    """The selection panel heads with how many `inside` holds and lists its first 12; then back to the pan tool."""
    main = page.locator(MAIN)
    main.get_by_role("heading", name=re.compile(rf"^{len(inside):,} selected")).wait_for(timeout=30_000)
    main.get_by_text(f"#{inside[0]}: ").first.wait_for(timeout=30_000)
    shown = [int(re.match(r"#(\d+): ", c).group(1)) for c in panel_captions(page) if "ELBO" in c]
    assert shown == list(inside[:12])
    page.locator(f"{INSPECTOR} .tool[data-tool=pan]").click()


def test_a_box_selects_exactly_the_points_inside_it(page, model_and_data):
    _, _, mu, _ = model_and_data
    page.locator(f"{INSPECTOR} .tool[data-tool=box]").click()
    box = page.locator(STAGE).bounding_box()
    corner0 = (round(box["x"] + box["width"] * 0.45), round(box["y"] + box["height"] * 0.60))  # whole pixels: the
    corner1 = (round(box["x"] + box["width"] * 0.55), round(box["y"] + box["height"] * 0.75))  # browser may round
    screen = on_screen(page, mu)
    inside = np.flatnonzero((screen[:, 0] >= corner0[0]) & (screen[:, 0] <= corner1[0])
                            & (screen[:, 1] >= corner0[1]) & (screen[:, 1] <= corner1[1]))
    assert 20 < len(inside) < 5000, "the box should hold a fair number of points"

    page.mouse.move(*corner0)
    page.mouse.down()
    for t in np.linspace(0, 1, 12)[1:]:
        page.mouse.move(corner0[0] + t * (corner1[0] - corner0[0]), corner0[1] + t * (corner1[1] - corner0[1]))
    page.mouse.up()

    assert_the_panel_shows_the_selection(page, inside)


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule (ray casting), per point (M, 2) in a closed polygon (K, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    xi, yi = polygon[:, 0], polygon[:, 1]
    xk, yk = np.roll(xi, 1), np.roll(yi, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crosses = ((yi > y) != (yk > y)) & (x < (xk - xi) * (y - yi) / (yk - yi) + xi)
    return crosses.sum(axis=1) % 2 == 1


def test_a_lasso_selects_exactly_the_points_inside_it(page, model_and_data):
    _, _, mu, _ = model_and_data
    page.locator(f"{INSPECTOR} .tool[data-tool=lasso]").click()
    box = page.locator(STAGE).bounding_box()
    centre = np.array([box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.65])
    angles = np.linspace(0, 2 * np.pi, 40)
    # Whole pixels, so that the pointer positions the browser reports (it may round them) are the test's polygon.
    ring = np.round(centre + np.column_stack([np.cos(angles), np.sin(angles)])
                    * [box["width"] * 0.08, box["height"] * 0.1])
    screen = on_screen(page, mu)
    inside = np.flatnonzero(inside_polygon(screen, ring))
    assert 20 < len(inside) < 5000, "the lasso should hold a fair number of points"

    page.mouse.move(*map(float, ring[0]))
    page.mouse.down()
    for x, y in ring[1:]:
        page.mouse.move(float(x), float(y))
    page.mouse.up()

    assert_the_panel_shows_the_selection(page, inside)


def test_filtered_out_points_cannot_be_hovered_and_the_others_keep_their_own_images(page, model_and_data):
    _, x, mu, _ = model_and_data
    kept = loneliest_visible_point(page, mu)
    dropped = int(np.argmin(np.abs(mu[:, 0] - np.median(mu[:, 0])) + np.abs(mu[:, 1] - np.median(mu[:, 1]))))
    search = page.locator(MAIN).get_by_role("textbox", name="Search index or id")
    search.fill(f"{kept}, 17")
    search.press("Enter")
    page.locator(f"{INSPECTOR}[data-points='2']").wait_for(state="attached", timeout=30_000)

    hover(page, mu, kept)
    np.testing.assert_array_equal(canvas_pixels(page, THUMB_IMAGE)[..., 0], to_uint8(x[kept]))
    x_dropped, y_dropped = map(float, on_screen(page, mu[dropped:dropped + 1])[0])
    page.mouse.move(x_dropped, y_dropped)
    page.wait_for_timeout(100)
    hovered = page.locator(INSPECTOR).get_attribute("data-hover-index")
    assert dropped not in (kept, 17) and hovered in (None, str(kept), "17")

    search.fill("")
    search.press("Enter")
    page.locator(f"{INSPECTOR}[data-points='10000']").wait_for(state="attached", timeout=30_000)


def test_on_train_and_test_every_point_shows_its_own_image(page, model_and_data):
    """Split "all" is train then test, drawn from two image files: a point of each shows its own image."""
    checkpoint, x_test, mu_test, _ = model_and_data
    x = load_dataset("mnist").split("all").x
    mu = np.concatenate([encode_posterior(checkpoint.model, x[:60_000]).mu.numpy(), mu_test])
    page.goto(page.url.split("/scatter")[0] + "/scatter?split=all")
    wait_until_idle(page, FIRST_LOAD_MS)
    page.locator(f"{INSPECTOR}[data-points='70000']").wait_for(state="attached", timeout=FIRST_LOAD_MS)
    wait_for_inspector(page, FIRST_LOAD_MS)
    screen = on_screen(page, mu)
    box = page.locator(STAGE).bounding_box()
    inside = (screen[:, 0] > box["x"] + 20) & (screen[:, 0] < box["x"] + box["width"] - 20) & (
        screen[:, 1] > box["y"] + 20) & (screen[:, 1] < box["y"] + box["height"] - 20)
    _, gaps = nearest_neighbours(screen, np.arange(len(screen)), 1)
    for rows in (np.arange(60_000), np.arange(60_000, 70_000)):  # a train point, then a test point
        index = int(rows[np.argmax(np.where(inside[rows], gaps[rows, 0], -1))])
        hover(page, mu, index)
        np.testing.assert_array_equal(canvas_pixels(page, THUMB_IMAGE)[..., 0], to_uint8(x[index]))


def test_the_projector_download_holds_every_example_of_the_split(page, tmp_path):
    """The page's Embedding Projector download (test split, 10,000 MNIST images): the files load back."""
    page.goto(page.url.split("/scatter")[0] + "/scatter?split=test")
    wait_until_idle(page, FIRST_LOAD_MS)
    main = page.locator(MAIN)
    main.get_by_text("Export this split's embedding").click()
    with page.expect_download(timeout=FIRST_LOAD_MS) as download:
        main.get_by_role("button", name="Embedding Projector files (.zip)").click()
    path = tmp_path / "projector.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        tensors = archive.read("tensors.tsv").decode().splitlines()
        metadata = archive.read("metadata.tsv").decode().splitlines()
        sprite = Image.open(io.BytesIO(archive.read("sprite.png")))
        config = archive.read("projector_config.pbtxt").decode()
    assert len(tensors) == 10_000 and all(len(line.split("\t")) == 2 for line in tensors[:5])
    assert len(metadata) == 10_001  # a header, then one row per example
    assert sprite.size == (100 * 28, 100 * 28) and "single_image_dim: 28" in config


# --- a conditional model: each point's reconstruction is its mean decoded as its own label, in the browser ---


@pytest.fixture(scope="module")
def conditional_model(digits, tmp_path_factory):
    """A conditional digits model (2-D, trained for seconds), as a checkpoint file, with its test codes."""
    trainer = train_digits_model(digits, epochs=20, n_classes=len(digits.class_names))
    path = tmp_path_factory.mktemp("cvae") / "cvae-digits.safetensors"
    info = DatasetInfo.of(digits)
    save_checkpoint(path, trainer.model, info, trainer.history, trainer.epoch, "conditional inspector test")
    model = load_checkpoint(path).model
    mu = encode_posterior(model, digits.x_test, digits.y_test).mu
    return path, model, mu.numpy()


@pytest.fixture(scope="module")
def conditional_page(browser, conditional_model):
    """The app in Chromium with the conditional model uploaded in the sidebar, on the Latent scatter page."""
    path = conditional_model[0]
    with streamlit_server() as url:
        page = open_app(browser, url)
        page.locator(SIDEBAR).locator("input[type=file]").set_input_files(str(path))
        page.locator(SIDEBAR).get_by_text(re.compile(r"cvae-digits")).first.wait_for(timeout=FIRST_LOAD_MS)
        wait_until_idle(page, FIRST_LOAD_MS)
        open_page(page, "Latent scatter", FIRST_LOAD_MS)
        wait_for_inspector(page, FIRST_LOAD_MS)
        yield page
        page.context.close()


def test_a_conditional_models_hover_shows_the_reconstruction_decoded_as_the_points_own_label(
        conditional_page, conditional_model, digits):
    page = conditional_page
    _, model, mu = conditional_model
    assert page.locator(INSPECTOR).get_attribute("data-points") == str(len(mu))
    index = loneliest_visible_point(page, mu)
    label = int(digits.y_test[index])

    hover(page, mu, index)

    np.testing.assert_array_equal(canvas_pixels(page, THUMB_IMAGE)[..., 0], to_uint8(digits.x_test[index]))
    page.locator(f"{THUMB_RECON}[data-index='{index}']").wait_for(state="attached", timeout=10_000)
    shown = canvas_pixels(page, THUMB_RECON)[..., 0].astype(int)
    as_class = lambda c: to_uint8(model.decode_image(torch.from_numpy(mu[index:index + 1]),  # noqa: E731
                                                     torch.tensor([c]))[0]).astype(int)
    assert np.abs(shown - as_class(label)).max() <= RECON_TOLERANCE
    other = (label + 1) % 10
    assert np.abs(shown - as_class(other)).max() > 10 * RECON_TOLERANCE  # the label matters: not any class
    save_small_png(page.screenshot(), screenshot_path("scatter-hover-conditional.png"))
