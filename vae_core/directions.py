"""Directions in latent space: class means, the walk from one class toward another, and a - b + c.

Labels are whatever the dataset has (digits, folder names): classes are indices into `Dataset.class_names`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class DirectionsConfig:
    """Defaults of the directions view; the page reads them here."""

    strip_steps: int = 9  # images in the strip from amount 0 (the start) to 1 (start + the whole direction)
    min_amount: float = -0.5  # the slider runs a little past both ends: extrapolation shows what the direction does
    max_amount: float = 1.5
    amount: float = 0.5
    amount_step: float = 0.01  # the slider decodes in the browser at every step: fine steps cost nothing


def class_mean(mu, labels, label: int) -> torch.Tensor:
    """The mean code (D,) of the examples labelled `label` among codes mu (N, D); ValueError if there are none."""
    mu, labels = torch.as_tensor(np.asarray(mu)), np.asarray(labels)
    members = np.flatnonzero(labels == label)
    if len(members) == 0:
        raise ValueError(f"class {label} has no examples to average")
    return mu[members].mean(dim=0)


def class_means(mu, labels, n_classes: int) -> torch.Tensor:
    """The mean code of every class (C, D); a class without examples gets a row of NaN."""
    mu, labels = torch.as_tensor(np.asarray(mu)), np.asarray(labels)
    means = torch.full((n_classes, mu.shape[1]), float("nan"), dtype=mu.dtype)
    for label in np.unique(labels):
        if 0 <= label < n_classes:
            means[label] = mu[labels == label].mean(dim=0)
    return means


def group_means(mu, group_a, group_b=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean codes (D,) of rows `group_a` and `group_b` of mu (N, D); group B None is every row not in A (an
    attribute's examples against the rest). Their difference, mean(A) - mean(B), is a direction like a class
    pair's; ValueError if a group is empty."""
    mu = torch.as_tensor(np.asarray(mu))
    in_a = np.zeros(len(mu), dtype=bool)
    in_a[np.asarray(group_a, dtype=np.int64)] = True
    in_b = ~in_a
    if group_b is not None:
        in_b = np.zeros(len(mu), dtype=bool)
        in_b[np.asarray(group_b, dtype=np.int64)] = True
    if not in_a.any() or not in_b.any():
        raise ValueError("each group needs at least one example")
    return mu[torch.from_numpy(in_a)].mean(dim=0), mu[torch.from_numpy(in_b)].mean(dim=0)


def walk(start: torch.Tensor, direction: torch.Tensor, amounts) -> torch.Tensor:
    """start + a * direction for each amount a (T,): (T, D). Amount 0 is the start, 1 the start moved by the whole
    direction (from a class mean along mean(target) - mean(source), that is the target's mean)."""
    amounts = torch.as_tensor(np.asarray(amounts, dtype=np.float64)).to(start.dtype).unsqueeze(1)
    return start + amounts * direction


def arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """a - b + c: c moved by the offset from b to a (e.g. 'this 7's style on an 8')."""
    return a - b + c


def nearest_class(z: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """For codes (M, D), the class (M,) whose mean code (C, D) is nearest; classes with NaN means never win."""
    distances = torch.cdist(z.double(), means.double()).nan_to_num(nan=float("inf"))
    return distances.argmin(dim=1)
