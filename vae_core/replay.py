"""Latent formation replay: the test set's posterior means snapshotted every epoch, kept as 2-D frames.

A fixed, class-balanced subsample of the test set (at most MAX_POINTS) is encoded at the end of every epoch. A model
with a 1-D or 2-D latent is drawn directly. A larger one is projected on the plane of the top two principal components
of its FIRST snapshot, fixed for the run: a frame drawn live never moves afterwards, so the live view and the replay
are the same pictures; a resumed run continues in the same plane (the checkpoint stores it); and a checkpoint holds
2-D frames only (float16: 8 kB per epoch at 2,000 points). The price: the plane is the one that spread the codes most
after one epoch, not necessarily at the end, where a plane fitted on the last frame would need every frame kept in D
dimensions until the run ends.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from .data import class_balanced_indices
from .projection import pca_plane

MAX_POINTS = 2000  # test codes per frame: enough to see every class's cluster form, bounded for any test set
MAX_FRAMES = 256  # a longer run keeps every other frame (the first and the latest always): bounded checkpoints
TENSOR_PREFIX = "replay."
# name -> (dtype in the safetensors header, shape in terms of E frames, M points, D latent dimensions)
TENSOR_LAYOUT = {"coords": ("F16", "EM2"), "epochs": ("I64", "E"), "indices": ("I64", "M"), "labels": ("I64", "M")}
PLANE_LAYOUT = {"origin": ("F32", "D"), "basis": ("F32", "2D")}


def balanced_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices of at most max_points labels, as equal a share per class as the classes allow
    (a class smaller than its share gives all it has); deterministic for a seed."""
    return np.sort(class_balanced_indices(torch.as_tensor(np.asarray(labels)), max_points, seed).numpy())


