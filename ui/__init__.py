"""The app's shared code, one module per concern; `pages/` holds pages only and `vae_core` knows nothing of this.

navigation  the page list, routing (st.navigation) and the header every page opens with
session_keys  every session-state key (not widgets'), with what it holds
state       THE current model
cache       cached loaders: checkpoint by content, dataset, encodings, projections
picker      the sidebar model picker (shipped and saved checkpoints, upload, download)
jobs        training runs: the server-wide registry, a run's URL token, its status on every page
abandon     the server's policy for runs nobody watches: the limit, and the watchdog that stops them
widgets     images, the class palette, the latent scatter figure
serve       `make run`: warms imports and the default model while the server starts
"""
