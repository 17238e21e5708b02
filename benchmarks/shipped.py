"""The shipped MNIST checkpoints beside the PyTorch tutorial's pipeline trained the same way, measured in one run.

For each checkpoint, the tutorial's data pipeline (`throughput.tutorial_loader` + `throughput.baseline_epochs`:
torchvision's MNIST, `ToTensor()`, a `DataLoader`) trains the same model config from the same seed for the same
epochs, batch size and learning rate on the same bundled data; then both models are measured the same way:
recon, KL and ELBO on all 10,000 test images, log p(x) with K importance samples on the first `--logpx-limit`.

    OMP_NUM_THREADS=1 python -m benchmarks.shipped checkpoints/mnist-2d.safetensors -k 1000 --logpx-limit 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from vae_core.checkpoint import Checkpoint, load_checkpoint
from vae_core.data import Dataset, load_dataset
from vae_core.metrics import evaluate_elbo, importance_weighted_log_px
from vae_core.models import VAE

from .context import raw_mnist_root
from .throughput import BATCH_SIZE, LEARNING_RATE, baseline_epochs, tutorial_loader


def train_like_the_tutorial(ckpt: Checkpoint, root: Path) -> tuple[VAE, float]:
    """The checkpoint's model config, trained from its seed by the tutorial's pipeline; (model, seconds)."""
    recipe = ckpt.train_config or {}
    same = (recipe.get("batch_size"), recipe.get("learning_rate"), recipe.get("kl_warmup_epochs")) == (
        BATCH_SIZE, LEARNING_RATE, 0.0)
    if not same:
        raise SystemExit(f"the tutorial trains with batch {BATCH_SIZE}, lr {LEARNING_RATE:g} and no KL warm-up; "
                         f"this checkpoint used {recipe}")
    torch.manual_seed(recipe["seed"])  # as the CLI does: the same initial weights
    model = VAE(ckpt.config)
    seconds = sum(baseline_epochs(model, tutorial_loader(root, None, "cpu"), ckpt.epoch))
    return model.eval(), seconds


def measure(model: VAE, mnist: Dataset, k: int, logpx_limit: int) -> dict[str, float]:
    result = evaluate_elbo(model, mnist.x_test)
    torch.manual_seed(0)
    result["log_px"] = importance_weighted_log_px(model, mnist.x_test[:logpx_limit], k).mean().item()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shipped", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("-k", type=int, default=1000, help="importance samples for log p(x)")
    parser.add_argument("--logpx-limit", type=int, default=1000, help="test images for log p(x)")
    args = parser.parse_args(argv)
    mnist = load_dataset("mnist")
    print("| checkpoint | pipeline | train s | test recon | test KL | test ELBO | log p(x) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    root = raw_mnist_root()
    for path in args.checkpoints:
        ckpt = load_checkpoint(path)
        started = time.perf_counter()
        tutorial, seconds = train_like_the_tutorial(ckpt, root)
        print(f"# tutorial pipeline trained {Path(path).name} in {seconds:.0f} s "
              f"({time.perf_counter() - started:.0f} s wall)", file=sys.stderr, flush=True)
        rows = (("ours (shipped)", ckpt.model, "-"), ("tutorial", tutorial, f"{seconds:.0f}"))
        for label, model, train_s in rows:
            r = measure(model, mnist, args.k, args.logpx_limit)
            print(f"| `{Path(path).name}` | {label} | {train_s} | {r['recon']:.2f} | {r['kl']:.2f} | "
                  f"{r['elbo']:.2f} | {r['log_px']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
