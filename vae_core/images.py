"""Turning model outputs into pictures: uint8 arrays, crisp nearest-neighbour upscaling, grids, PNG and GIF."""

from __future__ import annotations

import io

import numpy as np
import torch

# D3's category10: ten hues far enough apart that neighbouring classes never read as one (the app's and the
# standalone page's palette).
CLASS_COLORS = ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD",
                "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF"]


def class_color(label: int) -> str:
    return CLASS_COLORS[label % len(CLASS_COLORS)]


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (C, H, W) floats in [0, 1] -> (N, H, W) or (N, H, W, 3) uint8 (a single image drops N)."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    single = arr.ndim == 3
    arr = arr[None] if single else arr
    arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    arr = arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)
    return arr[0] if single else arr


def upscale(image: np.ndarray, size: int = 224) -> np.ndarray:
    """Nearest-neighbour upscale (H, W[, 3]) by an integer factor so the longer side is about `size`:
    8x8 digits stay sharp pixels instead of a blur."""
    factor = max(1, size // max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def grid(images: np.ndarray, ncols: int, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images (N, H, W[, 3]) into one image with `ncols` columns and `pad` pixels between."""
    n, h, w = images.shape[:3]
    nrows = -(-n // ncols)
    shape = (nrows * (h + pad) - pad, ncols * (w + pad) - pad, *images.shape[3:])
    out = np.full(shape, pad_value, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return out


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, frame_ms: int = 120, bounce: bool = True) -> bytes:
    """Animated GIF of uint8 frames (N, H, W[, 3]); `bounce` plays forward then back, looping."""
    from PIL import Image

    sequence = list(frames) + (list(frames[-2:0:-1]) if bounce and len(frames) > 2 else [])
    pil = [Image.fromarray(f) for f in sequence]
    buf = io.BytesIO()
    pil[0].save(buf, format="GIF", save_all=True, append_images=pil[1:], duration=frame_ms, loop=0)
    return buf.getvalue()


def tile(images: torch.Tensor | np.ndarray, ncols: int, size: int = 64, pad: int = 2) -> np.ndarray:
    """Model images (N, C, H, W) in [0, 1] -> one uint8 picture, each image upscaled crisply to about `size`
    pixels before tiling, so the gaps stay thin lines instead of growing with the upscale."""
    return grid(np.stack([upscale(img, size) for img in to_uint8(images)]), ncols, pad=pad)
