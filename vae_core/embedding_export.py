"""The embedding in TensorBoard Embedding Projector's own format, and the sprite sheet of a dataset's images.

Interface (the CLI and the scatter page's download use it; keep it stable):
- `sprite_sheet(images, max_side=MAX_SPRITE_SIDE) -> SpriteSheet(png, tile_px, columns)`: images (N, C, H, W) in
  [0, 1], row-major on a square grid (image i at row i // columns, column i % columns, tile_px x tile_px each);
  images are shrunk only where the grid would exceed max_side (the Projector's 8192 px), and then `note` says so.
- `embedding_table(checkpoint, dataset, split, progress=None) -> EmbeddingTable`: everything an export holds
  (mu, labels, ids, class names, per-example recon / kl / elbo, the images).
- `write_projector(table, out_dir) -> ProjectorFiles`: tensors.tsv, metadata.tsv, sprite.png,
  projector_config.pbtxt (TensorBoard) and projector_config.json (the standalone projector), embedding.csv.
- `projector_zip(table) -> bytes`: the same files in a .zip, for a download button.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .checkpoint import Checkpoint, DatasetInfo, load_checkpoint_bytes
from .data import Dataset
from .images import png_bytes, to_uint8
from .metrics import encode_posterior, per_example_terms
from .roots import DataRoots

# The Projector reads the sprite into one WebGL texture and refuses sprites over 8192 x 8192 pixels.
MAX_SPRITE_SIDE = 8192
MIN_TILE_PX = 4  # below this a thumbnail shows nothing; more images than fit at this size are refused
TERMS = ("recon", "kl", "elbo")
FILES = ("tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt", "projector_config.json",
         "embedding.csv")


class SpriteSheet(NamedTuple):
    png: bytes
    tile_px: int  # side of one image in the sheet (the images' own side unless shrunk to fit)
    columns: int  # images per row; rows = ceil(N / columns); the sheet is columns * tile_px wide
    note: str = ""  # says why and how much the images were shrunk, "" when they were not


def sprite_layout(n: int, side: int, max_side: int = MAX_SPRITE_SIDE) -> tuple[int, int]:
    """(tile_px, columns) of n square images of `side` px on a square grid at most max_side px wide."""
    columns = max(1, math.ceil(math.sqrt(n)))
    tile_px = min(side, max_side // columns)
    if tile_px < MIN_TILE_PX:
        most = (max_side // MIN_TILE_PX) ** 2
        raise ValueError(f"{n:,} images do not fit a {max_side} px sprite (at most {most:,} at {MIN_TILE_PX} px)")
    return tile_px, columns


def sprite_sheet(images: torch.Tensor | np.ndarray, max_side: int = MAX_SPRITE_SIDE) -> SpriteSheet:
    """One PNG of all images (N, C, H, W) in [0, 1] (square images), row-major, unused cells black."""
    n, _, height, width = images.shape
    if height != width:
        raise ValueError(f"sprite tiles must be square, got {height}x{width} images")
    tile_px, columns = sprite_layout(n, height, max_side)
    pixels = to_uint8(images)  # (N, H, W) or (N, H, W, 3)
    note = ""
    if tile_px < height:
        pixels = _shrink(pixels, tile_px)
        note = f"{n:,} images shrunk from {height} to {tile_px} px to fit the Projector's {max_side} px sprite"
    rows = math.ceil(n / columns)
    cells = np.zeros((rows * columns, *pixels.shape[1:]), dtype=np.uint8)
    cells[:n] = pixels
    sheet = cells.reshape(rows, columns, tile_px, tile_px, *pixels.shape[3:]).swapaxes(1, 2)
    return SpriteSheet(png_bytes(sheet.reshape(rows * tile_px, columns * tile_px, *pixels.shape[3:])), tile_px,
                       columns, note)


def _shrink(pixels: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(p).resize((side, side), Image.Resampling.BOX)) for p in pixels])


@dataclass
class EmbeddingTable:
    """One split's embedding with everything the export writes, row i = example i of the split."""

    name: str  # what the tensor is called in the Projector, e.g. "mnist-conv mu (test)"
    mu: np.ndarray  # (N, D) float32 posterior means
    labels: np.ndarray  # (N,) int64
    ids: tuple[str, ...]  # (N,) Split.ids
    class_names: tuple[str, ...]
    terms: dict[str, np.ndarray]  # recon, kl, elbo (N,) each, nats (metrics.per_example_terms)
    images: torch.Tensor  # (N, C, H, W) in [0, 1]


