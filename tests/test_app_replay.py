"""Through the app (AppTest): a conditional model trained on the Train page replays its latent formation, on the
Sliders page its code decodes as every class, and every other page works with it."""

from __future__ import annotations

import json

import numpy as np
import torch
from streamlit.testing.v1 import AppTest
from support.apptest import app_session, plotly_array
from support.paths import ROOT
from support.train_page import finish, start

from ui.replay_view import NO_REPLAY
from ui.session_keys import MODEL, SLIDERS_CLASS_ROW, SLIDERS_IMAGE, SLIDERS_Z, TRAIN_JOB
from ui.widgets import image_urls
from vae_core.checkpoint import load_checkpoint_bytes

EPOCHS = 30  # digits: about 3 s, enough for the classes to look apart


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_a_conditional_model_trained_on_the_page_replays_and_decodes_every_class(checkpoint_dir):  # noqa: F811
    at = app_session().run()
    at.switch_page("pages/train.py").run()
    assert any(NO_REPLAY in info.value for info in at.info)  # the shipped default has no snapshots, and says so
    at.selectbox(key="train_dataset").set_value("digits").run()
    at.checkbox(key="train_conditional").check()
    job = start(at, epochs=EPOCHS)
    finish(at, job)
    replay = charts(at)[1]  # after the loss chart: the replay, every frame in the figure
    epochs = list(range(1, EPOCHS + 1))
    assert [frame["name"] for frame in replay["frames"]] == [str(e) for e in epochs]
    steps = replay["layout"]["sliders"][0]["steps"]
    assert [step["label"] for step in steps] == [str(e) for e in epochs]
    marker_epochs = [frame["data"][0]["x"][0] for frame in replay["frames"]]
    assert marker_epochs == epochs  # the marker on the ELBO curve walks with the frames
    points = [np.array([plotly_array(f["data"][1]["x"]), plotly_array(f["data"][1]["y"])]).T for f in replay["frames"]]
    n_points = len(at.session_state[TRAIN_JOB].progress().replay.indices)
    assert n_points > 300 and points[0].shape == (n_points, 2) and not np.allclose(points[0], points[-1])
    gif_buttons = lambda: [b.label for b in at.get("download_button") if "GIF" in b.label]  # noqa: E731
    assert not gif_buttons()  # the GIF is drawn on request...
    at.button(key="train_replay_make_gif").click().run()
    assert gif_buttons() == [f"Download the GIF ({EPOCHS} frames, one per snapshot)"]  # ...then offered

    at.button(key="train_use").click().run()
    model = load_checkpoint_bytes(at.session_state[MODEL].data)
    assert model.config.n_classes == 10 and model.replay.epochs == tuple(epochs)
    at.switch_page("pages/sliders.py").run()
    assert not at.exception
    row = at.session_state[SLIDERS_CLASS_ROW]
    assert row.shape == (10, 1, 8, 8)
    assert np.abs(row[0] - row[1]).max() > 0.1  # the classes differ for one z
    at.slider(key="sliders_z0").set_value(2.0).run()
    moved = at.session_state[SLIDERS_CLASS_ROW]
    assert not at.exception and np.abs(moved - row).max() > 0.01  # the row follows the code
    at.selectbox(key="sliders_class").set_value(7).run()  # the single image (and the pad) decode the chosen class
    z = torch.from_numpy(at.session_state[SLIDERS_Z])[None]
    np.testing.assert_allclose(at.session_state[SLIDERS_IMAGE], model.model.decode_image(z, torch.tensor([7]))[0],
                               atol=1e-6)
    np.testing.assert_allclose(at.session_state[SLIDERS_IMAGE], moved[7], atol=1e-5)
    at.switch_page("pages/interpolate.py").run()  # the sliders' code starts a path as the class it was shown as
    at.radio(key="interpolate_source").set_value("From the Latent sliders' code to a test example").run()
    shown_a = [img.url for image in at.get("image") for img in image.proto.imgs][0]
    as_class = lambda c: image_urls(model.model.decode_image(z, torch.tensor([c])), 96)[0]  # noqa: E731
    assert shown_a == as_class(7) and shown_a != as_class(0)
    for page in sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py")):  # every page copes
        at.switch_page(page).run()
        assert not at.exception and not at.error, page
