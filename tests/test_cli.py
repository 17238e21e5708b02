"""`python -m vae_core train|eval|encode`: real runs on digits, and one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import shlex

import numpy as np
import pytest
import torch

from vae_core import cli
from vae_core.checkpoint import load_checkpoint
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig, Trainer

TRAIN = ["train", "--dataset", "digits", "--latent-dim", "3", "--hidden", "32", "16", "--epochs", "2",
         "--batch-size", "128"]


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    """A checkpoint written by `train` for 2 epochs, and the argv that wrote it."""
    out = tmp_path_factory.mktemp("cli") / "cli.safetensors"
    argv = [*TRAIN, "--out", str(out)]
    assert cli.main(argv) == 0
    return out, argv


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("fix: python -m vae_core")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_train_writes_a_loadable_checkpoint_recording_its_command(cli_checkpoint):
    out, argv = cli_checkpoint
    ckpt = load_checkpoint(out)
    assert ckpt.command == "python -m vae_core " + shlex.join(argv)
    assert ckpt.epoch == 2 and len(ckpt.history["test"]) == 2
    assert ckpt.config.latent_dim == 3 and ckpt.config.hidden_dims == (32, 16)
    assert ckpt.train_config["epochs"] == 2 and ckpt.train_config["batch_size"] == 128
    assert ckpt.history["test"][-1]["elbo"] > ckpt.history["test"][0]["elbo"]


def test_eval_prints_recon_kl_elbo_and_log_px(cli_checkpoint, capsys):
    out, _ = cli_checkpoint
    assert cli.main(["eval", str(out), "-k", "20", "--limit", "100"]) == 0
    text = capsys.readouterr().out
    values = {}
    for label in ("reconstruction", "KL(q(z|x) || p(z))", "ELBO", "log p(x), IWAE K=20", "gap"):
        line = next(line for line in text.splitlines() if line.strip().startswith(label))
        values[label] = float(line.split()[-1])
    assert "digits: the first 100 of the 359 test examples, K=20, 2 epochs" in text
    assert values["ELBO"] == pytest.approx(values["reconstruction"] - values["KL(q(z|x) || p(z))"], abs=2e-3)
    assert values["log p(x), IWAE K=20"] >= values["ELBO"] and values["gap"] >= 0


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_encode_writes_one_row_per_example_with_mu_and_sigma(cli_checkpoint, digits, tmp_path, suffix, capsys):
    out, _ = cli_checkpoint
    target = tmp_path / f"codes{suffix}"
    assert cli.main(["encode", str(out), "--split", "test", "--out", str(target)]) == 0
    n = len(digits.x_test)
    assert f"wrote {n} codes (3-D)" in capsys.readouterr().out
    if suffix == ".csv":
        with open(target) as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["index", "id", "label", "class_name", "mu0", "mu1", "mu2", "sigma0", "sigma1", "sigma2"]
        assert len(rows) == n + 1 and all(len(r) == 10 for r in rows)
        assert [int(r[2]) for r in rows[1:]] == digits.y_test.tolist()
        assert [r[1] for r in rows[1:]] == list(digits.split("test").ids)
    else:
        codes = np.load(target)
        assert codes["mu"].shape == codes["sigma"].shape == (n, 3)
        assert np.array_equal(codes["label"], digits.y_test.numpy()) and np.all(codes["sigma"] > 0)
        assert codes["id"].tolist() == list(digits.split("test").ids)


def test_train_resume_continues_the_checkpoint_history(cli_checkpoint, tmp_path):
    out, _ = cli_checkpoint
    resumed = tmp_path / "resumed.safetensors"
    assert cli.main(["train", "--resume", str(out), "--epochs", "1", "--out", str(resumed)]) == 0
    before, after = load_checkpoint(out), load_checkpoint(resumed)
    assert after.epoch == 3 and after.config == before.config
    assert after.history["train"][: len(before.history["train"])] == before.history["train"]
    assert after.history["train"][-1]["step"] > before.history["train"][-1]["step"]
    assert [row["epoch"] for row in after.history["test"]] == [1, 2, 3]


def test_train_refuses_to_overwrite_without_the_flag(cli_checkpoint, capsys):
    out, _ = cli_checkpoint
    before = out.read_bytes()
    assert cli.main([*TRAIN, "--out", str(out)]) == 2
    assert "--overwrite" in _error_line(capsys)
    assert out.read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (["--latent-dim", "0"], "latent_dim"), (["--latent-dim", "200"], "latent_dim"),
    (["--batch-size", "0"], "batch size"), (["--epochs", "0"], "epochs"), (["--lr", "-1"], "learning rate"),
    (["--dataset", "folder"], "--data-dir"), (["--dataset", "mnist", "--data-dir", "{tmp}"], "MNIST not found"),
    (["--dataset", "folder", "--data-dir", "{tmp}"], "0 readable image"),
])
def test_bad_train_arguments_give_one_error_line_and_exit_2(tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    assert cli.main(["train", *args, "--out", str(tmp_path / "x.safetensors")]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("argv", [["train", "--dataset", "imagenet", "--out", "x"], ["train"], ["fly"],
                                  ["train", "--latent-dim", "two", "--out", "x"]])
def test_argparse_errors_exit_2_without_a_traceback(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_encode_to_an_unknown_format_or_missing_folder_is_one_error_line(cli_checkpoint, tmp_path, capsys):
    out, _ = cli_checkpoint
    assert cli.main(["encode", str(out), "--out", str(tmp_path / "codes.parquet")]) == 2
    assert ".csv or .npz" in _error_line(capsys)
    assert cli.main(["encode", str(out), "--out", str(tmp_path / "no" / "such" / "codes.csv")]) == 2
    _error_line(capsys)


def test_eval_with_out_of_range_k_is_one_error_line(cli_checkpoint, capsys):
    out, _ = cli_checkpoint
    assert cli.main(["eval", str(out), "-k", "0"]) == 2
    assert "K must be 1..10000, got 0" in _error_line(capsys)


def test_help_lists_the_three_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert all(word in text for word in ("train", "eval", "encode"))


def test_train_help_reads_defaults_and_limits_from_the_configs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"latent dimensions, {VAEConfig.LATENT_DIM} (default: {VAEConfig().latent_dim})" in text
    assert "{" + ",".join(VAEConfig.ARCHITECTURES) + "}" in text and "{" + ",".join(VAEConfig.LIKELIHOODS) + "}" in text
    assert f"epochs to train, {TrainConfig.EPOCHS} (default: {TrainConfig().epochs})" in text
    assert "(default: mlp 256 128, conv 32 64)" in text


def test_each_architecture_gets_its_own_default_hidden_sizes(tmp_path):
    out = tmp_path / "conv.safetensors"
    assert cli.main(["train", "--architecture", "conv", "--epochs", "1", "--out", str(out)]) == 0
    assert load_checkpoint(out).config.hidden_dims == VAEConfig.DEFAULT_HIDDEN_DIMS["conv"] == (32, 64)
    assert VAEConfig().hidden_dims == VAEConfig.DEFAULT_HIDDEN_DIMS["mlp"] == (256, 128)


def test_a_run_that_diverges_before_its_first_step_writes_nothing_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Trainer, "_train_step", lambda self, batch, labels, epoch: None)  # the loss is NaN at once
    out = tmp_path / "x.safetensors"
    assert cli.main([*TRAIN, "--out", str(out)]) == 2
    assert "NaN/inf at step 1" in capsys.readouterr().err.splitlines()[-1]
    assert not out.exists()


@pytest.mark.slow  # two epochs of 60,000 images: 10 s on an idle 2-core machine, a minute on a busy one
def test_mnist_trains_resumes_and_evaluates_offline_from_the_bundled_copy_with_no_data_flag(tmp_path, capsys):
    out, resumed = tmp_path / "m.safetensors", tmp_path / "resumed.safetensors"
    assert cli.main(["train", "--dataset", "mnist", "--epochs", "1", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.dataset.name == "mnist" and ckpt.dataset.image_shape == (1, 28, 28)
    assert ckpt.dataset.options == {"download": False}  # no path stored: it reloads on any machine
    assert ckpt.history["test"][-1]["elbo"] > -250  # one epoch already beats an untrained model (~ -550)
    assert cli.main(["eval", str(out), "-k", "10", "--limit", "200"]) == 0
    assert "mnist: the first 200 of the 10,000 test examples, K=10, 1 epochs" in \
        capsys.readouterr().out
    assert cli.main(["train", "--resume", str(out), "--epochs", "1", "--out", str(resumed)]) == 0  # its dataset
    assert load_checkpoint(resumed).epoch == 2 and load_checkpoint(resumed).dataset.name == "mnist"


def test_the_cli_and_a_background_job_save_the_same_checkpoint_of_one_run(digits, tiny_config, tmp_path):
    """Both save a `TrainingSnapshot` the one way: same tensors, same metadata but the command recorded."""
    from safetensors import safe_open

    from vae_core.background import TrainingJob
    from vae_core.checkpoint import METADATA_KEY
    from vae_core.train import build_trainer

    trainer = build_trainer(digits, TrainConfig(epochs=1, batch_size=128, device="cpu"), tiny_config)
    for _ in trainer.run():
        pass
    saver = cli._RunSaver(trainer, tmp_path / "cli.safetensors", "python -m vae_core train ...", keep_adam=True)
    saver.epoch_done()
    saved_by_cli = saver.save_now()
    saved_by_job = TrainingJob(trainer, command="the app").save(tmp_path / "job.safetensors")

    def read(path):
        with safe_open(path, "pt") as f:
            meta = json.loads(f.metadata()[METADATA_KEY])
            return {k: f.get_tensor(k) for k in f.keys()}, meta

    (cli_tensors, cli_meta), (job_tensors, job_meta) = read(saved_by_cli), read(saved_by_job)
    assert cli_tensors.keys() == job_tensors.keys() and any(k.startswith("optimizer.") for k in cli_tensors)
    assert all(torch.equal(cli_tensors[k], job_tensors[k]) for k in cli_tensors)
    assert (cli_meta.pop("command"), job_meta.pop("command")) == ("python -m vae_core train ...", "the app")
    cli_meta.pop("created"), job_meta.pop("created")  # to the second: the two writes may straddle one
    assert cli_meta == job_meta and cli_meta["epoch"] == 1
