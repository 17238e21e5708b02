"""The embedding inspector's hand-written WebGL point renderer against regl-scatterplot (issue 24), in Chromium.

Two standalone pages served from a local folder (no network) draw the same N points, MNIST-like codes in 10 classes
(70,000: mnist-2d's posterior means of every MNIST example; 1,000,000: those tiled with a little jitter):
- ours: ui/components/embedding_inspector/inspector.js exactly as the app ships it (ui.components.script: the shared
  scripts, then the inspector), mounted with the `data` its Python wrapper sends, on a page holding the component's
  HTML and CSS; the arrays it would fetch are put in its asset cache first, and the decoder is off;
- theirs: regl-scatterplot (npm, fetched into benchmarks/out/regl/ and bundled with its dependencies by esbuild),
  the same colours, point size, opacity, canvas size and fitted view.
Per run, in a fresh browser context: first draw (arrays in memory -> the frame with the points), pan (a 2 s drag
of real mouse events) and zoom (1 s of wheel steps) as redraws per second, pick latency (mouse move onto a point ->
the renderer names the point under the cursor, and -> the next frame), JS heap after GC. Runs alternate
ours / theirs, REPEATS times per size; medians are reported with the 1-minute load average beside each run.

    python -m benchmarks.renderer            # prints the markdown tables (RESULTS.md's renderer section)
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from support.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, local_only

from ui.components import script, style
from ui.widgets import CLASS_COLORS

from .context import REPO, Context
from .report import Table, median

LIBRARY = "regl-scatterplot@1.16.0"
BUNDLER = "esbuild@0.28.2"
NPM_DIR = REPO / "benchmarks" / "out" / "regl"  # git-ignored
SIZES = (70_000, 1_000_000)
REPEATS = 3
HOVERS = 12
PAN_S, ZOOM_S = 2.0, 1.0  # gesture lengths; a slow frame can overrun them by its own length
STAGE = {"width": 900, "height": 560}  # CSS pixels, device pixel ratio 1, both pages
COMPONENT = REPO / "ui" / "components" / "embedding_inspector"

SHARED_JS = """
export const frames = [];  // every animation frame's time: fps and "the next frame after"
(function tick() { requestAnimationFrame((t) => { frames.push(performance.now()); tick(); }); })();
export const picks = [];  // {move, found}: the pointer event's time and when the renderer named the point
export const moves = [];  // every pointer move's arrival: the input rate a gesture delivered
let lastMove = 0;
addEventListener("pointermove", (event) => { lastMove = event.timeStamp; moves.push(performance.now()); },
                 { capture: true });
export const picked = () => picks.push({ move: lastMove, found: performance.now() });
export const arrays = (names) => Promise.all(names.map((name) => fetch(name).then((r) => r.arrayBuffer())));
export function nextFrame(after) { return frames.find((t) => t > after) ?? null; }
window.bench = { frames, picks, moves, nextFrame };
"""

OURS_JS = """
import { picked, arrays } from "./shared.js";
import mount from "./ours.js";
const DATA = %(data)s;
const [coords, labels, indices, images] = await arrays(["coords.f32", "labels.i32", "indices.i32", "images.u8.gz"]);
const assets = (globalThis.__inspectorAssets ??= new Map());  // inspector.js's fetch cache: the arrays in memory
for (const [url, buffer] of [["coords.f32", coords], ["labels.i32", labels], ["indices.i32", indices],
                             ["images.u8.gz", images]]) assets.set(url, Promise.resolve(buffer));
const host = document.querySelector("#host");
new MutationObserver(picked).observe(host.querySelector(".embedding-inspector"),
                                     { attributeFilter: ["data-hover-index"] });
