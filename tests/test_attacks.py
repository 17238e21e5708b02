"""Checkpoints from strangers: every hostile or broken file is refused with a CheckpointError, nothing runs.

The same refusals reach the CLI as one `error: ...` line with exit code 2.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support.apptest import app_session
from support.paths import ROOT

from ui.picker import UPLOAD_KEY
from ui.session_keys import TRAIN_JOB
from vae_core import cli
from vae_core.checkpoint import METADATA_KEY, checkpoint_path, load_checkpoint, load_checkpoint_bytes
from vae_core.data import DATA_ROOT
from vae_core.errors import CheckpointError


class WritesMarker:
    """Unpickling this object calls Path.touch(marker): proof that a file ran code when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle_payloads(marker: Path, tmp_path: Path) -> dict[str, bytes]:
    evil = {"state_dict": {"w": torch.zeros(2)}, "payload": WritesMarker(marker)}
    zip_file, legacy_file = tmp_path / "evil_zip.pt", tmp_path / "evil_legacy.pth"
    torch.save(evil, zip_file)
    torch.save(evil, legacy_file, _use_new_zipfile_serialization=False)
    return {
        "torch_zip": zip_file.read_bytes(),
        "torch_legacy": legacy_file.read_bytes(),
        "pickle_protocol_0": pickle.dumps(WritesMarker(marker), protocol=0),
        "pickle_protocol_5": pickle.dumps(WritesMarker(marker), protocol=5),
    }


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads its header to 8 bytes
    return struct.pack("<Q", len(raw)) + raw + body


def _edit_header(data: bytes, edit) -> bytes:
    header, body = _split(data)
    edit(header)
    return _join(header, body)


def _edit_metadata(data: bytes, edit) -> bytes:
    def change(header):
        meta = json.loads(header["__metadata__"][METADATA_KEY])
        edit(meta)
        header["__metadata__"][METADATA_KEY] = json.dumps(meta)

    return _edit_header(data, change)


def _refused(data: bytes, match: str | None = None) -> str:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint_bytes(data)
    return str(info.value)


@pytest.fixture
def valid(tiny_checkpoint) -> bytes:
    return tiny_checkpoint.read_bytes()


@pytest.mark.parametrize("kind", ["torch_zip", "torch_legacy", "pickle_protocol_0", "pickle_protocol_5"])
def test_pickle_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, kind):
    marker = tmp_path / "code_ran"
    data = _pickle_payloads(marker, tmp_path)[kind]
    path = tmp_path / f"evil-{kind}.pt"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert not marker.exists()
    if kind.startswith("torch"):
        assert "pickle" in str(info.value) and "refused" in str(info.value)
    pickle.loads(data) if kind.startswith("pickle") else torch.load(path, weights_only=False)
    assert marker.exists()  # the payload is live: loading it the unsafe way does run its code


