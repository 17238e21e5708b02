"""The standalone view: one .html file that opens from disk with no server and no network, holding the latent pad
and sliders (decoded in the page as the pointer moves, over the decoded map), the draw pad (a drawing encoded as it
is drawn), the scatter of a split's codes with hover thumbnails and the model's card.

The page is made of the app's own browser components (ui/components/: their HTML, CSS and scripts, read as files;
`ui.components` itself is plain paths, no Streamlit), so the pads, the model client and the scatter have one copy
of their code, and of the vendored ONNX Runtime Web (static/): the runtime's ES module and its WebAssembly binary,
the decoder and the encoder (vae_core.export) and the arrays are embedded gzip'd in base64.
vae_core/web/standalone.js inflates them (DecompressionStream), imports the runtime from a blob URL with its binary
as `env.wasm.wasmBinary`, and mounts each component as Streamlit would, with the data its wrapper
(ui/components/*/__init__.py) describes and the wrapper's URLs replaced by blob URLs of the embedded files.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint
from .distributions import DiagonalGaussian
from .export import graph_names, onnx_bytes
from .files import write_atomically
from .images import class_color, to_uint8
from .inspector import inspector_data
from .metrics import DimensionActivity, encode_posterior
from .paths import install_home
from .projection import pca_plane

ORT_WEB_DIR = "onnxruntime-web-1.30.0"  # under static/; see its VENDORED.md
ORT_WEB_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")  # the ES module, the binary it loads
WEB = Path(__file__).resolve().parent / "web"
ASSET = "asset:"  # a string in the page's data naming an embedded file; the page replaces it with a blob URL
SLIDER_LIMIT = 3.0  # the prior is N(0, I): +-3 sigma holds 99.7% of each coordinate (the app's sliders page too)
PAD_POINTS = 2000  # test codes drawn on the pad; more would only slow the first load


@dataclass(frozen=True)
class StandalonePage:
    html: bytes
    points: int  # examples in the scatter (each with its thumbnail)
    asset_bytes: dict[str, int]  # embedded file -> its size in the page (base64 of gzip)


def ort_web_file(name: str) -> Path:
    return install_home() / "static" / ORT_WEB_DIR / name


def standalone_page(checkpoint: Checkpoint, x: torch.Tensor, y: torch.Tensor, *, title: str,
                    encodings: tuple[np.ndarray, np.ndarray] | None = None) -> StandalonePage:
    """The page of `checkpoint` showing the examples x (N, C, H, W) with labels y (N,) (a split of its dataset);
    `encodings` are their posterior means and log-variances (N, D) if already known, else they are encoded here."""
    if encodings is None:
        posterior = encode_posterior(checkpoint.model, x, y)
    else:
        posterior = DiagonalGaussian(*map(torch.as_tensor, encodings))
    mu, labels = posterior.mu.numpy(), y.numpy().astype(np.int32)
    coords, axes, direct_dims = _map(mu)
    assets = {
        "decoder": onnx_bytes(checkpoint.model, "decoder"), "encoder": onnx_bytes(checkpoint.model, "encoder"),
        "coords": _le(coords, np.float32),
        "labels": _le(labels, np.int32), "codes": _le(mu, np.float32), "images": to_uint8(x).tobytes(),
        "components": json.dumps(_components()).encode(),
    }
    kl = DimensionActivity.of(posterior).kl
    decoder, encoder = (_embedded_graph(checkpoint, part) for part in ("decoder", "encoder"))
    points = {"count": len(mu), "codes": ASSET + "codes", "labels": ASSET + "labels", "images": ASSET + "images"}
    view = {"canvas": _canvas_data(checkpoint, mu, labels, kl, decoder),
            "inspector": _inspector_data(checkpoint, len(mu), axes, direct_dims, decoder),
            "draw": {"model": draw_pad_model(checkpoint, kl, encoder=encoder, decoder=decoder, points=points)}}
    encoded = {"ort-module": _runtime_file(ORT_WEB_FILES[0]), "ort-wasm": _runtime_file(ORT_WEB_FILES[1]),
               **{name: _embedded(data) for name, data in assets.items()}}
    page = _fill((WEB / "standalone.html").read_text(), title=html.escape(title), card=model_card(checkpoint, title),
                 css=(WEB / "standalone.css").read_text(), view=_script_json(view),
                 assets="\n".join(f'<script type="text/plain" id="asset-{name}">{text}</script>'
                                  for name, text in encoded.items()),
                 bootstrap=(WEB / "standalone.js").read_text())
    return StandalonePage(page.encode(), len(mu), {name: len(text) for name, text in encoded.items()})


def write_standalone_page(page: StandalonePage, path: str | Path, overwrite: bool = False) -> Path:
    return write_atomically(path, page.html, overwrite=overwrite)


def model_card(checkpoint: Checkpoint, title: str) -> str:
    """The model's card as HTML: dataset, architecture, the last test ELBO / KL / recon, the training command."""
    config = checkpoint.config
    info = checkpoint.dataset
    test = (checkpoint.history.get("test") or [{}])[-1]
    hidden = ", ".join(map(str, config.hidden_dims)) if config.hidden_dims else "default"
    rows = {
        "Dataset": f"{info.name}: {len(info.class_names)} classes, images {' x '.join(map(str, info.image_shape))}",
        "Architecture": f"{config.architecture}, latent dim {config.latent_dim}, hidden {hidden}, "
                        f"{config.likelihood} likelihood, beta {config.beta:g}"
                        + (f", conditional on {config.n_classes} classes" if config.conditional else ""),
        "Test (nats per image)": "  ".join(f"{key.upper()} {test[key]:.2f}" for key in ("elbo", "kl", "recon")
                                          if key in test) or "not recorded",
        "Trained": f"{checkpoint.epoch} epochs" + (f", {checkpoint.created}" if checkpoint.created else ""),
        "Command": checkpoint.command or "not recorded (trained in the app or an older version)",
    }
    cells = "".join(f"<dt>{html.escape(key)}</dt><dd>{'<code>' if key == 'Command' else ''}{html.escape(value)}"
                    f"{'</code>' if key == 'Command' else ''}</dd>" for key, value in rows.items())
    return f'<section class="card"><h1>{html.escape(title)}</h1><dl>{cells}</dl></section>'


