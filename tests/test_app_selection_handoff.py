"""A selection made on the scatter goes on to the Interpolation page as its endpoints and to the Directions page as
attribute groups (AppTest; the selection is sent the way the browser sends it)."""

from __future__ import annotations

import numpy as np
import torch
from support.apptest import page, select
from support.latent_views import shipped

from ui.session_keys import DIRECTIONS_WALK, INTERPOLATE_PATHS
from ui.widgets import image_urls
from vae_core.directions import DirectionsConfig, group_means, walk

MODEL = "digits-8d.safetensors"


def send(at, button: str, page_file: str):
    """Press the scatter's `button`; the app switches to `page_file`, where the next runs stay (AppTest reruns the
    page it was told, so it is told the one the app went to, as a browser's address would)."""
    at.button(key=button).click().run()
    assert not at.exception and not at.error
    return at.switch_page(page_file)


def strip_urls(at) -> str:
    return " ".join(element.proto.body for element in at.get("html"))


def test_a_scatter_selection_becomes_the_interpolation_endpoints_first_and_last():
    at = select(page("pages/scatter.py", MODEL), [9, 30, 77])
    send(at, "scatter_send_interpolate", "pages/interpolate.py")
    paths = at.session_state[INTERPOLATE_PATHS]
    mu = shipped(MODEL).mu.numpy()
    for path in paths.values():
        np.testing.assert_allclose(path[[0, -1]], mu[[9, 77]], atol=1e-5)
    at.selectbox(key="interpolate_point_B").set_value(30).run()  # any two of the selection
    np.testing.assert_allclose(at.session_state[INTERPOLATE_PATHS]["linear"][-1], mu[30], atol=1e-5)


def test_a_scatter_selection_is_the_directions_group_a_against_the_rest_and_its_walk_decodes_as_torch_does():
    model = shipped(MODEL)
    group_a = np.flatnonzero(model.labels == 0)[:20].tolist()
    at = select(page("pages/scatter.py", MODEL), group_a)
    send(at, "scatter_send_directions", "pages/directions.py")
    assert at.radio(key="directions_between").value == "groups"

    mean_a = model.mu[group_a].mean(dim=0)
    mean_b = model.mu[np.setdiff1d(np.arange(len(model.mu)), group_a)].mean(dim=0)
    amounts = np.linspace(0, 1, DirectionsConfig().strip_steps)
    expected = walk(mean_b, mean_a - mean_b, amounts)
    walked = at.session_state[DIRECTIONS_WALK]
    np.testing.assert_allclose(walked["codes"], expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(walked["codes"][-1], mean_a.numpy(), atol=1e-5)  # the whole direction reaches A
    decoded = image_urls(model.checkpoint.model.decode_image(torch.from_numpy(walked["codes"])).cpu(), 64)
    assert all(url in strip_urls(at) for url in decoded)


def test_a_selection_kept_as_group_b_is_where_the_walk_starts():
    model = shipped(MODEL)
    group_b = np.flatnonzero(model.labels == 1)[:15].tolist()
    group_a = np.flatnonzero(model.labels == 7)[:15].tolist()
    at = select(page("pages/scatter.py", MODEL), group_b)
    at.button(key="scatter_keep_b").click().run()
    at = select(at, group_a, seq="2")
    send(at, "scatter_send_directions", "pages/directions.py")
    at.radio(key="directions_group_b").set_value("kept").run()
    assert not at.exception and not at.error
    mean_a, mean_b = group_means(model.mu, group_a, group_b)
    codes = at.session_state[DIRECTIONS_WALK]["codes"]
    np.testing.assert_allclose(codes[0], mean_b.numpy(), atol=1e-5)
    np.testing.assert_allclose(codes[-1], mean_a.numpy(), atol=1e-5)
