"""Directions: walk from one class's mean toward another's, and latent arithmetic a - b + c.

Session keys this page owns (ui/session_keys.py): DIRECTIONS_WALK, the walk's strip and the code at its slider,
and DIRECTIONS_ARITHMETIC, the codes of a - b + c.
"""

import numpy as np
import streamlit as st
import torch

from ui.components.latent_path import latent_path, line
from ui.conditional import class_labels, decoding_class_ui
from ui.navigation import page_intro
from ui.session_keys import DIRECTIONS_ARITHMETIC, DIRECTIONS_WALK
from ui.widgets import image_rows, show_images
from vae_core.checkpoint import Checkpoint
from vae_core.directions import DirectionsConfig, arithmetic, class_mean, class_means, nearest_class, walk
from vae_core.latent import reencode

CONFIG = DirectionsConfig()
KINDS = {"mean": "Class mean", "example": "Test example"}


def default_class(labels: np.ndarray, class_names: tuple[str, ...], name: str, nth: int) -> int:
    """The class called `name` if the test split has it, else its nth class with examples."""
    present = np.unique(labels)
    wanted = class_names.index(name) if name in class_names else -1
    return wanted if wanted in present else int(present[min(nth, len(present) - 1)])


def class_ui(column, label: str, labels: np.ndarray, class_names: tuple[str, ...], default: int, key: str) -> int:
    """A class that has test examples (others have no mean code)."""
    present = [int(c) for c in np.unique(labels)]
    return column.selectbox(label, present, index=present.index(default), format_func=lambda c: class_names[c],
                            key=key)


def code_ui(column, name: str, mu: torch.Tensor, labels: np.ndarray, class_names: tuple[str, ...],
            default_kind: str, default_class_: int) -> tuple[torch.Tensor, str]:
    """One operand of a - b + c: a class mean or a test example's code (D,), and a caption naming it."""
    kind = column.radio(name, list(KINDS), index=list(KINDS).index(default_kind), format_func=KINDS.get,
                        horizontal=True, key=f"directions_kind_{name}")
    if kind == "mean":
        label = class_ui(column, f"Class of {name}", labels, class_names, default_class_, f"directions_class_{name}")
        return class_mean(mu, labels, label), f"{name}: mean of {class_names[label]}"
    default_index = int(np.flatnonzero(labels == default_class_)[0])
    index = column.number_input(f"Example {name} (0-{len(labels) - 1})", 0, len(labels) - 1, default_index,
                                key=f"directions_index_{name}")
    return mu[index], f"{name}: #{index} ({class_names[labels[index]]})"


def direction_section(checkpoint: Checkpoint, mu: torch.Tensor, labels: np.ndarray, class_names: tuple[str, ...],
                      decoding_class: int | None) -> None:
    st.subheader("From one class toward another")
    columns = st.columns(3)
    source = class_ui(columns[0], "From class", labels, class_names, default_class(labels, class_names, "3", 0),
                      "directions_from")
    target = class_ui(columns[1], "Toward class", labels, class_names, default_class(labels, class_names, "8", 1),
                      "directions_to")
    start_at = columns[2].radio("Start at", ["mean", "example"], horizontal=True, key="directions_start",
                                format_func=lambda k: "its class mean" if k == "mean" else "a test example of it")
    source_mean, target_mean = class_mean(mu, labels, source), class_mean(mu, labels, target)
    start, start_name = source_mean, f"the mean of {class_names[source]}"
    if start_at == "example":
        members = np.flatnonzero(labels == source)
        nth = columns[2].number_input(f"Which {class_names[source]} (0-{len(members) - 1})", 0, len(members) - 1,
                                      0, key="directions_nth")
        start, start_name = mu[members[nth]], f"test example #{members[nth]}"
    amounts = np.linspace(0, 1, CONFIG.strip_steps)
    direction = target_mean - source_mean
    codes = walk(start, direction, amounts)
    st.caption(f"From {start_name} along mean({class_names[target]}) - mean({class_names[source]}): the strip at "
               f"amounts 0 to 1 in {CONFIG.strip_steps} steps, and below it the code at any amount, decoded in your "
               "browser as you drag.")
    image_rows({"decode(z)": checkpoint.model.decode_image(codes, class_labels(decoding_class, len(codes))).cpu()},
               captions=[f"{a:.2f}" for a in amounts], size=64)
    amount = amount_ui(checkpoint, start, direction, decoding_class)
    current = walk(start, direction, [amount])
    st.session_state[DIRECTIONS_WALK] = {"amounts": amounts, "codes": codes.numpy(), "current": current[0].numpy()}
    back = reencode(checkpoint.model, codes, class_labels(decoding_class, len(codes)))
    st.caption("Distance of each image's re-encoding mu(decode(z)) to the two class means: moving along the "
               "direction, the decoded image becomes a " + class_names[target] + " as the encoder sees it.")
    st.line_chart({f"to the mean of {class_names[target]}": (back - target_mean).norm(dim=1).numpy(),
                   f"to the mean of {class_names[source]}": (back - source_mean).norm(dim=1).numpy(),
                   "amount": amounts}, x="amount", y_label="distance", height=200)


