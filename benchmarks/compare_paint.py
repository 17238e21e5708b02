"""First paint of the Compare page on a fresh server: with the shipped beta sweep (3 MNIST 2-D models) and with a
fourth 2-D MNIST model, until every chart is drawn and the shared pad decodes every model in the browser.

The fourth model is trained here (the Train page's default model on MNIST, beta 2, `--epochs`) and written to a
temporary folder; the server opens on it (VAE_EXPLORER_OPEN), so the picker offers it first and, named
mnist-2d-beta2, the page chooses it with the sweep. Each run starts a fresh `streamlit run app.py` with empty disk
caches (encodings, neighbours); the decoders' ONNX files stay in static/cache/ between runs (named by content: a
server exports each once), so only a checkout's first run pays for them. Modes alternate (swapping order each
round); `uptime` is printed beside every row. Real Chromium (tests/support/browser.py).

`python -m benchmarks.compare_paint [--rounds 3] [--epochs 1]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from support.browser import FIRST_LOAD_MS, app_server, chromium, free_port, new_page

from ui.cache import CACHE_ENV
from ui.workspace import AUTOSAVE_ENV, OPEN_ENV
from vae_core.data import load_dataset
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig, build_trainer

from .context import REPO

FOURTH = "mnist-2d-beta2.safetensors"  # a name the page's default choice takes with the shipped sweep
# Every chart drawn: the rate-distortion plane's points, KL per dimension's bars, the linked maps' ringed example.
CHARTS_DRAWN = """() => [['compare_rd', '.scatterlayer .trace'], ['compare_kl', '.barlayer .trace'],
                         ['compare_maps', '.scatterlayer .trace']]
  .every(([key, drawn]) => document.querySelector(`.st-key-${key} .js-plotly-plot ${drawn}`))"""
PAD_READY = ".latent-canvas .status"
PAD_IMAGES = """() => {
  const host = Array.from(document.querySelectorAll('.st-key-compare_canvas *')).find((el) => el.shadowRoot);
  return 1 + host.shadowRoot.querySelectorAll('.other-images canvas').length;
}"""


def train_fourth(folder: Path, epochs: int) -> Path:
    dataset = load_dataset("mnist")
    trainer = build_trainer(dataset, TrainConfig(epochs=epochs, device="cpu"),
                            VAEConfig(image_shape=dataset.image_shape, beta=2.0))
    for _ in trainer.run():
        pass
    path = folder / FOURTH
    trainer.snapshot(with_adam=False).save(path, "benchmarks.compare_paint")
    return path


def first_paint(browser, folder: Path, fourth: Path | None) -> dict:
    cache = tempfile.mkdtemp(dir=folder)
    env = {**os.environ, CACHE_ENV: cache, AUTOSAVE_ENV: cache} | ({OPEN_ENV: str(fourth)} if fourth else {})
    port = free_port()
    with app_server([sys.executable, "-m", "streamlit", "run", "app.py"], port, folder / f"server-{port}.log",
                    env=env) as (url, _):
        page = new_page(browser, url)
        started = time.perf_counter()
        page.goto(f"{url}/compare")
        page.wait_for_function(CHARTS_DRAWN, timeout=FIRST_LOAD_MS)
        charts_s = time.perf_counter() - started
        page.locator(PAD_READY).filter(has_text="Decoded in your browser").wait_for(timeout=FIRST_LOAD_MS)
        pad_s = time.perf_counter() - started
        images = page.evaluate(PAD_IMAGES)
        page.context.close()
    return {"charts_s": charts_s, "pad_s": pad_s, "images": images}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1, help="the fourth model's training")
    args = parser.parse_args()
    os.chdir(REPO)
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        folder = Path(tmp)
        fourth = train_fourth(folder, args.epochs)
        modes = {"3 models (the shipped sweep)": None, "4 models (+ mnist-2d-beta2)": fourth}
        results = {mode: [] for mode in modes}
        print(f"uptime before: {os.popen('uptime').read().strip()}")
        for round_ in range(args.rounds):
            for mode in list(modes) if round_ % 2 == 0 else list(modes)[::-1]:
                row = first_paint(browser, folder, modes[mode])
                results[mode].append(row)
                print(f"round {round_ + 1} {mode}: charts {row['charts_s']:.1f} s, pad decoding {row['images']} "
                      f"models {row['pad_s']:.1f} s | {os.popen('uptime').read().strip()}", flush=True)
    print("\nmedians over rounds")
    for mode, rows in results.items():
        print(f"{mode}: charts {statistics.median(r['charts_s'] for r in rows):.1f} s, pad "
              f"{statistics.median(r['pad_s'] for r in rows):.1f} s")


if __name__ == "__main__":
    main()
