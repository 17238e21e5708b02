"""The project installs as a package: `pip install -e .` (done by `make setup`) with the `vae-core` command, and a
wheel that carries the app, its static files and the bundled MNIST, served by `vae-explorer` from any folder."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
import urllib.request
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from support.browser import free_port
from support.paths import ROOT

from ui.session_keys import MODEL


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


def _fresh_venv_with_the_wheel(tmp_path: Path) -> Path:
    """A new virtual environment with the project's wheel installed (`pip install` of a wheel, not editable); its
    dependencies come from this environment (a .pth file), so nothing is downloaded."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist")], check=True, cwd=ROOT, timeout=300)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    [wheel] = (tmp_path / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, timeout=300)
    return venv


@pytest.mark.slow
def test_the_installed_wheel_serves_the_app_from_any_folder(tmp_path):
    venv = _fresh_venv_with_the_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = ("from streamlit.testing.v1 import AppTest\n"
             "import ui, vae_core.paths as p, vae_core.data as d\n"
             "assert 'site-packages' in ui.__file__ and p.install_home().parts[-2:] == ('share', 'vae-explorer')\n"
             "from ui.components import runtime\n"
             "assert all((runtime.STATIC_DIR / runtime.RUNTIME_DIR / f).is_file() for f in runtime.RUNTIME_FILES)\n"
             "assert len(d.load_dataset('mnist').x_train) == 60000\n"
             "at = AppTest.from_file(str(p.install_home() / 'app.py'), default_timeout=120).run()\n"
             "assert not at.exception and not at.error, at.exception\n"
             f"print(at.session_state[{MODEL!r}].name)\n")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", check], cwd=elsewhere, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "mnist-2d.safetensors"  # the shipped default, with the bundled MNIST

    port = free_port()
    server = subprocess.Popen([str(venv / "bin" / "vae-explorer"), "--port", str(port)], cwd=elsewhere,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        icon = urllib.request.urlopen(f"{url}/app/static/icon.png", timeout=10)  # static files from the install
        assert icon.status == 200 and icon.read().startswith(b"\x89PNG")
    finally:
        server.terminate()
        server.wait(timeout=30)
