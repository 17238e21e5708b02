"""CLI runs as a user meets them (issue 15): Ctrl-C keeps the work, time estimates, eval's quick default,
defaults read from the config dataclasses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint
from vae_core.train import TrainingSnapshot


def _read_stream(stream, chunks: list[str]) -> None:
    while chunk := os.read(stream.fileno(), 4096):
        chunks.append(chunk.decode(errors="replace"))


def _wait_for(chunks: list[str], text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in "".join(chunks):
        assert time.monotonic() < deadline, f"{text!r} never appeared in: {''.join(chunks)[-500:]}"
        time.sleep(0.05)


def test_ctrl_c_in_train_saves_the_last_completed_epoch_and_says_where(tmp_path):
    out = tmp_path / "run.safetensors"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vae_core", "train", "--dataset", "digits", "--hidden", "32", "--epochs", "10000",
         "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    chunks: list[str] = []
    reader = threading.Thread(target=_read_stream, args=(proc.stderr, chunks), daemon=True)
    reader.start()
    try:
        _wait_for(chunks, "test ELBO")  # drawn once the first epoch has ended
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    reader.join(timeout=10)
    err = "".join(chunks)
    assert "Traceback" not in err
    ckpt = load_checkpoint(out)
    assert ckpt.epoch >= 1
    assert f"interrupted: saved {out} at the last completed epoch, {ckpt.epoch}; continue with --resume" in err
    steps_per_epoch = -(-1437 // 128)  # digits' training split in batches of 128
    assert len(ckpt.history["test"]) == ckpt.epoch  # an epoch boundary, not the half-trained epoch in progress
    assert ckpt.history["train"][-1]["step"] == ckpt.epoch * steps_per_epoch
    assert ckpt.optimizer_state  # so --resume continues exactly


def test_save_every_n_epochs_saves_along_the_way_and_the_run_prints_its_projected_time(tmp_path, capsys,
                                                                                        monkeypatch):
    from vae_core import cli

    saved_epochs = []
    real_save = TrainingSnapshot.save

    def recording_save(snapshot, *args, **kwargs):
        saved_epochs.append((snapshot.epoch, len(snapshot.history["test"])))
        return real_save(snapshot, *args, **kwargs)

    monkeypatch.setattr(TrainingSnapshot, "save", recording_save)
    out = tmp_path / "run.safetensors"
    assert cli.main(["train", "--dataset", "digits", "--hidden", "16", "--epochs", "5", "--save-every", "2",
                     "--out", str(out)]) == 0
    assert saved_epochs == [(2, 2), (4, 4), (5, 5)]
    err = capsys.readouterr().err
    assert f"saved {out} (epoch 2, --save-every 2)" in err
    assert "\u2248 " in err and " for 5 epochs (60 steps; timed over the first 12)" in err


def test_eval_by_default_is_a_quick_estimate_with_a_progress_bar_and_says_how_to_get_the_full_one(capsys):
    from vae_core import cli

    assert cli.main(["eval", str(ROOT / "checkpoints" / "mnist-2d.safetensors")]) == 0
    captured = capsys.readouterr()
    assert "mnist: a fixed random sample of 500 of the 10,000 test examples, K=10," in captured.out
    assert "log p(x), IWAE K=10 " in captured.out
    full_line = captured.out.splitlines()[-1]
    assert full_line.startswith("a quick estimate; the full one (all 10,000 examples, K=100) takes roughly ")
    assert full_line.endswith("here: add --full")
    assert "[##############################] 500/500" in captured.err  # the progress bar, on stderr


def test_eval_full_uses_every_test_example_and_k_100(capsys):
    from vae_core import cli

    assert cli.main(["eval", str(ROOT / "checkpoints" / "digits-2d.safetensors"), "--full"]) == 0
    out = capsys.readouterr().out
    assert "digits: all test examples, K=100," in out and "log p(x), IWAE K=100 " in out
    assert "quick estimate" not in out


def test_the_quick_eval_sample_is_fixed_and_spread_over_the_split():
    from vae_core.metrics import FULL_EVAL, EvalConfig

    sample = EvalConfig().sample(10_000)
    assert len(sample) == 500 and len(set(sample.tolist())) == 500
    assert torch_equal(sample, EvalConfig().sample(10_000)) and sample.max() > 9000 and sample.min() < 1000
    assert FULL_EVAL.sample(10_000) is None and EvalConfig(examples=500).sample(300) is None


def torch_equal(a, b) -> bool:
    return bool((a == b).all())
