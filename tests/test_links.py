"""The view in the URL: a link copied on a page opens the same model and view in a fresh session (AppTest); a
model the server does not have is said so, never silently replaced."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from support.apptest import app_session, page, select, send_state, sent
from support.paths import ROOT

from ui.components import runtime
from ui.session_keys import DIRECTIONS_WALK, INTERPOLATE_PATHS, SCATTER_SELECTION, SLIDERS_Z
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


def test_an_interpolation_link_restores_its_example_endpoints_and_steps():
    at = page("pages/interpolate.py", "digits-8d.safetensors")
    at.radio(key="interpolate_source").set_value("Test examples by index").run()
    at.number_input(key="interpolate_index_A").set_value(40).run()
    at.number_input(key="interpolate_index_B").set_value(123).run()
    at.slider(key="interpolate_steps").set_value(7).run()
    link = copied_link(at)
    assert "ends=" in link and "steps=7" in link

    fresh = open_link(link, "pages/interpolate.py")

    assert fresh.number_input(key="interpolate_index_A").value == 40
    assert fresh.slider(key="interpolate_steps").value == 7
    for method, path in at.session_state[INTERPOLATE_PATHS].items():
        np.testing.assert_allclose(fresh.session_state[INTERPOLATE_PATHS][method], path, atol=1e-6)


def test_an_interpolation_link_keeps_prior_sample_endpoints_as_their_codes():
    at = page("pages/interpolate.py", "digits-8d.safetensors")
    at.radio(key="interpolate_source").set_value("Random prior samples").run()
    at.number_input(key="interpolate_seed_B").set_value(7).run()
    link = copied_link(at)
    assert "codes=" in link and "ends=" not in link

    fresh = open_link(link, "pages/interpolate.py")

    assert fresh.radio(key="interpolate_source").value == "The codes of a link"
    for method, path in at.session_state[INTERPOLATE_PATHS].items():
        np.testing.assert_allclose(fresh.session_state[INTERPOLATE_PATHS][method], path, atol=1e-4)  # 4 decimals


def test_a_directions_link_restores_its_classes_start_and_walk_position(monkeypatch):
    monkeypatch.setattr(runtime, "problem", lambda: "off in this test")  # the server's slider: its value is set here
    at = page("pages/directions.py", "digits-8d.safetensors")
    at.selectbox(key="directions_from").select(1).run()
    at.selectbox(key="directions_to").select(7).run()
    at.radio(key="directions_start").set_value("example").run()
    at.number_input(key="directions_nth").set_value(4).run()
    at.slider(key="directions_amount").set_value(1.25).run()
    link = copied_link(at)
    assert "from=1" in link and "to=7" in link and "start=4" in link and "amount=1.25" in link

    fresh = open_link(link, "pages/directions.py")

    for key in ("codes", "current"):
        np.testing.assert_allclose(fresh.session_state[DIRECTIONS_WALK][key], at.session_state[DIRECTIONS_WALK][key])
    assert fresh.slider(key="directions_amount").value == 1.25


def test_a_directions_link_restores_its_groups():
    at = page("pages/directions.py", "digits-8d.safetensors")
    at.session_state[SCATTER_SELECTION] = ("test", [3, 14, 15, 92])
    at.radio(key="directions_between").set_value("groups").run()
    link = copied_link(at)
    assert "groups=rest" in link and "sel=" in link

    fresh = open_link(link, "pages/directions.py")

    assert fresh.radio(key="directions_between").value == "groups"
    assert fresh.session_state[SCATTER_SELECTION] == ("test", [3, 14, 15, 92])
    np.testing.assert_allclose(fresh.session_state[DIRECTIONS_WALK]["codes"],
                               at.session_state[DIRECTIONS_WALK]["codes"])


def test_a_prior_link_restores_its_plane():
    at = page("pages/prior.py", "digits-8d.safetensors")
    at.radio(key="prior_plane").set_value("direct").run()
    at.selectbox(key="prior_dim_x").set_value(5).run()
    at.selectbox(key="prior_dim_y").set_value(2).run()
    link = copied_link(at)
    assert "plane=5%2C2" in link

    fresh = open_link(link, "pages/prior.py")

    assert fresh.radio(key="prior_plane").value == "direct"
    assert (fresh.selectbox(key="prior_dim_x").value, fresh.selectbox(key="prior_dim_y").value) == (5, 2)


def test_a_theory_link_restores_its_distributions_and_test_example():
    at = page("pages/theory.py", "digits-8d.safetensors")
    at.number_input(key="theory_D1_a").set_value(0.5).run()
    at.number_input(key="theory_D2_c").set_value(2.0).run()
    at.number_input(key="theory_example").set_value(7).run()
    link = copied_link(at)
    assert "d1=0.5%2C0.1%2C0.1" in link and "d2=0.3%2C0.3%2C2" in link and "example=7" in link

    fresh = open_link(link, "pages/theory.py")

    assert [fresh.number_input(key=f"theory_D1_{s}").value for s in "abc"] == [0.5, 0.1, 0.1]
    assert [fresh.number_input(key=f"theory_D2_{s}").value for s in "abc"] == [0.3, 0.3, 2.0]
    assert fresh.number_input(key="theory_example").value == 7
    assert not fresh.exception


def test_a_compare_link_restores_its_models():
    models = ["digits-2d.safetensors", "digits-8d.safetensors"]
    at = page("pages/compare.py", "digits-2d.safetensors")
    at.multiselect(key="compare_models").set_value(models).run()
    link = copied_link(at)
    assert "models=digits-2d.safetensors%2Cdigits-8d.safetensors" in link

    fresh = open_link(link, "pages/compare.py")

    assert fresh.multiselect(key="compare_models").value == models
    assert not fresh.error


def test_a_scatter_link_restores_the_inspectors_zoom():
    at = page("pages/scatter.py", "digits-8d.safetensors")
    assert sent(at)["view"]["zoom"] is None  # fitted to its points
    send_state(at, {"zoom": {"view": sent(at)["view"]["id"], "cx": 0.25, "cy": -0.5, "k": 3.0}})  # a rested zoom
    link = copied_link(at)
    assert "zoom=0.25%2C-0.5%2C3" in link

    fresh = open_link(link, "pages/scatter.py")

    assert sent(fresh)["view"]["zoom"] == {"cx": 0.25, "cy": -0.5, "k": 3.0}
    assert sent(fresh)["view"]["id"] == sent(at)["view"]["id"]


def test_a_sliders_link_restores_the_pads_plane_and_view():
    at = page("pages/sliders.py", "digits-8d.safetensors")
    view = {"plane": "axes", "axes": [3, 5], "centre": [0.5, -0.25], "extent": 1.5}
    send_state(at, {"view": view})  # the pad's view, as canvas.js sends it once a wheel or pan has rested
    link = copied_link(at)
    assert "pad=3%3A5%2C0.5%2C-0.25%2C1.5" in link

    fresh = open_link(link, "pages/sliders.py")

    assert json.loads(fresh.get("bidi_component")[0].proto.json)["view"] == view
