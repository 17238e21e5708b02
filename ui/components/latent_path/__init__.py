"""A slider along a path in latent space, decoded in the browser as the pointer moves (ui/components/runtime.py,
shared/model_client.js): a line, z = start + amount x direction (`line`), or the
slerp arc from start to end, z = slerp_at(start, end, amount) (`arc`). The amount comes back to Python on
release. This wrapper is the only place that knows what path.js reads (`data`) and sends back (state):

  data.decoder  `runtime.decoder`: {"runtime", "url", "input", "class_input", "output"}
  data.path     {"id": changes whenever the path does, "kind": "line", "start", "direction"} or
                {"id", "kind": "arc", "start", "end"}, each (D,)
  data.range    {"min", "max", "step", "value": where the slider starts on a new path, "label"}
  data.label    the class a conditional model decodes as (None for an unconditional model)
  data.image_shape (C, H, W); data.size the image's width in CSS pixels
  state status  {"state": "ready"} or {"state": "error", "reason"}, once per mount and on change
  state amount  {"path": the path id it was moved on, "value"} on every release
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ui.components import runtime, script, style
from vae_core.checkpoint import Checkpoint

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PathState:
    ready: bool  # the browser decodes as the pointer moves
    problem: str | None  # why it does not (None while it is still starting)
    amount: float  # as of the last release on this path (the start value until then)


@functools.cache
def _component():
    read = lambda name: (HERE / name).read_text()  # noqa: E731
    return st.components.v2.component("latent_path", html=read("path.html"), css=style("latent_path/path.css"),
                                      js=script("latent_path/path.js"))


def line(start: np.ndarray, direction: np.ndarray) -> dict:
    """The path z = start + amount x direction."""
    return {"kind": "line", "start": _floats(start), "direction": _floats(direction)}


def arc(start: np.ndarray, end: np.ndarray) -> dict:
    """The slerp path from start (amount 0) to end (amount 1), `vae_core.latent.slerp_at`."""
    return {"kind": "arc", "start": _floats(start), "end": _floats(end)}


def _floats(values) -> list[float]:
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def latent_path(checkpoint: Checkpoint, path: dict, *, label: str, amount_range: tuple[float, float, float],
                value: float, decoded_class: int | None = None, size: int = 128, key: str) -> PathState:
    """Mount the slider on `path` (`line` or `arc`); `amount_range` is (min, max, step), `value` where the slider
    starts. None of it moves the browser's slider again unless the path changes."""
    problem = runtime.problem()
    if problem:
        return PathState(False, problem, value)
    path_id = hashlib.sha256((checkpoint.sha256 + json.dumps(path)).encode()).hexdigest()[:16]
    low, high, step = amount_range
    result = _component()(
        key=key,
        data={"decoder": runtime.decoder(checkpoint), "path": {"id": path_id, **path},
              "range": {"min": low, "max": high, "step": step, "value": value, "label": label},
              "label": None if decoded_class is None else int(decoded_class),
              "image_shape": list(checkpoint.config.image_shape), "size": size},
        on_status_change=lambda: None, on_amount_change=lambda: None,
    )
    status = result.get("status") or {}
    amount = result.get("amount") or {}
    released = float(amount["value"]) if amount.get("path") == path_id else value
    return PathState(status.get("state") == "ready", status.get("reason"), released)
