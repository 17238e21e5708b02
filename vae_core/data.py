"""Dataset registry: every dataset becomes in-memory float tensors in [0, 1] shaped (N, C, H, W).

Keeping whole datasets as tensors (no per-item PIL transforms) is what makes training fast on a CPU:
a batch is one index into a tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset split into train and test, held in memory."""

    name: str
    x_train: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor  # (M, C, H, W)
    y_test: torch.Tensor  # (M,)
    class_names: tuple[str, ...]
    skipped_files: int = 0  # unreadable files left out (image folders only)
    options: dict = field(default_factory=dict)  # how to load it again (root, size, ...)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the "train" or "test" split."""
        if name not in ("train", "test"):
            raise DatasetError(f"unknown split {name!r}; use 'train' or 'test'")
        return (self.x_train, self.y_train) if name == "train" else (self.x_test, self.y_test)


def _stratified_split(
    x: torch.Tensor, y: torch.Tensor, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split keeping each class's share; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    test_idx = []
    for label in torch.unique(y).tolist():
        members = np.flatnonzero(y.numpy() == label)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        if len(members) > 1:
            n_test = min(max(n_test, 1), len(members) - 1)
        else:
            n_test = 0
        test_idx.extend(members[:n_test].tolist())
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test_idx] = True
    train, test = torch.from_numpy(~is_test), torch.from_numpy(is_test)
    return x[train], y[train], x[test], y[test]


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, values 0..16): offline, the default."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    x_train, y_train, x_test, y_test = _stratified_split(x, y, test_fraction, seed)
    return Dataset("digits", x_train, y_train, x_test, y_test, tuple(str(d) for d in range(10)))


_TORCHVISION = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR10",
}


def _torchvision_split(cls, root: Path, train: bool, download: bool):
    try:
        return cls(root=str(root), train=train, download=download)
    except RuntimeError as exc:
        if download:  # torchvision raises RuntimeError once every mirror has failed
            raise DatasetError(
                f"could not download {cls.__name__} into {root} ({exc}); check the network, or put the files "
                f"under {root / cls.__name__}/raw and run without download"
            ) from exc
        hint = (
            f"put the {cls.__name__} files under {root / cls.__name__}/raw (torchvision's layout) "
            "or enable download"
        )
        raise DatasetError(f"{cls.__name__} not found in {root}: {hint}") from exc
    except OSError as exc:  # network errors while downloading
        raise DatasetError(f"could not download {cls.__name__} into {root}: {exc}") from exc


def _as_float_images(data) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) array/tensor -> float (N, C, H, W) in [0, 1]."""
    images = torch.as_tensor(np.asarray(data))
    if images.ndim == 3:
        images = images.unsqueeze(1)
    else:
        images = images.permute(0, 3, 1, 2)
    return images.contiguous().float().div_(255.0)


def load_torchvision_dataset(name: str, root: str | Path = "data", download: bool = False) -> Dataset:
    """A torchvision dataset read once into tensors (its `.data` array, no per-item transforms)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION[name])
    root = Path(root).expanduser()
    splits = [_torchvision_split(cls, root, train, download) for train in (True, False)]
    (x_train, y_train), (x_test, y_test) = [
        (_as_float_images(s.data), torch.as_tensor(s.targets, dtype=torch.int64)) for s in splits
    ]
    return Dataset(
        name, x_train, y_train, x_test, y_test, tuple(splits[0].classes),
        options={"root": str(root), "download": download},
    )


def _read_image(path: Path, size: int, mode: str) -> np.ndarray | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    # DecompressionBombError is not an OSError: a tiny file declaring gigapixels must be skipped, not raised.
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        return None


def load_image_folder(
    path: str | Path,
    size: int = 28,
    grayscale: bool = True,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A folder of the user's images; class subfolders become labels, loose files class "all".

    Unreadable files are skipped and counted in `skipped_files`.
    """
    if not str(path).strip():
        raise DatasetError("no image folder given: enter the path of a folder of png/jpg images")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    if not 4 <= size <= 256:
        raise DatasetError(f"image size must be between 4 and 256 pixels, got {size}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    class_dirs = sorted({p.parent for p in files})
    class_names = tuple(d.name if d != root else "all" for d in class_dirs)
    mode = "L" if grayscale else "RGB"
    images, labels, skipped = [], [], 0
    for file in files:
        pixels = _read_image(file, size, mode) if file.suffix.lower() in IMAGE_SUFFIXES else None
        if pixels is None:
            skipped += 1
            continue
        images.append(pixels)
        labels.append(class_dirs.index(file.parent))
    if len(images) < 2:
        raise DatasetError(
            f"{root} holds {len(images)} readable image(s) ({skipped} unreadable file(s) skipped); "
            "a dataset needs at least 2 png/jpg images"
        )
    x = _as_float_images(np.stack(images))
    y = torch.tensor(labels, dtype=torch.int64)
    x_train, y_train, x_test, y_test = _stratified_split(x, y, test_fraction, seed)
    if len(x_test) == 0:  # every class has a single image: test on the training images
        x_test, y_test = x_train, y_train
    used = [name for i, name in enumerate(class_names) if i in set(labels)]
    remap = {old: new for new, old in enumerate(sorted(set(labels)))}
    y_train = torch.tensor([remap[v] for v in y_train.tolist()], dtype=torch.int64)
    y_test = torch.tensor([remap[v] for v in y_test.tolist()], dtype=torch.int64)
    return Dataset(
        "folder", x_train, y_train, x_test, y_test, tuple(used), skipped_files=skipped,
        options={"path": str(root), "size": size, "grayscale": grayscale},
    )


DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits_dataset,
    **{name: (lambda n: lambda **kw: load_torchvision_dataset(n, **kw))(name) for name in _TORCHVISION},
    "folder": load_image_folder,
}


def load_dataset(name: str, **options) -> Dataset:
    """Load a registered dataset by name: digits, mnist, fashion_mnist, kmnist, cifar10, folder."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    try:
        return DATASETS[name](**options)
    except TypeError as exc:
        raise DatasetError(f"bad options for dataset {name!r}: {exc}") from exc
