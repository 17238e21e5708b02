"""The standalone page (`python -m vae_core export --format html`) opened from file:// in real Chromium with every
network request refused: it draws the test codes, shows a hovered point's thumbnail, decodes while the pad is
dragged with real pointer events, re-decodes the decoded map behind the pad as it zooms, and encodes a drawing at
every stroke move. Its size, time to the first decoded image, frames per move and stroke move -> posterior latency
go to tests/artifacts/standalone.json (benchmarks/RESULTS.md, "Standalone page (issue 21)")."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from PIL import Image
from support.browser import (
    ARTIFACTS,
    CANVAS_IMAGE,
    CANVAS_PAD,
    INSPECTOR,
    ROOT,
    arc_across_pad,
    drag_on_canvas,
    last_video_frame,
    results_artifact,
    save_small_png,
    screenshot_path,
    wait_for_inspector,
)
from support.decoded_map import (
    NOTCHES,
    assert_tiles_equal_torch,
    decoded,
    zoom_into_canvas_map,
    zoom_into_inspector_map,
)
from support.draw_pad import (
    CLASS_PICKER,
    GOAL_FRAMES_PER_MOVE,
    MARKS,
    NEIGHBOURS,
    POSTERIOR,
    READY,
    STROKE_MOVES,
    assert_each_class_encoded_like_torch,
    assert_terms_equal_torch,
    draw_stroke,
    example_then_another_class,
    summary,
    vertical_line,
)

from vae_core.checkpoint import load_checkpoint
from vae_core.standalone import standalone_page, write_standalone_page

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

CHECKPOINT = ROOT / "checkpoints" / "mnist-2d.safetensors"
MAX_BYTES = 10_000_000  # the budget, with every test image's thumbnail
FIRST_IMAGE_LIMIT_MS = 10_000  # navigation -> first decoded image: a ceiling a loaded CI box stays under (the 2 s
# goal is read from this test's artifact on a quiet box, benchmarks/RESULTS.md)
STAGE = f"{INSPECTOR} .stage"
RECORDING_PX = 256  # canvas.js's: the recording's pad and image, side by side
RESULTS: dict = {}
results = results_artifact(ARTIFACTS / "standalone.json", RESULTS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    checkpoint = load_checkpoint(CHECKPOINT)
    test = checkpoint.dataset.load().split("test")
    page = standalone_page(checkpoint, test.x, test.y, title="mnist-2d")
    path = write_standalone_page(page, tmp_path_factory.mktemp("standalone") / "view.html")
    RESULTS.update(bytes=len(page.html), points=page.points, asset_bytes=page.asset_bytes)
    return path, page


def open_offline(browser, path):
    """The exported file at `path` in a fresh context where every request but file:// is refused (and recorded in
    the page's `refused`), once the page has started (or failed)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    refused = []

    def file_only(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**", file_only)
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_function("() => document.body.dataset.state !== 'loading'", timeout=60_000)
    page.refused = refused
    return page


@pytest.fixture(scope="module")
def offline_page(browser, exported):
    page = open_offline(browser, exported[0])
    yield page
    page.context.close()


def first_decoded_ms(page) -> float:
    return page.wait_for_function(
        "() => performance.getEntriesByName('latent-canvas:frame')[0]?.startTime", timeout=30_000).json_value()


def test_the_exported_page_fits_the_budget(exported):
    path, page = exported
    assert path.stat().st_size == len(page.html) <= MAX_BYTES, page.asset_bytes
    assert page.points == 10_000


def test_the_page_decodes_its_first_image_from_disk_with_the_network_refused(offline_page):
    assert offline_page.evaluate("document.body.dataset.state") == "ready", offline_page.inner_text("body")[:500]
    RESULTS["first_image_ms"] = round(first_decoded_ms(offline_page), 1)
    assert RESULTS["first_image_ms"] <= FIRST_IMAGE_LIMIT_MS
    pixels = np.asarray(offline_page.evaluate(
        "() => Array.from(performance.getEntriesByName('latent-canvas:frame')[0].detail.pixels)"))
    assert pixels.size == 28 * 28 and pixels.std() > 0.05  # a digit, not a blank
    assert offline_page.refused == []


def test_dragging_the_pad_decodes_a_frame_per_move(offline_page):
    first_decoded_ms(offline_page)
    drag = drag_on_canvas(offline_page, CANVAS_PAD, arc_across_pad)
    RESULTS["drag"] = drag.summary()
    assert drag.frames_per_move >= 0.9, drag.summary()
    save_small_png(offline_page.locator(CANVAS_IMAGE).screenshot(), ARTIFACTS / "standalone-decoded.png")


def test_the_scatter_draws_every_point_and_shows_a_hovered_points_thumbnail(offline_page, exported):
    wait_for_inspector(offline_page, 30_000)
    assert offline_page.locator(INSPECTOR).get_attribute("data-points") == "10000"
    stage = offline_page.locator(STAGE)
    stage.scroll_into_view_if_needed()
    box = stage.bounding_box()
    for dx in np.linspace(0.3, 0.7, 9):  # across the middle of the cloud until a point is under the pointer
        offline_page.mouse.move(box["x"] + dx * box["width"], box["y"] + box["height"] / 2)
        if offline_page.locator(INSPECTOR).get_attribute("data-hover-index"):
            break
    index = offline_page.locator(INSPECTOR).get_attribute("data-hover-index")
    assert index is not None
    offline_page.locator(f"{INSPECTOR} .thumb-image[data-index='{index}']").wait_for(state="attached",
                                                                                    timeout=10_000)
    assert offline_page.refused == []
    save_small_png(offline_page.screenshot(full_page=True), screenshot_path("standalone-page.png"))
    RESULTS["hovered_index"] = int(index)
    print("\n" + json.dumps(RESULTS))


def test_a_recorded_drag_is_a_webm_with_one_frame_per_decoded_frame(offline_page):
    first_decoded_ms(offline_page)
    record = offline_page.locator(".latent-canvas .record")
    record.click()
    drag = drag_on_canvas(offline_page, CANVAS_PAD, arc_across_pad, moves=30)
    with offline_page.expect_download() as download:
        record.click()
    recorded = offline_page.evaluate("performance.getEntriesByName('latent-canvas:recorded').at(-1).detail.frames")
    data = open(download.value.path(), "rb").read()
    assert download.value.suggested_filename == "latent-drag.webm" and data[:4] == b"\x1a\x45\xdf\xa3"  # EBML
    # the frame at the start, then one per decode: a shown frame each (frames), at most one per move
    assert drag.frames + 1 <= recorded <= drag.moves + 1, (recorded, drag.summary())
    width, height, last = last_video_frame(offline_page, data)  # it plays: the pad with its trace, then the image
    assert (width, height) == (2 * RECORDING_PX, RECORDING_PX)
    assert np.asarray(Image.open(io.BytesIO(last)).convert("L"))[:, RECORDING_PX:].std() > 10  # a digit, not blank
    save_small_png(last, screenshot_path("recording-last-frame.png"))
    RESULTS["recording"] = {"frames": recorded, "moves": drag.moves, "shown_frames": drag.frames, "bytes": len(data)}


def test_a_stroke_on_the_draw_pad_moves_the_posterior_during_the_stroke(offline_page):
    offline_page.wait_for_function(READY, timeout=30_000)
    offline_page.locator(NEIGHBOURS).nth(9).wait_for()  # the page's test codes are the neighbours' candidates
    blank = offline_page.locator(POSTERIOR).get_attribute("data-mu")

    since, released, readouts = draw_stroke(offline_page, vertical_line)
    marks = offline_page.evaluate(MARKS, since)

    posterior, recon = marks["posterior"], marks["recon"]
    assert len({blank, *readouts}) == 1 + len(readouts), readouts  # the readout moved while the button was down
    assert len({tuple(f["mu"]) for f in posterior if f["at"] < released}) >= STROKE_MOVES // 2
    assert len(posterior) / marks["moves"] >= GOAL_FRAMES_PER_MOVE, summary(marks["moves"], posterior)
    assert sum(label == 1 for label in posterior[-1]["neighbours"]) >= 6, posterior[-1]["neighbours"]
    assert_terms_equal_torch(CHECKPOINT, recon[-1], posterior)
    assert offline_page.refused == []
    RESULTS["stroke"] = {"posterior (encode)": summary(marks["moves"], posterior),
                         "reconstruction and ELBO terms (encode + decode)": summary(marks["moves"], recon)}


def test_the_decoded_map_behind_the_pad_redecodes_at_the_new_scale_as_it_zooms(offline_page):
    model = load_checkpoint(CHECKPOINT).model
    first_decoded_ms(offline_page)
    first, zoomed, views = zoom_into_canvas_map(offline_page)

    assert len(views) >= NOTCHES * 0.9
    assert zoomed[-1]["size"] <= first[0]["size"] / 2  # smaller tiles: decoded at the new scale, not stretched
    assert_tiles_equal_torch(model, first + zoomed)
    assert zoomed[-1]["z"] == pytest.approx(zoomed[-1]["u"], abs=1e-6)  # a 2-D model: the code is the plane point
    assert offline_page.refused == []
    RESULTS["map zoom"] = {"notches": NOTCHES, **decoded(zoomed, first),
                           "tile_side_before": first[0]["size"], "tile_side_after": zoomed[-1]["size"],
                           "load_1min": round(os.getloadavg()[0], 2)}
    offline_page.locator(".latent-canvas .map-toggle").uncheck()


def test_the_scatters_decoded_map_redecodes_at_the_new_scale_as_it_zooms(offline_page):
    model = load_checkpoint(CHECKPOINT).model  # a 2-D model: the scatter is a direct view, with a map under it
    first_decoded_ms(offline_page)
    offline_page.locator(STAGE).scroll_into_view_if_needed()
    first, zoomed = zoom_into_inspector_map(offline_page)

    assert zoomed[-1]["size"] <= first[0]["size"] / 2
    assert_tiles_equal_torch(model, first + zoomed)
    assert offline_page.refused == []
    offline_page.locator(f"{INSPECTOR} .map-toggle").uncheck()


def test_a_conditional_models_page_encodes_a_dataset_example_as_the_class_chosen(browser, conditional_digits,
                                                                                tmp_path):
    checkpoint = load_checkpoint(conditional_digits)
    test = checkpoint.dataset.load().split("test")
    path = write_standalone_page(standalone_page(checkpoint, test.x, test.y, title="cvae"), tmp_path / "cvae.html")
    page = open_offline(browser, path)
    page.wait_for_function(READY, timeout=30_000)
    page.locator(NEIGHBOURS).nth(9).wait_for()
    page.locator(CLASS_PICKER).scroll_into_view_if_needed()
    assert page.locator(CLASS_PICKER).is_visible()

    example, chosen = example_then_another_class(page)

    assert_each_class_encoded_like_torch(checkpoint.model, example, chosen)
    assert page.refused == []
    page.context.close()
