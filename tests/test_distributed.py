"""torchrun with two CPU processes (gloo): same checkpoint format, global history, ELBO close to one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint

ARGS = ["train", "--dataset", "digits", "--epochs", "4", "--batch-size", "64", "--seed", "0", "--lr", "2e-3"]


def _run(launcher: list[str], out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, *ARGS, "--out", str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_torchrun_two_processes_matches_single_process(tmp_path, digits):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    _run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "vae_core"], tmp_path / "ddp.safetensors")
    _run([sys.executable, "-m", "vae_core"], tmp_path / "single.safetensors")
    ddp, single = load_checkpoint(tmp_path / "ddp.safetensors"), load_checkpoint(tmp_path / "single.safetensors")

    assert ddp.command.startswith("torchrun --nproc_per_node=2 -m vae_core train")
    assert ddp.epoch == single.epoch == 4
    # Global history: one entry per optimisation step of the whole job (2 ranks x 32 = the same 64-example
    # steps as one process), and test metrics averaged over both ranks' shards of the test set.
    assert len(ddp.history["train"]) == len(single.history["train"])
    assert [row["epoch"] for row in ddp.history["test"]] == [1, 2, 3, 4]
    assert ddp.history["test"][-1]["examples"] == 2 * (len(digits.x_test) // 2)
    assert single.history["test"][-1]["examples"] == len(digits.x_test)
    assert abs(ddp.test_elbo - single.test_elbo) < 1.5, (ddp.test_elbo, single.test_elbo)