@pytest.mark.parametrize("keep", [0, 7, 8, 40, "header", "body", -1])
def test_truncated_checkpoint_is_refused(valid, keep):
    header_end = 8 + struct.unpack("<Q", valid[:8])[0]
    cut = {"header": header_end - 10, "body": (header_end + len(valid)) // 2}.get(keep, keep)
    _refused(valid[:cut], "short|truncated|bad header|corrupt")


def test_random_bytes_are_refused():
    rng = random.Random(0)
    for size in (1, 8, 100, 10_000):
        _refused(rng.randbytes(size))
    _refused(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}", "corrupt safetensors header")


def test_safetensors_without_our_metadata_is_refused():
    from safetensors.torch import save

    _refused(save({"w": torch.zeros(3)}), "no VAE Latent Explorer metadata")


def test_tensor_with_wrong_shape_is_refused(valid):
    def grow(header):
        header["mu_head.bias"]["shape"] = [3]
        begin, _ = header["mu_head.bias"]["data_offsets"]
        header["mu_head.bias"]["data_offsets"] = [begin, begin + 12]

    message = _refused(_edit_header(valid, grow), "mu_head.bias")
    assert "[3]" in message and "[2]" in message


def test_tensor_with_wrong_dtype_is_refused(tiny_checkpoint, digits_info):
    from safetensors.torch import load, save

    data = tiny_checkpoint.read_bytes()
    header, _ = _split(data)
    tensors = {k: v.double() for k, v in load(data).items()}
    forged = save(tensors, metadata=header["__metadata__"])
    _refused(forged, "F64.*needs F32")


def test_missing_and_extra_tensors_are_refused(valid):
    from safetensors.torch import load, save

    header, _ = _split(valid)
    tensors = load(valid)
    tensors["backdoor.weight"] = tensors.pop("mu_head.weight")
    _refused(save(tensors, metadata=header["__metadata__"]), "missing.*mu_head.weight.*unexpected.*backdoor")


def test_header_declaring_a_huge_tensor_is_refused_before_allocating(valid):
    def huge(header):
        header["mu_head.weight"]["shape"] = [2**31, 2**31]
        header["mu_head.weight"]["data_offsets"] = [0, 4 * 2**62]

    _refused(_edit_header(valid, huge), "mu_head.weight")


def test_config_declaring_a_huge_model_with_a_tiny_file_is_refused_quickly(valid):
    """A 3x256x256 input with six 4096-wide layers is ~3 GB of weights: check the header, never build it."""
    import time

    huge = {"image_shape": [3, 256, 256], "latent_dim": 128, "hidden_dims": [4096] * 6}

    def claim(meta):
        meta["config"].update(huge)
        meta["dataset"]["image_shape"] = huge["image_shape"]

    started = time.perf_counter()
    _refused(_edit_metadata(valid, claim), "weights do not match|tensor")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("prefix", [b"\x80", b"PK"])  # how a pickle and a zip (torch.save) file begin
def test_valid_checkpoint_whose_header_length_looks_like_a_pickle_is_not_refused(valid, prefix):
    header, body = _split(valid)
    raw = json.dumps(header).encode()
    target = int.from_bytes(prefix, "little")
    raw += b" " * ((target - len(raw)) % 256 ** len(prefix))  # safetensors allows trailing spaces in its header
    data = struct.pack("<Q", len(raw)) + raw + body
    assert data.startswith(prefix)
    assert load_checkpoint_bytes(data).epoch == 1


def test_header_length_larger_than_the_file_is_refused(valid):
    _refused(struct.pack("<Q", 2**60) + valid[8:], "bad header")


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(shell="rm -rf /"), r"unknown keys \['shell'\]"),
    (lambda m: m.pop("config"), r"missing keys \['config'\]"),
    (lambda m: m.pop("history"), r"missing keys \['history'\]"),
    (lambda m: m["config"].update(activation="gelu"), "unknown model config keys"),
    (lambda m: m["config"].update(latent_dim=0), "latent_dim must be an integer 1..128"),
    (lambda m: m["dataset"].update(extra=1), "dataset entry"),
    (lambda m: m["dataset"].update(image_shape=[3, 32, 32]), "does not match the model"),
    (lambda m: m.update(format_version=99), "unsupported checkpoint format version"),
    (lambda m: m.update(history={"train": [{"step": 1}], "test": []}), "history"),
])
def test_metadata_with_unknown_missing_or_wrong_keys_is_refused(valid, edit, match):
    _refused(_edit_metadata(valid, edit), match)


@pytest.mark.parametrize("edit", [
    lambda m: m.update(config="mlp"),
    lambda m: m.update(config=[1, 2]),
    lambda m: m["config"].update(image_shape=5),
    lambda m: m["config"].update(image_shape=["a", 8, 8]),
    lambda m: m["config"].update(latent_dim=1.5),
    lambda m: m["config"].update(latent_dim="2"),
    lambda m: m["config"].update(hidden_dims=None),
    lambda m: m["config"].update(beta=None),
    lambda m: m.update(dataset="digits"),
    lambda m: m["dataset"].update(image_shape=None),
    lambda m: m["dataset"].update(options=[1, 2]),
    lambda m: m["dataset"].update(class_names=7),
    lambda m: m.update(epoch="many"),
    lambda m: m.update(epoch=None),
    lambda m: m.update(history=None),
])
def test_metadata_with_wrong_types_is_a_checkpoint_error_not_a_crash(valid, edit):
    _refused(_edit_metadata(valid, edit))


@pytest.mark.parametrize("edit", [
    lambda h: h["mu_head.bias"].update(shape=2),
    lambda h: h["mu_head.bias"].update(shape=None),
    lambda h: h.update({"mu_head.bias": "not a tensor"}),
    lambda h: h.update(__metadata__="nope"),
    lambda h: h["__metadata__"].update({METADATA_KEY: "[1, 2]"}),
    lambda h: h["__metadata__"].update({METADATA_KEY: "{not json"}),
])
def test_header_with_wrong_types_is_a_checkpoint_error_not_a_crash(valid, edit):
    _refused(_edit_header(valid, edit))


def test_non_finite_weights_are_refused(valid):
    from safetensors.torch import load, save

    header, _ = _split(valid)
    tensors = load(valid)
    tensors["mu_head.bias"][0] = float("nan")
    _refused(save(tensors, metadata=header["__metadata__"]), "NaN or inf")


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    from vae_core import checkpoint

    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", 100)
    big = tmp_path / "big.safetensors"
    big.write_bytes(b"\0" * 101)
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(big)
    _refused(b"\0" * 101, "limit")


@pytest.mark.parametrize("name", ["../../x", "../x.safetensors", "a/b", "/etc/passwd", "..", "a\\b", "",
                                  ".hidden", "x" * 81, "nul\0byte", "new\nline"])
def test_checkpoint_name_with_path_tricks_is_refused(tmp_path, name):
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        checkpoint_path(tmp_path, name)


