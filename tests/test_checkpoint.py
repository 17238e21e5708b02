"""Checkpoints: bit-exact round trip, self-description, safe names, the shipped defaults."""

from __future__ import annotations

import hashlib

import pytest
import torch
from support.paths import ROOT

from vae_core.checkpoint import (
    FORMAT_VERSION,
    checkpoint_bytes,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    load_checkpoint_bytes,
    save_checkpoint,
)
from vae_core.errors import CheckpointError
from vae_core.models import VAE, VAEConfig

SHIPPED = sorted((ROOT / "checkpoints").glob("*.safetensors"))


def test_round_trip_is_bit_exact(trained_digits, trained_checkpoint, digits):
    ckpt = load_checkpoint(trained_checkpoint)
    saved = trained_digits.model.state_dict()
    loaded = ckpt.model.state_dict()
    assert loaded.keys() == saved.keys()
    for name, tensor in saved.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name
    assert ckpt.config == trained_digits.model.config
    assert ckpt.history == trained_digits.history
    assert ckpt.epoch == trained_digits.epoch == 20
    assert ckpt.command == "test fixture"
    assert (ckpt.dataset.name, ckpt.dataset.image_shape, ckpt.dataset.class_names) == (
        "digits", digits.image_shape, digits.class_names)
    assert ckpt.test_elbo == trained_digits.history["test"][-1]["elbo"]
    assert not ckpt.model.training


def test_loaded_model_computes_exactly_what_the_saved_one_did(trained_digits, trained_checkpoint, digits):
    model = trained_digits.model.eval()
    ckpt = load_checkpoint(trained_checkpoint)
    assert torch.equal(ckpt.model.reconstruct(digits.x_test), model.reconstruct(digits.x_test))


def test_resaving_a_loaded_checkpoint_keeps_weights_and_metadata(tiny_checkpoint, tmp_path):
    first = load_checkpoint(tiny_checkpoint)
    again = save_checkpoint(tmp_path / "again.safetensors", first.model, first.dataset, first.history, first.epoch,
                            first.command)
    second = load_checkpoint(again)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], tensor)
    assert (second.history, second.epoch, second.command, second.dataset) == (
        first.history, first.epoch, first.command, first.dataset)


def test_metadata_records_versions_time_and_train_config(digits_info):
    data = checkpoint_bytes(VAE(VAEConfig(hidden_dims=(8,))), digits_info, {"train": [], "test": []}, 0,
                            "cmd", train_config={"epochs": 3})
    ckpt = load_checkpoint_bytes(data)
    assert set(ckpt.versions) == {"vae_core", "torch", "safetensors", "python"}
    assert ckpt.versions["torch"] == torch.__version__
    assert ckpt.created and ckpt.created.endswith("+00:00")
    assert ckpt.train_config == {"epochs": 3} and ckpt.test_elbo is None
    assert FORMAT_VERSION == 1


def test_sha256_is_of_the_file_bytes_and_changes_with_the_weights(tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    ckpt = load_checkpoint_bytes(data)
    assert ckpt.sha256 == hashlib.sha256(data).hexdigest()
    with torch.no_grad():
        ckpt.model.mu_head.bias.add_(1.0)
    changed = checkpoint_bytes(ckpt.model, ckpt.dataset, ckpt.history, ckpt.epoch)
    assert load_checkpoint_bytes(changed).sha256 != ckpt.sha256


def test_missing_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path)  # a folder is not a checkpoint


@pytest.mark.parametrize("name, stem", [("digits-2d", "digits-2d"), ("my model.v2.safetensors", "my model.v2"),
                                        ("A_1", "A_1")])
def test_checkpoint_path_keeps_valid_names_inside_the_folder(tmp_path, name, stem):
    path = checkpoint_path(tmp_path, name)
    assert path == tmp_path / f"{stem}.safetensors" and path.parent == tmp_path


def test_list_checkpoints_lists_newest_first_and_ignores_temp_files(tmp_path, tiny_checkpoint):
    import os

    older = tmp_path / "older.safetensors"
    older.write_bytes(tiny_checkpoint.read_bytes())
    os.utime(older, (1, 1))
    (tmp_path / ".tiny.safetensors.abc.tmp").write_bytes(b"partial")
    assert list_checkpoints(tmp_path) == [tiny_checkpoint, older]
    assert list_checkpoints(tmp_path / "missing") == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoints_load_are_small_and_record_their_command(path):
    ckpt = load_checkpoint(path)
    assert path.stat().st_size < 5 * 2**20
    assert ckpt.command.startswith("python -m vae_core train") and f"--out checkpoints/{path.name}" in ckpt.command
    assert f"--latent-dim {ckpt.config.latent_dim}" in ckpt.command
    assert "root" not in ckpt.dataset.options  # bundled data: reloads on any machine, no path to go stale
    # nats per image; an untrained model scores about -44 on digits and -543 on MNIST; a beta-VAE (the beta sweep's
    # mnist-2d-beta*) trades ELBO for a smaller or larger rate by design
    image_shape, good_elbo = {"digits": ((1, 8, 8), -30), "mnist": ((1, 28, 28), -145)}[ckpt.dataset.name]
    slack = 1.0 if ckpt.config.beta == 1 else 1.3
    assert ckpt.config.image_shape == image_shape and ckpt.test_elbo > good_elbo * slack


def test_the_default_and_the_digits_checkpoints_are_shipped():
    assert {p.name for p in SHIPPED} >= {"mnist-2d.safetensors", "mnist-conv.safetensors", "digits-2d.safetensors",
                                         "digits-8d.safetensors"}


def test_history_rows_are_stored_as_columns_exactly_and_files_with_json_rows_still_load(trained_digits, digits_info,
                                                                                        monkeypatch):
    from safetensors.torch import load

    import vae_core.checkpoint as checkpoint

    t = trained_digits
    columns = checkpoint_bytes(t.model, digits_info, t.history, t.epoch)
    monkeypatch.setattr(checkpoint, "_history_columns", lambda rows: None)  # how files were written before
    json_rows = checkpoint_bytes(t.model, digits_info, t.history, t.epoch)
    for data in (columns, json_rows):
        assert load_checkpoint_bytes(data).history == t.history  # every value exactly, int or float as it was
    assert {"history.train.recon", "history.train.kl", "history.test.elbo"} <= set(load(columns))
    weights = sum(p.numel() * 4 for p in t.model.state_dict().values())
    assert len(columns) - weights < 0.6 * (len(json_rows) - weights)
