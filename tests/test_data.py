"""Dataset registry: digits, the bundled MNIST (gzip idx files), other idx copies, and folders of images."""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.data import write_idx, write_idx_dataset

from vae_core.checkpoint import DatasetInfo
from vae_core.data import DATA_ROOT, load_dataset, load_image_folder, read_idx
from vae_core.errors import DatasetError


def _save(path: Path, size=(10, 10), mode="L", color=128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def test_digits_is_an_in_memory_stratified_split(digits):
    assert digits.image_shape == (1, 8, 8)
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert len(digits.x_test) == pytest.approx(0.2 * 1797, abs=10)
    for x in (digits.x_train, digits.x_test):
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() == 1
    assert digits.class_names == tuple("0123456789")
    assert torch.equal(torch.unique(digits.y_test), torch.arange(10))  # every class in the test split
    again = load_dataset("digits")
    assert torch.equal(again.x_test, digits.x_test)  # the split is deterministic


def test_split_names_are_checked(digits):
    assert digits.split("test").x is digits.x_test
    with pytest.raises(DatasetError, match="unknown split"):
        digits.split("validation")


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def test_mnist_loads_offline_from_the_bundled_copy_with_no_options(mnist):
    assert mnist.x_train.shape == (60000, 1, 28, 28) and mnist.x_test.shape == (10000, 1, 28, 28)
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == torch.int64
    assert mnist.x_test.dtype == torch.float32 and mnist.x_test.min() == 0 and mnist.x_test.max() == 1
    assert torch.equal(torch.bincount(mnist.y_test), torch.tensor([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                                                   1009]))  # the official test split
    assert mnist.class_names == tuple("0123456789")
    assert mnist.options == {"download": False}  # no path: the bundled copy is found again on any machine


def test_bundled_mnist_files_match_the_checksums_in_the_data_readme():
    readme = (DATA_ROOT / "README.md").read_text()
    for name in MNIST_FILES:
        gz = DATA_ROOT / "MNIST" / "raw" / f"{name}.gz"
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}.gz`"))
        gz_sha, raw_sha = re.findall(r"`([0-9a-f]{64})`", row)
        assert hashlib.sha256(gz.read_bytes()).hexdigest() == gz_sha
        assert hashlib.sha256(gzip.decompress(gz.read_bytes())).hexdigest() == raw_sha


def test_bundled_mnist_equals_the_reference_raw_files_byte_for_byte(reference_mnist_root, mnist):
    raw = reference_mnist_root / "MNIST" / "raw"
    for name in MNIST_FILES:
        assert np.array_equal(read_idx(DATA_ROOT / "MNIST" / "raw" / f"{name}.gz"), read_idx(raw / name)), name
    reference = load_dataset("mnist", root=reference_mnist_root)
    assert torch.equal(reference.x_train, mnist.x_train) and torch.equal(reference.y_test, mnist.y_test)
    assert reference.options == {"root": str(reference_mnist_root), "download": False}


def test_a_model_trained_on_the_bundled_copy_reloads_it_without_a_stored_path(monkeypatch, tmp_path):
    monkeypatch.chdir(DATA_ROOT.parent)
    for root in (None, "data", str(DATA_ROOT)):  # every way of naming data/ is stored as "no path"
        info = DatasetInfo.of(load_dataset("mnist", root=root))
        assert "root" not in info.options
        monkeypatch.chdir(tmp_path)  # another working directory, as on another machine
        assert info.load().x_test.shape == (10000, 1, 28, 28)
        monkeypatch.chdir(DATA_ROOT.parent)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_datasets_load_from_plain_or_gzip_files_in_torchvision_layout(tmp_path, compress):
    train_images = write_idx_dataset(tmp_path / "FashionMNIST" / "raw", compress=compress)
    ds = load_dataset("fashion_mnist", root=tmp_path)
    assert ds.image_shape == (1, 28, 28) and len(ds.x_train) == 6 and len(ds.x_test) == 4
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(train_images).float() / 255)
    assert ds.y_test.tolist() == [0, 1, 2, 3] and ds.class_names[0] == "T-shirt/top"
    assert ds.options == {"root": str(tmp_path), "download": False}


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-10], "truncated or too long"),
    (lambda b: b + b"\0", "truncated or too long"),
    (lambda b: b"\0\0\x0d\x03" + b[4:], "not an idx file of unsigned bytes"),  # float32 data, not bytes
    (lambda b: b[:4] + struct.pack(">I", 2**31) + b[8:], "more than the"),  # declares 2 GiB: never allocated
    (lambda b: b[:6], "cannot read"),  # the header itself is cut
])
@pytest.mark.parametrize("compress", [False, True])
def test_damaged_idx_files_are_dataset_errors(tmp_path, damage, message, compress):
    plain = write_idx(tmp_path / "x", np.zeros((3, 28, 28))).read_bytes()
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(damage(plain)) if compress else damage(plain))
    with pytest.raises(DatasetError, match=message):
        read_idx(path)


def test_a_corrupt_gzip_stream_is_a_dataset_error(tmp_path):
    data = gzip.compress(write_idx(tmp_path / "x", np.zeros((3, 28, 28))).read_bytes())
    (tmp_path / "bad.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="cannot read"):
        read_idx(tmp_path / "bad.gz")


def test_images_and_labels_of_different_lengths_are_refused(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_idx_dataset(raw)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(3))  # 4 test images, 3 labels
    with pytest.raises(DatasetError, match="do not match"):
        load_dataset("mnist", root=tmp_path)


def test_files_already_there_are_never_downloaded_again(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # any download attempt would fail
    write_idx_dataset(tmp_path / "MNIST" / "raw", compress=True)
    assert len(load_dataset("mnist", root=tmp_path, download=True).x_train) == 6


def test_torchvision_dataset_without_files_offline_says_where_to_put_them(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion_mnist", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message and "--download" in message


def test_unknown_dataset_and_bad_options_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'.*digits"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="bad options"):
        load_dataset("digits", root=tmp_path)


def test_folder_with_class_subfolders_labels_by_folder(tmp_path):
    for cls, color in (("cats", 30), ("dogs", 220)):
        for i in range(5):
            _save(tmp_path / cls / f"{i}.png", color=color)
    ds = load_image_folder(tmp_path, size=12)
    assert ds.class_names == ("cats", "dogs") and ds.image_shape == (1, 12, 12)
    assert len(ds.x_train) + len(ds.x_test) == 10 and ds.skipped_files == 0
    x = torch.cat([ds.x_train, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_test])
    assert torch.allclose(x[y == 0], torch.tensor(30 / 255)) and torch.allclose(x[y == 1], torch.tensor(220 / 255))


def test_folder_skips_and_counts_non_images_and_corrupt_images(tmp_path):
    for i in range(4):
        _save(tmp_path / f"good{i}.png")
    _save(tmp_path / "photo.jpg", mode="RGB", color=(200, 10, 10))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_bytes(b"this is not a png at all")
    good = (tmp_path / "good0.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")  # hidden files are not counted
    ds = load_image_folder(tmp_path, size=8)
    assert ds.skipped_files == 3
    assert len(ds.x_train) + len(ds.x_test) == 5 and ds.class_names == ("all",)


def test_folder_mixes_sizes_and_modes_into_one_shape(tmp_path):
    _save(tmp_path / "a" / "gray.png", size=(40, 20), mode="L", color=0)
    _save(tmp_path / "a" / "rgba.png", size=(7, 9), mode="RGBA", color=(255, 0, 0, 128))
    _save(tmp_path / "b" / "palette.gif", size=(16, 16), mode="P", color=3)
    _save(tmp_path / "b" / "cmyk.jpg", size=(33, 31), mode="CMYK", color=(0, 0, 0, 0))
    _save(tmp_path / "b" / "bw.bmp", size=(5, 5), mode="1", color=1)
    for grayscale, channels in ((True, 1), (False, 3)):
        ds = load_image_folder(tmp_path, size=16, grayscale=grayscale)
        assert ds.image_shape == (channels, 16, 16) and ds.skipped_files == 0
        assert len(ds.x_train) + len(ds.x_test) == 5
        assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1


def test_folder_with_one_class_only_still_splits(tmp_path):
    for i in range(10):
        _save(tmp_path / "only" / f"{i}.png", color=i * 20)
    ds = load_image_folder(tmp_path, size=8)
    assert ds.class_names == ("only",)
    assert len(ds.x_test) == 2 and len(ds.x_train) == 8
    assert set(ds.y_train.tolist()) == {0}


def test_folder_with_a_single_image_per_class_tests_on_the_training_images(tmp_path):
    _save(tmp_path / "a" / "1.png")
    _save(tmp_path / "b" / "1.png")
    ds = load_image_folder(tmp_path, size=8)
    assert len(ds.x_train) == 2 and torch.equal(ds.x_test, ds.x_train)


def test_folder_labels_stay_contiguous_when_a_class_has_no_readable_image(tmp_path):
    for i in range(3):
        _save(tmp_path / "a" / f"{i}.png")
        _save(tmp_path / "c" / f"{i}.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "broken.png").write_bytes(b"junk")
    ds = load_image_folder(tmp_path, size=8)
    assert ds.class_names == ("a", "c") and ds.skipped_files == 1
    assert set(torch.cat([ds.y_train, ds.y_test]).tolist()) == {0, 1}


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"0 readable image\(s\) \(0 unreadable.*at least 2"):
        load_image_folder(tmp_path)


def test_folder_of_only_unreadable_files_reports_how_many_were_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.png").write_bytes(b"y")
    with pytest.raises(DatasetError, match=r"0 readable image\(s\) \(2 unreadable"):
        load_image_folder(tmp_path)


def test_missing_folder_and_bad_size_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(DatasetError, match="between 4 and 256"):
        load_image_folder(tmp_path, size=1000)


def test_decompression_bomb_is_skipped_not_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 > 2x the limit: PIL refuses it as a bomb
    _save(tmp_path / "bomb.png", size=(64, 64))
    _save(tmp_path / "a.png", size=(10, 10))
    _save(tmp_path / "b.png", size=(10, 10))
    ds = load_image_folder(tmp_path, size=8)
    assert ds.skipped_files == 1 and len(ds.x_train) + len(ds.x_test) == 2
    assert np.allclose(ds.x_train.numpy(), 128 / 255)


def test_failed_download_says_it_failed_and_where_files_can_go_instead(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens there: fails at once
    with pytest.raises(DatasetError, match="could not download MNIST") as info:
        load_dataset("mnist", root=tmp_path, download=True)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
