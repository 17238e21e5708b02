"""In real Chromium: a conditional model trained on the Train page, its latent space forming live, then replayed
with Play and the epoch slider (real pointer events, animated in the browser); on the Sliders page its code,
dragged on the pad, decodes as every class after the release."""

from __future__ import annotations

import re
import time

import pytest
from browser_support import (
    CANVAS_PAD,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXCEPTION,
    FIRST_LOAD_MS,
    MAIN,
    PROGRESS,
    VIEWPORT,
    arc_across_pad,
    drag_on_canvas,
    local_only,
    open_page,
    save_small_png,
    screenshot_path,
    settle_for_screenshot,
    streamlit_server,
    wait_for_charts,
    wait_until_idle,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

EPOCHS = 120  # digits: long enough (tens of seconds under load) to see the scatter live, short enough to wait for
REPLAY_CHART = 1  # the second Plotly chart on the Train page: the loss chart comes first
# The replay figure's state in the page: which epoch its marker and its points show (Plotly keeps them in gd.data).
REPLAY_STATE = """(index) => {
  const gd = document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')[index];
  const marker = gd.data[1], points = gd.data[2];
  return {epoch: marker.x[0], firstPoint: [Number(points.x[0]), Number(points.y[0])],
          frames: (gd._transitionData._frames || []).length,
          slider: gd._fullLayout.sliders[0].active};
}"""
CLASS_ROW = "decode(z, y)"


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found")
    with streamlit_server() as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        local_only(context, url)
        page = context.new_page()
        page.goto(url)
        wait_until_idle(page, FIRST_LOAD_MS)
        yield page
        browser.close()


def button(page, word: str):
    return page.locator(MAIN).get_by_role("button", name=re.compile(word, re.IGNORECASE))


def replay_state(page) -> dict:
    return page.evaluate(REPLAY_STATE, REPLAY_CHART)


def click_at(page, selector: str, fraction: float = 0.5) -> None:
    """A real press and release at `fraction` of the element's width, on its vertical centre."""
    box = page.locator(selector).first.bounding_box()
    x, y = box["x"] + fraction * box["width"], box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()


def class_row_images(page) -> list[str]:
    row = page.locator(MAIN).locator("tr").filter(has_text=CLASS_ROW).first
    return [img.get_attribute("src") for img in row.locator("img").all()]


def test_conditional_training_forms_live_replays_in_the_browser_and_decodes_every_class(page):
    open_page(page, "Train")
    page.locator(MAIN).get_by_text("Conditional VAE").click()
    epochs = page.locator(MAIN).get_by_label("Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_until_idle(page)
    button(page, "start").click()
    page.locator(PROGRESS).first.wait_for(timeout=60_000)

    # Live: the scatter beside the loss chart, redrawn as epochs end.
    live_title = page.locator(MAIN).get_by_text(re.compile(r"Test codes after epoch \d+"))
    live_title.first.wait_for(timeout=60_000)
    first_live = live_title.first.text_content()
    deadline = time.monotonic() + 60
    while live_title.first.text_content() == first_live and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    assert live_title.first.text_content() != first_live, "the live scatter did not advance"
    wait_for_charts(page, at_least=2)
    save_small_png(page.screenshot(), screenshot_path("train-replay-live.png"))

    # Finished: the replay, every frame in the page.
    button(page, "use this model").wait_for(timeout=300_000)
    wait_until_idle(page)
    page.locator(MAIN).get_by_text("How the latent space formed").scroll_into_view_if_needed()
    wait_for_charts(page, at_least=2)
    start = replay_state(page)
    assert start["frames"] == EPOCHS and start["epoch"] == 1 and start["slider"] == 0

    click_at(page, ".updatemenu-button")  # Play: Plotly steps through the frames in the browser
    page.wait_for_timeout(2500)
    playing = replay_state(page)
    assert playing["epoch"] > 1 and playing["firstPoint"] != start["firstPoint"], playing
    click_at(page, ".updatemenu-button >> nth=1")  # Pause

    click_at(page, ".slider-rail-touch-rect", fraction=0.999)  # scrub to the end
    page.wait_for_timeout(500)
    end = replay_state(page)
    assert end["epoch"] == EPOCHS and end["slider"] == EPOCHS - 1, end
    click_at(page, ".slider-rail-touch-rect", fraction=0.0)  # and back to the start
    page.wait_for_timeout(500)
    back = replay_state(page)
    assert back["epoch"] == 1 and back["firstPoint"] == start["firstPoint"], back
    click_at(page, ".slider-rail-touch-rect", fraction=0.25)
    page.wait_for_timeout(500)
    page.locator("[data-testid=stPlotlyChart]").nth(REPLAY_CHART).scroll_into_view_if_needed()
    settle_for_screenshot(page)
    save_small_png(page.locator("[data-testid=stPlotlyChart]").nth(REPLAY_CHART).screenshot(),
                   screenshot_path("train-replay.png"))
    assert page.locator(EXCEPTION).count() == 0

    # The model on the Sliders page: the same z, every class, after each release.
    button(page, "use this model").click()
    wait_until_idle(page)
    open_page(page, "Latent sliders")
    page.locator(MAIN).get_by_text("Code as of your last release").wait_for(timeout=60_000)
    before = class_row_images(page)
    assert len(before) == 10 and len(set(before)) == 10  # ten classes, ten different images
    drag_on_canvas(page, CANVAS_PAD, arc_across_pad)
    deadline = time.monotonic() + 30
    while class_row_images(page) == before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    after = class_row_images(page)
    assert after != before and len(after) == 10, "the class row did not follow the released code"
    page.locator(MAIN).get_by_text(CLASS_ROW).first.scroll_into_view_if_needed()
    settle_for_screenshot(page)
    save_small_png(page.screenshot(), screenshot_path("sliders-class-row.png"))
    assert page.locator(EXCEPTION).count() == 0