window.start = () => {
  const started = performance.now();
  mount({ data: DATA, parentElement: host, setStateValue() {}, setTriggerValue() {} });
  return started;
};
window.drawnAt = () => performance.getEntriesByName("inspector:paint").at(-1)?.startTime ?? null;
window.viewDraws = (since) => performance.getEntriesByName("inspector:view").filter((m) => m.startTime >= since).length;
window.screenOf = (rows) => {
  const root = host.querySelector(".embedding-inspector"), stage = host.querySelector(".stage");
  const t = JSON.parse(root.dataset.transform), box = stage.getBoundingClientRect();
  const f32 = new Float32Array(coords);
  return rows.map((j) => [box.left + stage.clientLeft + t.width / 2 + (f32[2 * j] - t.cx) * t.sx,
                          box.top + stage.clientTop + t.height / 2 - (f32[2 * j + 1] - t.cy) * t.sy]);
};
window.box = () => {
  const stage = host.querySelector(".stage"), box = stage.getBoundingClientRect();
  return { left: box.left + stage.clientLeft, top: box.top + stage.clientTop, width: stage.clientWidth,
           height: stage.clientHeight };
};
window.ready = true;
"""

THEIRS_JS = """
import { picked, arrays } from "./shared.js";
import createScatterplot from "./regl-scatterplot.min.js";
const OPTIONS = %(options)s;
const [coordBuffer, labelBuffer] = await arrays(["coords.f32", "labels.i32"]);
const canvas = document.querySelector("canvas");
const draws = [];
let sp, resolved = null;
window.start = () => {
  const started = performance.now();
  const coords = new Float32Array(coordBuffer), n = coords.length / 2;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];  // the same fit as the inspector's
  for (let j = 0; j < 2 * n; j += 2) {
    x0 = Math.min(x0, coords[j]); x1 = Math.max(x1, coords[j]);
    y0 = Math.min(y0, coords[j + 1]); y1 = Math.max(y1, coords[j + 1]);
  }
  const x = new Float32Array(n), y = new Float32Array(n), fill = 1 - 2 * OPTIONS.margin;
  for (let i = 0; i < n; i++) {
    x[i] = ((coords[2 * i] - x0) / (x1 - x0) * 2 - 1) * fill;
    y[i] = ((coords[2 * i + 1] - y0) / (y1 - y0) * 2 - 1) * fill;
  }
  sp = createScatterplot({ canvas, width: OPTIONS.width, height: OPTIONS.height,
    aspectRatio: OPTIONS.width / OPTIONS.height, pointSize: OPTIONS.pointSize, opacity: OPTIONS.opacity,
    pointColor: OPTIONS.palette, colorBy: "valueA",
    backgroundColor: "#ffffff", syncEvents: true });
  window.created = performance.now() - started;
  sp.subscribe("draw", () => draws.push(performance.now()));
  sp.subscribe("pointover", picked);
  sp.draw({ x, y, valueA: new Int32Array(labelBuffer) }, { zDataType: "categorical" })
    .then(() => { resolved = performance.now(); window.resolved = resolved - started; sp.redraw(); });
  return started;
};
window.drawnAt = () => (resolved === null ? null : draws.find((t) => t >= resolved) ?? null);
window.viewDraws = (since) => draws.filter((t) => t >= since).length;
window.screenOf = (rows) => {
  const box = canvas.getBoundingClientRect();
  return rows.map((i) => { const [px, py] = sp.getScreenPosition(i); return [box.left + px, box.top + py]; });
};
window.box = () => {
  const { left, top, width, height } = canvas.getBoundingClientRect();
  return { left, top, width, height };
};
window.ready = true;
"""

PAGE = """<!doctype html><meta charset="utf-8"><style>body {{ margin: 8px; }} {css}</style>
{body}<script type="module">{js}</script>"""


def library_files() -> dict:
    """regl-scatterplot and esbuild installed under benchmarks/out/regl (npm, once), the library bundled with its
    dependencies as one minified ES module, and the inspector's script minified the same way for comparison."""
    modules = NPM_DIR / "node_modules"
    if not (modules / "regl-scatterplot").exists() or not (modules / ".bin" / "esbuild").exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        (NPM_DIR / "package.json").write_text('{"name": "renderer-benchmark", "private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR), LIBRARY, BUNDLER],
                       check=True, capture_output=True, timeout=600)
    (NPM_DIR / "entry.js").write_text('export { default } from "regl-scatterplot";\n')
    (NPM_DIR / "ours.js").write_text(script("embedding_inspector/inspector.js"))
    esbuild = str(modules / ".bin" / "esbuild")
    for source, target, bundle in (("entry.js", "theirs.min.js", True), ("ours.js", "ours.min.js", False)):
        subprocess.run([esbuild, source, *(["--bundle"] if bundle else []), "--format=esm", "--minify",
                        f"--outfile={target}", "--log-level=warning"], cwd=NPM_DIR, check=True, timeout=120)
    meta = json.loads((modules / "regl-scatterplot" / "package.json").read_text())
    deps = {name: json.loads((modules / name / "package.json").read_text())["version"]
            for name in meta["dependencies"] if (modules / name / "package.json").exists()}
    return {"version": meta["version"], "license": meta["license"], "deps": deps,
            "theirs": NPM_DIR / "theirs.min.js", "ours": NPM_DIR / "ours.js", "ours_min": NPM_DIR / "ours.min.js"}


