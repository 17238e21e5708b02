"""Theory: KL divergence and the ELBO, live — the project's origin notes, tied to the loaded model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import jobs, links, state
from ui.model_view import ModelView, current_or_stop
from ui.navigation import page_header
from ui.widgets import show_images
from vae_core import divergence
from vae_core.checkpoint import Checkpoint
from vae_core.errors import VAEError

SYMBOLS = "abc"
DEFAULT_D1 = (0.8, 0.1, 0.1)
DEFAULT_D2 = (0.3, 0.3, 0.4)
SEQUENCE_LENGTHS = [1_000, 10_000, 100_000]
SAMPLE_COUNTS = [1_000, 10_000, 100_000]
CHART_LAYOUT = {"height": 320, "margin": {"t": 10, "b": 10}, "xaxis_type": "log"}
DISTRIBUTIONS = ("D1", "D2")
MAX_WEIGHT = 1e6  # a link's weights: any non-negative numbers (each row is normalised)


def weights_key(name: str, symbol: str) -> str:
    return f"theory_{name}_{symbol}"


def apply_weights_link() -> None:
    """A link's D1 and D2 weights, once, before their inputs."""
    model = state.current_model()
    for name in DISTRIBUTIONS if model else ():
        weights = links.floats_param(links.linked(model.sha256, name.lower()), len(SYMBOLS), 0.0, MAX_WEIGHT)
        if weights:
            st.session_state.update({weights_key(name, s): w for s, w in zip(SYMBOLS, weights)})


def view_link(index: int) -> str:
    """This page's view in the URL: the weights as typed and the test example."""
    weights = {name.lower(): ",".join(f"{st.session_state[weights_key(name, s)]:g}" for s in SYMBOLS)
               for name in DISTRIBUTIONS}
    return links.show("theory", **weights, example=str(index))


def distribution_ui(name: str, default: tuple[float, ...]) -> np.ndarray:
    cols = st.columns(len(SYMBOLS))
    weights = [col.number_input(f"{name}({s})", min_value=0.0, value=v, step=0.05, key=weights_key(name, s))
               for col, s, v in zip(cols, SYMBOLS, default)]
    return divergence.normalise(weights)


def show_kl(p: np.ndarray, q: np.ndarray, p_name: str, q_name: str) -> None:
    kl = divergence.kl_divergence(p, q, SYMBOLS, (p_name, q_name))
    terms = " + ".join(rf"{a:.3g}\ln\frac{{{a:.3g}}}{{{b:.3g}}}" for a, b in zip(p, q) if a > 0)
    value = r"\infty" if math.isinf(kl.nats) else f"{kl.nats:.4f}"
    # One step per line: side by side in two columns, a single line would be cut off.
    st.latex(rf"\begin{{aligned}}\mathrm{{KL}}({p_name}\,\|\,{q_name}) &= \sum_i {p_name}(i)"
             rf"\ln\frac{{{p_name}(i)}}{{{q_name}(i)}} \\ &= {terms} \\ &= {value}\ \text{{nats}}\end{{aligned}}")
    nats, bits = st.columns(2)
    nats.metric(f"KL({p_name}||{q_name}) in nats", f"{kl.nats:.4f}")
    bits.metric(f"KL({p_name}||{q_name}) in bits", f"{kl.bits:.4f}", help="nats / ln 2")
    if kl.reason:
        st.warning(f"KL({p_name}||{q_name}) = inf: {kl.reason}.")


def ratio_figure(source: np.ndarray, d1: np.ndarray, d2: np.ndarray, n: int, seeds: range, limit: float) -> go.Figure:
    counts = divergence.log_spaced_counts(n, 300)
    fig = go.Figure()
    for seed in seeds:
        ratio = divergence.running_log_likelihood_ratio(divergence.sample_sequence(source, n, seed), d1, d2)
        fig.add_scatter(x=counts, y=ratio[counts - 1], mode="lines", name=f"seed {seed}")
    fig.add_hline(y=limit, line_dash="dash", annotation_text=f"limit {limit:.4f}")
    fig.update_layout(xaxis_title="n (symbols drawn)", yaxis_title="(1/n) log p(X|D1)/p(X|D2)", **CHART_LAYOUT)
    return fig


