"""The Train page with the user's own data (issue 15): the folder report and what the model will see, per-
architecture defaults, an ETA, class-balanced previews, defaults shared with the CLI, and Save in the sidebar."""

from __future__ import annotations

import pytest
import torch
from support.data import make_user_folder
from support.jobs import wait_until
from support.train_page import finish, start

from ui.picker import PICKER_KEY
from ui.session_keys import TRAIN_JOB
from vae_core import cli
from vae_core.checkpoint import load_checkpoint_bytes
from vae_core.data import DEFAULT_IMAGE_SIZE
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig


def test_a_user_folder_shows_what_was_skipped_and_converted_and_trains(train_page, tmp_path):
    at = train_page
    folder = make_user_folder(tmp_path / "my-images")
    at.selectbox(key="train_dataset").set_value("folder").run()
    at.text_input(key="train_folder").set_value(str(folder)).run()
    assert not at.exception
    report = " ".join(w.value for w in at.warning)
    assert "12 training and 2 test images, 2 class(es): bars, boxes" in report
    assert "skipped 3 file(s): 2 not an image file, 1 unreadable or corrupt image" in report
    assert "skipped factors.csv: not an image file" in report and "skipped boxes/broken.png" in report
    assert "converted 1 image(s): RGBA -> L, alpha composited on black (e.g. bars/rgba.png, 40x31 RGBA)" in report
    assert any("transparency is composited on black. What the model will see" in c.value for c in at.caption)
    examples = next(h.proto.body for h in at.get("html") if "bars" in h.proto.body and "boxes" in h.proto.body)
    assert examples.count("<img") == 8
    job = start(at, epochs=1)
    finish(at, job)
    kept = load_checkpoint_bytes(job.checkpoint_bytes())
    assert kept.dataset.name == "folder" and kept.dataset.class_names == ("bars", "boxes") and kept.epoch == 1


def test_the_conv_architecture_gets_its_own_default_channels_on_the_page(train_page):
    at = train_page
    at.selectbox(key="train_architecture").set_value("conv").run()
    assert at.text_input(key="train_hidden_conv").value == "32 64"
    at.number_input(key="train_epochs").set_value(1000)
    at.button(key="train_start").click().run()
    job = at.session_state[TRAIN_JOB]
    wait_until(lambda: job.progress().steps_done >= 1)
    job.stop()
    assert job.join(timeout=30)
    assert load_checkpoint_bytes(job.checkpoint_bytes()).config.hidden_dims == VAEConfig.DEFAULT_HIDDEN_DIMS["conv"]


def test_a_running_job_shows_the_time_left(train_page):
    at = train_page
    job = start(at, epochs=1000)
    wait_until(lambda: job.progress().steps_done >= 5)
    at.run()
    text = at.get("progress")[0].proto.text
    assert " left" in text and "about " in text, text


def test_the_live_previews_take_the_test_classes_in_turn():
    from vae_core.background import start_training
    from vae_core.data import Dataset

    # A test split in class order, as a folder's is: 10 images of class 0, then 10 of class 1, each one grey
    # level so a preview image names its position.
    x = torch.arange(20, dtype=torch.float32).div(20).view(20, 1, 1, 1).expand(20, 1, 8, 8).contiguous()
    y = torch.tensor([0] * 10 + [1] * 10)
    dataset = Dataset("ordered", x, y, x, y, ("a", "b"))
    job = start_training(dataset, TrainConfig(epochs=1, batch_size=8, device="cpu"), VAEConfig(hidden_dims=(8,)))
    assert job.join(timeout=60)
    shown, _, _ = job.previews(n=4)
    labels = y[(shown[:, 0, 0, 0] * 20).round().long()].tolist()
    assert labels in ([0, 1, 0, 1], [1, 0, 1, 0])


def test_save_after_use_names_the_saved_file_in_the_sidebar_not_unsaved(train_page):
    at = train_page
    finish(at, start(at, epochs=1))
    at.button(key="train_use").click().run()
    assert any("(unsaved)" in caption.value for caption in at.sidebar.caption)
    at.text_input(key="train_save_name").set_value("fresh").run()
    at.button(key="train_save").click().run()
    captions = " ".join(caption.value for caption in at.sidebar.caption)
    assert "(unsaved)" not in captions and "user/fresh.safetensors" in captions
    assert at.sidebar.selectbox(key=PICKER_KEY).value == "user/fresh.safetensors"


def _cli_defaults(command: str) -> dict:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return {action.dest: action.default for action in sub._actions}


def test_the_train_page_and_the_cli_read_the_same_defaults_from_the_config_dataclasses(train_page):
    at = train_page
    train, model, cli_train = TrainConfig(), VAEConfig(), _cli_defaults("train")
    page = {key: at.number_input(key=f"train_{key}").value
            for key in ("epochs", "batch_size", "lr", "kl_warmup", "seed", "latent_dim", "beta")}
    expected = {"epochs": train.epochs, "batch_size": train.batch_size, "lr": train.learning_rate,
                "kl_warmup": train.kl_warmup_epochs, "seed": train.seed, "latent_dim": model.latent_dim,
                "beta": model.beta}
    assert page == expected and {key: cli_train[key] for key in expected} == expected
    assert at.selectbox(key="train_architecture").value == cli_train["architecture"] == model.architecture
    assert at.selectbox(key="train_likelihood").value == cli_train["likelihood"] == model.likelihood
    assert at.text_input(key="train_hidden_mlp").value == " ".join(map(str, model.hidden_dims))
    assert cli_train["hidden"] is None  # None: VAEConfig's per-architecture default
    at.selectbox(key="train_dataset").set_value("folder").run()
    assert at.number_input(key="train_image_size").value == cli_train["image_size"] == DEFAULT_IMAGE_SIZE
    assert at.checkbox(key="train_grayscale").value is (not cli_train["rgb"])


@pytest.mark.parametrize("command", ["train", "eval", "encode"])
def test_help_shows_every_default(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for dest, default in _cli_defaults(command).items():
        if default not in (None, False, "==SUPPRESS==") and dest != "help":
            assert f"default: {default}" in text, (dest, default)
