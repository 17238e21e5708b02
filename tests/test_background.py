"""The background TrainingJob: progress from its events, consistent snapshots, stop (with a reason), failures."""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
import weakref

import pytest
import torch
from support.jobs import TINY, finish, tiny_job, tiny_train_config, wait_until

from vae_core.background import JobConfig, TrainingJob, start_training
from vae_core.checkpoint import load_checkpoint_bytes
from vae_core.data import class_balanced_indices
from vae_core.errors import ConfigError, TrainingError
from vae_core.models import VAEConfig
from vae_core.train import Trainer, build_trainer


def test_stop_ends_the_run_between_steps_and_keeps_the_weights(digits):
    job = tiny_job(digits, epochs=1000)
    wait_until(lambda: job.progress().steps_done >= 5)
    finish(job)
    progress = job.progress()
    assert progress.finished.reason == "stopped" and not progress.running
    assert [row["step"] for row in progress.train] == list(range(1, progress.step + 1))
    kept = load_checkpoint_bytes(job.checkpoint_bytes())
    assert kept.epoch == progress.epoch and kept.history["train"] == progress.train
    assert kept.optimizer_state is not None  # a stopped run can be resumed exactly
    final = job.model_copy().state_dict()
    for key, value in kept.model.state_dict().items():
        assert torch.equal(final[key], value)


def test_snapshots_taken_while_training_are_consistent(digits):
    job = tiny_job(digits, epochs=1000)
    try:
        wait_until(lambda: job.progress().steps_done >= 1)
        for _ in range(20):
            progress = job.progress()
            assert progress.running
            assert [row["step"] for row in progress.train] == list(range(1, progress.step + 1))
            assert [row["epoch"] for row in progress.test] == list(range(1, progress.epoch + 1))
            snapshot = load_checkpoint_bytes(job.checkpoint_bytes())  # a valid file mid-run
            steps = [row["step"] for row in snapshot.history["train"]]
            assert steps == list(range(1, len(steps) + 1)) and len(steps) >= progress.step
            assert len(snapshot.history["test"]) == snapshot.epoch
            time.sleep(0.02)
    finally:
        finish(job)


def test_progress_rows_are_the_events_the_trainer_reported(digits):
    job = tiny_job(digits, epochs=2)
    assert job.join(timeout=30)
    progress = job.progress()
    reference = build_trainer(digits, tiny_train_config(2), VAEConfig(image_shape=digits.image_shape, **TINY))
    for _ in reference.run():
        pass
    assert progress.finished.reason == "completed" and progress.fraction == 1.0
    assert progress.train == reference.history["train"] and progress.test == reference.history["test"]
    assert progress.steps_done == progress.total_steps == reference.run_steps


def test_progress_never_waits_for_the_step_in_progress(digits):
    """The page polls every second: reading where the run stands must not queue behind a slow step."""
    torch.manual_seed(0)
    trainer = build_trainer(digits, tiny_train_config(1000), VAEConfig(image_shape=digits.image_shape, **TINY))
    step_started = threading.Event()

    def slow_forward(module, inputs):
        step_started.set()
        time.sleep(0.5)

    trainer.model.register_forward_pre_hook(slow_forward)
    job = TrainingJob(trainer).start()
    try:
        assert step_started.wait(10)
        started = time.perf_counter()
        job.progress()
        assert time.perf_counter() - started < 0.2
    finally:
        finish(job)


