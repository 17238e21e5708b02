"""vae_core: train, evaluate and explore Variational Autoencoders (no UI code here)."""

__version__ = "0.1.0"
