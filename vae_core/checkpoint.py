"""Checkpoints that describe themselves and cannot run code.

One `.safetensors` file: the weights as safetensors tensors, and in its header metadata a JSON document
with the model config, dataset, training history (recon, KL, ELBO kept apart), epoch, the command that
trained it, library versions and creation time. The history's per-step rows are stored as one tensor per
column (`history.<split>.<key>`, int64 or float64: exact, at 8 bytes a value where JSON took about 17); the
metadata names the columns. Files with the rows in the JSON (before this) load as they did. Weights are float32, or
float16 in a file made smaller by `with_float16_weights` (they load as float32). Files are
written atomically (temp file + rename) and validated fully on load; no pickle is ever read.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch

from .data import Dataset, load_dataset, locate
from .errors import CheckpointError, ConfigError
from .files import write_atomically
from .models import VAE, VAEConfig
from .replay import TENSOR_PREFIX as REPLAY_PREFIX
from .replay import FormationReplay, layout_problem
from .roots import DataRoots

FORMAT_VERSION = 1
OPTIMIZER_PREFIX = "optimizer."  # Adam's moments per parameter, so a resumed run continues exactly
HISTORY_PREFIX = "history."  # history.<split>.<key>: one column of a split's rows
HISTORY_SPLITS = ("train", "test")
_HISTORY_DTYPES = {"I64": torch.int64, "F64": torch.float64}
_COLUMN_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ADAM_STATE = ("exp_avg", "exp_avg_sq", "step")
WEIGHT_DTYPES = ("F32", "F16")  # a model's weights load as float32 either way (`with_float16_weights`)
METADATA_KEY = "vae_explorer"
SUFFIX = ".safetensors"
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
_MAX_HEADER_BYTES = 64 * 1024 * 1024
REQUIRED_KEYS = {"format_version", "config", "dataset", "history", "epoch"}
OPTIONAL_KEYS = {"train_config", "command", "versions", "created"}
DATASET_KEYS = {"name", "image_shape", "class_names", "options"}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,79}$")


@dataclass
class DatasetInfo:
    name: str
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    options: dict = field(default_factory=dict)

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetInfo:
        """What a checkpoint records of the dataset it was trained on."""
        return cls(dataset.name, dataset.image_shape, dataset.class_names, dataset.options)

    def loading_options(self, download: bool = False, roots: DataRoots | None = None) -> dict:
        """The options to load this dataset again. A stored `download` flag is never trusted: the checkpoint
        may be a stranger's, and only the user's own choice may fetch data or create folders. With `roots`, no
        stored path is followed either: the dataset is looked up by name inside them (`data.locate`)."""
        if roots is not None:
            return locate(self.name, self.options, roots)
        options = dict(self.options)
        if "download" in options:
            options["download"] = download
        return options

    def load(self, download: bool = False, roots: DataRoots | None = None) -> Dataset:
        """The one way to reload a checkpoint's dataset (CLI, app, resume): through `loading_options`, so a
        stranger's file can never make this process download or create folders, and, given `roots` (an uploaded
        file, a shared server), never read outside them."""
        return load_dataset(self.name, roots=roots, **self.loading_options(download, roots))


@dataclass
class Checkpoint:
    """A loaded checkpoint: a ready model (eval mode, CPU) and what is known about it."""

    model: VAE
    dataset: DatasetInfo
    history: dict  # {"train": [{step, epoch, recon, kl, elbo, beta}], "test": [{step, epoch, recon, kl, elbo}]}
    epoch: int
    sha256: str  # of the file's bytes: a cache key that changes whenever the file does
    command: str | None = None
    train_config: dict | None = None
    versions: dict = field(default_factory=dict)
    created: str | None = None
    optimizer_state: dict | None = None  # Adam's per-parameter state {index: {exp_avg, exp_avg_sq, step}}
    replay: FormationReplay | None = None  # the latent formation replay of its training, if it was recorded

    @property
    def config(self) -> VAEConfig:
        return self.model.config

    @property
    def test_elbo(self) -> float | None:
        return self.history["test"][-1]["elbo"] if self.history.get("test") else None


def _versions() -> dict:
    import safetensors

    from . import __version__

    return {
        "vae_core": __version__, "torch": torch.__version__,
        "safetensors": safetensors.__version__, "python": platform.python_version(),
    }


def checkpoint_bytes(
    model: VAE,
    dataset: DatasetInfo,
    history: dict,
    epoch: int,
    command: str | None = None,
    train_config: dict | None = None,
    optimizer_state: dict | None = None,
    replay: FormationReplay | None = None,
) -> bytes:
    """Serialise a model, optionally Adam's state (`optimizer.state_dict()["state"]`) and the formation replay,
    and its metadata to the bytes of a .safetensors file."""
    from safetensors.torch import save

    metadata = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "dataset": {
            "name": dataset.name, "image_shape": list(dataset.image_shape),
            "class_names": list(dataset.class_names), "options": dataset.options,
        },
        "history": {},
        "epoch": epoch,
        "train_config": train_config,
        "command": command,
        "versions": _versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for index, state in (optimizer_state or {}).items():
        for name in ADAM_STATE:
            tensors[f"{OPTIMIZER_PREFIX}{index}.{name}"] = state[name].detach().cpu().float().contiguous()
    tensors.update(replay.until(epoch).tensors() if replay is not None else {})
    for split, rows in history.items():
        columns = _history_columns(rows)
        metadata["history"][split] = rows if columns is None else {"columns": list(columns)}
        tensors.update({f"{HISTORY_PREFIX}{split}.{key}": values for key, values in (columns or {}).items()})
    return save(tensors, metadata={METADATA_KEY: json.dumps(metadata)})


def with_float16_weights(data: bytes) -> bytes:
    """The checkpoint `data` with its model weights stored as float16 (half the bytes; they load as float32, rounded
    to float16's 11 significant bits), everything else (metadata, history, replay, Adam's state) as it was; raises
    CheckpointError on a bad file."""
    from safetensors.torch import load, save

    weights = load_checkpoint_bytes(data).model.state_dict().keys()
    tensors = {key: t.half() if key in weights else t for key, t in load(data).items()}
    return save(tensors, metadata=_read_header(data)["__metadata__"])


def _history_columns(rows: list[dict]) -> dict[str, torch.Tensor] | None:
    """A split's rows as one tensor per key (int64 where every value is an int, else float64), or None when the
    rows do not share their keys or hold anything but numbers (they then stay in the JSON)."""
    if not rows or any(row.keys() != rows[0].keys() for row in rows):
        return None
    columns = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        if not _COLUMN_PATTERN.match(key) or not all(type(v) in (int, float) for v in values):
            return None
        exact = all(type(v) is int for v in values)
        columns[key] = torch.tensor(values, dtype=torch.int64 if exact else torch.float64)
    return columns


def _history_layout_problem(history, declared: dict[str, tuple[tuple[int, ...], str]]) -> str | None:
    """Why the metadata's history entry and the history tensors the header declares do not fit together."""
    if not isinstance(history, dict) or set(history) != set(HISTORY_SPLITS):
        return "checkpoint history must hold 'train' and 'test'"
    wanted = set()
    for split, entry in history.items():
        if isinstance(entry, list):
            continue
        names = entry.get("columns") if isinstance(entry, dict) and set(entry) == {"columns"} else None
        if not isinstance(names, list) or not all(isinstance(n, str) and _COLUMN_PATTERN.match(n) for n in names):
            return f"history {split!r} must be a list of rows or {{'columns': [names]}}"
        keys = [f"{HISTORY_PREFIX}{split}.{name}" for name in names]
        shapes = {declared.get(key, ((), None))[0] for key in keys}
        if not all(key in declared and declared[key][1] in _HISTORY_DTYPES for key in keys) or len(shapes) != 1 \
                or len(next(iter(shapes))) != 1:
            return f"history {split!r} columns must be 1-D int64 / float64 tensors of one length"
        wanted.update(keys)
    extra = sorted(k for k in declared if k.startswith(HISTORY_PREFIX) and k not in wanted)
    return f"unexpected history tensors {extra[:5]}" if extra else None


