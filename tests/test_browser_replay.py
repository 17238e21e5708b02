"""In real Chromium: a conditional model trained on the Train page, its latent space forming live, then replayed
with Play and the epoch slider (real pointer events, animated in the browser); on the Sliders page its code,
dragged on the pad, decodes as every class in the browser as the pointer moves."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from support.browser import (
    CANVAS_PAD,
    EXCEPTION,
    LIVE_CANVASES,
    MAIN,
    SIDEBAR,
    arc_across_pad,
    choose,
    chromium,
    drag_on_canvas,
    live_paints,
    open_app,
    open_page,
    save_small_png,
    screenshot_path,
    settle_for_screenshot,
    streamlit_server,
    wait_for_charts,
    wait_until_idle,
)
from support.canvas import CLASS_IMAGES, row_pixels

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

EPOCHS = 120  # digits: long enough (tens of seconds under load) to see the scatter live, short enough to wait for
LIVE_BATCH_SIZE = 16  # small batches: a worker process trains digits' 12 default batches an epoch in a blink
CONDITIONAL_EPOCHS = 2  # MNIST: the style z keeps (slant, width) already shows after an epoch or two
REPLAY_CHART = 1  # the second Plotly chart on the Train page: the loss chart comes first
# The live view's canvases, tagged once: still the same elements (not remounted) as long as the tag is there.
TAG = "canvases => canvases.forEach(c => { c.tagged = true; })"
TAGGED = "canvases => canvases.length === 2 && canvases.every(c => c.tagged)"
# The replay figure's state in the page: which epoch its marker and its points show (Plotly keeps them in gd.data).
REPLAY_STATE = """(index) => {
  const gd = document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')[index];
  const marker = gd._fullData[1], points = gd._fullData[2];
  return {epoch: marker.x[0], firstPoint: [Number(points.x[0]), Number(points.y[0])],
          frames: (gd._transitionData._frames || []).length,
          slider: gd._fullLayout.sliders[0].active};
}"""
CLASS_ROW = "decode(z, y)"  # the server's every-class row, drawn only when the canvas is not running


@pytest.fixture(scope="module")
def page():
    with chromium() as browser, streamlit_server() as url:
        yield open_app(browser, url)


def button(page, word: str):
    return page.locator(MAIN).get_by_role("button", name=re.compile(word, re.IGNORECASE))


def use_trained_model(page, sidebar_name: re.Pattern) -> None:
    """Press "Use this model now" until the sidebar names the trained model: a press landing while a rerun
    replaces the button can be dropped by Streamlit, and the test would go on with the shipped model."""
    named = page.locator(SIDEBAR).get_by_text(sidebar_name).first
    for _ in range(3):
        button(page, "use this model").click()
        wait_until_idle(page)
        try:
            named.wait_for(timeout=10_000)
            return
        except sync_api.TimeoutError:
            pass
    named.wait_for(timeout=1)  # fails, naming what the sidebar lacks


def replay_state(page) -> dict:
    return page.evaluate(REPLAY_STATE, REPLAY_CHART)


def click_at(page, selector: str, fraction: float = 0.5) -> None:
    """A real press and release at `fraction` of the element's width, on its vertical centre."""
    box = page.locator(selector).first.bounding_box()
    x, y = box["x"] + fraction * box["width"], box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.up()


def scrub(page, fraction: float) -> None:
    """Drag the replay slider's grip to `fraction` of its rail, with real pointer moves."""
    grip = page.locator(".slider-grip-rect").first.bounding_box()
    rail = page.locator(".slider-rail-rect").first.bounding_box()
    x0, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    x1 = rail["x"] + fraction * rail["width"]
    page.mouse.move(x0, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * i / 10, y)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.wait_for_timeout(500)


