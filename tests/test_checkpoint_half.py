"""Checkpoints with float16 weights (`python -m vae_core half`): half the weights' bytes, loaded as float32, the
rest of the file unchanged; float32 files load as before."""

from __future__ import annotations

import torch

from vae_core import cli
from vae_core.checkpoint import load_checkpoint


def test_half_weights_load_as_float32_rounded_with_everything_else_kept(tiny_checkpoint, tmp_path, capsys):
    before = load_checkpoint(tiny_checkpoint)
    out = tmp_path / "half.safetensors"
    assert cli.main(["half", str(tiny_checkpoint), "--out", str(out)]) == 0
    after = load_checkpoint(out)
    assert out.stat().st_size < tiny_checkpoint.stat().st_size
    for name, tensor in before.model.state_dict().items():
        loaded = after.model.state_dict()[name]
        assert loaded.dtype == torch.float32 and torch.equal(loaded, tensor.half().float())
    assert (after.history, after.epoch, after.command, after.dataset, after.created) == (
        before.history, before.epoch, before.command, before.dataset, before.created)


def test_halving_in_place_replaces_the_file(tiny_checkpoint, capsys):
    size = tiny_checkpoint.stat().st_size
    assert cli.main(["half", str(tiny_checkpoint)]) == 0
    assert tiny_checkpoint.stat().st_size < size and "float16 weights" in capsys.readouterr().out
    assert all(t.dtype == torch.float32 for t in load_checkpoint(tiny_checkpoint).model.state_dict().values())
