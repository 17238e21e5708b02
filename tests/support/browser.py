"""Helpers for the browser end-to-end tests: a `streamlit run` server, Chromium, and in-page timing.

Selectors are Streamlit's own test ids and ARIA roles (sidebar nav links by title, `stSlider`, `img` in
`stMain`), so the tests keep working while the pages evolve.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .paths import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"  # git-ignored: logs, measurements, screenshots of a test run
SCREENSHOTS = ROOT / "docs" / "screenshots"  # tracked: rewritten only by `make screenshots`
# Debian's chromium (apt-get install chromium); `playwright install` cannot download browsers here.
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
# A phone's screen in CSS pixels (an iPhone 12/13/14's, as Playwright's device descriptors give it), with touch, as
# new_context's arguments. Scale 1, not the phone's 3: headless Chromium composites a 3x screen in software, and
# that (no cost on a phone's GPU) would dominate the drag's frame times.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
# The first run of a session imports torch and loads the dataset; on a busy 2-core CI box that takes ~30 s.
FIRST_LOAD_MS = 120_000
PAGE_LOAD_MS = 60_000

MAIN = "[data-testid=stMain]"
CODE_ON_RELEASE = "Code as of your last release"  # shown by the sliders page once the canvas decodes
EXCEPTION = "[data-testid=stException]"
NAV_LINK = "[data-testid=stSidebarNavLink]"
SIDEBAR = "[data-testid=stSidebar]"
PROGRESS = "[data-testid=stProgress]"
LIVE_CANVASES = ".live-training canvas"  # the Train page's live chart and test codes (in the component's shadow root)
LIVE_PAINT = "live-training:paint"  # the performance mark of each of their paints

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screenshot_path(name: str) -> Path:
    """Where a test saves the screenshot `name`: docs/screenshots under `make screenshots`
    (UPDATE_SCREENSHOTS=1), else tests/artifacts/screenshots, so a test run never rewrites tracked files."""
    return (SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else ARTIFACTS / "screenshots") / name


def server_log_path(port: int) -> Path:
    return ARTIFACTS / f"streamlit-{port}.log"


@contextmanager
def streamlit_server(timeout_s: float = 60.0) -> Iterator[str]:
    """`streamlit run app.py` on 127.0.0.1 from the repo root, configured by .streamlit/config.toml as a user's
    is; yields its base URL, kills it afterwards. Its output goes to `server_log_path(port)`."""
    port = free_port()
    with app_server([sys.executable, "-m", "streamlit", "run", "app.py"], port, server_log_path(port),
                    timeout_s=timeout_s) as (url, _):
        yield url


@contextmanager
def app_server(command: list[str], port: int, log_path: Path, env: dict | None = None,
               timeout_s: float = 60.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `command` (an entry to the app) on 127.0.0.1:`port` from the repo root, output to `log_path`;
    yields (base URL, process) once it answers, and stops it afterwards."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen([*command, "--server.address", "127.0.0.1", "--server.port", str(port)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process, timeout_s, log_path)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_health(url: str, process: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer {url}/_stcore/health within {timeout_s:.0f} s")


FOREIGN_REQUESTS: list[str] = []  # requests a test's pages made to another host; conftest fails the test on any


def local_only(context, base_url: str) -> None:
    """Abort every request that is not to our server, and record it in FOREIGN_REQUESTS: nothing the app shows
    may leave the machine (an icon from a font CDN did)."""
    local = re.compile(rf"^(http|ws)://127\.0\.0\.1:{base_url.rsplit(':', 1)[1]}/")

    def only_ours(route) -> None:
        if local.match(route.request.url):
            route.continue_()
        else:
            FOREIGN_REQUESTS.append(route.request.url)
            route.abort()

    context.route("**/*", only_ours)


@contextmanager
def chromium() -> Iterator:
    """Headless Debian Chromium for a module's tests; skips them, saying why, where it or Playwright is missing."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, url: str, viewport: dict = VIEWPORT):
    """A page in a new browser context (its own cookies, so its own Streamlit session; no HTTP cache) that can
    reach only our server at `url`."""
    context = browser.new_context(viewport=viewport)
    local_only(context, url)
    return context.new_page()


