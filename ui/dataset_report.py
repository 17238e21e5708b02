"""What the Train page shows about a dataset before training: what a folder's loading skipped and converted,
and a few examples as the model will see them."""

from __future__ import annotations

import streamlit as st

from vae_core.data import BACKGROUND, Dataset, class_balanced_indices

from .widgets import image_rows

EXAMPLES = 8  # training images shown, the classes taken in turn


def show_dataset_report(dataset: Dataset) -> None:
    """The folder report (skipped files with why, conversions) and a class-balanced row of training images."""
    report = dataset.report
    counts = (f"{len(dataset.x_train):,} training and {len(dataset.x_test):,} test images, "
              f"{len(dataset.class_names)} class(es): {', '.join(dataset.class_names)}")
    if report is None:
        st.caption(counts)
    else:
        show = st.warning if report.n_skipped else st.info
        show(f"{counts}. " + "  \n".join(report.lines()))
        st.caption(f"Every image is stretched to {dataset.image_shape[1]}x{dataset.image_shape[2]} "
                   f"({'grayscale' if dataset.image_shape[0] == 1 else 'RGB'}); transparency is composited on "
                   f"{BACKGROUND}. What the model will see:")
    picked = class_balanced_indices(dataset.y_train, EXAMPLES)
    image_rows({"": dataset.x_train[picked]}, captions=[dataset.class_names[int(dataset.y_train[i])] for i in picked],
               size=48)
