"""The latent formation replay: one frame per epoch, equal to the subsample's posterior means then, bounded,
saved in checkpoints (a malformed one refused), resumed in the same plane, exported as a GIF."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load, save

from vae_core.background import TrainingJob
from vae_core.checkpoint import METADATA_KEY, checkpoint_bytes, load_checkpoint, load_checkpoint_bytes
from vae_core.errors import CheckpointError
from vae_core.metrics import encode_posterior
from vae_core.models import VAE, VAEConfig
from vae_core.replay import MAX_FRAMES, FormationReplay, balanced_subsample, replay_gif
from vae_core.train import SnapshotEvent, TrainConfig, Trainer, build_trainer

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf"]
FLOAT16_TOLERANCE = 2e-3  # relative: frames are stored as float16


def _trainer(digits, latent_dim: int, epochs: int, replay_points: int = 200) -> Trainer:
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=digits.image_shape, latent_dim=latent_dim, hidden_dims=(32, 16)))
    return Trainer(model, digits, TrainConfig(epochs=epochs, batch_size=128, device="cpu",
                                              replay_points=replay_points))


@pytest.mark.parametrize("latent_dim", [2, 4])
def test_one_frame_per_epoch_equal_to_the_subsamples_means_at_that_epoch(digits, latent_dim):
    trainer = _trainer(digits, latent_dim, epochs=3)
    rows = None
    for event in trainer.run():
        if isinstance(event, SnapshotEvent):
            rows = event.replay.indices
            mu = encode_posterior(trainer.model, digits.x_test[rows], digits.y_test[rows]).mu
            expected = mu.numpy() if latent_dim == 2 else event.replay.project(mu.numpy())
            np.testing.assert_allclose(event.replay.frames[-1], expected, rtol=FLOAT16_TOLERANCE, atol=1e-3)
            assert event.replay.epochs[-1] == event.epoch == trainer.epoch
    replay = trainer.replay
    assert replay.epochs == (1, 2, 3) and len(replay.frames) == 3
    assert replay.projection == ("direct" if latent_dim == 2 else "pca")
    assert len(rows) == 200 and np.array_equal(replay.labels, digits.y_test[rows].numpy())
    assert not np.allclose(replay.frames[0], replay.frames[-1], atol=1e-2)  # the codes moved


def test_the_pca_plane_is_the_first_snapshots_and_stays_fixed(digits):
    trainer = _trainer(digits, latent_dim=4, epochs=1)
    list(trainer.run())
    first = trainer.replay
    assert first.basis.shape == (2, 4)
    np.testing.assert_allclose(first.basis @ first.basis.T, np.eye(2), atol=1e-5)  # orthonormal
    trainer.config = TrainConfig(epochs=1, batch_size=128, device="cpu", replay_points=200)
    list(trainer.run())
    assert np.array_equal(trainer.replay.basis, first.basis) and trainer.replay.epochs == (1, 2)


def test_the_subsample_is_class_balanced_bounded_and_deterministic(digits):
    labels = np.concatenate([np.zeros(1000), np.ones(50), np.full(500, 2)]).astype(int)
    chosen = balanced_subsample(labels, 300)
    counts = np.bincount(labels[chosen])
    assert len(chosen) == 300 and counts[1] == 50 and counts[0] == counts[2] == 125  # the small class gives all
    assert np.array_equal(chosen, balanced_subsample(labels, 300)) and np.all(np.diff(chosen) > 0)
    test_counts = np.bincount(digits.y_test.numpy()[balanced_subsample(digits.y_test.numpy(), 100)])
    assert test_counts.tolist() == [10] * 10


def test_a_long_run_keeps_at_most_max_frames_first_and_latest_included():
    replay = FormationReplay.for_test_set(np.arange(20) % 4, 20)
    mu = np.zeros((20, 2))
    for epoch in range(1, MAX_FRAMES + 40):
        replay = replay.with_frame(epoch, mu)
    assert len(replay.frames) <= MAX_FRAMES and replay.epochs[0] == 1 and replay.epochs[-1] == MAX_FRAMES + 39
    assert list(replay.epochs) == sorted(replay.epochs)


@pytest.fixture(scope="module")
def replayed(digits):
    trainer = _trainer(digits, latent_dim=4, epochs=3)
    list(trainer.run())
    return trainer


def _bytes(trainer, digits) -> bytes:
    from vae_core.checkpoint import DatasetInfo

    info = DatasetInfo.of(digits)
    return checkpoint_bytes(trainer.model, info, trainer.history, trainer.epoch, replay=trainer.replay)


def test_snapshots_round_trip_through_a_checkpoint_and_a_resumed_run_continues_them(replayed, digits):
    data = _bytes(replayed, digits)
    loaded = load_checkpoint_bytes(data)
    replay = loaded.replay
    assert replay.epochs == (1, 2, 3)
    for saved, back in zip(replayed.replay.frames, replay.frames):
        assert back.dtype == np.float16 and np.array_equal(saved, back)
    assert np.array_equal(replay.labels, replayed.replay.labels)
    assert np.array_equal(replay.basis, replayed.replay.basis)
    resumed = build_trainer(digits, TrainConfig(epochs=1, batch_size=128, device="cpu", replay_points=200),
                            resume=loaded)
    list(resumed.run())
    assert resumed.replay.epochs == (1, 2, 3, 4) and np.array_equal(resumed.replay.basis, replay.basis)
    assert len(data) < 120_000  # 3 frames of 200 points: a few kB over the weights


def test_a_checkpoint_without_snapshots_has_no_replay(tiny_checkpoint):
    assert load_checkpoint(tiny_checkpoint).replay is None


def _tampered(data: bytes, change) -> bytes:
    tensors = load(data)
    header_len = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8:8 + header_len])["__metadata__"]
    change(tensors)
    return save(tensors, metadata=metadata)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.update({"replay.coords": t["replay.coords"].float()}), "'coords' is F32"),
    (lambda t: t.update({"replay.labels": t["replay.labels"][:-1]}), "'labels' is I64"),
    (lambda t: t.pop("replay.basis"), "must be exactly"),
    (lambda t: t.update({"replay.epochs": torch.tensor([1, 3, 2])}), "epochs must increase"),
    (lambda t: t.update({"replay.epochs": torch.tensor([1, 2, 9])}), "epochs must increase"),
    (lambda t: t.update({"replay.labels": t["replay.labels"] + 10}), "labels must be in"),
    (lambda t: t.update({"replay.coords": torch.zeros(3, 5000, 2, dtype=torch.float16)}), "points 1..2000"),
])
def test_a_malformed_snapshot_tensor_is_refused_clearly(replayed, digits, change, message):
    data = _tampered(_bytes(replayed, digits), change)
    with pytest.raises(CheckpointError, match="malformed formation replay") as error:
        load_checkpoint_bytes(data)
    assert message in str(error.value)


def test_a_replay_header_with_non_integer_sizes_is_refused_before_any_allocation(replayed, digits):
    data = _bytes(replayed, digits)
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_len])
    header["replay.coords"]["shape"] = ["3", 200, 2]
    text = json.dumps(header).encode()
    forged = len(text).to_bytes(8, "little") + text + data[8 + header_len:]
    with pytest.raises(CheckpointError, match="malformed formation replay: replay coords must be"):
        load_checkpoint_bytes(forged)


def test_the_metadata_key_is_unchanged_by_replays(replayed, digits):
    data = _bytes(replayed, digits)
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    assert METADATA_KEY in header["__metadata__"]


def test_the_gif_has_one_frame_per_epoch(replayed):
    gif = Image.open(io.BytesIO(replay_gif(replayed.replay, COLORS, side=120)))
    assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == (120, 120)
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    assert np.abs(frames[0] - frames[-1]).max() > 0  # the points moved
    coloured = (frames[-1].max(axis=2) - frames[-1].min(axis=2)) > 60
    assert coloured.sum() > 100  # points drawn in class colours, not grey


def test_a_background_job_reports_the_replay_and_saves_it(digits, tmp_path):
    job = TrainingJob(_trainer(digits, latent_dim=2, epochs=2)).start()
    assert job.join(timeout=120)
    progress = job.progress()
    assert progress.replay.epochs == (1, 2)
    saved = load_checkpoint(job.save(tmp_path / "job.safetensors"))
    assert saved.replay.epochs == (1, 2) and np.array_equal(saved.replay.frames[1], progress.replay.frames[1])


def test_no_replay_is_recorded_when_turned_off(digits):
    trainer = _trainer(digits, latent_dim=2, epochs=1, replay_points=0)
    assert not any(isinstance(e, SnapshotEvent) for e in trainer.run()) and trainer.replay is None
