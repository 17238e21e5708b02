"""A training run in a worker process (vae_core.train_worker): what the page reads of it is what the trainer
reported, stop (with a reason) as in a thread, and every way it can fail is a sentence, never a traceback."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from support.jobs import TINY, tiny_train_config, wait_until, worker_job

from vae_core.checkpoint import DatasetInfo, load_checkpoint_bytes
from vae_core.errors import TrainingError
from vae_core.models import VAEConfig
from vae_core.train import build_trainer
from vae_core.train_worker import WorkerTrainingJob


def test_a_worker_run_reports_the_trainers_rows_and_its_checkpoint_continues_exactly(digits, tmp_path):
    job = worker_job(digits, epochs=2, autosave=tmp_path / "run.safetensors")
    assert job.queued and job.progress().steps_done == 0 and not job.has_model
    with pytest.raises(TrainingError, match="not started training yet"):
        job.checkpoint_bytes()
    job.start(threads=1)
    assert job.join(timeout=60)
    progress = job.progress()
    reference = build_trainer(digits, tiny_train_config(2), VAEConfig(image_shape=digits.image_shape, **TINY))
    for _ in reference.run():
        pass
    assert progress.finished.reason == "completed" and progress.fraction == 1.0 and progress.error is None
    assert progress.train == reference.history["train"] and progress.test == reference.history["test"]
    assert progress.replay is not None and progress.replay.epochs == (1, 2)
    kept = load_checkpoint_bytes(job.checkpoint_bytes())
    for key, value in reference.model.state_dict().items():
        assert torch.equal(kept.model.state_dict()[key], value), key
    assert kept.optimizer_state is not None and job.default_name() == "digits-2d-mlp-2ep"
    autosaved = load_checkpoint_bytes((tmp_path / "run.safetensors").read_bytes())  # written by the worker
    assert autosaved.epoch == 2 and autosaved.history == kept.history

    resumed = WorkerTrainingJob(DatasetInfo.of(digits), tiny_train_config(1), resume=job.checkpoint_bytes()).start()
    assert resumed.join(timeout=60)
    straight = build_trainer(digits, tiny_train_config(3), VAEConfig(image_shape=digits.image_shape, **TINY))
    for _ in straight.run():
        pass
    assert resumed.progress().epoch == 3 and resumed.progress().train == straight.history["train"]
    for key, value in resumed.model_copy().state_dict().items():
        assert torch.equal(value, straight.model.state_dict()[key]), key


def test_stop_keeps_the_weights_and_previews_come_from_the_running_worker(digits):
    job = worker_job(digits, epochs=1000).start()
    try:
        wait_until(lambda: job.progress().epoch >= 1, timeout=60)
        x, x_recon, samples = job.previews()
        assert x.shape == x_recon.shape == samples.shape == (8, 1, 8, 8)
        snapshot = load_checkpoint_bytes(job.checkpoint_bytes())  # a valid file mid-run
        assert snapshot.epoch >= 1 and len(snapshot.history["train"]) >= snapshot.history["test"][0]["step"]
        assert len(snapshot.history["test"]) == snapshot.epoch  # the rows it holds reached the server before it
        assert job.progress().steps_per_second > 0 and job.remaining_seconds() > 0
    finally:
        job.stop()
        assert job.join(timeout=30)
    progress = job.progress()
    assert progress.finished.reason == "stopped"
    assert [row["step"] for row in progress.train] == list(range(1, progress.step + 1))
    kept = load_checkpoint_bytes(job.checkpoint_bytes())
    assert kept.history["train"] == progress.train and kept.optimizer_state is not None


def test_a_worker_run_stopped_with_a_reason_ends_with_it_and_keeps_its_weights(digits):
    job = worker_job(digits, epochs=1000).start()
    wait_until(lambda: job.progress().steps_done > 0, timeout=60)
    job.stop("abandoned", "nobody watched")
    assert job.join(timeout=60)
    progress = job.progress()
    assert progress.finished.reason == "abandoned" and progress.finished.message.endswith(": nobody watched")
    assert load_checkpoint_bytes(job.checkpoint_bytes()).optimizer_state is not None


def test_a_queued_run_stopped_with_a_reason_never_starts(digits):
    job = worker_job(digits, epochs=1)
    job.stop("abandoned", "nobody watched")
    job.start()
    assert not job.running and job.pid is None and job.progress().finished.reason == "abandoned"
    assert job.progress().finished.message == "abandoned before it started: nobody watched" and not job.has_model


def test_data_that_cannot_be_loaded_is_a_clear_message(tmp_path):
    missing = DatasetInfo("folder", (1, 8, 8), ("a",), {"path": str(tmp_path / "gone"), "size": 8})
    job = WorkerTrainingJob(missing, tiny_train_config(1), VAEConfig(image_shape=(1, 8, 8), **TINY)).start()
    assert job.join(timeout=60)
    progress = job.progress()
    assert progress.finished.reason == "failed" and progress.error.startswith("training could not start: ")
    assert "does not exist" in progress.error and "Traceback" not in progress.error
    with pytest.raises(TrainingError, match="nothing to save"):
        job.checkpoint_bytes()


def test_a_worker_that_dies_is_a_clear_message(digits):
    job = worker_job(digits, epochs=1000).start()
    wait_until(lambda: job.progress().steps_done > 0, timeout=60)
    os.kill(job.pid, signal.SIGKILL)
    assert job.join(timeout=30)
    progress = job.progress()
    assert progress.finished.reason == "failed" and "ended unexpectedly (killed by signal 9" in progress.error
    assert not job.has_model