def _eval_cli(path: Path, capsys) -> tuple[int, str]:
    code = cli.main(["eval", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("content", ["random", "truncated", "safetensors_without_metadata", "missing"])
def test_cli_eval_of_a_bad_file_prints_one_error_line(tmp_path, valid, capsys, content):
    from safetensors.torch import save

    path = tmp_path / "bad.safetensors"
    data = {"random": random.Random(1).randbytes(500), "truncated": valid[:-100],
            "safetensors_without_metadata": save({"w": torch.zeros(1)}), "missing": None}[content]
    if data is not None:
        path.write_bytes(data)
    code, err = _eval_cli(path, capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_cli_eval_of_a_code_running_pickle_refuses_it_in_a_fresh_process(tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "model.pt"
    evil.write_bytes(_pickle_payloads(marker, tmp_path)["torch_zip"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "vae_core", "eval", str(evil)], capture_output=True, text=True,
                          check=False, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: model.pt: this is a pickle-based PyTorch file")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_checkpoint_metadata_cannot_make_the_cli_download_into_a_path_it_names(tmp_path, capsys):
    from vae_core.checkpoint import DatasetInfo, save_checkpoint
    from vae_core.models import VAE, VAEConfig

    target = tmp_path / "planted"
    info = DatasetInfo("mnist", (1, 28, 28), tuple("0123456789"), {"root": str(target), "download": True})
    path = save_checkpoint(tmp_path / "m.safetensors", VAE(VAEConfig(image_shape=(1, 28, 28), hidden_dims=(8,))),
                           info, {"train": [], "test": []}, 0)
    assert cli.main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST not found") and "--download" in err
    assert f"fix: python -m vae_core eval {path} --data-dir {DATA_ROOT} --download" in err  # not the file's folder
    assert not target.exists()  # nothing was downloaded or created where the file pointed


def test_checkpoint_metadata_cannot_make_continue_training_download_into_a_path_it_names(tmp_path):
    """The page path: a stranger's upload, then Train > Continue training the current model > Start."""
    from vae_core.checkpoint import DatasetInfo, checkpoint_bytes
    from vae_core.models import VAE, VAEConfig

    target = tmp_path / "planted" / "root"
    info = DatasetInfo("mnist", (1, 28, 28), tuple("0123456789"), {"root": str(target), "download": True})
    model = VAE(VAEConfig(image_shape=(1, 28, 28), hidden_dims=(8,)))
    data = checkpoint_bytes(model, info, {"train": [], "test": []}, 0)
    at = app_session().run()
    at.file_uploader(key=UPLOAD_KEY).set_value(("stranger.safetensors", data, "application/octet-stream")).run()
    at.switch_page("pages/train.py").run()
    at.checkbox(key="train_resume").check().run()
    at.button(key="train_start").click().run()
    assert not at.exception
    job = at.session_state[TRAIN_JOB]
    job.stop()
    job.join(timeout=30)
    assert "root" not in job.dataset.options  # MNIST was looked up by name in the data roots: the bundled copy
    assert not (tmp_path / "planted").exists()  # nothing was downloaded or created where the file pointed


def _with_history_tensors(valid: bytes, edit) -> bytes:
    """The checkpoint re-saved after `edit(tensors, meta)` changed its history columns or their metadata."""
    from safetensors.torch import load, save

    header, _ = _split(valid)
    tensors = load(valid)
    meta = json.loads(header["__metadata__"][METADATA_KEY])
    edit(tensors, meta)
    return save(tensors, metadata={METADATA_KEY: json.dumps(meta)})


@pytest.mark.parametrize("edit, match", [
    (lambda t, m: t.pop("history.train.kl"), "history 'train' columns"),
    (lambda t, m: t.update({"history.train.kl": torch.zeros(2, dtype=torch.float64)}), "one length"),
    (lambda t, m: t.update({"history.train.kl": torch.zeros(1, 1, dtype=torch.float64)}), "1-D"),
    (lambda t, m: t.update({"history.train.kl": torch.zeros(1)}), "int64 / float64"),
    (lambda t, m: t.update({"history.train.extra": torch.zeros(1, dtype=torch.float64)}), "unexpected history"),
    (lambda t, m: m["history"].update(train={"columns": ["step", "../kl"]}), "list of rows or"),
    (lambda t, m: m["history"].update(train={"columns": "step"}), "list of rows or"),
    (lambda t, m: m["history"].update(train={"columns": ["step"], "rows": 3}), "list of rows or"),
    (lambda t, m: m["history"].update(train={"columns": ["step"]}), "unexpected history"),
    (lambda t, m: m["history"].update(train={"columns": ["step", "epoch"]}), "unexpected history"),
])
def test_history_columns_that_do_not_fit_their_metadata_are_refused(valid, edit, match):
    _refused(_with_history_tensors(valid, edit), match)


def test_a_history_column_without_the_recon_kl_elbo_keys_is_refused(valid):
    def drop_kl(tensors, meta):
        tensors.pop("history.train.kl")
        meta["history"]["train"]["columns"].remove("kl")

    _refused(_with_history_tensors(valid, drop_kl), "lists of {step, recon, kl, elbo}")
