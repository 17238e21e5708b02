"""vae_core installs as a package (`pip install -e .`, done by `make setup`) with a `vae-core` command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT.parent)  # not the repo


def test_the_vae_core_console_script_runs_the_cli():
    (script,) = entry_points(group="console_scripts", name="vae-core") or [None]
    assert script is not None, "vae-core is not installed: run `make setup` (pip install -e .)"
    assert script.value == "vae_core.cli:main"
    executable = Path(sys.executable).parent / "vae-core"
    result = _run([str(executable), "--help"])
    assert result.returncode == 0, result.stderr
    assert all(command in result.stdout for command in ("train", "eval", "encode"))


def test_python_dash_m_vae_core_still_works_from_anywhere():
    result = _run([sys.executable, "-m", "vae_core", "train", "--help"])
    assert result.returncode == 0, result.stderr
    assert "--latent-dim" in result.stdout