def hover_the_live_view(page) -> None:
    """The pointer over the live chart names the step under it; swept across the codes, it names a code's class."""
    chart = page.locator(".live-training canvas.chart").bounding_box()
    page.mouse.move(chart["x"] + chart["width"] * 0.3, chart["y"] + chart["height"] * 0.5, steps=5)
    tip = page.locator(".live-training .history .tooltip")
    sync_api.expect(tip).to_contain_text(re.compile(r"step [\d,]+\s*train recon -?[\d.]+"))
    codes = page.locator(".live-training canvas.scatter").bounding_box()
    named = page.locator(".live-training .codes .tooltip")
    for i in range(41):  # across the middle, where the codes are densest
        page.mouse.move(codes["x"] + codes["width"] * (0.1 + 0.02 * i), codes["y"] + codes["height"] * 0.5)
        if named.is_visible():
            break
    assert re.match(r"\d \(", named.inner_text()), named.inner_text()  # digits: the class is the digit
    page.mouse.move(0, 0)


def near_the_middle(t: float, box: dict) -> tuple[float, float]:
    return 0.03 * box["width"] * t, -0.05 * box["height"] * t


def start_training(page, epochs: int, conditional: bool, dataset: str = "digits", batch_size: int | None = None
                   ) -> None:
    """Fill in the Train page's form and press Start."""
    form = page.locator(MAIN).locator("details").filter(has_text="New training run").first
    form.wait_for()
    if form.get_attribute("open") is None:  # the expander is closed once a run has finished
        form.locator("summary").click()
    page.locator(MAIN).get_by_label("Epochs", exact=True).wait_for(state="visible")
    choose(page, "Dataset", dataset)
    if conditional:  # checked, and still checked once the reruns it and the dataset choice started have ended
        box = page.locator(MAIN).get_by_role("checkbox", name=re.compile("Conditional VAE"))
        for _ in range(3):  # click, not check(): a rerun in flight may redraw the box before check() looks
            if not box.is_checked():
                box.click(force=True)
            wait_until_idle(page)
            if box.is_checked():
                break
        assert box.is_checked(), "the Conditional VAE box did not stay ticked"
    for label, value in (("Epochs", epochs), ("Batch size", batch_size)):
        if value is not None:
            field = page.locator(MAIN).get_by_label(label, exact=True)
            field.fill(str(value))
            field.press("Enter")
            wait_until_idle(page)
    button(page, "start").click()
    button(page, "stop").first.wait_for(timeout=60_000)  # the live view (a finished run's view has a progress bar too)


def test_training_forms_live_then_replays_in_the_browser(page):
    open_page(page, "Train")
    start_training(page, EPOCHS, conditional=False, batch_size=LIVE_BATCH_SIZE)

    # Live: the loss chart and the test codes, drawn in the browser and redrawn in place as steps and epochs come.
    live_title = page.locator(MAIN).get_by_text(re.compile(r"Test codes after epoch \d+"))
    live_title.first.wait_for(timeout=60_000)
    page.locator(LIVE_CANVASES).evaluate_all(TAG)
    first_live, first_paints = live_title.first.text_content(), live_paints(page)
    deadline = time.monotonic() + 60
    while live_title.first.text_content() == first_live and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    assert live_title.first.text_content() != first_live, "the live scatter did not advance"
    assert page.locator(LIVE_CANVASES).evaluate_all(TAGGED), "the live view was remounted, not redrawn in place"
    paints = live_paints(page)
    steps = [p["step"] for p in paints if p["what"] == "chart"]
    epochs = [p["epoch"] for p in paints if p["what"] == "codes"]
    assert len(steps) > len([p for p in first_paints if p["what"] == "chart"]) and steps == sorted(steps)
    assert epochs == sorted(epochs) and epochs[-1] > epochs[0]
    paint_ms = sorted(p["ms"] for p in paints)
    print(f"\nlive view: {len(paints)} paints in place, ms p50 {paint_ms[len(paint_ms) // 2]:.1f} "
          f"max {paint_ms[-1]:.1f}")
    hover_the_live_view(page)
    page.wait_for_timeout(3000)  # a few more epochs: the clusters begin to part
    save_small_png(page.screenshot(), screenshot_path("train-replay-live.png"))

    # Finished: the replay, every frame in the page.
    button(page, "use this model").wait_for(timeout=300_000)
    wait_until_idle(page)
    chart = page.locator("[data-testid=stPlotlyChart]").nth(REPLAY_CHART)
    chart.scroll_into_view_if_needed()
    wait_for_charts(page, at_least=2)
    start = replay_state(page)
    assert start["frames"] == EPOCHS and start["epoch"] == 1 and start["slider"] == 0

    click_at(page, ".updatemenu-button")  # Play: Plotly steps through the frames in the browser
    page.wait_for_timeout(2500)
    playing = replay_state(page)
    assert playing["epoch"] > 1 and playing["firstPoint"] != start["firstPoint"], playing
    click_at(page, ".updatemenu-button >> nth=1")  # Pause
    page.wait_for_timeout(300)
    paused = replay_state(page)
    page.wait_for_timeout(1000)
    assert replay_state(page)["epoch"] == paused["epoch"] < EPOCHS

    scrub(page, 1.0)  # to the end
    end = replay_state(page)
    assert end["epoch"] == EPOCHS and end["slider"] == EPOCHS - 1, end
    scrub(page, 0.0)  # and back to the start
    back = replay_state(page)
    assert back["epoch"] == 1 and back["firstPoint"] == start["firstPoint"], back
    scrub(page, 0.6)
    middle = replay_state(page)
    assert 0.45 * EPOCHS < middle["epoch"] < 0.75 * EPOCHS, middle
    save_small_png(chart.screenshot(), screenshot_path("train-replay.png"))
    assert page.locator(EXCEPTION).count() == 0