def amount_ui(checkpoint: Checkpoint, start: torch.Tensor, direction: torch.Tensor,
              decoding_class: int | None) -> float:
    """The amount along the direction as of the last release: a slider whose image follows the pointer (decoded in
    the browser), or the server's slider and image where the browser cannot decode."""
    path = latent_path(checkpoint, line(start.numpy(), direction.numpy()), label="Amount along the direction",
                       amount_range=(CONFIG.min_amount, CONFIG.max_amount, CONFIG.amount_step), value=CONFIG.amount,
                       decoded_class=decoding_class, key="directions_path")
    if path.problem is None:
        return path.amount
    st.info(f"In-browser decoding is off: {path.problem}. The image changes when you let go of the slider.")
    amount = st.slider("Amount along the direction", CONFIG.min_amount, CONFIG.max_amount, CONFIG.amount,
                       CONFIG.amount_step, key="directions_amount",
                       help="z = start + amount x (mean of target - mean of source): 0 is the start, 1 adds the "
                            "whole difference of the class means.")
    current = walk(start, direction, [amount])
    show_images(checkpoint.model.decode_image(current, class_labels(decoding_class, 1)).cpu(),
                captions=[f"amount {amount:.2f}"], size=128)
    return amount


def arithmetic_section(checkpoint: Checkpoint, mu: torch.Tensor, labels: np.ndarray, class_names: tuple[str, ...],
                       decoding_class: int | None) -> None:
    st.subheader("a − b + c")
    st.caption("c moved by the offset from b to a. For instance a = a test example, b = the mean of its class, "
               "c = the mean of another class: the other class drawn in the example's style.")
    defaults = {"a": ("example", default_class(labels, class_names, "7", 0)),
                "b": ("mean", default_class(labels, class_names, "7", 0)),
                "c": ("mean", default_class(labels, class_names, "1", 1))}
    columns = st.columns(3)
    operands = {name: code_ui(col, name, mu, labels, class_names, *defaults[name])
                for col, name in zip(columns, defaults)}
    codes = {name: z for name, (z, _) in operands.items()}
    result = arithmetic(codes["a"], codes["b"], codes["c"])
    st.session_state[DIRECTIONS_ARITHMETIC] = {**{k: v.numpy() for k, v in codes.items()}, "result": result.numpy()}
    means = class_means(mu, labels, len(class_names))
    nearest = int(nearest_class(reencode(checkpoint.model, result[None], class_labels(decoding_class, 1)), means)[0])
    images = checkpoint.model.decode_image(torch.stack([*codes.values(), result]), class_labels(decoding_class, 4))
    show_images(images.cpu(), captions=[caption for _, caption in operands.values()] + ["a − b + c"], size=112)
    st.caption(f"The result's re-encoding lies nearest to the mean code of class {class_names[nearest]}.")


view = page_intro(
    "Directions",
    "The mean code of a class is a point in latent space; the difference of two class means is a direction "
    "('from 3 toward 8'). Walk along it, or add and subtract codes: a − b + c.",
)
checkpoint, dataset = view.checkpoint, view.dataset
mu, labels = torch.tensor(view.encodings()[0]), view.labels()
if len(np.unique(labels)) < 2:
    st.error("Directions need at least two classes with test examples; this dataset's test split has "
             f"{len(np.unique(labels))}.")
    st.stop()
decoding_class = decoding_class_ui(checkpoint, dataset.class_names, "directions_class",
                                   default=default_class(labels, dataset.class_names, "8", 1))
direction_section(checkpoint, mu, labels, dataset.class_names, decoding_class)
arithmetic_section(checkpoint, mu, labels, dataset.class_names, decoding_class)