def test_previews_improve_as_training_proceeds(digits):
    job = tiny_job(digits, epochs=1000)
    x, before, _ = job.previews()
    wait_until(lambda: job.progress().epoch >= 3)
    finish(job)
    _, after, samples = job.previews()
    assert samples.shape == (8, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    assert torch.equal(x, digits.x_test[class_balanced_indices(digits.y_test, 8)])  # the classes in turn
    assert len(set(digits.y_test[class_balanced_indices(digits.y_test, 8)].tolist())) == 8
    assert (after - x).abs().mean() < (before - x).abs().mean()


def test_diverged_run_stops_with_the_nan_message_and_finite_weights(digits):
    x_train = digits.x_train.clone()
    x_train[100] = float("nan")  # the batch holding this image makes the loss NaN
    job = tiny_job(dataclasses.replace(digits, x_train=x_train), epochs=3)
    assert job.join(timeout=30)
    progress = job.progress()
    assert progress.finished.reason == "diverged" and "NaN" in progress.finished.message
    assert progress.epoch == 0 and progress.steps_done < 23
    kept = load_checkpoint_bytes(job.checkpoint_bytes())  # loading refuses NaN weights, so they are finite
    assert all(torch.isfinite(t).all() for t in kept.model.state_dict().values())


def test_a_resumed_background_run_repeats_the_uninterrupted_run_exactly(digits):
    first = tiny_job(digits, epochs=1)
    assert first.join(timeout=30)
    checkpoint = load_checkpoint_bytes(first.checkpoint_bytes())
    second = start_training(digits, tiny_train_config(1), resume=checkpoint)
    assert second.join(timeout=30)
    straight = build_trainer(digits, tiny_train_config(2), VAEConfig(image_shape=digits.image_shape, **TINY))
    for _ in straight.run():
        pass
    progress = second.progress()
    assert progress.epoch == 2 and progress.train == straight.history["train"]
    for key, value in second.model_copy().state_dict().items():
        assert torch.equal(value, straight.model.state_dict()[key]), key
    assert checkpoint.epoch == 1 and len(checkpoint.history["train"]) == first.progress().step  # not mutated


def test_a_job_stopped_with_a_reason_ends_with_it_and_keeps_what_it_trained(digits):
    job = tiny_job(digits, epochs=1000)
    wait_until(lambda: job.progress().steps_done >= 3)
    job.stop("abandoned", "nobody watched")
    job.stop("stopped")  # a second request does not change the first one's reason
    assert job.join(timeout=30)
    progress = job.progress()
    assert progress.finished.reason == "abandoned" and progress.error is None
    assert progress.finished.message == f"abandoned at epoch {progress.epoch}, step {progress.step}: nobody watched"
    kept = load_checkpoint_bytes(job.checkpoint_bytes())  # what it trained can still be saved and resumed
    assert len(kept.history["train"]) == progress.step and kept.optimizer_state is not None


def test_a_job_says_how_long_ago_a_ui_last_showed_it(digits):
    job = tiny_job(digits, epochs=1000)
    try:
        time.sleep(0.2)
        assert job.unseen_seconds() >= 0.2
        job.keep_alive()
        assert job.unseen_seconds() < 0.2 and job.running  # the library never stops a run by itself
    finally:
        finish(job)


def test_a_finished_job_lets_go_of_the_training_data(digits):
    data = dataclasses.replace(digits, x_train=digits.x_train.clone(), x_test=digits.x_test.clone())
    x_train, x_test = weakref.ref(data.x_train), weakref.ref(data.x_test)
    job = tiny_job(data, epochs=1)
    del data
    assert job.join(timeout=30)
    gc.collect()
    assert x_train() is None and x_test() is None
    assert job.previews()[0].shape == (8, 1, 8, 8)
    assert load_checkpoint_bytes(job.checkpoint_bytes()).optimizer_state is not None


def test_an_unexpected_failure_is_reported_and_nothing_half_trained_is_saved(digits, monkeypatch, tmp_path):
    def broken_step(self, batch, labels, epoch):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(Trainer, "_train_step", broken_step)
    job = tiny_job(digits, epochs=2)
    assert job.join(timeout=30)
    progress = job.progress()
    assert not progress.running and "out of memory (simulated)" in progress.error
    assert progress.finished.reason == "failed"
    with pytest.raises(TrainingError, match="out of memory"):
        job.save(tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_job_config_limits_are_clear_errors():
    with pytest.raises(ConfigError, match="autosave_every_s"):
        JobConfig(autosave_every_s=-1)


def test_a_run_autosaves_after_epochs_and_once_more_when_it_ends(digits, tmp_path):
    path = tmp_path / "autosave" / "run.safetensors"
    job = start_training(digits, tiny_train_config(4), VAEConfig(image_shape=digits.image_shape, **TINY),
                         job_config=JobConfig(autosave_every_s=0.0), autosave=path)
    wait_until(lambda: path.exists())
    during = load_checkpoint_bytes(path.read_bytes())
    assert 1 <= during.epoch <= 4 and during.optimizer_state is not None
    assert job.join(timeout=60)
    progress = job.progress()
    saved = load_checkpoint_bytes(path.read_bytes())
    assert saved.epoch == progress.epoch == 4 and saved.history["train"] == progress.train
    assert saved.history == {"train": progress.train, "test": progress.test}
    assert not list(path.parent.glob(".tmp*"))  # written atomically


def test_autosaves_are_at_most_every_autosave_every_s(digits, tmp_path, monkeypatch):
    import vae_core.background as background

    saves = []
    monkeypatch.setattr(background.TrainingJob, "save", lambda self, path, overwrite=False: saves.append(path))
    job = start_training(digits, tiny_train_config(30), VAEConfig(image_shape=digits.image_shape, **TINY),
                         job_config=JobConfig(autosave_every_s=3600.0), autosave=tmp_path / "run.safetensors")
    assert job.join(timeout=120)
    assert len(saves) == 1  # 30 epochs in seconds: none was due before the end, which always saves


CRASHING_RUN = """
import sys, time
from vae_core.background import JobConfig
from vae_core.checkpoint import DatasetInfo
from vae_core.data import load_digits_dataset
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob
digits = load_digits_dataset()
job = WorkerTrainingJob(DatasetInfo.of(digits), TrainConfig(epochs=10000, batch_size=64, device="cpu"),
                        VAEConfig(image_shape=digits.image_shape, latent_dim=2, hidden_dims=(16,)),
                        job_config=JobConfig(autosave_every_s=0.2), autosave=sys.argv[1]).start()
print(job.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie has ended, only not yet been reaped
    except FileNotFoundError:
        return False


def test_a_server_killed_mid_run_leaves_its_last_autosave_loadable_and_its_worker_ends(tmp_path):
    """SIGKILL of the server: no handler runs there, no finally; the worker autosaves on its own and ends too."""
    import signal
    import subprocess
    import sys

    from support.paths import ROOT

    path = tmp_path / "run.safetensors"
    process = subprocess.Popen([sys.executable, "-c", CRASHING_RUN, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    try:
        worker = int(process.stdout.readline())
        wait_until(lambda: path.exists() and load_checkpoint_bytes(path.read_bytes()).epoch >= 3, timeout=120,
                   interval=0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    wait_until(lambda: not alive(worker), timeout=30, interval=0.1)
    saved = load_checkpoint_bytes(path.read_bytes())
    assert saved.epoch >= 3 and len(saved.history["test"]) == saved.epoch and saved.optimizer_state is not None
    assert not list(tmp_path.glob(".tmp*"))