def test_a_conditional_model_decodes_the_dragged_code_as_every_class_in_the_browser(page):
    open_page(page, "Train")
    start_training(page, CONDITIONAL_EPOCHS, conditional=True, dataset="mnist")
    button(page, "use this model").wait_for(timeout=300_000)
    wait_until_idle(page)
    use_trained_model(page, re.compile(r"cvae.*\(unsaved\)"))
    open_page(page, "Latent sliders")
    page.locator(MAIN).get_by_text("Code as of your last release").wait_for(timeout=60_000)
    page.wait_for_timeout(3000)  # the canvas's first "ready" report reruns the live part once
    wait_until_idle(page)
    page.locator(CLASS_IMAGES).first.wait_for(timeout=60_000)  # the canvas draws the row (the server's is off)
    assert page.locator(MAIN).locator("tr").filter(has_text=CLASS_ROW).count() == 0
    before = row_pixels(page)
    assert len(before) == 10 and len({image.tobytes() for image in before}) == 10  # ten classes, ten images

    drag = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)  # the row follows the pointer, decoded in the page

    after = row_pixels(page)
    assert np.abs(after.astype(int) - before).max() > 20, "the class row did not follow the drag"
    pad = np.round(np.asarray(drag.pixels).reshape(-1) * 255)  # the pad decodes class 0 (the default choice)
    assert np.abs(after[0] - pad).max() <= 1
    drag_on_canvas(page, CANVAS_PAD, near_the_middle)  # back among the codes, for a legible screenshot
    page.locator(CLASS_IMAGES).first.scroll_into_view_if_needed()
    settle_for_screenshot(page)
    save_small_png(page.screenshot(), screenshot_path("sliders-class-row.png"))

    # Another class for the pad: the same graph and session decode it, no new model is sent or loaded.
    loads = "() => performance.getEntriesByName('model:load').length"
    loaded = page.evaluate(loads)
    choose(page, "Decode as class", "7")
    page.locator(MAIN).get_by_text(re.compile("Decoded in your browser")).first.wait_for(timeout=60_000)
    drag = drag_on_canvas(page, CANVAS_PAD, near_the_middle)
    pad = np.round(np.asarray(drag.pixels).reshape(-1) * 255)
    assert np.abs(row_pixels(page)[7] - pad).max() <= 1, "the pad does not decode the chosen class"
    assert page.evaluate(loads) == loaded == 1
    assert len(page.evaluate("() => [...globalThis.__latentCanvasModels.keys()]")) == 1  # one graph, every class
    assert page.locator(EXCEPTION).count() == 0
