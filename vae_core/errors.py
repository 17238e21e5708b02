"""Errors a user can act on. The CLI and the app show their message, never a traceback."""


class VAEError(Exception):
    """Base class: the message says what went wrong and what to do."""


class ConfigError(VAEError, ValueError):
    """A model or training setting is out of range."""


class DatasetError(VAEError):
    """A dataset could not be loaded (missing files, no images, ...).

    `fix` holds loading options that would fix it (e.g. {"root": "/abs/data", "download": True}), so the CLI
    can print the exact command line.
    """

    def __init__(self, message: str, fix: dict | None = None):
        super().__init__(message)
        self.fix = fix


class CheckpointError(VAEError):
    """A checkpoint file is missing, corrupt, unsafe or does not match its config."""


class TrainingError(VAEError):
    """A run left nothing usable: it diverged before its first step (CLI), or its training thread failed
    (vae_core.background: saving or previewing that job is refused, its weights may be half-updated)."""