def open_app(browser, url: str, path: str = "", viewport: dict = VIEWPORT):
    """`new_page` on the app's `path` once its first script run, and the code and images it loads, are done."""
    page = new_page(browser, url, viewport)
    page.goto(f"{url}{path}")
    wait_until_idle(page, FIRST_LOAD_MS)
    return page


def wait_for_script(page, timeout_ms: int = PAGE_LOAD_MS) -> None:
    """Wait until the script run is over and nothing on the page is drawn stale."""
    page.wait_for_function(
        """() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'
                 && !document.querySelector('[data-stale=true]')""", timeout=timeout_ms)


def wait_until_idle(page, timeout_ms: int = PAGE_LOAD_MS) -> None:
    """Wait for the script run, then for its images and lazily loaded widget code to arrive."""
    wait_for_script(page, timeout_ms)
    page.wait_for_load_state("networkidle", timeout=timeout_ms)


def live_paints(page) -> list[dict]:
    """What the Train page's live view (ui/components/live_training) painted so far: {"what": "chart", "step"} or
    {"what": "codes", "epoch"}, each with its "ms"."""
    return page.evaluate(f"performance.getEntriesByName('{LIVE_PAINT}').map(m => m.detail)")


def wait_for_live_view(page, timeout_ms: int = PAGE_LOAD_MS) -> None:
    """Until the Train page's live chart has painted a step."""
    page.wait_for_function(f"performance.getEntriesByName('{LIVE_PAINT}').some(m => m.detail.step !== null)",
                           timeout=timeout_ms)


def wait_for_charts(page, timeout_ms: int = PAGE_LOAD_MS, at_least: int = 0) -> None:
    """Plotly draws after the script run ends: wait until every chart on the page (and at least
    `at_least` of them) has its SVG. Plotly's code loads lazily, so the first chart can take seconds."""
    page.wait_for_function(
        """(atLeast) => {
             const charts = Array.from(document.querySelectorAll('[data-testid=stPlotlyChart]'));
             return charts.length >= atLeast && charts.every(chart => chart.querySelector('.main-svg'))
                    && charts.slice(0, atLeast).every(chart => chart.querySelector('.scatterlayer .trace'));
           }""", arg=at_least, timeout=timeout_ms)


# Resolves once the main area has looked the same for `quietMs`: lazily loaded widgets and Plotly charts
# appear after the script run has ended, so "script done" is not yet "drawn".
WAIT_FOR_STABLE_LAYOUT = """(quietMs) => new Promise(resolve => {
  const main = document.querySelector('[data-testid=stMain]');
  const look = () => [main.scrollHeight, main.getElementsByTagName('*').length,
                      Array.from(main.querySelectorAll('img')).filter(img => img.complete).length].join(',');
  let last = look(), since = performance.now();
  const timer = setInterval(() => {
    const now = look();
    if (now !== last) { last = now; since = performance.now(); }
    else if (performance.now() - since >= quietMs) { clearInterval(timer); resolve(); }
  }, 100);
})"""


def settle_for_screenshot(page, timeout_ms: int = PAGE_LOAD_MS) -> None:
    wait_until_idle(page, timeout_ms)
    page.evaluate(WAIT_FOR_STABLE_LAYOUT, 1000)
    wait_for_charts(page, timeout_ms)
    page.evaluate("document.fonts.ready.then(() => null)")
    page.wait_for_timeout(500)  # WebGL points are drawn a frame or two after the chart's SVG


def open_page(page, title: str, timeout_ms: int = PAGE_LOAD_MS) -> None:
    """Click the sidebar navigation link with this title and wait for the page to finish running."""
    link = page.locator(NAV_LINK).filter(has=page.get_by_text(title, exact=True)).first
    link.click()
    page.wait_for_function("link => link.getAttribute('aria-current') === 'page'", arg=link.element_handle(),
                           timeout=timeout_ms)
    page.wait_for_timeout(300)  # let the rerun the click asked for start before waiting for it to end
    wait_until_idle(page, timeout_ms)


