"""The latent canvas alone, in Chromium: a test-only app (tests/apps/canvas_app.py) that shows the component on
any checkpoint, and what the canvas draws. `canvas_url` is registered as a fixture in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

from .browser import FIRST_LOAD_MS, VIEWPORT, app_server, free_port, server_log_path
from .paths import ROOT

READY = "() => document.querySelector('[data-testid=stMain]')?.innerText.includes('ready: True')"
CLASS_IMAGES = ".latent-canvas .class-image"  # a conditional model's row: the code decoded as every class


@pytest.fixture(scope="module")
def canvas_url(tmp_path_factory):
    """`streamlit run tests/apps/canvas_app.py` with static/ beside it (Streamlit serves ./static next to the
    script), the repository's .streamlit/config.toml and imports."""
    folder = tmp_path_factory.mktemp("canvas_app")
    shutil.copy(ROOT / "tests" / "apps" / "canvas_app.py", folder / "canvas_app.py")
    (folder / "static").symlink_to(ROOT / "static")
    port = free_port()
    with app_server([sys.executable, "-m", "streamlit", "run", str(folder / "canvas_app.py")], port,
                    server_log_path(port), env={**os.environ, "PYTHONPATH": str(ROOT)}) as (url, _):
        yield url


def open_canvas(browser, canvas_url: str, checkpoint, device: dict | None = None, others=()):
    """The test app on `checkpoint` (and `others` decoding the same code), in a new context: `device` is
    new_context's arguments (a desktop window)."""
    page = browser.new_context(**(device or {"viewport": VIEWPORT})).new_page()
    page.goto(f"{canvas_url}/?checkpoint={checkpoint}" + (f"&others={','.join(map(str, others))}" if others else ""))
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.locator(".latent-canvas .image").wait_for()
    return page


def row_pixels(page) -> np.ndarray:
    """The every-class row's canvases as (K, H, W) uint8 (the red channel: grey images)."""
    rows = page.locator(CLASS_IMAGES).evaluate_all(
        "cs => cs.map(c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data))")
    return np.asarray(rows, dtype=np.uint8).reshape(len(rows), -1, 4)[..., 0]
