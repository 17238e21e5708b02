"""Compare: 2-4 models of one dataset side by side: where each sits on the rate-distortion plane, how it uses its
latent dimensions, the same test example in every model's map, and which examples' neighbourhoods moved.

Widget keys: compare_models, compare_example (a test index), compare_maps (the maps' chart), compare_pair_a/b.
"""

import numpy as np
import streamlit as st

from ui import comparison, links, sweep
from ui.comparison import Compared
from ui.comparison_figures import MODEL_COLORS, kl_per_dimension, latent_maps, rate_distortion
from ui.components.latent_canvas import latent_canvas
from ui.components.model_hover import model_hover
from ui.navigation import page_header
from ui.state import current_model
from ui.widgets import image_rows, image_urls
from vae_core.errors import VAEError
from vae_core.projection import pca_plane

MOVED_K, MOVED_TOP = 10, 8
PAD_LIMIT = 3.0  # the sliders' range, in prior standard deviations


def apply_link(files: dict) -> None:
    """A link's models (picker names of this server's checkpoints), once, before the multiselect."""
    model = current_model()
    names = model and links.linked(model.sha256, "models")
    if names:
        st.session_state[comparison.MODELS_KEY] = [name for name in names.split(",") if name in files][
            :comparison.MAX_MODELS]


def choose_models() -> list[Compared]:
    files = comparison.offered()
    apply_link(files)
    # No default once the sweep's button has set the choice: Streamlit warns about a widget given both.
    default = None if comparison.MODELS_KEY in st.session_state else comparison.default_choice(list(files))
    names = st.multiselect("Models (2 to 4, of one dataset)", list(files), key=comparison.MODELS_KEY,
                           default=default, max_selections=comparison.MAX_MODELS)
    links.copy_link(links.show("compare", models=",".join(names) or None), key="compare_link")
    sweep.section(names, files)
    if len(names) < 2:
        st.info("Pick at least two models: the shipped beta sweep (mnist-2d, mnist-2d-beta*) is a good start.")
        st.stop()
    try:
        return comparison.load(names, files)
    except VAEError as exc:
        st.error(str(exc))
        st.stop()


def rate_distortion_section(models: list[Compared]) -> None:
    st.subheader("Rate and distortion")
    st.caption(f"Each model's test reconstruction and KL, as `python -m vae_core eval` prints them "
               f"({comparison.EVAL.examples} test examples, seeded). -ELBO = D + R, so every dotted line is one "
               "ELBO; beta-VAEs trade one for the other along them (Alemi et al., 2018, *Fixing a Broken ELBO*).")
    st.plotly_chart(rate_distortion(models), key="compare_rd")
    st.dataframe([{"model": m.label, "rate (KL)": round(m.rate, 2), "distortion (-recon)": round(m.distortion, 2),
                   "-ELBO": round(m.rate + m.distortion, 2), "log p(x) (IWAE)": round(m.evaluation["log_px"], 2),
                   "active units": f"{sum(m.view.activity.is_active(d) for d in range(len(m.view.activity.kl)))}"
                                   f" / {len(m.view.activity.kl)}"} for m in models], hide_index=True)
    st.plotly_chart(kl_per_dimension(models), key="compare_kl")


def map_codes(model: Compared) -> np.ndarray:
    mu = model.view.encodings()[0]
    if mu.shape[1] == 2:
        return mu
    origin, basis = pca_plane(mu)
    return (mu - origin) @ basis.T


def _on_map_click() -> None:
    points = st.session_state["compare_maps"]["selection"]["points"]
    if points:
        st.session_state["compare_example"] = int(np.ravel(points[0]["customdata"])[0])


def same_x_section(models: list[Compared]) -> None:
    st.subheader("Same x, every model")
    st.caption("Each model's test codes (a 2-D model's own axes, else the PCA plane). Click a point, or type its "
               "index: it is ringed in every map, with each model's reconstruction below.")
    test = models[0].view.dataset.split("test")
    if st.session_state.get("compare_example", len(test)) >= len(test):  # none yet, or another dataset's
        st.session_state["compare_example"] = 0
    selected = st.number_input("Test example", 0, len(test) - 1, key="compare_example")
    st.plotly_chart(latent_maps(models, [map_codes(m) for m in models], test.y.numpy(),
                                models[0].view.checkpoint.dataset.class_names, selected),
                    key="compare_maps", on_select=_on_map_click, selection_mode="points")
    rows = slice(selected, selected + 1)
    image_rows({"input": test.x[rows].numpy()} | {m.label: m.reconstruction(test.x[rows], test.y[rows])
                                                  for m in models}, size=80)


def what_moved_section(models: list[Compared]) -> None:
    st.subheader("What moved")
    st.caption(f"Test examples ranked by how much their {MOVED_K} nearest neighbours (in the full latent space) differ "
               f"between two models: 1 - Jaccard of the two neighbour sets.")
    labels = [m.label for m in models]
    left, right = st.columns(2)
    a = left.selectbox("Model A", range(len(models)), 0, format_func=labels.__getitem__, key="compare_pair_a")
    b = right.selectbox("Model B", range(len(models)), len(models) - 1, format_func=labels.__getitem__,
                        key="compare_pair_b")
    if a == b:
        st.info("Pick two different models.")
        return
    ma, mb = models[a], models[b]
    indices, change = comparison.moved(ma.view.sha256, mb.view.sha256, ma.view.encodings()[0],
                                       mb.view.encodings()[0], MOVED_K, MOVED_TOP)
    test = ma.view.dataset.split("test")
    urls = image_urls(test.x[indices].numpy(), 64)
    for column, index, score, url in zip(st.columns(MOVED_TOP), indices, change, urls, strict=True):
        column.image(url, caption=f"#{index}: {score:.2f}", width=64)
        column.button("Show", key=f"compare_show_{index}", on_click=st.session_state.__setitem__,
                      args=("compare_example", int(index)), help="Ring it in every map above")


def same_z_section(models: list[Compared]) -> None:
    st.subheader("Same z, every model")
    first, *rest = models
    shapes = {(m.view.checkpoint.config.latent_dim, m.view.checkpoint.config.conditional) for m in models}
    if len(shapes) > 1 or first.view.checkpoint.config.conditional:
        st.info("One pad drives every decoder only for unconditional models of one latent size.")
        return
    st.caption(f"Drag on the pad ({first.label}'s test codes; its image is the large one): every model decodes the "
               "same code, in your browser.")
    activity = first.view.activity
    state = latent_canvas(first.view.checkpoint, first.view.encodings()[0], first.view.labels(),
                          start=np.zeros(len(activity.kl)), start_id="zero", dims=activity.most_active_first,
                          kl=activity.kl, limit=PAD_LIMIT, key="compare_canvas",
                          others=[(m.label, m.view.checkpoint) for m in rest])
    if state.problem:
        st.warning(f"In-browser decoding is off: {state.problem}.")


page_header("Compare models", "Several models of one dataset side by side: the ELBO's trade-off between rate (KL) and "
            "distortion (reconstruction), made visible.")
models = choose_models()
st.markdown(" ".join(f"<span style='color:{c}'>●</span> {m.label}" for c, m in zip(MODEL_COLORS, models, strict=False)),
            unsafe_allow_html=True)
rate_distortion_section(models)
same_x_section(models)
what_moved_section(models)
same_z_section(models)
model_hover(plane="compare_rd", bars="compare_kl", maps="compare_maps", pad="compare_canvas",
            colors=MODEL_COLORS[:len(models)], key="compare_hover")
