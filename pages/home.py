"""Overview: the current model at a glance (samples from the prior, test images and their reconstructions)."""

import streamlit as st
import torch

from ui.navigation import page_intro
from ui.widgets import describe, image_rows

SHOWN = 8

view = page_intro(
    "VAE Latent Explorer",
    "A Variational Autoencoder maps each image x to a Gaussian q(z|x) in a small latent space and decodes "
    "z back to an image. Pick a model in the sidebar, then explore it with the pages on the left.",
)
checkpoint, dataset = view.checkpoint, view.dataset
st.markdown(f"**Current model:** {describe(checkpoint)}")
if checkpoint.command:
    st.code(checkpoint.command, language="bash", wrap_lines=True)

st.subheader("Test images and their reconstructions")
st.caption("Each column: a test image x above decode(mu(x)), the decoder's image of its posterior mean.")
x = dataset.x_test[:SHOWN]
image_rows({"x": x, "reconstruction": checkpoint.model.reconstruct(x, dataset.y_test[:SHOWN])}, size=84)
st.subheader("Samples from the prior")
st.caption("z ~ N(0, I), decoded: what the model imagines.")
image_rows({"decode(z)": checkpoint.model.sample(SHOWN, generator=torch.Generator().manual_seed(0))}, size=84)
