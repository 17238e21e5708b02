"""Dataset registry: every dataset becomes in-memory float tensors in [0, 1] shaped (N, C, H, W).

Keeping whole datasets as tensors (no per-item PIL transforms) is what makes training fast on a CPU:
a batch is one index into a tensor.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DatasetError
from .paths import bundled_data_dir, user_data_dir
from .roots import DataRoots

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
    report: FolderReport | None = None  # what a folder's loading skipped and converted (image folders only)
    options: dict = field(default_factory=dict)  # how to load it again (root, size, ...)
    # A stable name per example, in split order (a folder: the file's relative path; a fixed split: "test/17").
    # Empty means "<split>/<position>", which is exact for datasets whose splits keep the original order.
    train_ids: tuple[str, ...] = ()
    test_ids: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> Split:
        """The "train", "test" or "all" split (train followed by test)."""
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        if name == "all":
            return Split("all", lambda: torch.cat([self.x_train, self.x_test]),
                         torch.cat([self.y_train, self.y_test]), lambda: self._ids("train") + self._ids("test"), 0)
        x, y = (self.x_train, self.y_train) if name == "train" else (self.x_test, self.y_test)
        return Split(name, lambda: x, y, lambda: self._ids(name), 0 if name == "train" else len(self.x_train))

    def _ids(self, split: str) -> tuple[str, ...]:
        stored = self.train_ids if split == "train" else self.test_ids
        return stored or tuple(f"{split}/{i}" for i in range(len(self.y_train if split == "train" else self.y_test)))


SPLITS = ("train", "test", "all")  # "all": train then test, as one list (MNIST: 60,000 + 10,000)


class Split:
    """One split's examples: labels `y` (N,), `offset` (where its first example sits in "all"), and, made when first
    read (only the code that needs them pays: "all" concatenates both splits' images, MNIST's ids are 70,000
    strings), the images `x` (N, C, H, W) and the stable `ids` (a folder: the file's relative path; else
    "<split>/<position>")."""

    def __init__(self, name: str, images: Callable[[], torch.Tensor], y: torch.Tensor,
                 ids: Callable[[], tuple[str, ...]], offset: int):
        self.name, self.y, self.offset = name, y, offset
        self._images, self._ids = images, ids

    @functools.cached_property
    def x(self) -> torch.Tensor:
        return self._images()

    @functools.cached_property
    def ids(self) -> tuple[str, ...]:
        return self._ids()

    def __len__(self) -> int:
        return len(self.y)

    def positions_in(self, other: Split, indices) -> list[int]:
        """Positions in `other` of this split's examples at `indices`, leaving out those `other` does not hold."""
        shifted = (self.offset + int(i) - other.offset for i in indices)
        return [i for i in shifted if 0 <= i < len(other)]


def class_balanced_indices(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Up to n positions into y taking the classes in turn (a seeded random member of each), so any prefix
    shows as many classes as it can: previews of a split stored in class order show every class. (n,) int64."""
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    members = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in np.unique(labels)]
    picked = []
    for rank in range(max((len(m) for m in members), default=0)):
        picked.extend(m[rank] for m in members if rank < len(m))
        if len(picked) >= n:
            break
    return torch.tensor(picked[:n], dtype=torch.int64)


def _stratified_split(y: torch.Tensor, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the train and test examples, keeping each class's share and the original order within each
    split; deterministic for a seed."""
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
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0, roots: DataRoots | None = None) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, values 0..16): offline, the default (reads no roots)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    train, test = _stratified_split(y, test_fraction, seed)
    return Dataset("digits", x[train], y[train], x[test], y[test], tuple(str(d) for d in range(10)),
                   train_ids=_digits_ids(train), test_ids=_digits_ids(test))


def _digits_ids(rows) -> tuple[str, ...]:
    """"digits/<i>": i is the row of sklearn's load_digits(); the prefix keeps an id from reading as a position."""
    return tuple(f"digits/{i}" for i in rows)


DATA_ROOT = bundled_data_dir()  # the bundled MNIST lives here (the checkout's data/, or an installed copy's)
DEFAULT_DATASET = "digits"  # what `train` uses when told nothing: the smallest, trains in seconds