def kl_section() -> tuple[np.ndarray, np.ndarray]:
    st.header("1. KL divergence between two distributions")
    st.caption("Edit the weights; each row is normalised to sum to 1.")
    apply_weights_link()
    d1, d2 = (distribution_ui(name, default) for name, default in zip(DISTRIBUTIONS, (DEFAULT_D1, DEFAULT_D2)))
    st.markdown(f"Normalised: D1 = {np.round(d1, 3).tolist()}, D2 = {np.round(d2, 3).tolist()}")
    show_kl(d1, d2, "D1", "D2")  # one above the other: side by side, the expanded sums do not fit
    show_kl(d2, d1, "D2", "D1")
    return d1, d2


def ratio_section(d1: np.ndarray, d2: np.ndarray) -> None:
    st.header("2. KL as a likelihood ratio")
    st.latex(r"\frac1n\log\frac{p(X\mid D_1)}{p(X\mid D_2)} = \frac1n\sum_{i=1}^n\log\frac{D_1(x_i)}{D_2(x_i)}"
             r"\ \xrightarrow{\,n\to\infty\,}\ \mathbb{E}_{D_1}\!\left[\log\frac{D_1}{D_2}\right]"
             r" = \mathrm{KL}(D_1\,\|\,D_2)")
    n = st.select_slider("Sequence length n", SEQUENCE_LENGTHS, value=100_000, key="theory_n")
    seeds = range(st.slider("Seeds", 1, 6, 3, key="theory_seeds"))
    limits = (("D1", d1, divergence.kl_divergence(d1, d2).nats), ("D2", d2, -divergence.kl_divergence(d2, d1).nats))
    for name, source, limit in limits:
        st.markdown(f"X drawn from {name} (seed 0): `{divergence.as_text(divergence.sample_sequence(source, n, 0))}`"
                    f" → converges to {limit:.4f}")
        if math.isinf(limit):
            st.info(f"The ratio runs off to {limit} at the first symbol the other distribution rules out.")
            continue
        st.plotly_chart(ratio_figure(source, d1, d2, n, seeds, limit), key=f"theory_ratio_{name}")
    st.caption("Drawn from D1 the ratio tends to KL(D1||D2); drawn from D2 to -KL(D2||D1). The two limits differ "
               "in size: KL is not symmetric, so it is not a distance.")


def gaussian_section(view: ModelView, index: int) -> None:
    st.header("3. The Gaussian KL inside the VAE")
    mu, logvar = (a[index] for a in view.encodings())
    samples = st.select_slider("Monte-Carlo samples", SAMPLE_COUNTS, value=10_000, key="theory_samples")
    check = divergence.monte_carlo_gaussian_kl(mu, logvar, samples, seed=index)
    total, error = check.total.mean[-1], check.total.stderr[-1]
    st.latex(rf"\mathrm{{KL}}(q(z|x)\,\|\,\mathcal N(0,I)) = \tfrac12\sum_d(\mu_d^2+\sigma_d^2-1-\ln\sigma_d^2)"
             rf" = {check.closed_form.sum():.4f}")
    st.latex(rf"\frac1S\sum_{{s=1}}^S\left[\log q(z_s|x)-\log p(z_s)\right],\ z_s\sim q"
             rf" = {total:.4f} \pm {error:.4f}\quad(S = {samples:,})")
    table = pd.DataFrame({"mu": mu, "sigma": np.exp(0.5 * logvar), "KL closed form": check.closed_form,
                          "KL Monte Carlo": check.per_dim.mean[-1], "± std. error": check.per_dim.stderr[-1]})
    st.dataframe(table.rename_axis("z dim"))
    fig = go.Figure(go.Scatter(x=check.total.counts, y=check.total.mean, mode="markers+lines", name="Monte Carlo",
                               error_y={"array": check.total.stderr}))
    fig.add_hline(y=check.closed_form.sum(), line_dash="dash", annotation_text="closed form")
    fig.update_layout(xaxis_title="samples S", yaxis_title="KL (nats)", **CHART_LAYOUT)
    st.plotly_chart(fig, key="theory_mc_kl")


@st.cache_data(max_entries=8, show_spinner="Importance sampling...")
def cached_elbo_gap(sha256: str, n_examples: int, k_max: int, _checkpoint: Checkpoint, _x,
                    _y) -> divergence.ELBOGap:
    return jobs.run_in_worker("Importance sampling", divergence.elbo_gap, _checkpoint.model, _x[:n_examples], k_max,
                              y=_y[:n_examples])


