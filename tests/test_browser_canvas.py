"""The latent canvas in real Chromium, driven with real pointer events (page.mouse down / move / up).

A test-only app (tests/apps/canvas_app.py) shows the component alone, on any checkpoint. The component leaves a
performance mark for each pointer move that changes the code and for each animation frame that shows a new
image; from them come frames per move, frames per second and move -> frame latency. The figures are printed
(-s) and written to tests/artifacts/browser_canvas.json, which benchmarks/canvas.py puts in RESULTS.md.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from browser_support import CHROMIUM, CHROMIUM_ARGS, FIRST_LOAD_MS, ROOT, VIEWPORT, free_port, wait_for_health
from conftest import train_digits_model

from vae_core.checkpoint import DatasetInfo, load_checkpoint, save_checkpoint
from vae_core.export import decoder_onnx_bytes

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

pytestmark = pytest.mark.browser

ARTIFACT = ROOT / "tests" / "artifacts" / "browser_canvas.json"
MOVES = 60  # over about a second, as a hand drags
MOVE_INTERVAL_S = 1 / 60
PIXEL_TOLERANCE = 1e-3  # browser (WebAssembly) vs torch, per pixel in [0, 1]
GOAL_FRAMES_PER_MOVE = 0.9
GOAL_P95_MS = 33  # two frames at 60 Hz
# CI boxes are shared: the latency assertion allows twice the goal; RESULTS.md shows the measured figure and goal.
CI_P95_LIMIT_MS = 2 * GOAL_P95_MS
RESULTS: dict[str, dict] = {}

READY = "() => document.querySelector('[data-testid=stMain]')?.innerText.includes('ready: True')"
# Every frame the component painted for a pointer move, and every move that changed the code, since `since`.
MARKS = """(since) => {
  const after = (name) => performance.getEntriesByName(name).filter(m => m.startTime >= since);
  const frames = after('latent-canvas:frame').filter(m => m.detail.moveTime !== null);
  const last = frames.at(-1);
  return {
    moves: after('latent-canvas:move').filter(m => m.detail.moveTime !== null).length,
    frames: frames.map(m => ({at: m.startTime, move: m.detail.moveTime})),
    z: last ? last.detail.z : null,
    pixels: last ? Array.from(last.detail.pixels) : null,
  };
}"""


@dataclass(frozen=True)
class Drag:
    """What the component painted during one drag."""

    moves: int  # pointer moves that changed the code
    frames: int  # animation frames that showed a new image
    seconds: float  # first move to last painted frame
    latency_ms: list[float]  # per frame: the pointer move it shows -> that frame
    z: list[float]  # the code of the last frame
    pixels: list[float]  # its decoded image, flattened (C * H * W)

    @property
    def frames_per_move(self) -> float:
        return self.frames / self.moves

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    def summary(self) -> dict:
        p50, p95 = np.percentile(self.latency_ms, [50, 95])
        return {"moves": self.moves, "frames": self.frames, "frames_per_move": round(self.frames_per_move, 3),
                "fps": round(self.fps, 1), "drag_s": round(self.seconds, 2), "latency_p50_ms": round(float(p50), 1),
                "latency_p95_ms": round(float(p95), 1), "latency_max_ms": round(max(self.latency_ms), 1)}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`streamlit run tests/apps/canvas_app.py` with static/ beside it (Streamlit serves ./static next to the
    script), the repository's .streamlit/config.toml and imports."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    folder = tmp_path_factory.mktemp("canvas_app")
    shutil.copy(ROOT / "tests" / "apps" / "canvas_app.py", folder / "canvas_app.py")
    (folder / "static").symlink_to(ROOT / "static")
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(folder / "canvas_app.py"), "--server.address",
               "127.0.0.1", "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType",
               "none", "--server.enableStaticServing", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(app_url):
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", autouse=True)
def write_results():
    yield
    if RESULTS:
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(json.dumps(RESULTS, indent=2))


@pytest.fixture(scope="module")
def conv_checkpoint(digits, tmp_path_factory):
    """A conv VAE trained on digits for a few epochs (8 -> 4 -> 2 and back up through nearest-neighbour Resize)."""
    trainer = train_digits_model(digits, epochs=3, latent_dim=3, architecture="conv", hidden_dims=(8, 16))
    info = DatasetInfo(digits.name, digits.image_shape, digits.class_names, digits.options)
    path = tmp_path_factory.mktemp("conv") / "conv.safetensors"
    return save_checkpoint(path, trainer.model, info, trainer.history, trainer.epoch, "test fixture")


def open_canvas(browser, app_url: str, checkpoint):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{app_url}/?checkpoint={checkpoint}")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    page.locator(".latent-canvas .image").wait_for()
    return page


def drag(page, target, path) -> Drag:
    """Press on the centre of `target`, move MOVES times along `path(t)` -> (dx, dy) in pixels, t in (0, 1],
    one move per 1/60 s (or as fast as Playwright delivers them), release."""
    box = page.locator(target).first.bounding_box()
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    since = page.evaluate("performance.now()")
    page.mouse.move(x0, y0)
    page.mouse.down()
    started = time.perf_counter()
    for i in range(1, MOVES + 1):
        dx, dy = path(i / MOVES, box)
        page.mouse.move(x0 + dx, y0 + dy)
        time.sleep(max(0.0, started + i * MOVE_INTERVAL_S - time.perf_counter()))
    page.mouse.up()
    page.wait_for_timeout(200)  # the last frame
    marks = page.evaluate(MARKS, since)
    frames = marks["frames"]
    return Drag(marks["moves"], len(frames), (frames[-1]["at"] - frames[0]["move"]) / 1000,
                [f["at"] - f["move"] for f in frames], marks["z"], marks["pixels"])


def arc_across_pad(t: float, box: dict) -> tuple[float, float]:
    return 0.4 * box["width"] * t, -0.3 * box["height"] * math.sin(math.pi * t)


def along_slider(t: float, box: dict) -> tuple[float, float]:
    return 0.45 * box["width"] * t, 0.0


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


@pytest.mark.parametrize("name", ["digits-2d", "conv"])
def test_dragging_on_the_pad_repaints_every_move_with_the_decoded_image(browser, app_url, conv_checkpoint, name):
    checkpoint = conv_checkpoint if name == "conv" else ROOT / "checkpoints" / f"{name}.safetensors"
    page = open_canvas(browser, app_url, checkpoint)

    result = drag(page, ".latent-canvas .pad", arc_across_pad)

    RESULTS[f"pad, {name}"] = result.summary()
    print(f"\npad drag, {name}: {result.summary()}")
    assert_smooth(result)
    assert_browser_decodes_like_torch(checkpoint, result)
    assert_python_received(page, result.z)
    page.context.close()


def test_dragging_a_slider_thumb_moves_one_dimension_and_repaints_every_move(browser, app_url):
    checkpoint = ROOT / "checkpoints" / "digits-8d.safetensors"
    page = open_canvas(browser, app_url, checkpoint)
    first = page.locator(".latent-canvas .slider input").first
    dim = int(first.get_attribute("data-dim"))

    result = drag(page, ".latent-canvas .slider input", along_slider)

    RESULTS["slider, digits-8d"] = result.summary()
    print(f"\nslider drag, digits-8d: {result.summary()}")
    assert_smooth(result)
    assert result.z[dim] > 1.0 and sum(abs(v) for i, v in enumerate(result.z) if i != dim) == 0
    assert_browser_decodes_like_torch(checkpoint, result)
    assert_python_received(page, result.z)
    page.context.close()


def test_first_load_fetches_the_runtime_and_the_model_once(browser, app_url):
    checkpoint = ROOT / "checkpoints" / "digits-2d.safetensors"
    page = browser.new_context(viewport=VIEWPORT).new_page()
    received = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
    page.goto(f"{app_url}/?checkpoint={checkpoint}")
    page.wait_for_function(READY, timeout=FIRST_LOAD_MS)
    load = page.evaluate("""() => ({
      readyMs: performance.getEntriesByName('latent-canvas:frame')[0]?.startTime,
      modelMs: performance.getEntriesByName('latent-canvas:model-load')[0]?.duration,
      staticBytes: performance.getEntriesByType('resource').filter(r => r.name.includes('/app/static/'))
                     .map(r => ({name: r.name.split('/').at(-1), bytes: r.encodedBodySize})),
    })""")
    model_bytes = len(base64.b64encode(decoder_onnx_bytes(load_checkpoint(checkpoint).model)))

    assert sorted(f["name"] for f in load["staticBytes"]) == ["ort-wasm-simd-threaded.wasm", "ort.wasm.bundle.min.mjs"]
    assert sum(received) > model_bytes  # the model came over the websocket, once
    RESULTS["first load, digits-2d"] = {
        "navigation_to_first_image_ms": round(load["readyMs"]), "runtime_and_model_load_ms": round(load["modelMs"]),
        "static_kb": {f["name"]: round(f["bytes"] / 1000) for f in load["staticBytes"]},
        "model_kb_sent": round(model_bytes / 1000), "websocket_kb_total": round(sum(received) / 1000),
    }
    print(f"\nfirst load: {RESULTS['first load, digits-2d']}")
    page.context.close()


def test_dragging_stays_smooth_while_another_process_trains(browser, app_url, tmp_path):
    checkpoint = ROOT / "checkpoints" / "digits-2d.safetensors"
    page = open_canvas(browser, app_url, checkpoint)
    trainer = subprocess.Popen(
        [sys.executable, "-m", "vae_core", "train", "--dataset", "digits", "--epochs", "1000",
         "--out", str(tmp_path / "busy.safetensors")], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        trainer.stderr.read(1)  # the progress bar's first character: training has started
        result = drag(page, ".latent-canvas .pad", arc_across_pad)
    finally:
        trainer.terminate()
        trainer.wait(timeout=30)

    RESULTS["pad, digits-2d, while training"] = result.summary()
    print(f"\npad drag while another process trains: {result.summary()}")
    assert result.frames_per_move >= 0.5, result.summary()  # measured, not a goal: the CPU is shared
    assert_browser_decodes_like_torch(checkpoint, result)
    page.context.close()