# Datasets stored as idx files (LeCun's MNIST format) under torchvision's layout <root>/<folder>/raw.
_IDX_DATASETS = {
    "mnist": ("MNIST", tuple("0123456789")),
    "fashion_mnist": ("FashionMNIST", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                       "Sneaker", "Bag", "Ankle boot")),
    "kmnist": ("KMNIST", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
}
_IDX_FILES = {  # split -> (images, labels), each read plain or gzip-compressed (name + ".gz")
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TORCHVISION = {name: folder for name, (folder, _) in _IDX_DATASETS.items()} | {"cifar10": "CIFAR10"}
MAX_IDX_BYTES = 2**30  # a header may not declare more: a stranger's root must not make us allocate without bound


def default_data_roots() -> DataRoots:
    """The folders a server reads datasets from: ROOTS_ENV's, else this repository's data/ (the bundled MNIST) and
    the user's data folder."""
    return DataRoots.from_env((DATA_ROOT, user_data_dir()))


def _data_root(root: str | Path | None) -> Path:
    return DATA_ROOT if root is None else Path(root).expanduser()


def _root_option(root: str | Path | None) -> dict:
    """How a root is recorded in a dataset's options: not at all when it is the repository's data/ folder,
    so a model trained on the bundled copy reloads from the bundled copy on any machine."""
    if root is None or _data_root(root).resolve() == DATA_ROOT.resolve():
        return {}
    return {"root": str(root)}


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file of unsigned bytes (MNIST's format), plain or gzip-compressed (.gz), as a uint8 array.

    The header's magic is checked, the size it declares is capped (MAX_IDX_BYTES) and must be exactly the bytes
    that follow, so a corrupt, truncated or hostile file is a DatasetError, never an unbounded allocation.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            magic = f.read(4)
            if len(magic) != 4 or magic[:3] != b"\0\0\x08" or not 1 <= magic[3] <= 4:
                raise DatasetError(f"{path} is not an idx file of unsigned bytes (bad magic {magic.hex()})")
            shape = struct.unpack(f">{magic[3]}I", f.read(4 * magic[3]))
            size = math.prod(shape)
            if size > MAX_IDX_BYTES:
                raise DatasetError(f"{path} declares {size:,} bytes, more than the {MAX_IDX_BYTES:,} allowed")
            data = bytearray(size + 1)  # writable, so torch can share it; one byte more detects trailing data
            n_read = _read_fully(f, memoryview(data))
    except (OSError, EOFError, struct.error, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if n_read != size:
        holds = f"{n_read:,}" if n_read < size else f"more than {size:,}"
        raise DatasetError(f"{path} is truncated or too long: its header declares {' x '.join(map(str, shape))} = "
                           f"{size:,} bytes of data, the file holds {holds} after its header"
                           + (" (uncompressed)" if path.suffix == ".gz" else ""))
    return np.frombuffer(data, dtype=np.uint8, count=size).reshape(shape)


def _read_fully(f, buffer: memoryview) -> int:
    """readinto until the buffer is full or the file ends (one call may return less); bytes read."""
    done = 0
    while done < len(buffer):
        n = f.readinto(buffer[done:])
        if not n:
            break
        done += n
    return done


def _idx_path(raw: Path, name: str) -> Path | None:
    """The file `name` in `raw`, uncompressed (as torchvision leaves it) or gzip-compressed (as bundled)."""
    return next((p for p in (raw / name, raw / f"{name}.gz") if p.is_file()), None)


DOWNLOAD_HINT = "--download"


def _where(root: str | Path | None, base: Path) -> str:
    """How a root was named, resolved: "/abs/data (the default --data-dir: this repository's data/)"."""
    if root is None:
        return f"{base.resolve()} (the default --data-dir: this repository's data/ folder)"
    if not Path(root).expanduser().is_absolute():
        return f"{base.resolve()} (--data-dir {root}, relative to the working directory {Path.cwd()})"
    return str(base)


def _download_with_torchvision(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION[name])
    try:
        cls(root=str(root), train=True, download=True)  # fetches the files of both splits
    except (RuntimeError, OSError) as exc:  # RuntimeError once every mirror has failed; OSError: network errors
        raise DatasetError(
            f"could not download {cls.__name__} into {root.resolve()} ({exc}); check the network, or put the "
            f"files under {root.resolve() / cls.__name__}/raw and run without --download"
        ) from exc


def _as_float_images(data) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) array/tensor -> float (N, C, H, W) in [0, 1]."""
    images = torch.as_tensor(np.asarray(data))
    if images.ndim == 3:
        images = images.unsqueeze(1)
    else:
        images = images.permute(0, 3, 1, 2)
    return images.contiguous().float().div_(255.0)


def _idx_base(name: str, base: Path) -> Path:
    """torchvision's root for `base`, also when `base` names the dataset's own folder or its raw/ folder
    (`--data-dir data/FashionMNIST/raw` means `--data-dir data`)."""
    folder, _ = _IDX_DATASETS[name]
    if (base / folder / "raw").is_dir():
        return base
    if base.name == "raw" and base.parent.name == folder:
        return base.parent.parent
    return base.parent if base.name == folder else base


def _idx_paths(name: str, root: str | Path | None, download: bool,
               roots: DataRoots | None = None) -> dict[str, Path]:
    """file name -> path of the dataset's four idx files, downloading them first if asked; with `roots`, the
    folder and every file must lie inside them."""
    folder, _ = _IDX_DATASETS[name]
    base = _idx_base(name, _data_root(root))
    raw = base / folder / "raw"
    if roots is not None:
        roots.check(raw if raw.exists() else base)
    names = [file for files in _IDX_FILES.values() for file in files]
    if download and any(_idx_path(raw, file) is None for file in names):
        _download_with_torchvision(name, base)
    paths = {file: _idx_path(raw, file) for file in names}
    missing = [file for file, path in paths.items() if path is None]
    if missing:
        found = sorted(p.name for p in raw.iterdir()) if raw.is_dir() else []
        there = (f"it holds {', '.join(found)}" if found else "it is empty") if raw.is_dir() else "it does not exist"
        raise DatasetError(
            f"{folder} not found: looked in {_where(root, base / folder / 'raw')}; {there}. Missing: "
            f"{', '.join(missing)} (each plain or .gz). Put them there, or download them into "
            f"{base.resolve()} with --data-dir {base.resolve()} {DOWNLOAD_HINT}",
            fix={"root": str(base.resolve()), "download": True},
        )
    if roots is not None:
        paths = {file: roots.check(path) for file, path in paths.items()}
    return paths


def _read_idx_or_say_how_to_replace(path: Path) -> np.ndarray:
    try:
        return read_idx(path)
    except DatasetError as exc:
        base = path.parent.parent.parent.resolve()  # <root>/<folder>/raw/<file>
        raise DatasetError(f"{exc}. Delete {path} and download it again with --data-dir {base} {DOWNLOAD_HINT}",
                           fix={"root": str(base), "download": True, "delete": str(path.resolve())}) from exc


def _idx_split(images_path: Path, labels_path: Path, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) from an images file (N, H, W) and its labels file (N,)."""
    images, labels = _read_idx_or_say_how_to_replace(images_path), _read_idx_or_say_how_to_replace(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or labels.max(initial=0) >= n_classes:
        raise DatasetError(f"{images_path.name} {images.shape} and {labels_path.name} {labels.shape} do not match")
    return _as_float_images(images), torch.from_numpy(labels.astype(np.int64))


def load_idx_dataset(name: str, root: str | Path | None = None, download: bool = False,
                     roots: DataRoots | None = None) -> Dataset:
    """MNIST, FashionMNIST or KMNIST from `<root>/<folder>/raw`, idx files plain or .gz (torchvision's layout).

    `root` None is the repository's data/ folder, which carries MNIST: it loads offline with no options.
    `download` fetches missing files with torchvision first; files already there are never fetched again.
    With `roots`, every file read must lie inside them (symlinks and `..` resolved).
    """
    _, class_names = _IDX_DATASETS[name]
    paths = _idx_paths(name, root, download, roots)
    x_train, y_train = _idx_split(*(paths[file] for file in _IDX_FILES["train"]), len(class_names))
    x_test, y_test = _idx_split(*(paths[file] for file in _IDX_FILES["test"]), len(class_names))
    return Dataset(name, x_train, y_train, x_test, y_test, class_names,
                   options={**_root_option(root), "download": download})


def load_torchvision_dataset(name: str, root: str | Path | None = None, download: bool = False,
                             roots: DataRoots | None = None) -> Dataset:
    """CIFAR10 through torchvision, read once into tensors (its `.data` array, no per-item transforms); with
    `roots`, its folder and files must lie inside them."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION[name])
    base = _data_root(root)
    if roots is not None:
        roots.check(base)
        for file, _ in (*cls.train_list, *cls.test_list, (cls.meta["filename"], None)):
            if (base / cls.base_folder / file).exists():
                roots.check(base / cls.base_folder / file)
    if download:
        _download_with_torchvision(name, base)
    try:
        splits = [cls(root=str(base), train=train, download=False) for train in (True, False)]
    except RuntimeError as exc:
        raise DatasetError(
            f"{cls.__name__} not found: looked for the extracted {cls.base_folder} folder in {_where(root, base)} "
            f"({exc}). Put it there (torchvision's layout), or download it with --data-dir {base.resolve()} "
            f"{DOWNLOAD_HINT}", fix={"root": str(base.resolve()), "download": True},
        ) from exc
    (x_train, y_train), (x_test, y_test) = [
        (_as_float_images(s.data), torch.as_tensor(s.targets, dtype=torch.int64)) for s in splits
    ]
    return Dataset(
        name, x_train, y_train, x_test, y_test, tuple(splits[0].classes),
        options={**_root_option(root), "download": download},
    )


DEFAULT_IMAGE_SIZE = 28  # side of a folder's images once converted (MNIST's); the CLI and the app read it
BACKGROUND = "black"  # transparent pixels are composited on black: MNIST-like data is light ink on a 0 background
MAX_REPORTED_FILES = 10  # skipped files listed by name in a FolderReport (all are counted)


class _Skipped(Exception):
    """A file of an image folder that is left out: `kind` groups it in the report, `detail` says why."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


@dataclass(frozen=True)
class FolderReport:
    """What loading an image folder kept, skipped (and why) and converted (and how)."""

    loaded: int
    skipped: dict[str, int]  # kind of problem -> files
    skipped_examples: tuple[tuple[str, str], ...]  # (relative path, why), the first MAX_REPORTED_FILES
    converted: dict[str, int]  # conversion -> files, e.g. "RGBA -> L, alpha composited on black": 1
    converted_examples: dict[str, str]  # conversion -> the first file converted so (with its size and mode)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def lines(self) -> list[str]:
        """The report as short lines of text (the CLI prints them; the app shows them)."""
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.skipped.items())
        lines = [f"loaded {self.loaded} images; skipped {self.n_skipped} file(s)" + (f": {kinds}" if kinds else "")]
        lines += [f"  skipped {path}: {why}" for path, why in self.skipped_examples]
        if self.n_skipped > len(self.skipped_examples):
            lines.append(f"  ... and {self.n_skipped - len(self.skipped_examples)} more skipped")
        lines += [f"converted {n} image(s): {what} (e.g. {self.converted_examples[what]})"
                  for what, n in self.converted.items()]
        return lines


@dataclass(frozen=True)
class FolderLimits:
    """How much of a disk one image folder may make the server walk and read."""

    max_files: int = 100_000
    max_bytes: int = 2 * 2**30  # the files' sizes added up
    max_depth: int = 8  # subfolders below the folder itself


def _folder_files(root: Path, limits: FolderLimits) -> list[Path]:
    """The files under `root` (hidden ones left out), sorted; symbolic links are listed, not followed. Raises
    DatasetError past a limit, before reading any image."""
    files, total = [], 0
    for folder, subfolders, names in os.walk(root):  # os.walk does not descend into linked folders
        depth = len(Path(folder).relative_to(root).parts)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if subfolders and depth >= limits.max_depth:
            raise DatasetError(f"{root} has folders more than {limits.max_depth} levels deep; use a flatter folder")
        for name in names:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            files.append(path)
            total += path.lstat().st_size
            if len(files) > limits.max_files or total > limits.max_bytes:
                raise DatasetError(f"{root} holds more than {limits.max_files:,} files or "
                                   f"{limits.max_bytes / 2**30:g} GiB; use a smaller folder")
    return sorted(files)


def _read_image(path: Path, size: int, mode: str) -> tuple[np.ndarray, list[str]]:
    """One file as a uint8 array (size, size[, 3]) in `mode` ("L" or "RGB"), and the conversions it needed;
    raises _Skipped when it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    if path.is_symlink():  # it could point anywhere: outside the folder, at a device
        raise _Skipped("symbolic link (not followed)", f"links to {os.readlink(path)}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise _Skipped("not an image file", f"suffix {path.suffix or '(none)'} is not one of "
                                            f"{' '.join(sorted(IMAGE_SUFFIXES))}")
    try:
        with Image.open(path) as img:
            img.load()
            conversions = []
            if img.has_transparency_data:  # converting would drop alpha: a transparent digit became a grey square
                conversions.append(f"{img.mode} -> {mode}, alpha composited on {BACKGROUND}")
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, BACKGROUND), rgba)
            elif img.mode != mode:
                conversions.append(f"{img.mode} -> {mode}")
            if img.size != (size, size):
                conversions.append(f"resized (stretched, bilinear) to {size}x{size}")
            img = img.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8), conversions
    except Image.DecompressionBombError as exc:  # not an OSError: a tiny file declaring gigapixels is skipped
        raise _Skipped("too many pixels", str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _Skipped("unreadable or corrupt image", f"{type(exc).__name__}: {exc}") from exc


def _describe(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as img:
        return f"{img.width}x{img.height} {img.mode}"


def _read_folder(root: Path, files: list[Path], size: int, mode: str) -> tuple[list, list[Path], FolderReport]:
    """The readable images of `files` (uint8 arrays), the files they came from, and the report."""
    images, kept = [], []
    skipped: dict[str, int] = {}
    skipped_examples: list[tuple[str, str]] = []
    converted: dict[str, int] = {}
    converted_examples: dict[str, str] = {}
    for file in files:
        relative = file.relative_to(root).as_posix()
        try:
            pixels, conversions = _read_image(file, size, mode)
        except _Skipped as skip:
            skipped[skip.kind] = skipped.get(skip.kind, 0) + 1
            if len(skipped_examples) < MAX_REPORTED_FILES:
                skipped_examples.append((relative, f"{skip.kind} ({skip.detail})"))
            continue
        images.append(pixels)
        kept.append(file)
        for what in conversions:
            converted[what] = converted.get(what, 0) + 1
            converted_examples.setdefault(what, f"{relative}, {_describe(file)}")
    return images, kept, FolderReport(len(images), skipped, tuple(skipped_examples), converted, converted_examples)


def load_image_folder(
    path: str | Path,
    size: int = DEFAULT_IMAGE_SIZE,
    grayscale: bool = True,
    test_fraction: float = 0.2,
    seed: int = 0,
    roots: DataRoots | None = None,
    limits: FolderLimits = FolderLimits(),
) -> Dataset:
    """A folder of the user's images; class subfolders become labels, loose files class "all".

    Every image is converted to `size` x `size` (stretched) in grayscale ("L") or RGB; transparency is
    composited on BACKGROUND. Files that are not readable images are skipped; `report` says which, why, and
    which conversions were made. Each example's id is its path relative to the folder. The walk is bounded by
    `limits`; symbolic links are skipped, never followed. With `roots`, the folder must lie inside them.
    """
    if not str(path).strip():
        raise DatasetError("no image folder given: enter the path of a folder of png/jpg images")
    root = Path(path).expanduser() if roots is None else roots.check(path)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    if not isinstance(size, int) or not 4 <= size <= 256:
        raise DatasetError(f"image size must be between 4 and 256 pixels, got {size}")
    files = _folder_files(root, limits)
    images, kept, report = _read_folder(root, files, size, "L" if grayscale else "RGB")
    if len(images) < 2:
        raise DatasetError(
            f"{root} holds {len(images)} readable image(s) ({report.n_skipped} unreadable file(s) skipped); "
            "a dataset needs at least 2 png/jpg images. " + " ".join(report.lines()[1:4])
        )
    class_dirs = sorted({file.parent for file in kept})  # a folder with no readable image is no class
    class_names = tuple(d.name if d != root else "all" for d in class_dirs)
    x = _as_float_images(np.stack(images))
    y = torch.tensor([class_dirs.index(file.parent) for file in kept], dtype=torch.int64)
    ids = np.array([file.relative_to(root).as_posix() for file in kept], dtype=object)
    train, test = _stratified_split(y, test_fraction, seed)
    if len(test) == 0:  # every class has a single image: test on the training images
        test = train
    return Dataset(
        "folder", x[train], y[train], x[test], y[test], class_names, skipped_files=report.n_skipped,
        options={"path": str(root), "size": size, "grayscale": grayscale},
        train_ids=tuple(ids[train]), test_ids=tuple(ids[test]), report=report,
    )


DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits_dataset,
    **{name: functools.partial(load_idx_dataset, name) for name in _IDX_DATASETS},
    "cifar10": functools.partial(load_torchvision_dataset, "cifar10"),
    "folder": load_image_folder,
}


def load_dataset(name: str, *, roots: DataRoots | None = None, **options) -> Dataset:
    """Load a registered dataset by name: digits, mnist, fashion_mnist, kmnist, cifar10, folder. With `roots`,
    every path it reads must lie inside them."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if not (roots is None or isinstance(roots, DataRoots)) or "limits" in options:
        raise DatasetError(f"bad options for dataset {name!r}")
    try:
        return DATASETS[name](**options, roots=roots)
    except TypeError as exc:
        raise DatasetError(f"bad options for dataset {name!r}: {exc}") from exc


_KEPT_OPTIONS = {"folder": ("size", "grayscale")}  # what a stored dataset keeps once its path is looked up by name
_CIFAR_FOLDER = "cifar-10-batches-py"  # torchvision's CIFAR10.base_folder


def _idx_complete(root: Path, folder: str) -> bool:
    raw = root / folder / "raw"
    return all(_idx_path(raw, file) is not None for files in _IDX_FILES.values() for file in files)


def _found_in(roots: DataRoots, name: str, options: dict) -> dict | None:
    """Where `name` lies inside the roots, as loading options (None: in none of them)."""
    if name == "digits":
        return {}
    for root in roots.folders:
        if name in _IDX_DATASETS and _idx_complete(root, _IDX_DATASETS[name][0]):
            return _root_option(root)
        if name == "cifar10" and (root / _CIFAR_FOLDER).is_dir():
            return _root_option(root)
        folder_name = Path(str(options.get("path", ""))).name
        candidate = root / folder_name
        if name == "folder" and folder_name not in ("", ".", "..") and candidate.is_dir() \
                and roots.contains(candidate):
            return {"path": str(candidate)}
    return None


def _where_to_put(name: str, options: dict) -> str:
    if name in _IDX_DATASETS:
        return f"its four idx files in <data folder>/{_IDX_DATASETS[name][0]}/raw"
    if name == "cifar10":
        return f"torchvision's extracted {_CIFAR_FOLDER} folder in a data folder"
    return f"a folder named {Path(str(options.get('path', ''))).name!r} of its images in a data folder"


def _stored_inside(roots: DataRoots, name: str, options: dict) -> dict | None:
    """The stored options when the path they name lies inside the roots and holds the dataset (None otherwise)."""
    key = "path" if name == "folder" else "root"
    stored = options.get(key)
    if not isinstance(stored, str) or not stored or not roots.contains(stored):
        return None
    path = Path(stored)
    holds = path.is_dir() if name == "folder" else (
        _idx_complete(_idx_base(name, path), _IDX_DATASETS[name][0]) if name in _IDX_DATASETS
        else (path / _CIFAR_FOLDER).is_dir())
    return {key: stored} if holds else None


def locate(name: str, options: dict, roots: DataRoots) -> dict:
    """Loading options for the stored dataset `name` inside `roots`: its stored path when that lies inside them,
    else the dataset found BY NAME in them (a stored path outside the roots is never followed: a checkpoint's
    options may be a stranger's); of a folder's other options only size and grayscale are kept. Raises
    DatasetError naming what is missing and where to put it."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    found = _stored_inside(roots, name, options) if name != "digits" else {}
    found = found if found is not None else _found_in(roots, name, options)
    if found is None:
        raise DatasetError(f"the model's dataset {name!r} is not in this server's data folders "
                           f"({roots.describe()}); to use it, put {_where_to_put(name, options)}")
    kept = {key: options[key] for key in _KEPT_OPTIONS.get(name, ()) if key in options}
    return {**kept, **found}


def datasets_in_roots(roots: DataRoots, max_folders: int = 100) -> list[tuple[str, dict]]:
    """Every dataset found inside the roots as (name, loading options): digits, the idx datasets and CIFAR10 in
    torchvision's layout, and each visible subfolder of a root as an image folder (at most `max_folders`)."""
    found: list[tuple[str, dict]] = [("digits", {})]
    layout = {folder for folder, _ in _IDX_DATASETS.values()} | {_CIFAR_FOLDER}
    for root in roots.folders:
        if not root.is_dir():
            continue
        found += [(name, _root_option(root)) for name, (folder, _) in _IDX_DATASETS.items()
                  if _idx_complete(root, folder)]
        if (root / _CIFAR_FOLDER).is_dir():
            found.append(("cifar10", _root_option(root)))
        subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                            and not p.name.startswith(".") and p.name not in layout)
        found += [("folder", {"path": str(p)}) for p in subfolders[:max_folders]]
    return found


