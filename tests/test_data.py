"""Dataset registry: digits, torchvision MNIST from ../shared/data, and folders of the user's images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vae_core.data import load_dataset, load_image_folder
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
    assert digits.split("test")[0] is digits.x_test
    with pytest.raises(DatasetError, match="unknown split"):
        digits.split("validation")


@pytest.mark.slow
def test_mnist_loads_from_the_shared_raw_files(mnist_root):
    mnist = load_dataset("mnist", root=mnist_root)
    assert mnist.x_train.shape == (60000, 1, 28, 28) and mnist.x_test.shape == (10000, 1, 28, 28)
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == torch.int64
    assert mnist.x_test.dtype == torch.float32 and mnist.x_test.min() == 0 and mnist.x_test.max() == 1
    assert len(mnist.class_names) == 10 and mnist.options == {"root": str(mnist_root), "download": False}


def test_torchvision_dataset_without_files_offline_says_where_to_put_them(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion_mnist", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message and "enable download" in message


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
