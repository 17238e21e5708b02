"""The Train page through AppTest: its fixtures (a checkpoint folder of the test's own, the page on digits) and
the steps of a run (start, finish). Registered as a pytest plugin in tests/conftest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.workspace
from ui.session_keys import TRAIN_JOB
from vae_core.train_worker import WorkerTrainingJob

from .jobs import wait_until
from .paths import DEFAULT_CHECKPOINT, ROOT


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copy(DEFAULT_CHECKPOINT, folder / DEFAULT_CHECKPOINT.name)
    monkeypatch.setattr(ui.workspace, "CHECKPOINT_DIR", folder)
    monkeypatch.setattr(ui.workspace, "USER_CHECKPOINT_DIR", folder / "user")
    return folder


@pytest.fixture
def train_page(checkpoint_dir) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_dataset").set_value("digits").run()  # the page opens on MNIST; digits trains in seconds
    assert not at.exception
    yield at
    job = at.session_state.get(TRAIN_JOB)
    if job is not None:
        job.stop()
        job.join(timeout=10)


def start(at: AppTest, epochs: int) -> WorkerTrainingJob:
    at.number_input(key="train_epochs").set_value(epochs)
    at.text_input(key="train_hidden_mlp").set_value("32 16")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    job = at.session_state[TRAIN_JOB]
    wait_until(lambda: job.has_model or not job.running)  # its worker has loaded the data and trains
    at.run()
    return job


def finish(at: AppTest, job: WorkerTrainingJob) -> None:
    assert job.join(timeout=60)
    at.run()
    assert not at.exception
