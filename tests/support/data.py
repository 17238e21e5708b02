"""Files the data tests write: idx files in MNIST's raw layout, and folders of images as users bring them."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """An idx file of unsigned bytes (MNIST's format), gzip-compressed when asked."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return path


def write_idx_dataset(raw: Path, n_train: int = 6, n_test: int = 4, compress: bool = False) -> np.ndarray:
    """A tiny MNIST-shaped dataset in torchvision's raw layout; returns its training images."""
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28))
        arrays[f"{prefix}-labels-idx1-ubyte"] = np.arange(n) % 10
    for name, array in arrays.items():
        write_idx(raw / (name + ".gz" if compress else name), array, compress)
    return arrays["train-images-idx3-ubyte"]


def png(path: Path, size=(28, 28), mode="L", color=0, ink=None) -> Path:
    """An image of `color` with an optional filled box `ink` = (box, color) drawn on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new(mode, size, color)
    if ink is not None:
        box, ink_color = ink
        img.paste(ink_color, box)
    img.save(path)
    return path


def make_user_folder(root: Path) -> Path:
    """What a user brings: class subfolders of odd sizes and modes, a .txt, a broken .png, the folder's own
    factors.csv and an RGBA 40x31 image (a white box on a transparent grey background)."""
    for i in range(6):
        png(root / "bars" / f"bar{i}.png", ink=((10 + i, 0, 14 + i, 28), 255))
        png(root / "boxes" / f"box{i}.png", size=(30 + i, 28), ink=((5, 5, 20, 20), 200 + i))
    png(root / "boxes" / "rgb.jpg", size=(28, 28), mode="RGB", color=(20, 40, 60))
    png(root / "bars" / "rgba.png", size=(40, 31), mode="RGBA", color=(128, 128, 128, 0),
        ink=((10, 5, 30, 25), (255, 255, 255, 255)))
    (root / "bars" / "notes.txt").write_text("drawn by hand")
    (root / "boxes" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "factors.csv").write_text("file,thickness\nbars/bar0.png,1\n")
    return root
