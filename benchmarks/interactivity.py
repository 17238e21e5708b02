"""Interactivity: decode latency of one code, slider-to-image time in the app, encoding and projection."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ui.session_keys import MODEL, SLIDERS_MS
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes
from vae_core.images import to_uint8, upscale
from vae_core.metrics import encode_posterior
from vae_core.models import VAE
from vae_core.projection import ProjectionParams, compute
from vae_core.train import new_history

from .context import REPO, Context
from .report import Table, median, percentile, repeat_seconds, timed

BROWSER_LATENCY = REPO / "tests" / "artifacts" / "browser_latency.json"  # written by the browser test

SLIDERS_PAGE = REPO / "pages" / "sliders.py"
SCATTER_PAGE = REPO / "pages" / "scatter.py"
GOAL_SERVER_MS = 100
GOAL_BROWSER_MS = 33  # a drag on the latent canvas: pointer move -> frame with its image (two 60 Hz frames)


def latency_row(table: Table, what: str, seconds: list[float], goal_ms: float | None, note: str = "") -> None:
    ms = [s * 1000 for s in seconds]
    p95 = percentile(ms, 95)
    verdict = "-" if goal_ms is None else ("met" if p95 < goal_ms else "MISSED")
    table.add(what, len(ms), percentile(ms, 50), p95, f"< {goal_ms:g} ms: {verdict}" if goal_ms else "-", note)


def decode_latency(table: Table, model: VAE, calls: int) -> None:
    z = torch.zeros(1, model.config.latent_dim)
    latency_row(table, "decode one code (model.decode_image)", repeat_seconds(lambda: model.decode_image(z), calls),
                GOAL_SERVER_MS)
    as_picture = lambda: upscale(to_uint8(model.decode_image(z))[0], 320)  # noqa: E731 - what the page draws
    latency_row(table, "decode + uint8 + upscale to 320 px", repeat_seconds(as_picture, calls), GOAL_SERVER_MS)


def app_with_model(model: VAE, ctx: Context, page: Path):
    """An AppTest of the real app, its current model set to `model` (as checkpoint bytes), on `page`."""
    from streamlit.testing.v1 import AppTest

    from ui.state import CurrentModel

    mnist = ctx.mnist
    info = DatasetInfo.of(mnist)
    data = checkpoint_bytes(model, info, new_history(), epoch=1, command="benchmarks")
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=300)
    app.session_state[MODEL] = CurrentModel("benchmark-mnist.safetensors", data)
    app.run()
    app.switch_page(str(page.relative_to(REPO)))
    return app


def slider_latency(table: Table, model: VAE, ctx: Context) -> None:
    """Move the z0 slider back and forth; time each AppTest rerun and read the page's own timing."""
    app = app_with_model(model, ctx, SLIDERS_PAGE)
    app.run()
    if app.exception or not app.slider(key="sliders_z0"):
        table.notes.append(f"AppTest on the sliders page failed: {app.exception}")
        return
    rerun_s, page_s = [], []
    for i in range(ctx.settings.slider_changes + 1):
        seconds, _ = timed(lambda: app.slider(key="sliders_z0").set_value(round(-2 + 0.2 * (i % 20), 2)).run())
        if i:  # the first change warms caches
            rerun_s.append(seconds)
            page_s.append(app.session_state[SLIDERS_MS] / 1000)
    latency_row(table, "slider change -> image, page's own timer (fragment)", page_s, GOAL_SERVER_MS,
                "SLIDERS_MS set by pages/sliders.py")
    latency_row(table, "slider change -> image, whole AppTest rerun", rerun_s, GOAL_SERVER_MS,
                "includes AppTest's own overhead")


def scatter_first_render(table: Table, model: VAE, ctx: Context) -> None:
    """First render of the scatter page with the 10,000 MNIST test points, arriving from the home page:
    MNIST is loaded (the home page loads it); encoding, projection and the figure are computed afresh."""
    import streamlit as st

    app = app_with_model(model, ctx, SCATTER_PAGE)
    st.cache_data.clear()  # encodings and projections; the dataset (cache_resource) stays loaded
    seconds, _ = timed(app.run)
    failed = f" (page raised: {app.exception})" if app.exception else ""
    table.add("scatter page first render, 10,000 points", 1, seconds * 1000, "-", "-",
              f"AppTest, from the home page: encode + project + figure{failed}")


def app_latency(ctx: Context) -> Table:
    table = Table("Interactivity: latency for a 28x28 model (server side, CPU)",
                  ["what", "calls", "p50 ms", "p95 ms", "goal", "note"])
    model = ctx.mnist_model()
    table.title += f" ({model.config.architecture}, latent {model.config.latent_dim})"
    decode_latency(table, model, ctx.settings.decode_calls)
    slider_latency(table, model, ctx)
    scatter_first_render(table, model, ctx)
    browser_latency(table)
    return table


def browser_latency(table: Table) -> None:
    """The browser figures come from tests/test_browser.py (it drags the latent canvas in Chromium with real
    pointer events on the default model); shown here when it has run."""
    if not BROWSER_LATENCY.exists():
        table.add("browser: pointer move -> frame (latent canvas)", "-", "-", "-", f"< {GOAL_BROWSER_MS} ms",
                  "run tests/test_browser.py to measure")
        return
    for scenario, summary in json.loads(BROWSER_LATENCY.read_text()).items():
        met = "met" if summary["p95_ms"] < GOAL_BROWSER_MS else "missed"
        table.add(f"browser: pointer move -> frame ({scenario})", summary["n"], round(summary["p50_ms"]),
                  round(summary["p95_ms"]), f"< {GOAL_BROWSER_MS} ms: {met}",
                  "from tests/test_browser.py (latent canvas, default model)")


def projection_times(ctx: Context) -> Table:
    table = Table("Encode + project MNIST points (CPU, seconds)",
                  ["points", "latent", "encode", "direct", "PCA", "t-SNE", "t-SNE points"])
    model = ctx.mnist_model()
    mnist = ctx.mnist
    for x in (mnist.x_test, mnist.x_train):
        encode_s, posterior = timed(lambda: encode_posterior(model, x))
        mu = posterior.mu.numpy()
        times = [median(repeat_seconds(lambda: compute(mu, ProjectionParams(method)), 3, warmup=0))
                 for method in ("direct", "pca")]
        tsne_s, projected = timed(lambda: compute(mu, ProjectionParams("tsne", max_points=ctx.settings.tsne_points)))
        table.add(len(x), model.config.latent_dim, encode_s, *times, tsne_s, len(projected.indices))
    table.notes.append("t-SNE (openTSNE) runs on a subsample stratified by label; direct and PCA on all points.")
    return table


def run(ctx: Context) -> list[Table]:
    if ctx.mnist is None:
        return [Table("Interactivity", [], notes=[ctx.mnist_missing])]
    return [app_latency(ctx), projection_times(ctx)]
