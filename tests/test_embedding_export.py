"""The Embedding Projector export (vae_core.embedding_export), its sprite sheet, and the per-example terms it lists."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint
from vae_core.cli import main
from vae_core.embedding_export import (
    FILES,
    MAX_SPRITE_SIDE,
    EmbeddingTable,
    embedding_csv,
    embedding_table,
    export_split,
    projector_zip,
    sprite_layout,
    sprite_sheet,
    write_projector,
)
from vae_core.metrics import encode_posterior, evaluate_elbo, per_example_terms

DIGITS_2D = ROOT / "checkpoints" / "digits-2d.safetensors"


def test_per_example_terms_add_up_and_average_to_evaluate_elbo(trained_digits, digits):
    model, x = trained_digits.model, digits.x_test
    terms = per_example_terms(model, x, batch_size=100, seed=3)
    assert all(terms[k].shape == (len(x),) and terms[k].dtype == np.float32 for k in ("recon", "kl", "elbo"))
    np.testing.assert_allclose(terms["elbo"], terms["recon"] - terms["kl"], rtol=1e-6)
    np.testing.assert_allclose(terms["kl"], encode_posterior(model, x).kl().sum(1).numpy(), rtol=1e-5)  # analytic KL
    assert np.all(terms["kl"] >= 0) and np.all(terms["recon"] <= 0)
    torch.manual_seed(3)  # the same z draws as per_example_terms(seed=3), batch by batch
    means = evaluate_elbo(model, x, batch_size=100)
    for key in ("recon", "kl", "elbo"):
        assert terms[key].mean() == pytest.approx(means[key], rel=1e-5)
    state = torch.get_rng_state()
    again = per_example_terms(model, x, batch_size=100, seed=3)
    np.testing.assert_array_equal(again["recon"], terms["recon"])  # the seed makes it reproducible ...
    assert torch.equal(torch.get_rng_state(), state)  # ... without touching the global generator


def test_all_is_train_then_test_with_their_ids(digits):
    every = digits.split("all")
    x, y, ids = every.x, every.y, every.ids
    assert len(x) == len(y) == len(ids) == len(digits.x_train) + len(digits.x_test)
    assert torch.equal(x[len(digits.x_train):], digits.x_test) and torch.equal(y[:5], digits.y_train[:5])
    assert ids[0] == digits.split("train").ids[0] and ids[len(digits.x_train)] == digits.split("test").ids[0]


def test_a_sprite_puts_image_i_at_row_i_div_columns_and_column_i_mod_columns():
    images = torch.rand(10, 1, 8, 8)
    sheet = sprite_sheet(images)
    assert (sheet.tile_px, sheet.columns, sheet.note) == (8, 4, "")
    picture = np.asarray(Image.open(io.BytesIO(sheet.png)))
    assert picture.shape == (3 * 8, 4 * 8)  # ceil(10 / 4) rows
    for i in (0, 3, 4, 9):
        r, c = divmod(i, sheet.columns)
        tile = picture[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8]
        np.testing.assert_array_equal(tile, np.rint(images[i, 0].numpy() * 255).astype(np.uint8))
    assert picture[16:, 16:].max() == 0  # the two unused cells stay black


def test_colour_images_make_a_colour_sprite():
    sheet = sprite_sheet(torch.rand(5, 3, 6, 6))
    assert Image.open(io.BytesIO(sheet.png)).mode == "RGB"


def test_the_sprite_fits_the_projector_limit_and_shrinks_only_past_it():
    assert sprite_layout(70_000, 28) == (28, 265)  # MNIST, both splits: 7,420 px, under 8,192
    assert 265 * 28 <= MAX_SPRITE_SIDE
    tile, columns = sprite_layout(200_000, 28)
    assert columns == 448 and tile == MAX_SPRITE_SIDE // 448 and tile * columns <= MAX_SPRITE_SIDE
    shrunk = sprite_sheet(torch.ones(10, 1, 8, 8), max_side=16)
    assert (shrunk.tile_px, shrunk.columns) == (4, 4) and "shrunk from 8 to 4 px" in shrunk.note
    assert Image.open(io.BytesIO(shrunk.png)).size == (16, 12)
    with pytest.raises(ValueError, match="do not fit"):
        sprite_layout(5_000_000, 28)


def _pbtxt_paths(text: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+_path): "([^"]+)"', text))


def _export(split: str, out) -> tuple[EmbeddingTable, object]:
    checkpoint = load_checkpoint(DIGITS_2D)
    table = embedding_table(checkpoint, checkpoint.dataset.load(), split)
    return table, write_projector(table, out)


def test_the_projector_export_loads_back(tmp_path):
    table, files = _export("test", tmp_path)
    n, d = table.mu.shape
    assert files.rows == n == 359 and sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    tensors = np.loadtxt(tmp_path / "tensors.tsv", delimiter="\t")
    assert tensors.shape == (n, d)
    np.testing.assert_allclose(tensors, table.mu, rtol=1e-5, atol=1e-6)
    lines = (tmp_path / "metadata.tsv").read_text().splitlines()
    assert len(lines) == n + 1 and lines[0].split("\t") == ["id", "label", "class", "recon", "kl", "elbo"]
    row = lines[1 + 42].split("\t")
    assert row[:3] == [table.ids[42], str(table.labels[42]), table.class_names[table.labels[42]]]
    assert table.ids[42].startswith("digits/")  # sklearn's row, not a position in the split
    assert float(row[5]) == pytest.approx(table.terms["elbo"][42], abs=1e-3)
    sprite = Image.open(tmp_path / "sprite.png")
    columns = int(np.ceil(np.sqrt(n)))
    assert sprite.size == (columns * 8, int(np.ceil(n / columns)) * 8) and files.sprite_tile_px == 8
    # tile 42 is test image 42
    r, c = divmod(42, columns)
    tile = np.asarray(sprite)[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8]
    np.testing.assert_array_equal(tile, np.rint(table.images[42, 0].numpy() * 255).astype(np.uint8))
    config = (tmp_path / "projector_config.pbtxt").read_text()
    paths = _pbtxt_paths(config)
    assert set(paths) == {"tensor_path", "metadata_path", "image_path"}
    assert all((tmp_path / p).is_file() for p in paths.values())
    assert re.findall(r"single_image_dim: (\d+)", config) == ["8", "8"]
    assert re.findall(r"tensor_shape: (\d+)", config) == [str(n), str(d)]
    standalone = json.loads((tmp_path / "projector_config.json").read_text())["embeddings"][0]
    assert standalone["tensorShape"] == [n, d] and standalone["sprite"]["singleImageDim"] == [8, 8]
    with open(tmp_path / "embedding.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n and float(rows[7]["mu1"]) == pytest.approx(table.mu[7, 1], rel=1e-5)


def test_metadata_cells_never_split_a_row(tmp_path):
    table = EmbeddingTable("odd", np.zeros((2, 2), np.float32), np.array([0, 1]), ("a\tb.png", "c\nd.png"),
                           ("cat\tdog", "x"), {k: np.zeros(2, np.float32) for k in ("recon", "kl", "elbo")},
                           torch.zeros(2, 1, 4, 4))
    write_projector(table, tmp_path)
    lines = (tmp_path / "metadata.tsv").read_text().splitlines()
    assert [len(line.split("\t")) for line in lines] == [6, 6, 6]
    assert lines[1].startswith("a b.png\t0\tcat dog\t")


def test_the_zip_holds_the_same_files():
    checkpoint = load_checkpoint(DIGITS_2D)
    table = embedding_table(checkpoint, checkpoint.dataset.load(), "test")
    with zipfile.ZipFile(io.BytesIO(projector_zip(table))) as archive:
        assert sorted(archive.namelist()) == sorted(FILES)
        assert len(archive.read("tensors.tsv").decode().splitlines()) == 359


def test_the_apps_export_from_a_files_bytes_in_a_worker_equals_the_table_made_here():
    from ui import jobs

    checkpoint = load_checkpoint(DIGITS_2D)
    here = embedding_csv(embedding_table(checkpoint, checkpoint.dataset.load(), "test"))
    there = jobs.run_in_worker("Export", export_split, DIGITS_2D.read_bytes(), checkpoint.dataset, None, "test", "csv")
    assert there == here


def test_the_cli_exports_every_split_and_refuses_to_mix_into_a_full_folder(tmp_path, capsys):
    out = tmp_path / "all"
    assert main(["export", str(DIGITS_2D), "--format", "projector", "--out", str(out), "--split", "all"]) == 0
    assert "wrote 1,797 embeddings" in capsys.readouterr().out
    assert len((out / "tensors.tsv").read_text().splitlines()) == 1797
    assert len((out / "metadata.tsv").read_text().splitlines()) == 1798
    assert main(["export", str(DIGITS_2D), "--format", "projector", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", str(DIGITS_2D), "--format", "projector", "--out", str(out), "--overwrite"]) == 0
    assert len((out / "tensors.tsv").read_text().splitlines()) == 359  # the test split, the default
