"""Nothing lost: atomic saves, no silent overwrite, divergence keeps the last good weights, resume continues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from support.paths import ROOT

from vae_core import checkpoint, files
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.errors import CheckpointError, VAEError
from vae_core.models import VAE, VAEConfig
from vae_core.train import FinishedEvent, StepEvent, TrainConfig, Trainer, build_trainer


def _other_model(config: VAEConfig) -> VAE:
    torch.manual_seed(123)
    return VAE(config)


def _only_the_checkpoint_is_left(path: Path) -> bool:
    return sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_crash_between_write_and_rename_keeps_the_previous_checkpoint(tiny_checkpoint, digits_info, tiny_config,
                                                                     monkeypatch, failing, error):
    before = tiny_checkpoint.read_bytes()

    def crash(*args, **kwargs):
        raise error

    monkeypatch.setattr(files.os, failing, crash)
    with pytest.raises(type(error)):
        save_checkpoint(tiny_checkpoint, _other_model(tiny_config), digits_info, {"train": [], "test": []}, 5)
    monkeypatch.undo()
    assert tiny_checkpoint.read_bytes() == before
    assert load_checkpoint(tiny_checkpoint).epoch == 1
    assert _only_the_checkpoint_is_left(tiny_checkpoint)  # the temp file was removed


def test_a_successful_save_replaces_the_file_and_leaves_no_temp_file(tiny_checkpoint, digits_info, tiny_config):
    save_checkpoint(tiny_checkpoint, _other_model(tiny_config), digits_info, {"train": [], "test": []}, 5)
    assert load_checkpoint(tiny_checkpoint).epoch == 5
    assert _only_the_checkpoint_is_left(tiny_checkpoint)
    assert oct(tiny_checkpoint.stat().st_mode & 0o777) != oct(0o600)  # an ordinary file, not mkstemp's 0600


_SAVE_FOREVER = """
import sys, torch
from vae_core.checkpoint import DatasetInfo, save_checkpoint
from vae_core.models import VAE, VAEConfig
model = VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=8, hidden_dims=(2048, 1024)))  # ~40 MB per save
info = DatasetInfo("mnist", (1, 28, 28), tuple("0123456789"))
print("saving", flush=True)
while True:
    save_checkpoint(sys.argv[1], model, info, {"train": [], "test": []}, 99)