def bound_figure(gap: divergence.ELBOGap) -> go.Figure:
    fig = go.Figure(go.Scatter(x=gap.ks, y=gap.bounds.mean(axis=0), mode="lines", name="IWAE bound"))
    fig.add_hline(y=gap.elbo.mean(), line_dash="dash", annotation_text="ELBO")
    fig.update_layout(xaxis_title="K", yaxis_title="nats", **CHART_LAYOUT)
    return fig


def elbo_section(checkpoint: Checkpoint, x_test, y_test, index: int) -> None:
    st.header("4. The ELBO gap")
    st.latex(r"\log p(x) = \underbrace{\mathbb{E}_q[\log p(x|z)] - \mathrm{KL}(q(z|x)\,\|\,p(z))}_{\mathrm{ELBO}}"
             r" + \mathrm{KL}(q(z|x)\,\|\,p(z|x)) \;\ge\; \log\frac1K\sum_{k=1}^K\frac{p(x,z_k)}{q(z_k|x)}")
    k_max = st.slider("K_max (importance samples)", 1, 200, 50, key="theory_k_max")
    n_examples = st.slider("Test examples averaged", 1, min(1000, max(2, len(x_test))), min(300, len(x_test)),
                           key="theory_n_examples")
    gap = cached_elbo_gap(checkpoint.sha256, n_examples, k_max, checkpoint, x_test, y_test)
    one = divergence.elbo_gap(checkpoint.model, x_test[index:index + 1], k_max, seed=index,
                              y=y_test[index:index + 1])
    for name, title, part in (("mean", f"Averaged over {n_examples} test examples", gap),
                              ("example", f"Test example #{index}", one)):
        st.subheader(title)
        log_px, elbo, recon, kl = (v.mean() for v in (part.log_px, part.elbo, part.recon, part.kl))
        st.latex(rf"\underbrace{{{log_px:.3f}}}_{{\log p(x),\,K={k_max}}} \approx "
                 rf"\underbrace{{{recon:.3f} - {kl:.3f}}}_{{\mathrm{{ELBO}} = {elbo:.3f}}}"
                 rf" + \underbrace{{{log_px - elbo:.3f}}}_{{\mathrm{{KL}}(q\|p(z|x))}}")
        st.plotly_chart(bound_figure(part), key=f"theory_bound_{name}")
    st.caption("The bound's K=1 point is the ELBO in expectation. Averaged over many examples the bound rises "
               "towards log p(x) as K grows; a single example's curve is one noisy estimate per K, so it can wobble "
               "or even fall. The gap is estimated from samples, so a tiny negative value is noise.")
    st.subheader("Largest gaps: where q(z|x) fits the true posterior worst")
    worst = np.argsort(gap.gap)[::-1][:8]
    show_images(x_test[worst.copy()], captions=[f"#{i}: {gap.gap[i]:.2f} nats" for i in worst], size=96)


def main() -> None:
    page_header("Theory: KL divergence and the ELBO",
                "The notes this project started from, made live: KL between two small distributions, KL as the "
                "limit of a log-likelihood ratio, and what it means inside the VAE you loaded.")
    try:
        ratio_section(*kl_section())
    except ValueError as exc:
        st.error(f"{exc}. Give each distribution non-negative weights with at least one above zero.")
    view = current_or_stop()
    test = view.dataset.split("test")  # the labels too: a conditional model needs them
    x_test, y_test = test.x, test.y
    if linked := links.floats_param(links.linked(view.checkpoint.sha256, "example"), 1, 0, len(x_test) - 1):
        st.session_state["theory_example"] = int(linked[0])
    index = st.number_input("Test example", 0, len(x_test) - 1, 0, key="theory_example")
    links.copy_link(view_link(index), key="theory_link")
    show_images(x_test[index:index + 1], captions=[f"test example #{index}"], size=96)
    try:
        gaussian_section(view, index)
        elbo_section(view.checkpoint, x_test, y_test, index)
    except (VAEError, ValueError) as exc:
        st.error(f"The model could not be evaluated: {exc}. Pick another checkpoint in the sidebar.")


main()
