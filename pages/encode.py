"""Encode a drawing: draw (or drop an image, or start from a test example) and watch the encoder's posterior q(z|x)
move as you draw, with its samples decoded, its ELBO terms and its nearest test examples, all in the browser
(ui/components/draw_pad)."""

import streamlit as st

from ui.components.draw_pad import draw_pad
from ui.navigation import page_intro

view = page_intro(
    "Encode a drawing",
    "Draw with a mouse, pen or finger, drop an image file on the black square, or start from a test example: at "
    "every stroke the encoder gives the drawing's posterior q(z|x) = N(μ, σ²), drawn on the latent pad as its 1- "
    "and 2-σ ellipses over the test set's codes (the two most active dimensions first). The mean and one sample "
    "z ~ q(z|x) are decoded beside it, with the drawing's reconstruction log-likelihood log p(x|z) for that sample, "
    "its KL to the prior N(0, I) and the ELBO = log p(x|z) − KL, in nats; below, the test examples whose means lie "
    "nearest. A drawing unlike the training data shows up as a large KL or a poor reconstruction.",
)
mu, _ = view.encodings()
pad = draw_pad(view.checkpoint, mu, view.labels(), view.dataset.split("test").x, view.activity.kl)
if not pad.ready:
    st.info(f"In-browser encoding is off: {pad.problem}." if pad.problem else
            "Starting in-browser encoding (it needs JavaScript and WebAssembly).")
