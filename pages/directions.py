"""Directions: walk from one class's mean toward another's (or from one group of examples toward another: the
scatter's selection against the rest or a second selection), and latent arithmetic a - b + c.

Session keys this page owns (ui/session_keys.py): DIRECTIONS_WALK, the walk's strip and the code at its slider,
and DIRECTIONS_ARITHMETIC, the codes of a - b + c.
"""

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from ui import links
from ui.components.latent_path import latent_path, line
from ui.conditional import class_labels, decoding_class_ui
from ui.model_view import ModelView
from ui.navigation import page_intro
from ui.session_keys import DIRECTIONS_ARITHMETIC, DIRECTIONS_WALK, SELECTION_GROUP_B
from ui.state import keep_group_b, select_test_examples, selected_test_examples, selection_sent_to
from ui.widgets import image_rows, show_images
from vae_core.checkpoint import Checkpoint
from vae_core.directions import (
    DirectionsConfig,
    arithmetic,
    class_mean,
    class_means,
    group_means,
    nearest_class,
    walk,
)
from vae_core.latent import reencode

CONFIG = DirectionsConfig()
KINDS = {"mean": "Class mean", "example": "Test example"}
BETWEEN = {"classes": "two classes", "groups": "the scatter's selection (A) and another group (B)"}
GROUP_B = {"rest": "the rest of the test set", "kept": "the selection kept as group B on the scatter"}


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


@dataclass(frozen=True)
class Ends:
    """A direction's two ends: it points from the source's mean code toward the target's."""

    source: torch.Tensor  # (D,) mean code
    target: torch.Tensor
    source_name: str
    target_name: str
    source_members: np.ndarray  # test positions a walk may start at
    link: dict  # how the URL names them


def class_ends_ui(columns, mu: torch.Tensor, labels: np.ndarray, class_names: tuple[str, ...]) -> Ends:
    source = class_ui(columns[0], "From class", labels, class_names, default_class(labels, class_names, "3", 0),
                      "directions_from")
    target = class_ui(columns[1], "Toward class", labels, class_names, default_class(labels, class_names, "8", 1),
                      "directions_to")
    return Ends(class_mean(mu, labels, source), class_mean(mu, labels, target), class_names[source],
                class_names[target], np.flatnonzero(labels == source), {"from": str(source), "to": str(target)})


def group_ends_ui(columns, mu: torch.Tensor, view: ModelView) -> Ends:
    """From group B (the rest of the test set, or a second selection kept on the scatter) toward group A (the
    scatter's selection)."""
    group_a, group_b = selected_test_examples(view.dataset), selected_test_examples(view.dataset, SELECTION_GROUP_B)
    if not group_a:
        raise ValueError("select examples on the Latent scatter page first (click, box or lasso): they are group A")
    b_is = columns[0].radio("Group B", list(GROUP_B), format_func=GROUP_B.get, key="directions_group_b",
                            disabled=not group_b)
    members = np.asarray(group_b if b_is == "kept" and group_b else np.setdiff1d(np.arange(len(mu)), group_a))
    mean_a, mean_b = group_means(mu, group_a, members)
    columns[1].caption(f"A: the {len(group_a):,} selected test examples; B: {len(members):,} examples.")
    ids = view.dataset.split("test").ids
    link = {"groups": b_is, "sel": links.ids_param([ids[i] for i in group_a]),
            "sel_b": links.ids_param([ids[i] for i in members]) if b_is == "kept" else None}
    return Ends(mean_b, mean_a, "group B", "group A", members, link)