def shipped_bytes(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return len(data), len(gzip.compress(data, 9))


def points(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n MNIST-like 2-D codes and labels: the 70,000 real ones, tiled with jitter beyond that."""
    coords, labels = codes
    reps = -(-n // len(coords))
    rng = np.random.default_rng(0)
    tiled = np.tile(coords, (reps, 1))[:n]
    jitter = (reps > 1) * rng.normal(0, 0.02 * coords.std(0), tiled.shape)
    return (tiled + jitter).astype(np.float32), np.tile(labels, reps)[:n].astype(np.int32)


def write_site(folder: Path, files: dict, coords: np.ndarray, labels: np.ndarray) -> None:
    n = len(coords)
    coords.tofile(folder / "coords.f32")
    labels.tofile(folder / "labels.i32")
    np.arange(n, dtype=np.int32).tofile(folder / "indices.i32")
    (folder / "images.u8.gz").write_bytes(gzip.compress(bytes(784)))  # hover thumbnails: one blank image
    (folder / "shared.js").write_text(SHARED_JS)
    shutil.copy(files["ours"], folder / "ours.js")
    shutil.copy(files["theirs"], folder / "regl-scatterplot.min.js")
    data = {"view": {"id": "v", "coords": "coords.f32", "indices": "indices.i32", "count": n, "axes": ["z1", "z2"]},
            "points": {"labels": "labels.i32", "images": [{"split": "all", "url": "images.u8.gz", "count": n}],
                       "codes": "coords.f32", "latent_dim": 2, "image_shape": [1, 28, 28],
                       "names": [str(d) for d in range(10)], "palette": CLASS_COLORS},
            "colour": {"values": None, "name": "label", "range": [0, 1]},
            "filter": {"labels": None, "matches": None, "hide": False},
            "selected": [], "ellipses": [], "star": None, "decoder": None, "runtime": None}
    size = f"#host {{ width: {STAGE['width'] + 2}px; }} .stage {{ height: {STAGE['height'] + 2}px; }}"
    (folder / "ours.html").write_text(PAGE.format(
        css=style("embedding_inspector/inspector.css") + size,
        body=f'<div id="host">{(COMPONENT / "inspector.html").read_text()}</div>',
        js=OURS_JS % {"data": json.dumps(data)}))
    options = {**STAGE, "margin": 0.05, "pointSize": 2.5 if n > 20_000 else 3.5, "opacity": 200 / 255,
               "palette": CLASS_COLORS}  # the inspector's size and alpha for this many points, its FIT_MARGIN
    (folder / "theirs.html").write_text(PAGE.format(
        css=f"#host {{ position: relative; width: {STAGE['width']}px; height: {STAGE['height']}px; }}",
        body='<div id="host"><canvas></canvas></div>', js=THEIRS_JS % {"options": json.dumps(options)}))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serving(folder: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def one_run(browser, url: str, which: str, n: int, shot: Path | None) -> dict:
    context = browser.new_context(viewport=VIEWPORT)
    local_only(context, url)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"{url}/{which}.html")
        page.wait_for_function("window.ready === true", timeout=60_000)
        result = {"load": os.getloadavg()[0]}
        started = page.evaluate("window.start()")
        drawn = page.wait_for_function("window.drawnAt()", timeout=120_000, polling=10).json_value()
        frame = page.wait_for_function("([t]) => bench.nextFrame(t)", arg=[drawn], timeout=60_000).json_value()
        result["first_draw_ms"], result["first_frame_ms"] = drawn - started, frame - started
        result["created_ms"], result["resolved_ms"] = page.evaluate("[window.created ?? null, window.resolved ?? null]")
        page.wait_for_timeout(500)
        if shot:
            page.screenshot(path=str(shot))
        result["pick_ms"], result["pick_frame_ms"] = picks(page, n)
        result["pan_fps"], result["zoom_fps"], result["raf_fps"], result["moves_per_s"] = pan_and_zoom(page)
        cdp = context.new_cdp_session(page)
        cdp.send("HeapProfiler.collectGarbage")
        result["heap_mb"] = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
        result["problems"] = problems
        return result
    finally:
        context.close()


def picks(page, n: int) -> tuple[list[float], list[float]]:
    """Move the mouse onto random points inside the canvas: per point named, move -> named and -> next frame."""
    rng = np.random.default_rng(1)
    rows = [int(r) for r in rng.choice(n, size=8 * HOVERS, replace=False)]
    screen = page.evaluate("(rows) => screenOf(rows)", rows)
    box, margin = page.evaluate("box()"), 20
    inside = [(x, y) for x, y in screen if box["left"] + margin < x < box["left"] + box["width"] - margin
              and box["top"] + margin < y < box["top"] + box["height"] - margin]
    found, frames = [], []
    for x, y in inside:
        if len(found) >= HOVERS:
            break
        before = page.evaluate("bench.picks.length")
        page.mouse.move(x, y)
        try:
            page.wait_for_function(f"bench.picks.length > {before}", timeout=3000, polling=5)
        except Exception:  # the point under the cursor is the one already hovered: nothing new to name
            continue
        pick = page.evaluate("bench.picks.at(-1)")
        frame = page.wait_for_function("([t]) => bench.nextFrame(t)", arg=[pick["found"]], timeout=10_000).json_value()
        found.append(pick["found"] - pick["move"])
        frames.append(frame - pick["move"])
        page.wait_for_timeout(50)
    return found, frames


def pan_and_zoom(page) -> tuple[float, float, float, float]:
    """A drag along a loop for PAN_S, then wheel steps in and out for ZOOM_S, each mouse event sent as soon as the
    page took the last (the page's own speed sets the pace): redraws per second of each, the page's animation frames
    per second over both, and the pointer events per second the drag delivered (Chromium coalesces moves to one per
    frame)."""
    box = page.evaluate("box()")
    cx, cy = box["left"] + box["width"] / 2, box["top"] + box["height"] / 2
    page.mouse.move(cx, cy)
    begin = page.evaluate("performance.now()")
    page.mouse.down()
    until, i = time.monotonic() + PAN_S, 0
    while time.monotonic() < until:
        i += 1
        page.mouse.move(cx + 150 * np.sin(i / 24 * 2 * np.pi), cy + 60 * np.sin(i / 24 * np.pi), steps=5)
    page.mouse.up()
    page.wait_for_timeout(100)
    middle = page.evaluate("performance.now()")
    until, i = time.monotonic() + ZOOM_S, 0
    while time.monotonic() < until:
        i += 1
        page.mouse.wheel(0, -120 if i % 30 < 15 else 120)
    page.wait_for_timeout(100)
    end = page.evaluate("performance.now()")
    pan = page.evaluate("([a, b]) => viewDraws(a) - viewDraws(b)", [begin, middle])
    zoom = page.evaluate("([b]) => viewDraws(b)", [middle])
    raf = page.evaluate("([a, b]) => bench.frames.filter((t) => t >= a && t <= b).length", [begin, end])
    moves = page.evaluate("([a, b]) => bench.moves.filter((t) => t >= a && t <= b).length", [begin, middle])
    return (pan / (middle - begin) * 1000, zoom / (end - middle) * 1000, raf / (end - begin) * 1000,
            moves / (middle - begin) * 1000)


def measure(codes, files: dict, out: Path) -> dict:
    from playwright.sync_api import sync_playwright

    runs = {(n, which): [] for n in SIZES for which in ("ours", "theirs")}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for n in SIZES:
                with tempfile.TemporaryDirectory() as site:
                    write_site(Path(site), files, *points(codes, n))
                    with serving(Path(site)) as url:
                        for rep in range(REPEATS):
                            for which in ("ours", "theirs"):
                                shot = out / f"renderer-{which}-{n}.png" if rep == 0 else None
                                result = one_run(browser, url, which, n, shot)
                                runs[n, which].append(result)
                                print(f"  {which:6s} n={n:,} rep {rep}: " + ", ".join(
                                    f"{k} {np.median(v) if isinstance(v, list) and v else v:.4g}"
                                    for k, v in result.items() if k != "problems" and v is not None) +
                                    (f" PROBLEMS {result['problems']}" if result["problems"] else ""), flush=True)
        finally:
            browser.close()
    return runs


def mnist_codes() -> tuple[np.ndarray, np.ndarray]:
    from vae_core.data import load_dataset

    from .inspector import mnist_2d_codes

    return mnist_2d_codes(), load_dataset("mnist").split("all").y.numpy()


def tables(runs: dict, files: dict, seconds: float) -> list[Table]:
    med = lambda rs, key: median([median(r[key]) if isinstance(r[key], list) else r[key] for r in rs])  # noqa: E731
    table = Table("Point renderer in Chromium: ours (inspector.js) vs regl-scatterplot "
                  f"{files['version']}, medians of {REPEATS} interleaved runs",
                  ["points", "renderer", "first draw: data -> points drawn / next frame (ms)",
                   "pan fps (pointer moves/s)", "zoom fps", "page frames/s during pan+zoom",
                   "pick: move -> point named / next frame, median (ms)", "JS heap after GC (MB)",
                   "load (1 min) per run"])
    for (n, which), rs in runs.items():
        table.add(f"{n:,}", which, f"{med(rs, 'first_draw_ms'):.0f} / {med(rs, 'first_frame_ms'):.0f}",
                  f"{med(rs, 'pan_fps'):.1f} ({med(rs, 'moves_per_s'):.0f})", f"{med(rs, 'zoom_fps'):.1f}",
                  f"{med(rs, 'raf_fps'):.1f}",
                  f"{med(rs, 'pick_ms'):.1f} / {med(rs, 'pick_frame_ms'):.1f}", f"{med(rs, 'heap_mb'):.1f}",
                  " ".join(f"{r['load']:.1f}" for r in rs))
    problems = sorted({p for rs in runs.values() for r in rs for p in r["problems"]})
    table.notes += [
        f"{seconds:.0f} s in all. Headless Chromium with --disable-gpu: WebGL runs on SwiftShader (software, on the "
        "2 shared CPU cores), the same for both renderers; absolute fps on a real GPU are far higher.",
        "Each run is a fresh browser context; the arrays are in the page before the clock starts; first draw "
        "includes creating the WebGL context. fps = redraws caused by the gesture per second of gesture; each "
        "mouse event is sent once the page took the previous one, so the page's own frame time sets the pace.",
        "Ours: inspector.js as the app ships it, mounted by a stand-in for Streamlit's component host (no Streamlit "
        "page around it), its arrays seeded into its fetch cache, the decoder off, a blank thumbnail image. "
        "Theirs: the same canvas size, point size, alpha, palette and fitted view; syncEvents on (its events "
        "arrive in the same task); at 1,000,000 points its kdbush index is built in a worker and draw() resolves "
        "without drawing until the next input, so the page calls redraw() when it resolves.",
        *([f"page errors: {'; '.join(problems)}"] if problems else []),
    ]
    size = Table("Bytes a page ships for the renderer", ["what", "bytes", "gzip -9"])
    for label, path in ((f"regl-scatterplot {files['version']} + "
                         + ", ".join(f"{k} {v}" for k, v in files["deps"].items()) + ", one esbuild bundle, minified",
                         files["theirs"]),
                        ("inspector.js + shared/*.js as the app sends them (whole inspector: hover, thumbnails, "
                         "selection, decoder client)", files["ours"]),
                        ("the same, minified by esbuild", files["ours_min"])):
        size.add(label, *shipped_bytes(path))
    return [table, size]


def run(ctx: Context | None = None) -> list[Table]:
    if not CHROMIUM.exists() or not shutil.which("npm"):
        return [Table("Point renderer: ours vs regl-scatterplot", ["skipped"], [["needs chromium and npm"]])]
    started = time.perf_counter()
    try:
        files = library_files()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:  # no registry: nothing to compare
        return [Table("Point renderer: ours vs regl-scatterplot", ["skipped"],
                      [[f"fetching {LIBRARY} with npm failed: {error}"]])]
    out = REPO / "benchmarks" / "out"
    runs = measure(mnist_codes(), files, out)
    return tables(runs, files, time.perf_counter() - started)


if __name__ == "__main__":
    for t in run():
        print(t.markdown())