def _map(mu: np.ndarray) -> tuple[np.ndarray, list[str], tuple[int, int] | None]:
    """The scatter's 2-D coordinates (N, 2), their axes' names and, in a direct view, the latent dimensions they
    are (the decoded map can be drawn under it): the codes themselves in 2-D, else their PCA plane."""
    if mu.shape[1] == 2:
        return mu, ["z0", "z1"], (0, 1)
    origin, basis = pca_plane(mu)
    return (mu - origin) @ basis.T, ["PC1", "PC2"], None


def pad_model(checkpoint: Checkpoint, codes: np.ndarray, labels: np.ndarray) -> dict:
    """The latent canvas's model payload without its decoder (ui/components/latent_canvas says what each field
    is): the pad shows a fixed sample of `codes` (N, D) coloured by `labels` (N,), over their PCA plane."""
    shown = np.random.default_rng(0).permutation(len(codes))[:PAD_POINTS]
    config = checkpoint.config
    names = list(checkpoint.dataset.class_names)
    return {
        "sha256": checkpoint.sha256, "latent_dim": config.latent_dim, "image_shape": list(config.image_shape),
        "points": {"codes": rounded(codes[shown]), "labels": labels[shown].astype(int).tolist(),
                   "colors": [class_color(label) for label in range(len(names))], "names": names},
        "pca": dict(zip(("origin", "basis"), map(rounded, pca_plane(codes)))),
    }