def pick_model(page, name: str) -> None:
    """Choose a checkpoint in the sidebar's picker, as a user does (click the box, click the option)."""
    page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").first.click()
    page.get_by_role("option", name=re.compile(name)).first.click()
    page.wait_for_timeout(300)
    wait_until_idle(page)


def nav_titles(page) -> list[str]:
    # A link's text is "<icon ligature>\n\n<title>"; the title is the last line.
    return [text.strip().splitlines()[-1] for text in page.locator(NAV_LINK).all_inner_texts()]


@dataclass(frozen=True)
class LatencySummary:
    p50_ms: float
    p95_ms: float
    n: int

    @classmethod
    def of(cls, latencies_ms: list[float]) -> LatencySummary:
        return cls(float(np.percentile(latencies_ms, 50)), float(np.percentile(latencies_ms, 95)), len(latencies_ms))

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms (n={self.n})"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def save_small_png(png: bytes, path: Path, colors: int = 256) -> int:
    """Save a screenshot as a palette PNG (UI screenshots have few colours; this keeps them ~3x smaller)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    image.save(path, format="PNG", optimize=True)
    return path.stat().st_size


# A WebM's bytes (base64) played back in the page: its size and its last frame as a PNG data URL.
LAST_VIDEO_FRAME = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const video = Object.assign(document.createElement('video'), {muted: true,
    src: URL.createObjectURL(new Blob([bytes], {type: 'video/webm'}))});
  await new Promise((ok, fail) => { video.onloadeddata = ok; video.onerror = () => fail(video.error?.message); });
  if (!isFinite(video.duration)) {  // MediaRecorder's WebM has no duration: seeking far past the end finds it
    video.currentTime = 1e6;
    await new Promise(ok => video.addEventListener('seeked', ok, {once: true}));
  }
  video.currentTime = Math.max(0, video.duration - 1e-3);
  await new Promise(ok => video.addEventListener('seeked', ok, {once: true}));
  const canvas = Object.assign(document.createElement('canvas'), {width: video.videoWidth, height: video.videoHeight});
  canvas.getContext('2d').drawImage(video, 0, 0);
  return {width: video.videoWidth, height: video.videoHeight, png: canvas.toDataURL('image/png')};
}"""


def last_video_frame(page, webm: bytes) -> tuple[int, int, bytes]:
    """A recording (WebM) decoded by the page's own video player: (width, height, its last frame as PNG bytes)."""
    frame = page.evaluate(LAST_VIDEO_FRAME, base64.b64encode(webm).decode())
    return frame["width"], frame["height"], base64.b64decode(frame["png"].split(",", 1)[1])


# --- the latent canvas (ui/components/latent_canvas), driven with real pointer events ---

CANVAS_PAD = ".latent-canvas .pad"  # the component's own classes (its shadow root is open: CSS locators pierce it)
CANVAS_SLIDER = ".latent-canvas .slider input"
CANVAS_SLIDER_ROW = ".latent-canvas .slider"  # a slider with its name and value
CANVAS_IMAGE = ".latent-canvas .image"  # the decoded image
CANVAS_VIEWS = ".latent-canvas .views"  # the pad, the decoded image beside it and the sliders under the image
CANVAS_MOVES = 60  # over about a second, as a hand drags
CANVAS_MOVE_INTERVAL_S = 1 / 60
# Every frame the component painted for a pointer move, and every move that changed the code, since `since`.
CANVAS_MARKS = """(since) => {
  const after = (name) => performance.getEntriesByName(name).filter(m => m.startTime >= since);
  const frames = after('latent-canvas:frame').filter(m => m.detail.moveTime !== null);
  const last = frames.at(-1);
  return {
    moves: after('latent-canvas:move').filter(m => m.detail.moveTime !== null).length,
    frames: frames.map(m => ({at: m.startTime, move: m.detail.moveTime, decode: m.detail.decodeMs})),
    z: last ? last.detail.z : null,
    pixels: last ? Array.from(last.detail.pixels) : null,
  };
}"""