def embedding_table(checkpoint: Checkpoint, dataset: Dataset, split: str, name: str = "",
                    progress: Callable[[float, str], None] | None = None) -> EmbeddingTable:
    """Encode a split ("train", "test" or "all") and score every example; progress(fraction, message)."""
    report = progress or (lambda fraction, message: None)
    examples = dataset.split(split)
    x, y, ids = examples.x, examples.y, examples.ids
    model = checkpoint.model
    mu = encode_posterior(model, x, y, on_batch=lambda done, total: report(0.3 * done / total, "encoding")).mu
    terms = per_example_terms(model, x, y, on_batch=lambda done, total: report(0.3 + 0.7 * done / total,
                                                                               "scoring each example"))
    report(1.0, "done")
    return EmbeddingTable(name or f"{dataset.name} mu ({split})", mu.numpy(), y.numpy(), ids, dataset.class_names,
                          terms, x)


@dataclass
class ProjectorFiles:
    folder: Path
    rows: int
    sprite_tile_px: int
    sprite_note: str  # "" unless the sprite's images were shrunk


def _clean(text: str) -> str:
    """A metadata cell: tabs and line breaks would split the Projector's rows and columns."""
    return " ".join(str(text).split()) or "-"


def write_projector(table: EmbeddingTable, out_dir: str | Path) -> ProjectorFiles:
    """Write the Projector's files (and embedding.csv) into out_dir (created if needed; its files replaced)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "tensors.tsv", table.mu, delimiter="\t", fmt="%.6g")
    names = [_clean(table.class_names[label]) for label in table.labels]
    ids = [_clean(i) for i in table.ids]
    columns = ("id", "label", "class", *TERMS)
    with open(out / "metadata.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write("\t".join(columns) + "\n")
        for i, label in enumerate(table.labels):
            scores = "\t".join(f"{table.terms[t][i]:.4f}" for t in TERMS)
            f.write(f"{ids[i]}\t{label}\t{names[i]}\t{scores}\n")
    sprite = sprite_sheet(table.images)
    (out / "sprite.png").write_bytes(sprite.png)
    (out / "projector_config.pbtxt").write_text(_pbtxt(table, sprite.tile_px))
    (out / "projector_config.json").write_text(json.dumps(_standalone_config(table, sprite.tile_px), indent=2))
    _write_csv(table, ids, names, out / "embedding.csv")
    return ProjectorFiles(out, len(table.mu), sprite.tile_px, sprite.note)


def _pbtxt(table: EmbeddingTable, tile_px: int) -> str:
    """TensorBoard's ProjectorConfig (tensorboard/plugins/projector/projector_config.proto) as text format."""
    return (
        "embeddings {\n"
        f"  tensor_name: {json.dumps(table.name)}\n"
        f"  tensor_shape: {table.mu.shape[0]}\n"
        f"  tensor_shape: {table.mu.shape[1]}\n"
        '  tensor_path: "tensors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "  sprite {\n"
        '    image_path: "sprite.png"\n'
        f"    single_image_dim: {tile_px}\n"
        f"    single_image_dim: {tile_px}\n"
        "  }\n"
        "}\n"
    )


def _standalone_config(table: EmbeddingTable, tile_px: int) -> dict:
    """The same config for the standalone projector (projector.tensorflow.org loads it as JSON)."""
    return {"embeddings": [{
        "tensorName": table.name, "tensorShape": list(table.mu.shape), "tensorPath": "tensors.tsv",
        "metadataPath": "metadata.tsv", "sprite": {"imagePath": "sprite.png", "singleImageDim": [tile_px, tile_px]},
    }]}


def _write_csv(table: EmbeddingTable, ids: list[str], names: list[str], path: Path) -> None:
    import csv

    d = table.mu.shape[1]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label", "class", *TERMS, *[f"mu{j}" for j in range(d)]])
        for i, label in enumerate(table.labels):
            writer.writerow([ids[i], int(label), names[i], *[f"{table.terms[t][i]:.4f}" for t in TERMS],
                             *[f"{v:.6g}" for v in table.mu[i]]])


def projector_zip(table: EmbeddingTable) -> bytes:
    """The files of `write_projector` in one .zip (for a download)."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        write_projector(table, folder)
        for name in FILES:
            archive.write(Path(folder) / name, name)
    return buffer.getvalue()


def embedding_csv(table: EmbeddingTable) -> bytes:
    """The `embedding.csv` of `write_projector` alone (for a download)."""
    with tempfile.TemporaryDirectory() as folder:
        write_projector(table, folder)
        return (Path(folder) / "embedding.csv").read_bytes()


EXPORTS = {"zip": projector_zip, "csv": embedding_csv}


def export_split(checkpoint_data: bytes, dataset: DatasetInfo, roots: DataRoots | None, split: str,
                 kind: str) -> bytes:
    """A split's embedding as Projector files ("zip") or CSV ("csv") from a checkpoint file's bytes and its dataset
    read inside `roots` (None: as recorded): all a worker process needs, given by value."""
    checkpoint = load_checkpoint_bytes(checkpoint_data)
    return EXPORTS[kind](embedding_table(checkpoint, dataset.load(roots=roots), split))