def draw_pad_model(checkpoint: Checkpoint, kl: np.ndarray, *, encoder: dict, decoder: dict, points: dict) -> dict:
    """The draw pad's data.model (ui/components/draw_pad says what each field is): `kl` (D,) each dimension's mean
    KL, the model's `encoder` and `decoder` specs and the test examples' `points` ({"count", "codes", "labels",
    "images"}, URLs of their arrays)."""
    config = checkpoint.config
    names = list(checkpoint.dataset.class_names)
    return {"sha256": checkpoint.sha256, "latent_dim": config.latent_dim, "image_shape": list(config.image_shape),
            "likelihood": config.likelihood, "gaussian_std": config.gaussian_std, "kl": rounded(kl), "names": names,
            "colors": [class_color(label) for label in range(len(names))], "encoder": encoder, "decoder": decoder,
            "points": points}


def rounded(values) -> list:
    """Floats for JSON at 4 decimals (float32 values would print ~17 digits each)."""
    return np.asarray(values, dtype=np.float64).round(4).tolist()


def _canvas_data(checkpoint: Checkpoint, mu: np.ndarray, labels: np.ndarray, kl: np.ndarray, decoder: dict) -> dict:
    """ui/components/latent_canvas's data (its __init__.py says what each field is)."""
    return {"model": {**pad_model(checkpoint, mu, labels), "decoder": decoder},
            "start": {"id": "start", "z": [0.0] * checkpoint.config.latent_dim},
            "sliders": {"dims": [int(d) for d in np.argsort(-kl, kind="stable")], "kl": rounded(kl),
                        "limit": SLIDER_LIMIT},
            "decoded_class": 0 if checkpoint.config.conditional else None}


def _inspector_data(checkpoint: Checkpoint, count: int, axes: list[str], direct_dims: tuple[int, int] | None,
                    decoder: dict) -> dict:
    """The inspector's data (vae_core.inspector) over the embedded files."""
    return inspector_data(checkpoint, view_id="standalone", coords=ASSET + "coords", count=count, axes=axes,
                          direct_dims=direct_dims,
                          labels=ASSET + "labels", images=[("test", ASSET + "images", count)], codes=ASSET + "codes",
                          class_names=checkpoint.dataset.class_names, decoder=decoder)


def _embedded_graph(checkpoint: Checkpoint, part: str) -> dict:
    """The model client's spec of `part` ("decoder" or "encoder"), its graph embedded in the page."""
    return {"runtime": ASSET + "ort-module", "url": ASSET + part, **graph_names(part, checkpoint.config.conditional)}


def _components() -> dict:
    """Each component's html, css and script (the shared stylesheet and scripts first, as the app sends them); embedded
    gzip'd like the arrays (a third of its size as text)."""
    from ui.components import HERE, script, style  # plain files: no Streamlit is imported

    files = {"latent_canvas": ("canvas", "latent_canvas"), "embedding_inspector": ("inspector", "embedding_inspector"),
             "draw_pad": ("draw", "draw_pad")}
    return {name: {"html": (HERE / folder / f"{stem}.html").read_text(),
                   "css": style(f"{folder}/{stem}.css"), "js": script(f"{folder}/{stem}.js")}
            for name, (stem, folder) in files.items()}


def _embedded(data: bytes) -> str:
    """A file as the page holds it: gzip (level 6: level 9 saves 0.5% of the runtime for twice the time), base64."""
    return base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode()


@functools.cache
def _runtime_file(name: str) -> str:
    return _embedded(ort_web_file(name).read_bytes())


def _le(values: np.ndarray, dtype) -> bytes:
    """Raw little-endian values, as the browser reads a typed array."""
    return np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def _script_json(value) -> str:
    """JSON safe inside a <script> element (no "</" can close it)."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _fill(template: str, **parts: str) -> str:
    """The template with each {{name}} replaced, in one pass (a part's text is never read as a placeholder)."""
    return re.sub(r"\{\{(\w+)\}\}", lambda match: parts[match.group(1)], template)

