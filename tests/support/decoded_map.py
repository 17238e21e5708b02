"""The decoded map (ui/components/shared/latent_pad.js's DecodedMap) read from its performance marks: tiles
decoded since a moment, the views shown, and each tile checked against torch's decode at its centre (the app's and
the standalone page's browser tests)."""

from __future__ import annotations

import time

import numpy as np
import torch

from .browser import CANVAS_PAD, on_screen_box

PIXEL_TOLERANCE = 1e-3  # browser (WebAssembly) vs torch, per pixel in [0, 1]
NOTCHES = 6  # wheel notches, one per 1/10 s

# Map marks made since `since`, and whether the map has been quiet (no new tiles) for `quietMs`.
MAP_MARKS = """([since, quietMs]) => {
  const marks = performance.getEntriesByName('decoded-map:tiles').filter(m => m.startTime >= since);
  const last = marks.at(-1);
  return {marks: marks.map(m => ({at: m.startTime, ...m.detail})),
          quiet: !!last && performance.now() - last.startTime >= quietMs};
}"""
VIEW_MARKS = """(since) => performance.getEntriesByName('latent-pad:view').filter(m => m.startTime >= since)
  .map(m => ({at: m.startTime, ...m.detail}))"""


def map_settled(page, since: float, quiet_ms: int = 400) -> list[dict]:
    """The map's marks since `since`, once tiles have stopped arriving for `quiet_ms`."""
    page.wait_for_function(f"() => ({MAP_MARKS})([{since}, {quiet_ms}]).quiet", timeout=30_000)
    return page.evaluate(MAP_MARKS, [since, quiet_ms])["marks"]


def assert_tiles_equal_torch(model, marks: list[dict]) -> None:
    """Each decoded batch's first tile is the decoder's image of its code, and that code lies at the tile's centre."""
    for tile in marks:
        expected = model.decode_image(torch.tensor([tile["z"]], dtype=torch.float32)).flatten().numpy()
        assert np.abs(np.asarray(tile["pixels"], dtype=np.float32) - expected).max() <= PIXEL_TOLERANCE


def decoded(marks: list[dict], before: list[dict]) -> dict:
    """Tiles decoded since the last of `before`'s marks, and how many per second of decoding (batches that
    finished within one frame share a mark: the marks carry running totals)."""
    tiles = marks[-1]["decodedTiles"] - before[-1]["decodedTiles"]
    seconds = (marks[-1]["decodingMs"] - before[-1]["decodingMs"]) / 1000
    return {"tiles_decoded": tiles, "tiles_per_s": round(tiles / seconds),
            "run_max_ms": round(max(m["decodeMs"] for m in marks), 1)}


def zoom_into_canvas_map(page, notches: int = NOTCHES) -> tuple[list[dict], list[dict], list[dict]]:
    """Tick the latent canvas's decoded map, wait for its tiles, then zoom in `notches` wheel notches about a point
    up and right of the pad's centre (the pointer stays there). Returns the map's marks before and after the zoom,
    and the pad's views shown while zooming."""
    since = page.evaluate("performance.now()")
    page.locator(".latent-canvas .map-toggle").check()
    first = map_settled(page, since)
    box = on_screen_box(page, CANVAS_PAD)
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)

    since = page.evaluate("performance.now()")
    for _ in range(notches):
        page.mouse.wheel(0, -100)
        time.sleep(0.1)
    zoomed = map_settled(page, since)
    return first, zoomed, page.evaluate(VIEW_MARKS, since)


def zoom_into_inspector_map(page, notches: int = NOTCHES) -> tuple[list[dict], list[dict]]:
    """Tick the embedding inspector's decoded map (a direct view), wait for its tiles, then zoom in `notches` wheel
    notches about the stage's centre. Returns the map's marks before and after the zoom."""
    since = page.evaluate("performance.now()")
    page.locator(".embedding-inspector .map-toggle").check()
    first = map_settled(page, since)
    box = page.locator(".embedding-inspector .stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    since = page.evaluate("performance.now()")
    for _ in range(notches):
        page.mouse.wheel(0, -100)
        time.sleep(0.1)
    return first, map_settled(page, since)
