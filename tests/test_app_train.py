"""The Train page, driven through the app with AppTest: live chart, stop, use, save, runs across pages, bad input."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest
from support.apptest import app_session, sent
from support.jobs import wait_until
from support.paths import DEFAULT_CHECKPOINT
from support.train_page import finish, start

import ui.settings
import ui.state
import ui.workspace
from ui.picker import AUTOSAVE_KEY, PICKER_KEY
from ui.session_keys import MODEL, TRAIN_JOB
from vae_core.checkpoint import load_checkpoint, load_checkpoint_bytes
from vae_core.train import TrainConfig


def chart_lengths(at: AppTest) -> dict[str, int]:
    """A finished run's chart (Plotly): points per trace."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {trace["name"]: len(trace["x"]) for trace in spec["data"]}


def test_live_chart_series_grow_with_steps_and_stop_keeps_the_model(train_page):
    at = train_page
    job = start(at, epochs=1000)
    seen = []  # the last step each poll sends (long runs are thinned, so the number of points can drop)
    while len(set(seen)) < 3:
        time.sleep(0.2)
        at.run()
        live = sent(at)  # the live view is drawn in the browser (ui/components/live_training)
        train = live["train"]
        assert len(train["step"]) == len(train["recon"]) == len(train["kl"]) == len(train["elbo"]) > 0
        assert live["steps"] == [0, job.progress().total_steps] and not at.get("plotly_chart")
        seen.append(train["step"][-1])
    assert seen == sorted(seen) and seen[-1] > seen[0] > 0
    at.button(key="train_stop").click().run()
    assert not job.running and job.progress().finished.reason == "stopped"
    assert any("stopped" in info.value for info in at.info)
    at.button(key="train_use").click().run()
    current = load_checkpoint_bytes(at.session_state[MODEL].data)
    assert current.epoch == job.progress().epoch
    assert len(current.history["train"]) == job.progress().step >= seen[-1]
    assert "(unsaved)" in at.session_state[MODEL].name


def test_browser_reload_finds_the_running_job_again_and_other_sessions_do_not(train_page):
    job = start(train_page, epochs=1000)
    token = train_page.query_params["ws"]
    token = token[0] if isinstance(token, list) else token
    reloaded = app_session()  # a reload is a new session...
    reloaded.query_params["ws"] = token  # ...with the same URL
    reloaded.switch_page("pages/train.py").run()
    assert not reloaded.exception
    assert reloaded.session_state[TRAIN_JOB] is job
    stranger = app_session()
    stranger.switch_page("pages/train.py").run()
    assert "train_job" not in stranger.session_state
    job.stop()
    job.join(timeout=10)


