"""The embedding inspector's data: the one dict its browser code (ui/components/embedding_inspector/inspector.js)
reads, built here for the app's wrapper (URLs of static files) and the standalone page (embedded assets) alike.

  view      {"id", "coords": URL of float32 (M, 2), "indices": URL of int32 (M,) dataset indices of those points
            or None (all N, in order), "count": M, "axes": [x name, y name], "direct": the two latent dimensions
            the axes are, in a direct view (the decoded map can be drawn under it), else None, "zoom": {"cx", "cy",
            "k"} the centre and the zoom (times the fitted one) to show when the view loads, or None (fitted)}
  points    {"labels": URL of int32 (N,), "images": [{"split", "url": uint8 (n, H, W[, 3]) gzip, "count"}] in
            dataset-index order, "codes": URL of float32 (N, D) posterior means, "latent_dim", "image_shape"
            (C, H, W), "names": class names, "palette": class colours}
  colour    {"values": URL of float32 (N,) or None (colour by label), "name", "range": [lo, hi]}
  filter    {"labels": allowed labels or None, "matches": dataset indices or None, "hide": bool}
  selected  dataset indices drawn as selected (the first MAX_RINGS); ellipses [{"x", "y", "sigma": [sx, sy]}]
            (1 and 2 sigma); star [x, y] or None
  decoder   {"runtime", "url", "input", "class_input" (a conditional model's graph: each point is decoded as its
            own label; else None), "output"}
"""

from __future__ import annotations

from collections.abc import Sequence

from .checkpoint import Checkpoint
from .images import CLASS_COLORS

MAX_RINGS = 5000  # selected points drawn ringed (a box over 60,000 points would only send a long list each run)


def inspector_data(checkpoint: Checkpoint, *, view_id: str, coords: str, count: int, axes: Sequence[str],
                   labels: str, images: Sequence[tuple[str, str, int]], codes: str, class_names: Sequence[str],
                   decoder: dict, indices: str | None = None, direct_dims: Sequence[int] | None = None,
                   zoom: dict | None = None, colour: tuple[str, str | None, Sequence[float]] = ("label", None, (0, 1)),
                   filter_labels: Sequence[int] | None = None, filter_matches: Sequence[int] | None = None,
                   hide: bool = False, selected: Sequence[int] = (), ellipses: Sequence[dict] = (),
                   star: Sequence[float] | None = None) -> dict:
    """The inspector's data for `checkpoint`; `coords`, `indices`, `labels`, `codes`, each image part's url
    (`images`: (split, url, count)) and the colour's values name files (URLs); `colour` is (name, values, range)."""
    name, values, value_range = colour
    return {
        "view": {"id": view_id, "coords": coords, "indices": indices, "count": int(count), "axes": list(axes),
                 "direct": None if direct_dims is None else [int(d) for d in direct_dims], "zoom": zoom},
        "points": {"labels": labels, "images": [{"split": s, "url": url, "count": int(n)} for s, url, n in images],
                   "codes": codes, "latent_dim": checkpoint.config.latent_dim,
                   "image_shape": list(checkpoint.config.image_shape), "names": list(class_names),
                   "palette": CLASS_COLORS},
        "colour": {"values": values, "name": name, "range": [float(v) for v in value_range]},
        "filter": {"labels": None if filter_labels is None else list(filter_labels),
                   "matches": None if filter_matches is None else list(filter_matches), "hide": bool(hide)},
        "selected": [int(i) for i in list(selected)[:MAX_RINGS]],
        "ellipses": list(ellipses),
        "star": None if star is None else [float(v) for v in star],
        "decoder": decoder,
    }
