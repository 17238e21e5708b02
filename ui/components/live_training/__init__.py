"""The Train page's live view, drawn in the browser (live.js): the ELBO's two terms on a canvas, train per step
(thin) and test per epoch (bold), and the test codes after the latest epoch on another, each redrawn in place when
its rows change. (A Plotly chart whose figure changes gets a new element id in Streamlit, so it was remounted and
fully redrawn at every poll: about a sixth of a core per chart in a headless Chromium, taken from the run training
beside it.) This wrapper is the only place that knows what live.js reads (`data`); it sends nothing back:

  data.series      [{"key", "panel": 0 top | 1 bottom, "color"}] (ui/training_history.SERIES)
  data.titles      the two panels' titles
  data.train       {"step": [...], and per series key [...]}: the train rows, thinned to MAX_CHART_POINTS
  data.test        the same for the test rows (one per epoch), plus "epoch"
  data.steps       [first, last]: the x axis, from the first row (or the run's first step) to the step it will end on
  data.codes       None before the first epoch's snapshot, else {"epoch", "x", "y", "labels", "caption"}
  data.classes     [{"name", "color"}] per class
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from ui.components import script, style
from ui.training_history import MAX_CHART_POINTS, PANEL_TITLES, SERIES
from ui.widgets import class_color
from vae_core.background import Progress

HERE = Path(__file__).resolve().parent
DIGITS = 5  # significant digits of the values sent: the chart's pixels cannot show more


@functools.cache
def _component():
    read = lambda name: (HERE / name).read_text()  # noqa: E731
    return st.components.v2.component("live_training", html=read("live.html"),
                                      css=style("live_training/live.css"), js=script("live_training/live.js"))


def live_training(progress: Progress, class_names: Sequence[str], *, key: str) -> None:
    _component()(key=key, data=live_data(progress, class_names))


def live_data(progress: Progress, class_names: Sequence[str]) -> dict:
    """What live.js draws for a run as of `progress`."""
    first_step = progress.step - progress.steps_done  # of this run; a resumed run's rows go back further
    train = progress.train_points(MAX_CHART_POINTS)
    shown_from = min([first_step, *(rows[0]["step"] for rows in (train, progress.test) if rows)])
    return {"series": [{"key": key, "panel": row - 1, "color": color} for key, row, color in SERIES],
            "titles": list(PANEL_TITLES),
            "train": _columns(train, ["step"]),
            "test": _columns(progress.test, ["step", "epoch"]),
            "steps": [shown_from, first_step + progress.total_steps],
            "codes": _codes(progress, class_names),
            "classes": [{"name": str(name), "color": class_color(i)} for i, name in enumerate(class_names)]}


def _columns(rows: list[dict], exact: list[str]) -> dict[str, list]:
    columns = {name: [int(row[name]) for row in rows] for name in exact}
    return columns | {key: [_rounded(row[key]) for row in rows] for key, _, _ in SERIES}


def _rounded(value: float) -> float:
    return float(f"{float(value):.{DIGITS}g}")


def _codes(progress: Progress, class_names: Sequence[str]) -> dict | None:
    replay = progress.replay
    if replay is None or not replay.frames:
        return None
    xy = np.asarray(replay.frames[-1], dtype=np.float32).round(3).astype(np.float64)
    return {"epoch": int(replay.epochs[-1]), "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(),
            "labels": replay.labels.astype(int).tolist(),
            "caption": f"{len(replay.indices):,} test codes (a class-balanced subsample), {replay.axes()}."}
