"""The latent canvas in real Chromium, driven with real pointer events (page.mouse down / move / up).

A test-only app (tests/apps/canvas_app.py) shows the component alone, on any checkpoint; the last test drives
the app's own Latent sliders page. The component leaves a performance mark for each pointer move that changes
the code and for each animation frame that shows a new image; from them come frames per move, frames per second
and move -> frame latency. The figures are printed (-s) and written to tests/artifacts/browser_canvas.json
(with the 1-minute load average of the machine), which benchmarks/canvas.py puts in RESULTS.md.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from support.browser import (
    CANVAS_IMAGE,
    CANVAS_PAD,
    CANVAS_PAINTED_SINCE,
    CANVAS_SLIDER,
    CANVAS_SLIDER_ROW,
    FIRST_LOAD_MS,
    MAIN,
    PHONE,
    ROOT,
    VIEWPORT,
    Drag,
    Finger,
    along_slider,
    arc_across_pad,
    canvas_marks,
    drag_on_canvas,
    local_only,
    open_page,
    pick_model,
    results_artifact,
    save_small_png,
    screenshot_path,
    wait_until_idle,
)
from support.canvas import READY, open_canvas

from vae_core.checkpoint import load_checkpoint
from vae_core.export import decoder_onnx_bytes

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

ARTIFACT = ROOT / "tests" / "artifacts" / "browser_canvas.json"
SHIPPED = ROOT / "checkpoints"
PIXEL_TOLERANCE = 1e-3  # browser (WebAssembly) vs torch, per pixel in [0, 1]
GOAL_FRAMES_PER_MOVE = 0.9
GOAL_P95_MS = 33  # two frames at 60 Hz
# CI boxes are shared: the latency assertion allows twice the goal; RESULTS.md shows the measured figure and goal.
CI_P95_LIMIT_MS = 2 * GOAL_P95_MS
RESULTS: dict[str, dict] = {}

# True once the canvas's newest frame shows the code the page prints as "z0 = +0.12, z1 = -1.30".
LAST_FRAME_SHOWS = """(text) => {
  const z = performance.getEntriesByName('latent-canvas:frame').at(-1)?.detail.z;
  return !!z && text.includes(z.map((v, d) => `z${d} = ${v < 0 ? '' : '+'}${v.toFixed(2)}`).join(', '));
}"""


write_results = results_artifact(ARTIFACT, RESULTS)


def assert_browser_decodes_like_torch(checkpoint, result: Drag) -> None:
    model = load_checkpoint(checkpoint).model
    expected = model.decode_image(torch.tensor([result.z], dtype=torch.float32)).flatten().numpy()
    assert np.abs(np.asarray(result.pixels, dtype=np.float32) - expected).max() <= PIXEL_TOLERANCE


def assert_python_received(page, z: list[float]) -> None:
    expected = ",".join(f"{np.float32(v):.6f}" for v in z)
    page.wait_for_function("(text) => document.querySelector('[data-testid=stMain]').innerText.includes(text)",
                           arg=expected, timeout=30_000)


def assert_smooth(result: Drag) -> None:
    assert result.frames_per_move >= GOAL_FRAMES_PER_MOVE, result.summary()
    assert np.percentile(result.latency_ms, 95) <= CI_P95_LIMIT_MS, result.summary()


@pytest.mark.parametrize("name", ["mnist-2d", "mnist-conv"])  # an MLP and a conv decoder, both 28x28
def test_dragging_on_the_pad_repaints_every_move_with_the_decoded_image(browser, canvas_url, name):
    checkpoint = SHIPPED / f"{name}.safetensors"
    page = open_canvas(browser, canvas_url, checkpoint)

    result = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)

    RESULTS[f"pad, {name}"] = result.summary()
    print(f"\npad drag, {name}: {result.summary()}")
    assert_smooth(result)
    assert_browser_decodes_like_torch(checkpoint, result)
    assert_python_received(page, result.z)
    page.context.close()


def test_dragging_a_slider_thumb_moves_one_dimension_and_repaints_every_move(browser, canvas_url):
    checkpoint = SHIPPED / "digits-8d.safetensors"
    page = open_canvas(browser, canvas_url, checkpoint)
    first = page.locator(CANVAS_SLIDER).first
    dim = int(first.get_attribute("data-dim"))

    result = drag_on_canvas(page, CANVAS_SLIDER, along_slider)

    RESULTS["slider, digits-8d"] = result.summary()
    print(f"\nslider drag, digits-8d: {result.summary()}")
    assert_smooth(result)
    assert result.z[dim] > 1.0 and sum(abs(v) for i, v in enumerate(result.z) if i != dim) == 0
    assert_browser_decodes_like_torch(checkpoint, result)
    assert_python_received(page, result.z)
    page.context.close()


PHONE_MOVES = 30
# At every pointer move, its pointer type and where the decoded image is on the screen.
WATCH_IMAGE = """(image) => { window.__moves = [];
  addEventListener('pointermove', (e) => window.__moves.push({type: e.pointerType,
                                                              ...image.getBoundingClientRect().toJSON()}), true); }"""


# How many elements of the page (the document's own scroll included) and of the components' open shadow roots are
# scrolled away from where they opened.
SCROLLED = """() => {
  const within = (root) => [...root.querySelectorAll('*')]
    .flatMap((e) => [e, ...(e.shadowRoot ? within(e.shadowRoot) : [])]);
  return within(document).filter((e) => e.scrollTop > 0 || e.scrollLeft > 0).length;
}"""


def inside(box: dict, viewport: dict) -> bool:
    return (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def test_on_a_phone_the_decoded_image_stays_in_view_while_a_finger_drags_the_pad(browser, canvas_url):
    checkpoint = SHIPPED / "mnist-2d.safetensors"
    page = open_canvas(browser, canvas_url, checkpoint, PHONE)
    page.locator(CANVAS_PAD).evaluate("pad => pad.scrollIntoView({block: 'end'})")  # low on the screen, by the thumb
    page.locator(CANVAS_IMAGE).evaluate(WATCH_IMAGE)

    result = drag_on_canvas(page, CANVAS_PAD, arc_across_pad, Finger(page), PHONE_MOVES)
    save_small_png(page.screenshot(), screenshot_path("latent-pad-phone.png"))  # the screen the finger left

    RESULTS["pad, mnist-2d, phone (touch, 390x844)"] = result.summary()
    print(f"\npad touch drag on a phone, mnist-2d: {result.summary()}")
    seen = page.evaluate("window.__moves")
    assert len(seen) >= PHONE_MOVES and {move["type"] for move in seen} == {"touch"}
    assert all(inside(box, PHONE["viewport"]) for box in seen), seen
    assert_smooth(result)
    assert_browser_decodes_like_torch(checkpoint, result)
    assert_python_received(page, result.z)
    page.context.close()


KEYS = 5


def test_arrow_keys_on_the_pad_move_the_code_decoding_each_step_and_send_it_once_let_go(browser, canvas_url):
    checkpoint = SHIPPED / "mnist-2d.safetensors"  # 2-D: the pad's axes are z0 and z1
    page = open_canvas(browser, canvas_url, checkpoint)
    pad = page.locator(CANVAS_PAD)
    assert pad.get_attribute("aria-label").startswith("Latent pad")
    pad.focus()

    def press(key: str) -> Drag:
        since = page.evaluate("performance.now()")
        page.keyboard.press(key)
        page.wait_for_function(CANVAS_PAINTED_SINCE, arg=since, timeout=10_000)
        return canvas_marks(page, since)

    since = page.evaluate("performance.now()")
    steps = [press("ArrowRight") for _ in range(KEYS)]
    result = canvas_marks(page, since)
    large = press("Shift+ArrowUp")

    RESULTS["pad, mnist-2d, arrow keys"] = result.summary()
    print(f"\npad arrow keys, mnist-2d: {result.summary()}")
    z0 = [step.z[0] for step in steps]
    assert all(step.frames == 1 for step in steps) and result.frames_per_move == 1, result.summary()
    assert all(b > a for a, b in zip([0.0, *z0], z0)) and all(step.z[1] == 0 for step in steps), z0
    assert all(np.abs(np.subtract(a.pixels, b.pixels)).max() > 0 for a, b in zip(steps, steps[1:]))
    assert large.z[0] == z0[-1] and large.z[1] == pytest.approx(5 * (z0[1] - z0[0]), rel=1e-3)
    assert np.percentile(result.latency_ms, 95) <= CI_P95_LIMIT_MS, result.summary()
    assert_browser_decodes_like_torch(checkpoint, large)
    assert_python_received(page, large.z)
    page.context.close()


def test_first_load_fetches_the_runtime_and_the_model_once(browser, canvas_url):
    checkpoint = SHIPPED / "mnist-2d.safetensors"
    page = browser.new_context(viewport=VIEWPORT).new_page()
    received = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    page.goto(f"{canvas_url}/?checkpoint={checkpoint}")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    load = page.evaluate("""() => ({
      readyMs: performance.getEntriesByName('latent-canvas:frame')[0]?.startTime,
      modelMs: performance.getEntriesByName('model:load')[0]?.duration,
      staticBytes: performance.getEntriesByType('resource').filter(r => r.name.includes('/app/static/'))
                     .map(r => ({name: r.name.split('/').at(-1), bytes: r.encodedBodySize})),
    })""")
    model_bytes = len(decoder_onnx_bytes(load_checkpoint(checkpoint).model))

    names = sorted(f["name"] for f in load["staticBytes"])
    assert len(names) == 3 and names[0].endswith(".onnx")  # the decoder by URL (a content-named static file)
    assert names[1:] == ["ort-wasm-simd-threaded.wasm", "ort.wasm.bundle.min.mjs"]
    assert sum(received) < model_bytes  # the decoder did not come over the websocket
    RESULTS["first load, mnist-2d"] = {
        "navigation_to_first_image_ms": round(load["readyMs"]), "runtime_and_model_load_ms": round(load["modelMs"]),
        "static_kb": {f["name"]: round(f["bytes"] / 1000) for f in load["staticBytes"]},
        "model_kb": round(model_bytes / 1000), "websocket_kb_total": round(sum(received) / 1000),
    }
    print(f"\nfirst load: {RESULTS['first load, mnist-2d']}")
    page.context.close()


def test_dragging_stays_smooth_while_another_process_trains(browser, canvas_url, tmp_path):
    checkpoint = SHIPPED / "mnist-2d.safetensors"
    page = open_canvas(browser, canvas_url, checkpoint)
    trainer = subprocess.Popen(
        [sys.executable, "-m", "vae_core", "train", "--dataset", "digits", "--epochs", "1000",
         "--out", str(tmp_path / "busy.safetensors")], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        trainer.stderr.read(1)  # the progress bar's first character: training has started
        result = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)
    finally:
        trainer.terminate()
        trainer.wait(timeout=30)

    RESULTS["pad, mnist-2d, while training"] = result.summary()
    print(f"\npad drag while another process trains: {result.summary()}")
    assert result.frames_per_move >= 0.5, result.summary()  # measured, not a goal: the CPU is shared
    assert_browser_decodes_like_torch(checkpoint, result)
    page.context.close()



def open_sliders_page(browser, app_url: str, block_runtime: bool = False):
    context = browser.new_context(viewport=VIEWPORT)
    local_only(context, app_url)
    if block_runtime:  # as a browser that blocks the script's files would
        context.route("**/app/static/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(app_url)
    wait_until_idle(page, FIRST_LOAD_MS)
    open_page(page, "Latent sliders")
    return page


def test_the_latent_sliders_page_decodes_on_the_canvas_instead_of_the_server(browser, app_url):
    page = open_sliders_page(browser, app_url)
    page.locator(MAIN).get_by_text("Code as of your last release").wait_for()  # the canvas reported ready

    result = drag_on_canvas(page, CANVAS_PAD, arc_across_pad)

    assert page.locator("[data-testid=stSlider]").count() == 0  # no server-side sliders once it runs
    assert_smooth(result)
    page.locator(MAIN).get_by_text(f"z0 = {result.z[0]:+.2f}, z1 = {result.z[1]:+.2f}").wait_for()
    page.mouse.move(0, 0)
    save_small_png(page.locator(".latent-canvas").screenshot(), screenshot_path("latent-pad.png"))

    page.locator(MAIN).get_by_text("Random prior sample").click()  # a new start: the canvas moves there and decodes
    page.locator(MAIN).get_by_text(f"z0 = {result.z[0]:+.2f}, z1 = {result.z[1]:+.2f}").wait_for(state="detached")
    shown = page.locator(MAIN).get_by_text("Code as of your last release").inner_text()
    page.wait_for_function(LAST_FRAME_SHOWS, arg=shown, timeout=10_000)
    page.context.close()


@pytest.mark.parametrize("name", ["mnist-2d", "mnist-conv"])  # the app's default (2-D) and the 16-D shipped model
def test_on_the_latent_sliders_page_the_first_slider_and_the_image_are_in_view_without_scrolling(browser, app_url,
                                                                                                  name):
    page = open_sliders_page(browser, app_url)
    if name != "mnist-2d":
        pick_model(page, name)
    latent_dim = load_checkpoint(SHIPPED / f"{name}.safetensors").config.latent_dim
    page.locator(CANVAS_SLIDER_ROW).nth(latent_dim - 1).wait_for()  # the model's sliders, one per dimension
    first_slider = page.locator(CANVAS_SLIDER_ROW).first

    assert page.locator(CANVAS_SLIDER_ROW).count() == latent_dim
    assert inside(first_slider.bounding_box(), VIEWPORT), first_slider.bounding_box()
    assert inside(page.locator(CANVAS_IMAGE).bounding_box(), VIEWPORT)  # a slider's drag shows its image
    assert page.evaluate(SCROLLED) == 0
    page.context.close()


def test_where_the_runtime_cannot_load_server_sliders_stand_in_and_say_why(browser, app_url):
    page = open_sliders_page(browser, app_url, block_runtime=True)

    # The note under the canvas (the canvas's own status line says the same without "Meanwhile").
    page.locator(MAIN).get_by_text(re.compile(
        "In-browser decoding is off: the decoder could not be loaded.*Meanwhile these sliders decode on the server"
    )).wait_for(timeout=30_000)
    assert page.locator("[data-testid=stSlider]").count() == 2  # one per dimension of the default model (2-D)
    assert "In-browser decoding is off" in page.locator(".latent-canvas .status").inner_text()
    page.context.close()
