"""Overview: the current model at a glance (samples, reconstructions, training curve summary)."""

import streamlit as st
import torch

from pages.common import describe, page_intro, show_images

checkpoint, dataset = page_intro(
    "VAE Latent Explorer",
    "A Variational Autoencoder maps each image x to a Gaussian q(z|x) in a small latent space and decodes "
    "z back to an image. Pick a model in the sidebar, then explore it with the pages on the left.",
)
st.markdown(f"**Current model:** {describe(checkpoint)}")
if checkpoint.command:
    st.code(checkpoint.command, language="bash", wrap_lines=True)

left, right = st.columns(2)
with left:
    st.subheader("Samples from the prior")
    st.caption("z ~ N(0, I), decoded: what the model imagines.")
    show_images(checkpoint.model.sample(8, generator=torch.Generator().manual_seed(0)), size=96)
with right:
    st.subheader("Test images and reconstructions")
    st.caption("Top: test images x. Bottom: decoded posterior means, decode(mu(x)).")
    x = dataset.x_test[:8]
    show_images(x, size=96)
    show_images(checkpoint.model.reconstruct(x), size=96)