def test_completed_run_shows_every_step_and_epoch(train_page, digits):
    at = train_page
    job = start(at, epochs=2)
    finish(at, job)
    steps_per_epoch = -(-len(digits.split("train")) // TrainConfig().batch_size)
    assert chart_lengths(at) == {
        "train recon": 2 * steps_per_epoch, "test recon": 2, "train elbo": 2 * steps_per_epoch, "test elbo": 2,
        "train kl": 2 * steps_per_epoch, "test kl": 2,
    }
    assert any("completed" in message.value for message in at.success)


def test_save_writes_a_loadable_checkpoint(train_page, checkpoint_dir):
    at = train_page
    finish(at, start(at, epochs=1))
    at.text_input(key="train_save_name").set_value("my model")
    at.button(key="train_save").click().run()
    saved = load_checkpoint(checkpoint_dir / "user" / "my model.safetensors")
    assert saved.epoch == 1 and saved.dataset.name == "digits" and saved.config.hidden_dims == (32, 16)
    assert not list(checkpoint_dir.glob(".*.tmp"))  # the atomic write left no temp file


def test_saving_under_an_existing_name_asks_before_overwriting(train_page, checkpoint_dir):
    at = train_page
    finish(at, start(at, epochs=1))
    existing = checkpoint_dir / "user" / "mine.safetensors"
    existing.parent.mkdir()
    shutil.copy(checkpoint_dir / DEFAULT_CHECKPOINT.name, existing)
    original = existing.read_bytes()
    at.text_input(key="train_save_name").set_value("mine").run()
    assert any("already exists" in w.value for w in at.warning)
    assert at.button(key="train_save").disabled and existing.read_bytes() == original
    at.checkbox(key="train_overwrite").check().run()
    at.button(key="train_save").click().run()
    assert not at.exception and load_checkpoint(existing).epoch == 1


def test_invalid_save_name_is_refused(train_page, checkpoint_dir):
    at = train_page
    finish(at, start(at, epochs=1))
    at.text_input(key="train_save_name").set_value("../outside").run()
    assert any("invalid checkpoint name" in e.value for e in at.error)
    assert not (checkpoint_dir.parent / "outside.safetensors").exists()


@pytest.mark.parametrize("dataset, field, value, expected", [
    ("folder", "train_folder", "/no/such/folder", "does not exist"),
    ("folder", "train_folder", "", "enter the path"),
    ("mnist", "train_data_root", "/no/such/root", "Download if missing"),
])
def test_bad_dataset_input_shows_an_error_and_starts_nothing(train_page, dataset, field, value, expected):
    at = train_page
    at.selectbox(key="train_dataset").set_value(dataset).run()
    at.text_input(key=field).set_value(value)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any(expected in e.value for e in at.error), [e.value for e in at.error]
    assert "train_job" not in at.session_state


def test_mnist_trains_offline_from_the_bundled_copy_by_default(train_page):
    at = train_page
    at.selectbox(key="train_dataset").set_value("mnist").run()
    assert at.text_input(key="train_data_root").value == "" and not at.checkbox(key="train_download").value
    job = start(at, epochs=1000)
    wait_until(lambda: job.progress().steps_done >= 3)
    job.stop()
    assert job.join(timeout=10)
    kept = load_checkpoint_bytes(job.checkpoint_bytes())
    assert kept.dataset.name == "mnist" and kept.config.image_shape == (1, 28, 28)
    assert kept.dataset.options == {"download": False}  # the bundled copy: no path, reloads anywhere


def test_bad_hidden_sizes_show_an_error(train_page):
    at = train_page
    at.text_input(key="train_hidden_mlp").set_value("256, lots")
    at.button(key="train_start").click().run()
    assert not at.exception and any("Cannot start training" in e.value for e in at.error)


def test_a_run_stays_findable_and_stoppable_from_any_page_after_a_page_switch_and_a_reload(train_page):
    job = start(train_page, epochs=1000)
    train_page.query_params.clear()  # what the browser does to the URL on a page switch
    train_page.switch_page("pages/sliders.py").run()
    token = train_page.query_params["ws"]  # ...and the page puts the run's token back
    reloaded = app_session()
    reloaded.query_params["ws"] = token[0] if isinstance(token, list) else token
    reloaded.switch_page("pages/sliders.py").run()  # a reload on the sliders page
    assert reloaded.session_state[TRAIN_JOB] is job
    reloaded.sidebar.button(key="app_stop_training").click().run()
    assert not job.running and job.progress().finished.reason == "stopped"


def test_use_this_model_now_shows_in_the_sidebar_at_once(train_page):
    at = train_page
    finish(at, start(at, epochs=1))
    at.button(key="train_use").click().run()
    assert any("(unsaved)" in caption.value for caption in at.sidebar.caption)
    assert any("now the current model" in message.value for message in at.success)


def test_a_saved_model_is_in_the_sidebar_list_at_once(train_page):
    at = train_page
    finish(at, start(at, epochs=1))
    at.text_input(key="train_save_name").set_value("fresh").run()
    at.button(key="train_save").click().run()
    assert "user/fresh" in at.sidebar.selectbox(key=PICKER_KEY).options
    assert any("Saved fresh.safetensors" in message.value for message in at.success)


def test_the_chart_legend_sits_above_the_plots_clear_of_the_step_axis_title(train_page):
    at = train_page
    finish(at, start(at, epochs=1))
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert layout["legend"]["orientation"] == "h" and layout["legend"]["y"] > 1


def test_a_run_is_autosaved_and_opens_from_the_sidebar_as_a_server_restart_would_find_it(checkpoint_dir,
                                                                                         tmp_path, monkeypatch):
    monkeypatch.setenv(ui.workspace.AUTOSAVE_ENV, str(tmp_path / "autosave"))
    at = app_session().run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_dataset").set_value("digits").run()
    job = start(at, epochs=3)
    assert job.autosave.parent == tmp_path / "autosave" and job.autosave.name.startswith("digits-2d-mlp-")
    finish(at, job)
    saved = load_checkpoint(job.autosave)
    assert saved.epoch == 3 and saved.history["test"] == job.progress().test

    restarted = app_session().run()  # a new session: no job
    [autosaves] = [e for e in restarted.sidebar.expander if e.label.startswith("Your autosaved training runs")]
    assert autosaves.label == "Your autosaved training runs (1)"
    restarted.sidebar.selectbox(key=AUTOSAVE_KEY).select(ui.workspace.checkpoint_name(job.autosave)).run()
    current = load_checkpoint_bytes(restarted.session_state[MODEL].data)
    assert current.sha256 == saved.sha256 and not restarted.exception


def test_only_the_newest_autosaves_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(ui.workspace.AUTOSAVE_ENV, str(tmp_path))
    for i in range(ui.settings.ServerSettings().autosaves_per_owner + 2):
        (tmp_path / f"run-{i}.safetensors").write_bytes(b"x")
        time.sleep(0.01)  # newest first is by modification time
    path = ui.workspace.new_autosave_path("digits-2d-mlp")
    kept = sorted(p.name for p in ui.workspace.autosaves())
    assert len(kept) == ui.settings.ServerSettings().autosaves_per_owner - 1 and "run-0.safetensors" not in kept
    assert path.parent == tmp_path and not path.exists()


def test_a_burst_of_start_presses_queues_runs_past_the_cap_shows_their_place_and_stop_leaves_the_queue(
        checkpoint_dir, monkeypatch):
    from ui import jobs
    from ui.job_queue import QUEUE_ENV

    monkeypatch.setenv(QUEUE_ENV, "1")
    jobs.queue.clear()  # a server started with the cap above
    sessions = []
    for _ in range(3):
        at = app_session().run()
        at.switch_page("pages/train.py").run()
        at.number_input(key="train_epochs").set_value(1000)
        at.text_input(key="train_hidden_mlp").set_value("32 16")
        sessions.append(at)
    for at in sessions:  # three visitors press Start at once
        at.button(key="train_start").click().run()
        assert not at.exception and not at.error
    first, second, third = (at.session_state[TRAIN_JOB] for at in sessions)
    try:
        assert jobs.queue().counts() == (1, 2) and first.started and second.queued and third.queued
        for at, position in ((sessions[1], 1), (sessions[2], 2)):
            at.run()
            assert any(f"queued: position {position}, " in info.value for info in at.info)
            assert at.button(key="train_stop").label == "Remove from the queue"
        wait_until(lambda: first.has_model)
        sessions[2].button(key="train_stop").click().run()  # the last one leaves the queue
        assert not third.running and not third.started and "train_job" not in sessions[2].session_state
        assert any("Removed from the queue" in info.value for info in sessions[2].info)
        sessions[0].button(key="train_stop").click().run()  # the running one stops: the next one starts
        wait_until(lambda: second.started)
        assert second.started_at >= first.ended_at and jobs.queue().counts() == (1, 0)
        assert first.progress().finished.reason == "stopped"
    finally:
        for job in (first, second, third):
            job.stop()
            job.join(timeout=30)
        jobs.queue.clear()
