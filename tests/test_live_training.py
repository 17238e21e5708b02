"""What the Train page's live view sends the browser (ui/components/live_training): the ELBO's terms per step and
per epoch, the x axis of the whole run, the latest epoch's test codes."""

from __future__ import annotations

import numpy as np

from ui.components.live_training import live_data
from ui.training_history import MAX_CHART_POINTS
from vae_core.background import Progress
from vae_core.replay import FormationReplay


def progress(steps: int, *, resumed_from: int = 0, total: int = 5000, replay: FormationReplay | None = None
             ) -> Progress:
    train = [{"step": resumed_from + s, "epoch": s // 100, "recon": -200.0 + s / 10, "kl": 5.0 + s / 1000,
              "elbo": -205.0 + s / 10 - s / 1000, "beta": 1.0} for s in range(1, steps + 1)]
    test = [{"step": resumed_from + s, "epoch": s // 100, "recon": -190.0 + s / 10, "kl": 6.0, "elbo": -196.0 + s / 10,
             "examples": 100} for s in range(100, steps + 1, 100)]
    return Progress(train=train, test=test, step=resumed_from + steps, epoch=steps // 100, steps_done=steps,
                    total_steps=total, finished=None, error=None, steps_per_second=100.0, replay=replay)


def test_the_terms_are_sent_per_step_and_per_epoch_thinned_to_the_charts_points():
    data = live_data(progress(3000), ["a", "b"])
    train, test = data["train"], data["test"]
    assert len(train["step"]) <= MAX_CHART_POINTS + 1 and train["step"][-1] == 3000  # the latest step is kept
    assert train["step"] == sorted(train["step"])
    at = train["step"].index(1500)
    assert (train["recon"][at], train["kl"][at], train["elbo"][at]) == (-50.0, 6.5, -56.5)
    assert test["epoch"] == list(range(1, 31)) and test["elbo"][0] == -186.0
    assert [s["key"] for s in data["series"]] == ["recon", "elbo", "kl"]
    assert [s["panel"] for s in data["series"]] == [0, 0, 1]  # KL, ~100x smaller, has its own panel


def test_the_x_axis_spans_the_whole_run_from_its_first_step():
    assert live_data(progress(10, total=5000), ["a"])["steps"] == [0, 5000]
    assert live_data(progress(10, resumed_from=700, total=5000), ["a"])["steps"] == [700, 5700]  # a resumed run
    resumed = progress(10, resumed_from=700, total=5000)
    resumed.train[:0] = [{"step": 1, "epoch": 0, "recon": -300.0, "kl": 1.0, "elbo": -301.0, "beta": 1.0}]
    assert live_data(resumed, ["a"])["steps"] == [1, 5700]  # with the checkpoint's own history before it


def test_codes_are_the_latest_epochs_frame_with_their_classes():
    labels = np.repeat([0, 1], 50)
    replay = FormationReplay.for_test_set(labels, max_points=100)
    assert live_data(progress(10, replay=replay), ["zero", "one"])["codes"] is None  # before the first epoch
    first, second = np.zeros((100, 2)), np.column_stack([labels * 2.0 - 1, np.linspace(-1, 1, 100)])
    replay = replay.with_frame(1, first).with_frame(2, second)
    data = live_data(progress(200, replay=replay), ["zero", "one"])
    codes = data["codes"]
    assert codes["epoch"] == 2 and codes["labels"] == replay.labels.tolist()
    np.testing.assert_allclose(np.column_stack([codes["x"], codes["y"]]), second, atol=1e-3)  # float16 frames
    assert "100 test codes" in codes["caption"]
    assert [c["name"] for c in data["classes"]] == ["zero", "one"] and data["classes"][0]["color"].startswith("#")
