"""The checkout's folders and files the tests read."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "mnist-2d.safetensors"  # the model the app opens on (ui.state)