@dataclass(frozen=True)
class Drag:
    """What the latent canvas painted during one drag (from its performance marks)."""

    moves: int  # pointer moves that changed the code
    frames: int  # animation frames that showed a new image
    seconds: float  # first move to last painted frame
    latency_ms: list[float]  # per frame: the pointer move it shows -> that frame
    decode_ms: list[float]  # per frame: the decoder's run in the browser
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
                "latency_p95_ms": round(float(p95), 1), "latency_max_ms": round(max(self.latency_ms), 1),
                "decode_p50_ms": round(float(np.percentile(self.decode_ms, 50)), 2),
                "decode_p95_ms": round(float(np.percentile(self.decode_ms, 95)), 2),
                "load_1min": round(os.getloadavg()[0], 2)}


class Touches:
    """Fingers on a touch screen: touches go in where the screen's would, through Chromium's input pipeline (CDP
    Input.dispatchTouchEvent), so the page gets one sequence of pointer events of pointerType "touch" per finger.
    Its context needs has_touch."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.fingers: dict[int, tuple[float, float]] = {}  # finger id -> where it touches the screen

    def press(self, finger: int, x: float, y: float) -> None:
        self.fingers[finger] = (x, y)
        self.send("touchStart")

    def move(self, at: dict[int, tuple[float, float]]) -> None:
        """Move fingers (by id) to their new (x, y), in one touch event."""
        self.fingers.update(at)
        self.send("touchMove")

    def lift_all(self) -> None:
        self.fingers.clear()
        self.send("touchEnd")

    def send(self, kind: str) -> None:
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
            {"x": x, "y": y, "id": finger} for finger, (x, y) in self.fingers.items()]})


class Finger:
    """One finger, with page.mouse's calls (move, down, up), as Touches sends it."""

    def __init__(self, page):
        self.touches = Touches(page)
        self.at = (0.0, 0.0)

    def move(self, x: float, y: float) -> None:
        self.at = (x, y)
        if self.touches.fingers:
            self.touches.move({0: self.at})

    def down(self) -> None:
        self.touches.press(0, *self.at)

    def up(self) -> None:
        self.touches.lift_all()


def drag_on_canvas(page, target: str, path, pointer=None, moves: int = CANVAS_MOVES) -> Drag:
    """Press on the centre of `target`, move `moves` times along `path(t)` -> (dx, dy) in pixels, t in (0, 1],
    one move per 1/60 s (or as fast as Playwright delivers them), release. `pointer` is page.mouse unless given
    (a Finger)."""
    pointer = pointer or page.mouse
    box = on_screen_box(page, target)
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    since = page.evaluate("performance.now()")
    pointer.move(x0, y0)
    pointer.down()
    started = time.perf_counter()
    for i in range(1, moves + 1):
        dx, dy = path(i / moves, box)
        pointer.move(x0 + dx, y0 + dy)
        time.sleep(max(0.0, started + i * CANVAS_MOVE_INTERVAL_S - time.perf_counter()))
    pointer.up()
    page.wait_for_timeout(200)  # the last frame
    return canvas_marks(page, since)


def on_screen_box(page, target: str) -> dict:
    """The first `target`'s box once scrolled into view, as a user scrolls to what they drag (a pointer outside
    the viewport reaches nothing)."""
    element = page.locator(target).first
    element.scroll_into_view_if_needed()
    return element.bounding_box()


def canvas_marks(page, since: float) -> Drag:
    """What the canvas painted for the moves (pointer or key) made since `since` (performance.now())."""
    marks = page.evaluate(CANVAS_MARKS, since)
    frames = marks["frames"]
    return Drag(marks["moves"], len(frames), (frames[-1]["at"] - frames[0]["move"]) / 1000,
                [f["at"] - f["move"] for f in frames], [f["decode"] for f in frames], marks["z"], marks["pixels"])


# True once the canvas has painted a frame for a pointer move made at or after `since` (performance.now()).
CANVAS_PAINTED_SINCE = """(since) => (performance.getEntriesByName('latent-canvas:frame').at(-1)?.detail.moveTime ?? -1)
                                  >= since"""


