"""The app driven through Streamlit's AppTest: opening a page on a model, and reading what a page sent."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from ui.picker import PICKER_KEY

from .paths import ROOT


def app_session(timeout: float = 60) -> AppTest:
    """A new session of the app (not run yet): what a visitor's first visit or a reload is."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)


def page(name: str, checkpoint: str | None = "digits-2d.safetensors") -> AppTest:
    """The app on page `name` with `checkpoint` picked: the small digits model unless told otherwise (fast, 359
    test images); None keeps the app's default model (MNIST 2-D)."""
    at = app_session(timeout=120).run()
    if checkpoint:
        at.sidebar.selectbox(key=PICKER_KEY).select(checkpoint).run()
    at.switch_page(name).run()
    assert not at.exception
    return at


def sent(at: AppTest) -> dict:
    """The data the page sent the inspector on its last run."""
    return json.loads(at.get("bidi_component")[0].proto.json)


def plotly_array(value) -> np.ndarray:
    """A trace's data as plotly sends it: a list, or a base64 typed array {"dtype", "bdata"}."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).copy()
    return np.asarray(value)


def chart_traces(at, index: int = 0) -> list[dict]:
    return json.loads(at.get("plotly_chart")[index].proto.spec)["data"]


def send_state(at: AppTest, value: dict) -> AppTest:
    """Send the page's (first) component's state the way the browser does: a JSON object."""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = at.get("bidi_component")[0].proto.id
    state.json_value = json.dumps(value)
    return at._run(states)


def select(at: AppTest, indices: list[int], seq: str = "1") -> AppTest:
    """Send a selection from the inspector the way the browser does (its state value, a JSON object)."""
    return send_state(at, {"selection": {"view": sent(at)["view"]["id"], "indices": indices, "seq": seq}})


def start_sweep(at: AppTest, betas: str, epochs: int = 1) -> AppTest:
    """Start a beta sweep from the Compare page's form, in the first chosen model's architecture."""
    at.text_input(key="compare_sweep_betas").set_value(betas)
    at.number_input(key="compare_sweep_epochs").set_value(epochs)
    at.radio(key="compare_sweep_architecture").set_value("first")
    next(button for button in at.button if button.label == "Start the sweep").click().run()
    assert not at.exception
    return at


def sweep_owners() -> dict:
    """Owner key -> job of every training run the server's queue holds (running or waiting)."""
    from ui import jobs
    from ui.job_queue import TRAINING

    entries = jobs.queue()._running + jobs.queue()._waiting
    return {entry.owner: entry.job for entry in entries if entry.kind == TRAINING}