def _history_rows(history: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """The history as rows again: the JSON's rows, or the columns' tensors (taken out of `tensors`) row by row."""
    rows = {}
    for split, entry in history.items():
        if isinstance(entry, list):
            rows[split] = entry
            continue
        columns = {name: tensors.pop(f"{HISTORY_PREFIX}{split}.{name}").tolist() for name in entry["columns"]}
        rows[split] = [dict(zip(columns, values)) for values in zip(*columns.values())]
    return rows


def save_checkpoint(path: str | Path, model: VAE, dataset: DatasetInfo, history: dict, epoch: int,
                    command: str | None = None, train_config: dict | None = None,
                    overwrite: bool = True, optimizer_state: dict | None = None,
                    replay: FormationReplay | None = None) -> Path:
    data = checkpoint_bytes(model, dataset, history, epoch, command, train_config, optimizer_state, replay)
    return write_atomically(path, data, overwrite=overwrite)


def checkpoint_path(folder: str | Path, name: str) -> Path:
    """The path for a user-chosen checkpoint name inside `folder`; refuses path tricks like '../x'."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    if not _NAME_PATTERN.match(stem) or ".." in stem:
        raise CheckpointError(
            f"invalid checkpoint name {name!r}: use letters, digits, '-', '_', '.' and spaces (max 80), "
            "no folders"
        )
    return Path(folder) / f"{stem}{SUFFIX}"


def _refuse_foreign_formats(data: bytes) -> None:
    if len(data) <= 8:
        raise CheckpointError(f"file is too short to be a checkpoint ({len(data)} bytes)")
    # A safetensors file has '{' at byte 8; its 8-byte header length may itself start with 0x80 or "PK".
    if data[8:9] != b"{" and (data[:2] == b"PK" or data[:1] == b"\x80"):
        raise CheckpointError(
            "this is a pickle-based PyTorch file (.pt/.pth); loading it could run arbitrary code, so it is "
            "refused. Convert it to a VAE Latent Explorer .safetensors checkpoint"
        )
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(len(data) - 8, _MAX_HEADER_BYTES) or data[8:9] != b"{":
        raise CheckpointError("not a safetensors file, or the file is truncated (bad header)")


def _read_header(data: bytes) -> dict:
    (header_len,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"corrupt safetensors header: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError("corrupt safetensors header: not a JSON object")
    return header


def _parse_metadata(header: dict) -> dict:
    metadata = header.get("__metadata__") or {}
    raw = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if not isinstance(raw, str):
        raise CheckpointError("this safetensors file has no VAE Latent Explorer metadata (config, dataset)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint metadata is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError("checkpoint metadata is not a JSON object")
    missing, unknown = REQUIRED_KEYS - set(meta), set(meta) - REQUIRED_KEYS - OPTIONAL_KEYS
    if missing or unknown:
        raise CheckpointError(f"checkpoint metadata: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"unsupported checkpoint format version {meta['format_version']!r}")
    return meta


def _dataset_info(meta: dict, config: VAEConfig) -> DatasetInfo:
    ds = meta["dataset"]
    if not isinstance(ds, dict) or set(ds) != DATASET_KEYS:
        raise CheckpointError(f"checkpoint dataset entry must have exactly the keys {sorted(DATASET_KEYS)}")
    try:
        info = DatasetInfo(str(ds["name"]), tuple(ds["image_shape"]), tuple(map(str, ds["class_names"])),
                           dict(ds["options"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint dataset entry is malformed: {exc}") from exc
    if info.image_shape != config.image_shape:
        raise CheckpointError(f"dataset image shape {info.image_shape} does not match the model's {config.image_shape}")
    if config.conditional and config.n_classes != len(info.class_names):
        raise CheckpointError(f"the conditional model has {config.n_classes} classes, its dataset "
                              f"{len(info.class_names)} class names")
    return info


def _check_history(history) -> dict:
    ok = isinstance(history, dict) and set(history) == {"train", "test"} and all(
        isinstance(rows, list) and all(isinstance(r, dict) and {"step", "recon", "kl", "elbo"} <= set(r) for r in rows)
        for rows in history.values()
    )
    if not ok:
        raise CheckpointError("checkpoint history must hold 'train' and 'test' lists of {step, recon, kl, elbo}")
    return history


def _check_tensors(header: dict, config: VAEConfig, history) -> None:
    """Compare declared tensors with what the config builds, before any real allocation."""
    with torch.device("meta"):
        model = VAE(config)
    expected = {k: (tuple(v.shape), WEIGHT_DTYPES) for k, v in model.state_dict().items()}
    adam = {f"{OPTIMIZER_PREFIX}{i}.{name}": (tuple(p.shape) if name != "step" else (), ("F32",))
            for i, p in enumerate(model.parameters()) for name in ADAM_STATE}
    if any(k.startswith(OPTIMIZER_PREFIX) for k in header):  # optional, but then complete
        expected.update(adam)
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if not all(isinstance(v, dict) and isinstance(v.get("shape"), list) for v in entries.values()):
        raise CheckpointError("corrupt safetensors header: a tensor entry has no shape list")
    declared = {k: (tuple(v["shape"]), v.get("dtype")) for k, v in entries.items()}
    problem = layout_problem(declared, config.latent_dim)
    if problem:
        raise CheckpointError(f"malformed formation replay: {problem}")
    problem = _history_layout_problem(history, declared)
    if problem:
        raise CheckpointError(problem)
    declared = {k: v for k, v in declared.items()  # both checked just above
                if not k.startswith(REPLAY_PREFIX) and not k.startswith(HISTORY_PREFIX)}
    if set(declared) != set(expected):
        missing, extra = sorted(set(expected) - set(declared)), sorted(set(declared) - set(expected))
        raise CheckpointError(f"weights do not match the config: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, (shape, dtypes) in expected.items():
        if declared[key][0] != shape or declared[key][1] not in dtypes:
            raise CheckpointError(f"tensor {key!r} is {declared[key][1]} {list(declared[key][0])}, the config needs "
                                  f"{' or '.join(dtypes)} {list(shape)}")


def load_checkpoint_bytes(data: bytes) -> Checkpoint:
    """Validate and load a checkpoint from its bytes; every problem is a CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"checkpoint is {len(data) / 2**20:.0f} MiB; the limit is {MAX_CHECKPOINT_BYTES // 2**20} MiB"
        )
    _refuse_foreign_formats(data)
    header = _read_header(data)
    meta = _parse_metadata(header)
    try:
        config = VAEConfig.from_dict(meta["config"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"invalid model config in checkpoint: {exc}") from exc
    dataset = _dataset_info(meta, config)
    if not isinstance(meta["epoch"], int) or meta["epoch"] < 0:
        raise CheckpointError(f"checkpoint epoch must be a non-negative integer, got {meta['epoch']!r}")
    _check_tensors(header, config, meta["history"])
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"corrupt or truncated weights: {exc}") from exc
    history = _check_history(_history_rows(meta["history"], tensors))
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise CheckpointError("checkpoint weights contain NaN or inf")
    replay = _replay(tensors, len(dataset.class_names), int(meta["epoch"]))
    optimizer_state: dict[int, dict] = {}
    for key in [k for k in tensors if k.startswith(OPTIMIZER_PREFIX)]:
        index, name = key[len(OPTIMIZER_PREFIX):].split(".")
        optimizer_state.setdefault(int(index), {})[name] = tensors.pop(key)
    model = VAE(config)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return Checkpoint(
        model=model, dataset=dataset, history=history, epoch=int(meta["epoch"]),
        sha256=hashlib.sha256(data).hexdigest(), command=meta.get("command"),
        train_config=meta.get("train_config"), versions=meta.get("versions") or {}, created=meta.get("created"),
        optimizer_state=optimizer_state or None, replay=replay,
    )


def _replay(tensors: dict[str, torch.Tensor], n_classes: int, epoch: int) -> FormationReplay | None:
    """Take the replay's tensors (shapes already checked) out of `tensors` and check their values."""
    parts = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(REPLAY_PREFIX)]}
    if not parts:
        return None
    try:
        return FormationReplay.from_tensors(parts, n_classes, epoch)
    except ValueError as exc:
        raise CheckpointError(f"malformed formation replay: {exc}") from exc


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path} is larger than the {MAX_CHECKPOINT_BYTES // 2**20} MiB limit")
    try:
        return load_checkpoint_bytes(path.read_bytes())
    except CheckpointError as exc:
        raise CheckpointError(f"{path.name}: {exc}") from exc


def list_checkpoints(folder: str | Path) -> list[Path]:
    """The .safetensors files in a folder, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
