"""The Encode page in real Chromium: a stroke drawn with real pointer events (page.mouse down / move / up) is encoded
in the browser at every move, and the posterior shown changes during the stroke, not only on release.

The draw pad leaves a performance mark per stroke move, one at the frame that shows each posterior and one at the
frame that shows its decoded images and ELBO terms; from them come frames per move and move -> update latency. The
figures are printed (-s) and written to tests/artifacts/browser_encode.json with the machine's 1-minute load
average (benchmarks/RESULTS.md, "Encode page (issue 23)").
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import numpy as np
import pytest
from support.browser import (
    FIRST_LOAD_MS,
    PHONE,
    VIEWPORT,
    Finger,
    app_server,
    free_port,
    open_app,
    open_page,
    pick_model,
    results_artifact,
    save_small_png,
    screenshot_path,
    server_log_path,
)
from support.draw_pad import (
    CLASS_PICKER,
    DRAWING,
    GOAL_FRAMES_PER_MOVE,
    MARKS,
    MOVE_INTERVAL_S,
    READY,
    STROKE_MOVES,
    assert_each_class_encoded_like_torch,
    assert_terms_equal_torch,
    draw_stroke,
    example_then_another_class,
    summary,
    vertical_line,
)
from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint

pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

ARTIFACT = ROOT / "tests" / "artifacts" / "browser_encode.json"
SHIPPED = ROOT / "checkpoints"
PHONE_MOVES = 30
WATCH_POINTER_TYPES = """(canvas) => { window.__types = [];
  canvas.addEventListener('pointermove', (e) => window.__types.push(e.pointerType)); }"""
GOAL_P95_MS = 33  # two frames at 60 Hz
CI_P95_LIMIT_MS = 4 * GOAL_P95_MS  # a shared CI box; RESULTS.md has the measured figure beside the goal
RESULTS: dict[str, dict] = {}

write_results = results_artifact(ARTIFACT, RESULTS)


def open_encode_page(browser, app_url: str, model: str):
    page = open_app(browser, app_url)
    if model != "mnist-2d":  # the app's default
        pick_model(page, model)
    open_page(page, "Encode a drawing")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.locator(".draw-pad .neighbours figure").nth(9).wait_for()  # the test examples arrived
    return page


@pytest.mark.parametrize("model", ["mnist-2d", "mnist-conv"])  # an MLP (2-D) and a conv encoder (16-D), 28x28
def test_a_stroke_moves_the_posterior_during_the_stroke_and_its_neighbours_are_ones(browser, app_url, model):
    page = open_encode_page(browser, app_url, model)
    blank = page.locator(".draw-pad .posterior").get_attribute("data-mu")

    since, released, readouts = draw_stroke(page, vertical_line)
    marks = page.evaluate(MARKS, since)

    posterior, recon = marks["posterior"], marks["recon"]
    during = [f for f in posterior if f["at"] < released]
    RESULTS[f"stroke, {model}: posterior (encode)"] = {**summary(marks["moves"], posterior),
                                                       "ones_among_10_neighbours": posterior[-1]["neighbours"].count(1)}
    RESULTS[f"stroke, {model}: reconstruction and ELBO terms (encode + decode)"] = summary(marks["moves"], recon)
    print(f"\nstroke, {model}: {[RESULTS[key] for key in RESULTS if key.startswith(f'stroke, {model}:')]}")
    # The readout and the ellipse's centre (mu) moved while the button was down, at nearly every move.
    assert len({blank, *readouts}) == 1 + len(readouts), readouts
    assert len({tuple(f["mu"]) for f in during}) >= STROKE_MOVES // 2
    assert len(posterior) / marks["moves"] >= GOAL_FRAMES_PER_MOVE, RESULTS
    assert np.percentile([f["at"] - f["moveTime"] for f in recon], 95) <= CI_P95_LIMIT_MS, RESULTS
    # A "1" drawn with the mouse: most of its ten nearest test examples are ones.
    assert sum(label == 1 for label in posterior[-1]["neighbours"]) >= 6, posterior[-1]["neighbours"]
    assert page.locator(".draw-pad .neighbours figure").count() == 10
    assert_terms_equal_torch(SHIPPED / f"{model}.safetensors", recon[-1], posterior)
    page.mouse.move(0, 0)
    save_small_png(page.locator(".draw-pad").screenshot(), screenshot_path(f"encode-{model}.png"))
    page.context.close()


# --- a conditional model: the class picker is the encoder's and the decoder's other input ---

@pytest.fixture(scope="module")
def encode_app_url(tmp_path_factory):
    """`streamlit run tests/apps/encode_app.py` with static/ beside it, the repository's config and imports."""
    folder = tmp_path_factory.mktemp("encode_app")
    shutil.copy(ROOT / "tests" / "apps" / "encode_app.py", folder / "encode_app.py")
    (folder / "static").symlink_to(ROOT / "static")
    port = free_port()
    with app_server([sys.executable, "-m", "streamlit", "run", str(folder / "encode_app.py")], port,
                    server_log_path(port), env={**os.environ, "PYTHONPATH": str(ROOT)}) as (url, _):
        yield url


def test_a_conditional_model_encodes_a_dataset_example_as_the_class_chosen(browser, encode_app_url,
                                                                          conditional_digits):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{encode_app_url}/?checkpoint={conditional_digits}")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.locator(".draw-pad .neighbours figure").nth(9).wait_for()
    assert page.locator(CLASS_PICKER).is_visible()

    example, chosen = example_then_another_class(page)
    assert_each_class_encoded_like_torch(load_checkpoint(conditional_digits).model, example, chosen)
    page.context.close()


def test_on_a_phone_a_finger_draws_and_the_posterior_follows_it(browser, encode_app_url):
    """Touch: Chromium's own touch input (CDP), so the drawing gets pointer events of type "touch"."""
    checkpoint = SHIPPED / "mnist-2d.safetensors"
    page = browser.new_context(**PHONE).new_page()
    page.goto(f"{encode_app_url}/?checkpoint={checkpoint}")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.locator(DRAWING).scroll_into_view_if_needed()
    page.locator(DRAWING).evaluate(WATCH_POINTER_TYPES)
    finger = Finger(page)
    box = page.locator(DRAWING).bounding_box()
    x, y = vertical_line(0.0, box)
    since = page.evaluate("performance.now()")
    finger.move(x, y)
    finger.down()
    for i in range(1, PHONE_MOVES + 1):
        finger.move(*vertical_line(i / PHONE_MOVES, box))
        time.sleep(MOVE_INTERVAL_S)
    finger.up()
    page.wait_for_timeout(300)
    marks = page.evaluate(MARKS, since)

    assert set(page.evaluate("window.__types")) == {"touch"}
    assert marks["moves"] >= PHONE_MOVES and len(marks["posterior"]) / marks["moves"] >= GOAL_FRAMES_PER_MOVE, marks
    assert len({tuple(f["mu"]) for f in marks["posterior"]}) >= PHONE_MOVES // 2
    RESULTS["stroke, mnist-2d, phone (touch, 390x844): posterior (encode)"] = summary(marks["moves"],
                                                                                     marks["posterior"])
    page.context.close()
