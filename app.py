"""VAE Latent Explorer: `streamlit run app.py`. Routes the pages and draws the sidebar model picker (ui/)."""

from ui.navigation import route

route()