"""


@pytest.mark.slow
def test_killing_a_process_mid_save_leaves_a_readable_checkpoint(tiny_checkpoint):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _SAVE_FOREVER, str(tiny_checkpoint)], stdout=subprocess.PIPE,
                            env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == b"saving"
        time.sleep(1.5)  # several saves are in flight: the kill lands mid-write or mid-serialisation
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert load_checkpoint(tiny_checkpoint).epoch in (1, 99)  # the old file or a whole new one, never half
    leftovers = [p for p in tiny_checkpoint.parent.iterdir() if p != tiny_checkpoint]
    assert all(p.name.startswith(".tiny.safetensors.") and p.suffix == ".tmp" for p in leftovers)
    assert checkpoint.list_checkpoints(tiny_checkpoint.parent) == [tiny_checkpoint]  # a leftover is never listed


def test_saving_under_an_existing_name_without_overwrite_is_refused(tiny_checkpoint, digits_info, tiny_config):
    before = tiny_checkpoint.read_bytes()
    with pytest.raises(VAEError, match="already exists"):
        save_checkpoint(tiny_checkpoint, _other_model(tiny_config), digits_info, {"train": [], "test": []}, 5,
                        overwrite=False)
    assert tiny_checkpoint.read_bytes() == before and _only_the_checkpoint_is_left(tiny_checkpoint)


def _train_until_diverged(trainer: Trainer, poison=None) -> tuple[FinishedEvent, dict, int]:
    """Run to the end; returns the finish event, the weights after the last good step and its number."""
    good = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    good_step, finish = 0, None
    for event in trainer.run():
        if isinstance(event, StepEvent):
            good = {k: v.clone() for k, v in trainer.model.state_dict().items()}
            good_step = event.step
            if poison is not None and event.step == 5:
                poison()
        finish = event
    return finish, good, good_step


def _assert_weights_are(model: VAE, expected: dict) -> None:
    for name, tensor in model.state_dict().items():
        assert torch.isfinite(tensor).all(), name
        assert torch.equal(tensor, expected[name]), name


def test_nan_data_mid_run_stops_as_diverged_and_keeps_the_last_good_weights(digits, tiny_config):
    data = replace(digits, x_train=digits.x_train.clone())
    torch.manual_seed(0)
    trainer = Trainer(VAE(tiny_config), data, TrainConfig(epochs=3, batch_size=64, device="cpu"))
    finish, good, good_step = _train_until_diverged(trainer, poison=lambda: trainer.x_train.fill_(float("nan")))
    assert finish.reason == "diverged" and "NaN/inf" in finish.message and "step 6" in finish.message
    assert good_step == 5 and trainer.step == 5 and len(trainer.history["train"]) == 5
    _assert_weights_are(trainer.model, good)


def test_huge_learning_rate_stops_as_diverged_with_finite_last_good_weights(digits):
    torch.manual_seed(0)
    trainer = Trainer(VAE(VAEConfig(image_shape=(1, 8, 8), hidden_dims=(64, 32))), digits,
                      TrainConfig(epochs=10, batch_size=64, learning_rate=1.0, device="cpu"))
    finish, good, good_step = _train_until_diverged(trainer)
    assert finish.reason == "diverged" and trainer.step == good_step
    _assert_weights_are(trainer.model, good)


def test_resuming_a_checkpoint_continues_its_history(digits, digits_info, tiny_config, tmp_path):
    torch.manual_seed(0)
    first = Trainer(VAE(tiny_config), digits, TrainConfig(epochs=2, batch_size=128, device="cpu"))
    for _ in first.run():
        pass
    path = save_checkpoint(tmp_path / "run.safetensors", first.model, digits_info, first.history, first.epoch)
    ckpt = load_checkpoint(path)
    old_train, old_test = list(ckpt.history["train"]), list(ckpt.history["test"])
    resumed = Trainer(ckpt.model, digits, TrainConfig(epochs=1, batch_size=128, device="cpu"), ckpt.history, ckpt.epoch)
    assert resumed.step == old_train[-1]["step"]
    for _ in resumed.run():
        pass
    assert resumed.epoch == 3
    assert resumed.history["train"][: len(old_train)] == old_train and resumed.history["test"][:2] == old_test
    steps = [row["step"] for row in resumed.history["train"]]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > len(old_train)
    assert [row["epoch"] for row in resumed.history["test"]] == [1, 2, 3]
    assert resumed.history["train"][len(old_train)]["epoch"] > 2  # fractional epochs continue past the old ones


def test_resuming_at_an_epoch_boundary_repeats_the_uninterrupted_run_exactly(
    digits, digits_info, tiny_config, tmp_path
):
    """Weights, Adam's moments and the per-epoch seed all travel in the checkpoint: 1 + 1 epochs == 2 epochs,
    started the one way the CLI and the app start runs (build_trainer)."""
    config = TrainConfig(epochs=2, batch_size=128, learning_rate=2e-3, device="cpu")
    straight = build_trainer(digits, config, tiny_config)
    for _ in straight.run():
        pass
    first = build_trainer(digits, replace(config, epochs=1), tiny_config)
    for _ in first.run():
        pass
    path = save_checkpoint(tmp_path / "half.safetensors", first.model, digits_info, first.history, first.epoch,
                           optimizer_state=first.optimizer.state_dict()["state"])
    saved = load_checkpoint(path)
    assert set(saved.optimizer_state) == set(range(len(list(saved.model.parameters()))))
    saved_weights = {k: v.clone() for k, v in saved.model.state_dict().items()}
    resumed = build_trainer(digits, replace(config, epochs=1), resume=saved)
    for _ in resumed.run():
        pass
    assert resumed.epoch == straight.epoch == 2
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert [r["elbo"] for r in resumed.history["train"]] == [r["elbo"] for r in straight.history["train"]]
    _assert_weights_are(saved.model, saved_weights)  # the checkpoint (shared by the app's sessions) is untouched
    assert saved.epoch == 1 and len(saved.history["train"]) == first.step


def test_optimizer_state_with_a_wrong_shape_is_refused(digits, digits_info, tiny_config, tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(VAE(tiny_config), digits, TrainConfig(epochs=1, device="cpu"))
    for _ in trainer.run():
        pass
    state = trainer.optimizer.state_dict()["state"]
    state[0]["exp_avg"] = torch.zeros(3)
    path = save_checkpoint(tmp_path / "bad.safetensors", trainer.model, digits_info, trainer.history, 1,
                           optimizer_state=state)
    with pytest.raises(CheckpointError, match="optimizer.0.exp_avg"):
        load_checkpoint(path)


def test_temp_files_left_by_a_killed_save_are_removed_by_the_next_save(tiny_checkpoint):
    folder = tiny_checkpoint.parent
    stale = folder / f".{tiny_checkpoint.name}.abc123.tmp"
    fresh = folder / f".{tiny_checkpoint.name}.def456.tmp"  # maybe another process saving right now
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"half a file")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    files.write_atomically(tiny_checkpoint, tiny_checkpoint.read_bytes())
    assert not stale.exists()
    assert fresh.exists()
    load_checkpoint(tiny_checkpoint)
