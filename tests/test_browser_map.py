"""The decoded map behind the latent pad and under the scatter's direct view, in real Chromium: the decoder's
images tiled over the visible region, re-decoded in the browser at the new scale as the wheel zooms and as a
Shift+drag pans (real wheel and pointer events), each tile equal to torch's decode at its centre.

Frames per wheel notch and per pan move, move -> frame latency and tiles decoded per second are printed (-s) and
written to tests/artifacts/browser_map.json with the 1-minute load average (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from support.browser import (
    CANVAS_PAD,
    FIRST_LOAD_MS,
    PHONE,
    Touches,
    new_page,
    on_screen_box,
    results_artifact,
    save_small_png,
    screenshot_path,
    wait_for_inspector,
    wait_until_idle,
)
from support.canvas import open_canvas
from support.decoded_map import (
    NOTCHES,
    VIEW_MARKS,
    assert_tiles_equal_torch,
    decoded,
    map_settled,
    zoom_into_canvas_map,
    zoom_into_inspector_map,
)
from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint

pytestmark = pytest.mark.browser

ARTIFACT = ROOT / "tests" / "artifacts" / "browser_map.json"
SHIPPED = ROOT / "checkpoints"
PAN_MOVES = 30
PINCH_MOVES = 30  # two fingers spreading from 40 to 160 px apart, at 60 Hz
RESULTS: dict[str, dict] = {}

# How many of a canvas's pixels are the density contours' red.
CONTOUR_PIXELS = """(canvas) => {
  const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i + 3] > 100 && rgba[i] > 200 && rgba[i + 1] < 140 && rgba[i + 2] < 140) count++;
  }
  return count;
}"""

write_results = results_artifact(ARTIFACT, RESULTS)


def latency(frames: list[dict]) -> dict:
    """Input -> frame latency of the frames that showed a new view, and those frames per second of input."""
    ms = [f["at"] - f["inputTime"] for f in frames]
    fps = len(frames) / ((frames[-1]["at"] - frames[0]["inputTime"]) / 1000)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(max(ms), 1), "fps": round(fps, 1)}


@pytest.mark.parametrize("name", ["mnist-2d", "mnist-conv"])
def test_zooming_the_map_redecodes_its_tiles_at_the_new_scale_like_torch(browser, canvas_url, name):
    model = load_checkpoint(SHIPPED / f"{name}.safetensors").model
    page = open_canvas(browser, canvas_url, SHIPPED / f"{name}.safetensors")
    first, zoomed, views = zoom_into_canvas_map(page)
    box = page.locator(CANVAS_PAD).bounding_box()

    assert first and zoomed
    assert zoomed[-1]["size"] <= first[0]["size"] / 2  # smaller tiles: decoded at the new scale, not stretched
    assert_tiles_equal_torch(model, first + zoomed)
    if name == "mnist-2d":  # the code is the plane point itself: the tile's centre
        assert zoomed[-1]["z"] == pytest.approx(zoomed[-1]["u"], abs=1e-6)
    assert len(views) >= NOTCHES * 0.9, views
    RESULTS[f"zoom, {name}"] = {"notches": NOTCHES, "view_frames": len(views), **latency(views),
                                **decoded(zoomed, first),
                                "tile_side_before": first[0]["size"], "tile_side_after": zoomed[-1]["size"],
                                "load_1min": round(os.getloadavg()[0], 2)}

    since = page.evaluate("performance.now()")
    page.keyboard.down("Shift")
    page.mouse.down()
    for i in range(1, PAN_MOVES + 1):
        page.mouse.move(box["x"] + box["width"] * (0.6 - 0.4 * i / PAN_MOVES), box["y"] + box["height"] * 0.4)
        time.sleep(1 / 60)
    page.mouse.up()
    page.keyboard.up("Shift")
    panned = map_settled(page, since)
    views = page.evaluate(VIEW_MARKS, since)
    moved = page.evaluate("(since) => performance.getEntriesByName('latent-canvas:move')"
                          ".filter(m => m.startTime >= since).length", since)

    assert moved == 0  # a Shift+drag pans the view; it does not move the code
    assert len(views) >= PAN_MOVES * 0.9, len(views)
    assert_tiles_equal_torch(model, panned)
    RESULTS[f"pan, {name}"] = {"moves": PAN_MOVES, "view_frames": len(views),
                               "frames_per_move": round(len(views) / PAN_MOVES, 3), **latency(views),
                               **decoded(panned, zoomed),
                               "load_1min": round(os.getloadavg()[0], 2)}
    print(f"\nmap, {name}: zoom {RESULTS[f'zoom, {name}']}, pan {RESULTS[f'pan, {name}']}")
    if name == "mnist-2d":
        page.locator(".latent-canvas .home").click()  # the first view: its tiles are still kept, none decoded
        page.locator(".latent-canvas .contours-toggle").check()
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)
        assert page.locator(CANVAS_PAD).evaluate(CONTOUR_PIXELS) > 100
        save_small_png(page.locator(".latent-canvas .views").screenshot(), screenshot_path("latent-map.png"))
    page.context.close()


def test_two_fingers_pinch_the_pad_and_its_map_redecodes_at_the_new_scale(browser, canvas_url):
    """Touch: two pointer sequences (CDP Input.dispatchTouchEvent) spreading apart zoom in about their midpoint;
    the code stays where the first finger put it."""
    model = load_checkpoint(SHIPPED / "mnist-2d.safetensors").model
    page = open_canvas(browser, canvas_url, SHIPPED / "mnist-2d.safetensors", device=PHONE)
    since = page.evaluate("performance.now()")
    page.locator(".latent-canvas .map-toggle").check()
    first = map_settled(page, since)
    box = on_screen_box(page, CANVAS_PAD)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    gaps = [20 + 60 * i / PINCH_MOVES for i in range(PINCH_MOVES + 1)]  # half the distance between the fingers

    since = page.evaluate("performance.now()")
    touches = Touches(page)
    touches.press(0, x - gaps[0], y)
    touches.press(1, x + gaps[0], y)
    for gap in gaps[1:]:
        touches.move({0: (x - gap, y), 1: (x + gap, y)})
        time.sleep(1 / 60)
    touches.lift_all()
    zoomed = map_settled(page, since)
    views = page.evaluate(VIEW_MARKS, since)
    moved = page.evaluate("(since) => performance.getEntriesByName('latent-canvas:move')"
                          ".filter(m => m.startTime >= since).length", since)

    assert len(views) >= PINCH_MOVES * 0.9, len(views)
    assert views[-1]["extent"] == pytest.approx(views[0]["extent"] * gaps[1] / gaps[-1], rel=0.02)
    assert zoomed[-1]["size"] <= first[0]["size"] / 2  # smaller tiles: decoded at the new scale, not stretched
    assert_tiles_equal_torch(model, first + zoomed)
    assert moved <= 1  # the first finger's touch; the pinch itself moves the view, not the code
    RESULTS["pinch, mnist-2d (phone)"] = {"moves": PINCH_MOVES, "view_frames": len(views), **latency(views),
                                          **decoded(zoomed, first), "load_1min": round(os.getloadavg()[0], 2)}
    page.context.close()


# --- the same map under the scatter's direct view (the embedding inspector, the app's Latent scatter page) ---

def test_the_scatters_direct_view_zooms_into_the_decoded_map_like_torch_and_draws_contours(browser, app_url):
    model = load_checkpoint(SHIPPED / "mnist-2d.safetensors").model  # the app's default model: a direct view
    page = new_page(browser, app_url)
    page.goto(f"{app_url}/scatter")
    wait_until_idle(page, FIRST_LOAD_MS)
    wait_for_inspector(page, FIRST_LOAD_MS)
    first, zoomed = zoom_into_inspector_map(page)

    assert zoomed[-1]["size"] <= first[0]["size"] / 2
    assert_tiles_equal_torch(model, first + zoomed)
    assert zoomed[-1]["z"] == pytest.approx(zoomed[-1]["u"], abs=1e-6)  # the two shown dimensions are the code
    RESULTS["scatter zoom, mnist-2d"] = {"notches": NOTCHES, **decoded(zoomed, first),
                                         "tile_side_before": first[0]["size"], "tile_side_after": zoomed[-1]["size"],
                                         "load_1min": round(os.getloadavg()[0], 2)}
    print(f"\nscatter map zoom: {RESULTS['scatter zoom, mnist-2d']}")
    page.locator(".embedding-inspector .contours-toggle").check()
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)
    assert page.locator(".embedding-inspector canvas.overlay").evaluate(CONTOUR_PIXELS) > 100
    save_small_png(page.locator(".embedding-inspector .stage").screenshot(), screenshot_path("scatter-map.png"))
    page.context.close()