def record_drag(page, target: str, region: str, path, frames: int = 36) -> list[Image.Image]:
    """Press on the centre of `target`, move along `path(t, box)` in `frames` steps, t in (0, 1], and after each
    step, once the canvas has painted its image, screenshot `region`; release. The drag as pictures (RGB)."""
    box = on_screen_box(page, target)
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    shots = []
    for i in range(1, frames + 1):
        dx, dy = path(i / frames, box)
        since = page.evaluate("performance.now()")
        page.mouse.move(x0 + dx, y0 + dy)
        page.wait_for_function(CANVAS_PAINTED_SINCE, arg=since, timeout=10_000)
        shots.append(Image.open(io.BytesIO(page.locator(region).first.screenshot())).convert("RGB"))
    page.mouse.up()
    return shots


def save_small_gif(frames: list[Image.Image], path: Path, frame_ms: int = 90, colors: int = 256) -> int:
    """Save frames as a looping GIF on one palette made from all of them, so no colour flickers or goes missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = frames[0].size
    every = frames[::max(1, len(frames) // 8)]
    mosaic = Image.new("RGB", (width, height * len(every)))
    for i, frame in enumerate(every):
        mosaic.paste(frame, (0, i * height))
    palette = mosaic.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    gif = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    gif[0].save(path, format="GIF", save_all=True, append_images=gif[1:], duration=frame_ms, loop=0, optimize=True)
    return path.stat().st_size


def figure_eight_on_pad(t: float, box: dict) -> tuple[float, float]:
    """From the centre out to both sides and back: a drag that ends where it started, so its GIF loops."""
    return 0.32 * box["width"] * float(np.sin(2 * np.pi * t)), 0.22 * box["height"] * float(np.sin(4 * np.pi * t))


def arc_across_pad(t: float, box: dict) -> tuple[float, float]:
    return 0.4 * box["width"] * t, -0.3 * box["height"] * float(np.sin(np.pi * t))


def along_slider(t: float, box: dict) -> tuple[float, float]:
    return 0.45 * box["width"] * t, 0.0


# --- the embedding inspector (ui/components/embedding_inspector) on the Latent scatter page ---

INSPECTOR = ".embedding-inspector"  # the component's root: its data attributes say what it shows
# True once the inspector's points are drawn, the dataset's images arrived and the decoder is loaded.
INSPECTOR_READY = """(selector) => {
  const find = (root) => root.querySelector(selector)
    ?? Array.from(root.querySelectorAll('*')).map(e => e.shadowRoot && find(e.shadowRoot)).find(Boolean);
  const d = find(document)?.dataset;
  return !!d && d.state === 'ready' && d.images === 'ready' && d.decoder === 'ready';
}"""


def wait_for_inspector(page, timeout_ms: int = PAGE_LOAD_MS) -> None:
    page.wait_for_function(INSPECTOR_READY, arg=INSPECTOR, timeout=timeout_ms)


def results_artifact(path: Path, results: dict):
    """A module fixture that writes `results` (filled in by the module's tests) to `path` as JSON at its end."""
    import pytest

    @pytest.fixture(scope="module", autouse=True)
    def write_results():
        yield
        if results:
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(results, indent=2))

    return write_results


def choose(page, label: str, option_text: str) -> None:
    """Pick `option_text` in the main area's selectbox whose label contains `label`, with real clicks."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    choice = page.locator(MAIN).locator("[data-testid=stSelectbox]").filter(has_text=label).first
    option = page.locator("[role=option]").filter(has_text=re.compile(f"^{re.escape(option_text)}$")).first
    for _ in range(5):  # a click during an expander's opening animation may not open the list
        choice.locator("input").click()
        try:
            option.wait_for(timeout=5000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    option.click()
    wait_until_idle(page)


def choose_radio(page, label: str, option_text: str) -> None:
    """Pick `option_text` in the main area's radio group whose label contains `label`, with a real click."""
    group = page.locator(MAIN).locator("[data-testid=stRadio]").filter(has_text=label).first
    group.get_by_text(option_text, exact=True).click()
    wait_until_idle(page)


def code_on_release(page) -> str:
    """What the sliders page received from the canvas on the last release, e.g. "z0 = +1.20, z1 = -0.30"."""
    text = page.locator(MAIN).get_by_text(CODE_ON_RELEASE)
    text.wait_for(timeout=60_000)
    return text.inner_text().split(":", 1)[1].strip()