@dataclass(frozen=True)
class FormationReplay:
    """The frames of one run so far. Immutable: `with_frame` returns a new replay sharing the old frames."""

    indices: np.ndarray  # (M,) test-set rows of the subsample
    labels: np.ndarray  # (M,) their classes
    epochs: tuple[int, ...] = ()  # the epoch each frame was taken after, increasing
    frames: tuple[np.ndarray, ...] = ()  # (M, 2) float16 each
    origin: np.ndarray | None = None  # (D,) the first snapshot's PCA plane (D > 2 only; set by its first frame)
    basis: np.ndarray | None = None  # (2, D) orthonormal rows

    @classmethod
    def for_test_set(cls, test_labels: np.ndarray, max_points: int = MAX_POINTS, seed: int = 0) -> FormationReplay:
        indices = balanced_subsample(test_labels, max_points, seed)
        return cls(indices=indices, labels=np.asarray(test_labels)[indices].astype(np.int64))

    @property
    def projection(self) -> str:
        return "direct" if self.basis is None else "pca"

    def axes(self) -> str:
        """What the two axes are, for a caption."""
        return ("the latent dimensions themselves" if self.basis is None else
                "the top two principal components of the first snapshot's codes (fixed for the run)")

    def project(self, mu: np.ndarray) -> np.ndarray:
        """Codes (M, D) -> their frame coordinates (M, 2), float32, in this replay's fixed plane."""
        mu = np.asarray(mu, dtype=np.float64)
        if self.basis is not None:
            return ((mu - self.origin) @ self.basis.T).astype(np.float32)
        return (mu if mu.shape[1] == 2 else np.column_stack([mu[:, 0], np.zeros(len(mu))])).astype(np.float32)

    def with_frame(self, epoch: int, mu: np.ndarray) -> FormationReplay:
        """This replay with the frame of the subsample's means mu (M, D) after `epoch` added."""
        mu = np.asarray(mu, dtype=np.float64)
        replay = self
        if mu.shape[1] > 2 and self.basis is None:
            origin, basis = pca_plane(mu)
            replay = replace(self, origin=origin.astype(np.float32), basis=basis.astype(np.float32))
        epochs, frames = (*replay.epochs, int(epoch)), (*replay.frames, replay.project(mu).astype(np.float16))
        if len(frames) > MAX_FRAMES:
            keep = sorted({*range(0, len(frames) - 1, 2), len(frames) - 1})
            epochs, frames = tuple(epochs[i] for i in keep), tuple(frames[i] for i in keep)
        return replace(replay, epochs=epochs, frames=frames)

    def until(self, epoch: int) -> FormationReplay:
        """The frames taken at or before `epoch` (those that belong to weights saved then)."""
        n = sum(e <= epoch for e in self.epochs)
        return replace(self, epochs=self.epochs[:n], frames=self.frames[:n])

    def coords(self) -> np.ndarray:
        """All frames as one array (E, M, 2), float32."""
        return np.stack(self.frames).astype(np.float32) if self.frames else np.zeros((0, len(self.indices), 2))

    # --- checkpoint tensors: the one place that knows their names and layout ---------------------------------

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors a checkpoint stores (an empty replay stores none)."""
        if not self.frames:
            return {}
        parts = {"coords": torch.from_numpy(np.stack(self.frames)), "epochs": torch.tensor(self.epochs),
                 "indices": torch.from_numpy(self.indices.astype(np.int64)),
                 "labels": torch.from_numpy(self.labels.astype(np.int64))}
        if self.basis is not None:
            parts |= {"origin": torch.from_numpy(self.origin), "basis": torch.from_numpy(self.basis)}
        return {f"{TENSOR_PREFIX}{name}": t.contiguous() for name, t in parts.items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], n_classes: int, last_epoch: int) -> FormationReplay:
        """Rebuild from checkpoint tensors whose shapes `layout_problem` accepted; ValueError on bad values."""
        t = {k[len(TENSOR_PREFIX):]: v for k, v in tensors.items()}
        epochs = t["epochs"].tolist()
        labels, indices = t["labels"].numpy(), t["indices"].numpy()
        if any(b <= a for a, b in zip(epochs, epochs[1:])) or epochs[0] < 1 or epochs[-1] > last_epoch:
            raise ValueError(f"replay epochs must increase within 1..{last_epoch}, got {epochs[:5]}...")
        if labels.min() < 0 or labels.max() >= n_classes or indices.min() < 0:
            raise ValueError(f"replay labels must be in 0..{n_classes - 1} and indices non-negative")
        plane = {k: t[k].numpy() for k in PLANE_LAYOUT if k in t}
        return cls(indices=indices, labels=labels, epochs=tuple(epochs),
                   frames=tuple(frame.numpy() for frame in t["coords"]), **plane)


def layout_problem(declared: dict[str, tuple[tuple[int, ...], str]], latent_dim: int) -> str | None:
    """Why the replay tensors a checkpoint header declares ({name: (shape, dtype)}, prefix included) cannot be a
    replay of a model with `latent_dim` dimensions, or None if they can (or there are none)."""
    parts = {k[len(TENSOR_PREFIX):]: v for k, v in declared.items() if k.startswith(TENSOR_PREFIX)}
    if not parts:
        return None
    layout = TENSOR_LAYOUT | (PLANE_LAYOUT if latent_dim > 2 else {})
    if set(parts) != set(layout):
        return f"the replay tensors must be exactly {sorted(layout)}, got {sorted(parts)}"
    shape, _ = parts["coords"]
    if len(shape) != 3 or not all(type(d) is int for d in shape) or not (
            1 <= shape[0] <= MAX_FRAMES and 1 <= shape[1] <= MAX_POINTS):
        return f"replay coords must be (frames 1..{MAX_FRAMES}, points 1..{MAX_POINTS}, 2), got {list(shape)}"
    sizes = {"E": shape[0], "M": shape[1], "D": latent_dim, "2": 2}
    for name, (dtype, dims) in layout.items():
        expected = (tuple(sizes[d] for d in dims), dtype)
        if parts[name] != expected:
            return f"replay tensor {name!r} is {parts[name][1]} {list(parts[name][0])}, expected {dtype} " \
                   f"{list(expected[0])}"
    return None


def replay_gif(replay: FormationReplay, colors: Sequence[str], side: int = 360, frame_ms: int = 400) -> bytes:
    """The replay as an animated GIF, one frame per snapshot: points coloured by class (colors[label], "#rrggbb"),
    axes fixed over all frames (so the motion shows), the epoch written in a corner."""
    from PIL import Image, ImageDraw

    coords = replay.coords()
    if len(coords) == 0:
        raise ValueError("this replay has no frames yet")
    low, high = np.percentile(coords.reshape(-1, 2), [0.5, 99.5], axis=0)
    span = np.maximum(high - low, 1e-6)
    margin = side * 0.06
    pictures = []
    for epoch, frame in zip(replay.epochs, coords):
        xy = margin + (frame - low) / span * (side - 2 * margin)
        xy[:, 1] = side - xy[:, 1]  # image rows grow downwards, the latent axis upwards
        picture = Image.new("RGB", (side, side), "white")
        draw = ImageDraw.Draw(picture)
        for (px, py), label in zip(xy, replay.labels):
            draw.ellipse((px - 1.5, py - 1.5, px + 1.5, py + 1.5), fill=colors[int(label) % len(colors)])
        draw.text((6, 4), f"epoch {epoch}", fill="black")
        pictures.append(picture.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0,
                     disposal=2)
    return buffer.getvalue()
