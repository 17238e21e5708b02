"""The view in the URL: a link copied on a page opens the same model and view in a fresh session (AppTest); a
model the server does not have is said so, never silently replaced."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from support.apptest import app_session, page, select, sent
from support.paths import ROOT

from ui.session_keys import SCATTER_SELECTION, SLIDERS_Z
from vae_core.checkpoint import load_checkpoint


def copied_link(at) -> str:
    [link] = [code.value for code in at.get("code") if "?" in code.value and "sha=" in code.value]
    return link


def open_link(link: str, page_file: str):
    """A fresh session opened on `link` (the page is the link's path)."""
    at = app_session(timeout=120)
    for key, value in parse_qsl(urlsplit(link).query):
        at.query_params[key] = value
    at.switch_page(page_file).run()  # the first run is the link's page, as in a browser
    assert not at.exception
    return at


def test_a_sliders_link_restores_the_model_and_the_code_in_a_new_session():
    at = page("pages/sliders.py", "digits-8d.safetensors")
    at.slider(key="sliders_z3").set_value(1.25).run()
    at.slider(key="sliders_z0").set_value(-0.5).run()
    z = at.session_state[SLIDERS_Z].copy()
    assert z[3] == 1.25 and z[0] == -0.5
    link = copied_link(at)
    assert urlsplit(link).path.endswith("/sliders") and "model=digits-8d.safetensors" in link

    fresh = open_link(link, "pages/sliders.py")

    assert fresh.session_state["model"].name == "digits-8d.safetensors"
    np.testing.assert_allclose(fresh.session_state[SLIDERS_Z], z, atol=1e-4)
    assert fresh.session_state["sliders_z3"] == 1.25  # the slider the server shows


def test_a_link_to_a_model_this_server_does_not_have_says_so_and_keeps_the_current_model():
    at = page("pages/sliders.py", "digits-8d.safetensors")
    link = copied_link(at).replace("sha=", "sha=0000")  # another file's hash

    fresh = open_link(link, "pages/sliders.py")

    warnings = " ".join(w.value for w in fresh.warning)
    assert "is not on this server" in warnings and "digits-8d.safetensors" in warnings, warnings
    assert fresh.session_state["model"].name != "digits-8d.safetensors"  # the default stays, as said


def test_a_link_with_a_short_hash_prefix_opens_no_model_by_chance():
    at = page("pages/sliders.py", "digits-8d.safetensors")
    link = re.sub(r"sha=[0-9a-f]+", "sha=" + load_checkpoint(ROOT / "checkpoints" / "digits-8d.safetensors")
                  .sha256[:2], copied_link(at))

    fresh = open_link(link, "pages/sliders.py")

    assert "not one this app writes" in " ".join(w.value for w in fresh.warning)
    assert fresh.session_state["model"].name != "digits-8d.safetensors"


def test_a_scatter_link_restores_split_projection_colour_and_selection():
    at = page("pages/scatter.py", "digits-8d.safetensors")
    at.radio(key="scatter_method").set_value("direct").run()
    at.selectbox(key="scatter_dim_x").set_value(5).run()
    at.selectbox(key="scatter_colour").set_value("KL").run()
    select(at, [5, 17])
    link = copied_link(at)
    assert "sel=" in link

    fresh = open_link(link, "pages/scatter.py")

    assert fresh.session_state[SCATTER_SELECTION] == ("test", [5, 17])
    assert fresh.radio(key="scatter_method").value == "direct"
    assert fresh.selectbox(key="scatter_dim_x").value == 5
    assert fresh.selectbox(key="scatter_colour").value == "KL"
    assert sent(fresh)["selected"] == [5, 17] and sent(fresh)["colour"]["name"] == "KL"
    assert sent(fresh)["view"]["axes"] == sent(at)["view"]["axes"]
