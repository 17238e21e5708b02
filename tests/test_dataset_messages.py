"""Dataset messages say what was found, what is wrong with it, and the exact command that fixes it (issue 15)."""

from __future__ import annotations

import pytest
from support.data import write_idx_dataset
from support.paths import ROOT

from vae_core import cli, data
from vae_core.data import load_dataset
from vae_core.errors import DatasetError


@pytest.mark.parametrize("inside", ["FashionMNIST/raw", "FashionMNIST", ""])
def test_data_dir_may_name_the_root_the_dataset_folder_or_its_raw_folder(tmp_path, inside):
    write_idx_dataset(tmp_path / "FashionMNIST" / "raw", compress=True)  # gzip files, as downloaded
    ds = load_dataset("fashion_mnist", root=tmp_path / inside if inside else tmp_path)
    assert len(ds.x_train) == 6 and len(ds.x_test) == 4


def test_missing_files_say_what_was_found_what_is_missing_and_name_the_download_flag(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx_dataset(raw, compress=True)
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion_mnist", root=tmp_path / "FashionMNIST" / "raw")
    message = str(info.value)
    assert f"looked in {raw}; it holds t10k-labels-idx1-ubyte.gz, train-images-idx3-ubyte.gz, " \
           "train-labels-idx1-ubyte.gz. Missing: t10k-images-idx3-ubyte (each plain or .gz)" in message
    assert f"--data-dir {tmp_path} --download" in message and "enable download" not in message
    assert "raw/FashionMNIST/raw" not in message
    assert info.value.fix == {"root": str(tmp_path), "download": True}


def test_the_default_data_folder_is_named_as_the_default_with_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATA_ROOT", tmp_path / "data")
    with pytest.raises(DatasetError) as info:
        load_dataset("kmnist")
    assert (f"looked in {tmp_path / 'data' / 'KMNIST' / 'raw'} (the default --data-dir: this repository's data/ "
            "folder); it does not exist") in str(info.value)


def test_a_relative_data_dir_is_shown_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_dataset("kmnist", root="data")
    assert (f"looked in {tmp_path / 'data' / 'KMNIST' / 'raw'} (--data-dir data, relative to the working directory "
            f"{tmp_path})") in str(info.value)


def test_a_truncated_file_says_expected_and_actual_size_and_the_cli_prints_the_command_that_fixes_it(
        tmp_path, capsys):
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx_dataset(raw)
    damaged = raw / "t10k-images-idx3-ubyte"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    out = tmp_path / "m.safetensors"
    assert cli.main(["train", "--dataset", "fashion_mnist", "--data-dir", str(raw), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (f"error: {damaged} is truncated or too long: its header declares 4 x 28 x 28 = 3,136 bytes of data, "
            "the file holds 3,126 after its header.") in err
    assert "Traceback" not in err and "not found" not in err
    assert (f"fix: rm {damaged} && python -m vae_core train --dataset fashion_mnist --out {out} "
            f"--data-dir {tmp_path} --download") in err


def test_the_cli_prints_the_exact_command_for_missing_files(tmp_path, capsys):
    checkpoint = ROOT / "checkpoints" / "mnist-2d.safetensors"
    assert cli.main(["eval", str(checkpoint), "--dataset", "kmnist", "--data-dir", str(tmp_path)]) == 2
    assert f"fix: python -m vae_core eval {checkpoint} --dataset kmnist --data-dir {tmp_path} --download" in \
        capsys.readouterr().err
