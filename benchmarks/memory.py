"""Peak memory (RSS) of fresh processes: loading and encoding MNIST, the app's scatter page, a training run.

Each scenario runs in its own subprocess (`python -m benchmarks.memory SCENARIO ...`) so one scenario's
peak does not hide another's; the child prints its peak RSS from getrusage.
"""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from .context import MNIST_MLP, REPO, Context
from .report import Table

SCENARIOS = {
    "import": "python + torch + vae_core imported, nothing loaded",
    "load-encode": "MNIST loaded (70,000 images as float tensors) and all of it encoded",
    "app-scatter": "the app (AppTest) after rendering the scatter page: MNIST loaded, test set encoded",
    "train": "a training run: MNIST MLP 784-400-20, batch 128",
}


def peak_rss_mib() -> float:
    """This process's high-water RSS. Not getrusage: on Linux its ru_maxrss survives fork + exec, so a child
    of a big parent reports the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (not Linux?)")


def scenario_load_encode(data_root: str) -> None:
    from vae_core.data import load_dataset
    from vae_core.metrics import encode_posterior
    from vae_core.models import VAE

    mnist = load_dataset("mnist", root=data_root)
    model = VAE(MNIST_MLP).eval()
    for x in (mnist.x_train, mnist.x_test):
        encode_posterior(model, x)


def scenario_app_scatter(data_root: str) -> None:
    from vae_core.models import VAE, VAEConfig

    from .context import Settings
    from .interactivity import SCATTER_PAGE, app_with_model

    ctx = Context(Settings.full(data_root=data_root))
    model = VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=2, hidden_dims=(400,))).eval()
    app = app_with_model(model, ctx, SCATTER_PAGE)
    app.run()
    if app.exception:
        raise SystemExit(f"scatter page raised: {app.exception}")


def scenario_train(data_root: str, steps: int) -> None:
    from vae_core.data import load_dataset
    from vae_core.models import VAE
    from vae_core.train import StepEvent, TrainConfig, Trainer

    mnist = load_dataset("mnist", root=data_root)
    trainer = Trainer(VAE(MNIST_MLP), mnist, TrainConfig(epochs=1, device="cpu"))
    for event in trainer.run(should_stop=lambda: trainer.step >= steps):
        assert not isinstance(event, StepEvent) or torch.isfinite(torch.tensor(event.elbo))


def child(argv: list[str]) -> None:
    scenario, data_root, steps = argv[0], argv[1], int(argv[2])
    if scenario == "load-encode":
        scenario_load_encode(data_root)
    elif scenario == "app-scatter":
        scenario_app_scatter(data_root)
    elif scenario == "train":
        scenario_train(data_root, steps)
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def measure(scenario: str, ctx: Context) -> float | str:
    """Peak RSS in MiB of a fresh process running `scenario`, or the reason it failed."""
    command = [sys.executable, "-m", "benchmarks.memory", scenario, str(ctx.settings.data_root),
               str(ctx.settings.memory_train_steps)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return f"failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def run(ctx: Context) -> list[Table]:
    table = Table("Memory: peak RSS (VmHWM) of a fresh process (MiB)", ["scenario", "peak RSS MiB", "what it holds"])
    names = ["import"] + (["load-encode", "app-scatter", "train"] if ctx.mnist is not None else [])
    if ctx.settings.quick:
        names = names[1::2]  # load-encode and train: each child costs a torch import
    for name in names:
        table.add(name, measure(name, ctx), SCENARIOS[name])
    table.notes.append(f"The training run stops after {ctx.settings.memory_train_steps} steps on all 60,000 "
                       "images: memory is reached in the first steps (data, weights, Adam state).")
    if ctx.mnist is None:
        table.notes.append(ctx.mnist_missing)
    return [table]


if __name__ == "__main__":
    child(sys.argv[1:])
