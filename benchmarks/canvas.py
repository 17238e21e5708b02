"""The latent canvas in Chromium: frames per pointer move, drag frame rate, move -> frame latency, first load.

Measured by tests/test_browser_canvas.py (real pointer events in headless Chromium, decoding in the page with
onnxruntime-web); this module lays out what that test wrote to tests/artifacts/browser_canvas.json beside the
goals of the issue that asked for it, as benchmarks/interactivity.py does for the server-side figures.
"""

from __future__ import annotations

import json

from .context import REPO, Context
from .report import Table

MEASURED = REPO / "tests" / "artifacts" / "browser_canvas.json"
GOAL_FRAMES_PER_MOVE = 0.9
GOAL_FPS = 30
GOAL_P95_MS = 33


def verdict(drag: dict) -> str:
    missed = [what for what, ok in (("frames/move", drag["frames_per_move"] >= GOAL_FRAMES_PER_MOVE),
                                    ("fps", drag["fps"] >= GOAL_FPS), ("p95", drag["latency_p95_ms"] <= GOAL_P95_MS))
              if not ok]
    return "met" if not missed else "missed: " + ", ".join(missed)


def drag_table(measured: dict) -> Table:
    table = Table("Latent canvas: dragging in Chromium, decoded in the browser (onnxruntime-web, WebAssembly)",
                  ["drag (model)", "moves", "frames / move", "fps", "p50 ms", "p95 ms", "max ms", "decode p50 / p95 ms",
                   "load (1 min)",
                   f"goal >= {GOAL_FRAMES_PER_MOVE}, >= {GOAL_FPS} fps, p95 <= {GOAL_P95_MS} ms"])
    for name, drag in measured.items():
        if "frames_per_move" in drag:
            table.add(name, drag["moves"], drag["frames_per_move"], drag["fps"], drag["latency_p50_ms"],
                      drag["latency_p95_ms"], drag["latency_max_ms"],
                      f"{drag['decode_p50_ms']} / {drag['decode_p95_ms']}", drag["load_1min"], verdict(drag))
    table.notes += [
        "Latency: from a pointer move's event time to the animation frame that first shows its decoded image "
        "(performance marks set by the component). Frames / move: frames that showed a new image per pointer move "
        "that changed the code (moves arriving during a decode are coalesced into the next one). Decode: one run of "
        "the decoder in the page (InferenceSession.run, batch 1).",
        "fps: frames shown / drag duration. Playwright sends 60 moves paced at 60 Hz, but each move is a round trip "
        "to the browser, so on a loaded 2-core box fewer than 60 arrive per second: with one frame per move, fps is "
        "then the rate of the moves, not a limit of the canvas.",
        "While training: `python -m vae_core train` runs in another process, keeping both cores busy; the drag "
        "itself never calls the server (the code goes back to Python only on release).",
    ]
    return table


def first_load_table(name: str, load: dict) -> Table:
    table = Table(f"Latent canvas: {name} (fresh browser context)", ["what", "value"])
    table.add("page navigation -> first decoded image on the canvas", f"{load['navigation_to_first_image_ms']} ms")
    table.add("runtime import + model fetch and compile, from the component's mount",
              f"{load['runtime_and_model_load_ms']} ms")
    for file, kb in load["static_kb"].items():
        table.add(f"static file {file} (as transferred, compressed)", f"{kb} KB")
    table.add("decoder ONNX, fetched by URL once per page (a content-named static file, above)",
              f"{load['model_kb']} KB")
    table.add("all websocket messages of the page load", f"{load['websocket_kb_total']} KB")
    return table


def run(ctx: Context | None = None) -> list[Table]:
    if not MEASURED.exists():
        return [Table("Latent canvas (browser)", [], notes=["run tests/test_browser_canvas.py to measure"])]
    measured = json.loads(MEASURED.read_text())
    loads = [first_load_table(name, load) for name, load in measured.items() if name.startswith("first load")]
    return [drag_table(measured), *loads]
