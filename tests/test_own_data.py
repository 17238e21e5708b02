"""Training on the user's own data (issue 15): stable example ids, a report of what a folder's loading skipped
and converted, and `encode` output that joins back to the files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support.data import make_user_folder

from vae_core import cli
from vae_core.checkpoint import load_checkpoint
from vae_core.data import class_balanced_indices, load_dataset, load_image_folder, read_idx


@pytest.fixture
def user_folder(tmp_path) -> Path:
    return make_user_folder(tmp_path / "my-images")


def test_folder_ids_are_relative_paths_that_follow_the_stratified_split(user_folder):
    ds = load_image_folder(user_folder, size=28)
    ids = ds.split("all").ids
    on_disk = {p.relative_to(user_folder).as_posix() for p in user_folder.rglob("*")
               if p.suffix in (".png", ".jpg") and p.name != "broken.png"}
    assert sorted(ids) == sorted(on_disk) and len(ids) == len(set(ids)) == 14
    for split in ("train", "test"):
        examples = ds.split(split)
        for example_id, image, label in zip(examples.ids, examples.x, examples.y.tolist()):
            assert ds.class_names[label] == example_id.split("/")[0]
            if example_id.startswith("bars/bar"):  # already 28x28 L: the pixels are the file's exactly
                expected = np.asarray(Image.open(user_folder / example_id), dtype=np.float32) / 255
                assert np.array_equal(image[0].numpy(), expected)


def test_digits_ids_are_sklearn_indices(digits):
    from sklearn.datasets import load_digits

    images = load_digits().images
    for split in ("train", "test"):
        x, ids = digits.split(split).x, digits.split(split).ids
        assert len(set(ids)) == len(x)
        for i in (0, 7, len(x) - 1):
            assert np.allclose(x[i, 0].numpy(), images[int(ids[i].removeprefix("digits/"))] / 16)
    assert set(digits.split("train").ids).isdisjoint(digits.split("test").ids)


def test_mnist_ids_name_the_split_and_the_position_in_the_original_files(mnist, mnist_root):
    raw = read_idx(mnist_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz")
    ids = mnist.split("test").ids
    assert ids[17] == "test/17" and len(ids) == 10_000
    assert np.array_equal((mnist.x_test[17, 0] * 255).round().byte().numpy(), raw[17])


def test_folder_report_says_what_was_skipped_and_why(user_folder):
    ds = load_image_folder(user_folder, size=28)
    report = ds.report
    assert ds.skipped_files == report.n_skipped == 3 and report.loaded == 14
    assert report.skipped == {"not an image file": 2, "unreadable or corrupt image": 1}
    reasons = dict(report.skipped_examples)
    assert set(reasons) == {"bars/notes.txt", "boxes/broken.png", "factors.csv"}
    assert reasons["factors.csv"].startswith("not an image file (suffix .csv")
    assert reasons["boxes/broken.png"].startswith("unreadable or corrupt image")
    text = "\n".join(report.lines())
    assert "skipped 3 file(s): 2 not an image file, 1 unreadable or corrupt image" in text
    assert "boxes/broken.png" in text and "factors.csv" in text


def test_folder_report_says_how_images_were_converted(user_folder):
    report = load_image_folder(user_folder, size=28).report
    assert report.converted == {"RGBA -> L, alpha composited on black": 1, "resized (stretched, bilinear) to 28x28": 7,
                                "RGB -> L": 1}
    assert report.converted_examples["RGBA -> L, alpha composited on black"] == "bars/rgba.png, 40x31 RGBA"
    assert "converted 1 image(s): RGBA -> L, alpha composited on black (e.g. bars/rgba.png, 40x31 RGBA)" in \
        report.lines()


def test_an_rgba_image_is_composited_on_black_not_flattened_to_a_grey_square(user_folder):
    ds = load_image_folder(user_folder, size=31)
    position = {example_id: (split, i) for split in ("train", "test") for i, example_id in
                enumerate(ds.split(split).ids)}
    split, i = position["bars/rgba.png"]
    image = ds.split(split).x[i, 0]
    assert image[0, 0] == 0 and image[-1, -1] == 0  # the transparent grey is background (black), not 128/255
    assert image[15, 15] == 1  # the opaque white box stays white
    assert 0.2 < image.mean() < 0.5


def test_class_balanced_indices_take_the_classes_in_turn():
    y = torch.tensor([0] * 10 + [1] * 3 + [2] * 7)  # stored in class order, as a folder's test split is
    picked = class_balanced_indices(y, 8)
    assert y[picked[:3]].tolist() == [0, 1, 2] and y[picked[3:6]].tolist() == [0, 1, 2]
    assert y[picked].tolist().count(1) == 3 and len(set(picked.tolist())) == 8
    assert len(class_balanced_indices(y, 100)) == 20


def test_cli_trains_on_a_user_folder_and_reports_what_it_skipped_and_converted(user_folder, tmp_path, capsys):
    out = tmp_path / "mine.safetensors"
    argv = ["train", "--dataset", "folder", "--data-dir", str(user_folder), "--epochs", "1", "--hidden", "32",
            "--latent-dim", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "loaded 14 images; skipped 3 file(s): 2 not an image file, 1 unreadable or corrupt image" in err
    assert "skipped factors.csv: not an image file" in err and "skipped boxes/broken.png" in err
    assert "RGBA -> L, alpha composited on black (e.g. bars/rgba.png, 40x31 RGBA)" in err
    assert load_checkpoint(out).epoch == 1


def test_encode_csv_joins_back_to_the_folder_files(user_folder, tmp_path, capsys):
    out = tmp_path / "mine.safetensors"
    assert cli.main(["train", "--dataset", "folder", "--data-dir", str(user_folder), "--epochs", "1",
                     "--hidden", "32", "--out", str(out)]) == 0
    codes = tmp_path / "codes.csv"
    assert cli.main(["encode", str(out), "--split", "train", "--out", str(codes)]) == 0
    with codes.open() as f:
        rows = list(csv.DictReader(f))
    model = load_checkpoint(out).model
    fresh = load_image_folder(user_folder, size=28)  # reloaded on its own; rows are matched by id only
    by_id = {example_id: (x, label) for split in ("train", "test")
             for example_id, x, label in zip(fresh.split(split).ids, fresh.split(split).x, fresh.split(split).y)}
    assert len(rows) == len(fresh.x_train) and all((user_folder / row["id"]).is_file() for row in rows)
    for row in rows:
        x, label = by_id[row["id"]]
        assert row["class_name"] == Path(row["id"]).parent.name == fresh.class_names[label]
        posterior = model.encode(x[None])
        assert [float(row["mu0"]), float(row["mu1"])] == pytest.approx(posterior.mu[0].tolist(), abs=1e-5)
        assert float(row["sigma1"]) == pytest.approx(posterior.std[0, 1].item(), rel=1e-5)


def test_encode_refuses_a_bad_extension_before_loading_anything(tmp_path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("encode loaded the checkpoint before checking --out")

    monkeypatch.setattr(cli, "load_checkpoint", fail)
    assert cli.main(["encode", "whatever.safetensors", "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out must end in .csv or .npz, got x.txt" in capsys.readouterr().err


def test_a_dataset_loads_its_ids_again_through_the_registry(user_folder):
    again = load_dataset("folder", path=str(user_folder), size=28)
    assert again.split("test").ids == load_image_folder(user_folder, size=28).split("test").ids