def direction_section(view: ModelView, mu: torch.Tensor, labels: np.ndarray, decoding_class: int | None) -> None:
    checkpoint, class_names = view.checkpoint, view.dataset.class_names
    st.subheader("From one class (or group) toward another")
    between = st.radio("Between", list(BETWEEN), format_func=BETWEEN.get, horizontal=True, key="directions_between")
    columns = st.columns(3)
    try:
        ends = class_ends_ui(columns, mu, labels, class_names) if between == "classes" else \
            group_ends_ui(columns, mu, view)
    except ValueError as exc:
        st.error(f"No direction: {exc}.")
        return
    start_at = columns[2].radio("Start at", ["mean", "example"], horizontal=True, key="directions_start",
                                format_func=lambda k: "its mean" if k == "mean" else "an example of it")
    start, start_name = ends.source, f"the mean of {ends.source_name}"
    if start_at == "example":
        members = ends.source_members
        nth = columns[2].number_input(f"Which of {ends.source_name} (0-{len(members) - 1})", 0, len(members) - 1,
                                      0, key="directions_nth")
        start, start_name = mu[members[nth]], f"test example #{members[nth]}"
    amounts = np.linspace(0, 1, CONFIG.strip_steps)
    direction = ends.target - ends.source
    codes = walk(start, direction, amounts)
    st.caption(f"From {start_name} along mean({ends.target_name}) - mean({ends.source_name}): the strip at "
               f"amounts 0 to 1 in {CONFIG.strip_steps} steps, and below it the code at any amount, decoded in your "
               "browser as you drag.")
    image_rows({"decode(z)": checkpoint.model.decode_image(codes, class_labels(decoding_class, len(codes))).cpu()},
               captions=[f"{a:.2f}" for a in amounts], size=64)
    amount = amount_ui(checkpoint, start, direction, decoding_class)
    current = walk(start, direction, [amount])
    st.session_state[DIRECTIONS_WALK] = {"amounts": amounts, "codes": codes.numpy(), "current": current[0].numpy()}
    link = links.show("directions", **ends.link, start=start_at if start_at == "mean" else str(nth),
                      amount=f"{amount:g}")
    links.copy_link(link, key="directions_link")
    back = reencode(checkpoint.model, codes, class_labels(decoding_class, len(codes)))
    st.caption("Distance of each image's re-encoding mu(decode(z)) to the two means: moving along the "
               f"direction, the decoded image moves toward {ends.target_name} as the encoder sees it.")
    st.line_chart({f"to the mean of {ends.target_name}": (back - ends.target).norm(dim=1).numpy(),
                   f"to the mean of {ends.source_name}": (back - ends.source).norm(dim=1).numpy(),
                   "amount": amounts}, x="amount", y_label="distance", height=200)


def apply_link(view: ModelView) -> None:
    """A link's classes or groups, start and amount, set as the widgets' values before they are drawn (once)."""
    sha256, ids = view.sha256, view.dataset.split("test").ids
    taken = {key: links.linked(sha256, key) for key in ("from", "to", "groups", "start", "amount")}
    present = set(np.unique(view.labels()).tolist())
    if all(taken[k] and taken[k].isdigit() and int(taken[k]) in present for k in ("from", "to")):
        st.session_state.update(directions_between="classes", directions_from=int(taken["from"]),
                                directions_to=int(taken["to"]))
    if taken["groups"] in GROUP_B:
        st.session_state.update(directions_between="groups", directions_group_b=taken["groups"])
        select_test_examples(view.checkpoint, links.linked_ids(sha256, ids) or [])
        keep_group_b("test", links.linked_ids(sha256, ids, "sel_b") or [])
    if taken["start"] == "mean" or (taken["start"] or "").isdigit():
        st.session_state.update(directions_start="mean" if taken["start"] == "mean" else "example")
        if taken["start"] != "mean":
            st.session_state["directions_nth"] = int(taken["start"])
    if amount := links.floats_param(taken["amount"], 1, CONFIG.min_amount, CONFIG.max_amount):
        st.session_state["directions_amount"] = amount[0]


def amount_ui(checkpoint: Checkpoint, start: torch.Tensor, direction: torch.Tensor,
              decoding_class: int | None) -> float:
    """The amount along the direction as of the last release: a slider whose image follows the pointer (decoded in
    the browser), or the server's slider and image where the browser cannot decode."""
    value = st.session_state.setdefault("directions_amount", CONFIG.amount)  # a link's walk position, else the default
    path = latent_path(checkpoint, line(start.numpy(), direction.numpy()), label="Amount along the direction",
                       amount_range=(CONFIG.min_amount, CONFIG.max_amount, CONFIG.amount_step), value=value,
                       decoded_class=decoding_class, key="directions_path")
    if path.problem is None:
        return path.amount
    st.info(f"In-browser decoding is off: {path.problem}. The image changes when you let go of the slider.")
    amount = st.slider("Amount along the direction", CONFIG.min_amount, CONFIG.max_amount, step=CONFIG.amount_step,
                       key="directions_amount",
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
apply_link(view)
if selection_sent_to("directions"):
    st.session_state["directions_between"] = "groups"
if len(np.unique(labels)) < 2:
    st.error("Directions need at least two classes with test examples; this dataset's test split has "
             f"{len(np.unique(labels))}.")
    st.stop()
decoding_class = decoding_class_ui(checkpoint, dataset.class_names, "directions_class",
                                   default=default_class(labels, dataset.class_names, "8", 1))
direction_section(view, mu, labels, decoding_class)
arithmetic_section(checkpoint, mu, labels, dataset.class_names, decoding_class)
