"""Command line: `python -m vae_core train|eval|encode|export ...` (also under torchrun for several processes)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from .checkpoint import DatasetInfo, load_checkpoint, save_checkpoint
from .data import DATASETS, DEFAULT_DATASET, SPLITS, Dataset, load_dataset
from .errors import TrainingError, VAEError
from .export import DECODER_INPUT, DECODER_OUTPUT, export_decoder_onnx
from .metrics import encode_means, evaluate
from .models import VAEConfig
from .projector import FILES, embedding_table, write_projector
from .train import EpochEvent, FinishedEvent, StepEvent, TrainConfig, Trainer, build_trainer, resolve_device


def _dataset_options(args) -> dict:
    if args.dataset == "digits":
        return {}
    if args.dataset == "folder":
        if not args.data_dir:
            raise VAEError("--dataset folder needs --data-dir PATH (a folder of png/jpg images)")
        return {"path": args.data_dir, "size": args.image_size, "grayscale": not args.rgb}
    return {"root": args.data_dir, "download": args.download}  # root None: data/, where MNIST is bundled


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=list(DATASETS),
                   help=f"dataset name (default: the checkpoint's for eval, encode and --resume, "
                   f"else {DEFAULT_DATASET})")
    p.add_argument("--data-dir", help="torchvision root folder (default: the repository's data/, which bundles "
                   "MNIST), or the image folder for --dataset folder")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset")
    p.add_argument("--image-size", type=int, default=28, help="side in pixels for --dataset folder (default 28)")
    p.add_argument("--rgb", action="store_true", help="keep colour for --dataset folder")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """Defaults and allowed values come from VAEConfig (for a new model; --resume keeps the checkpoint's)."""
    model = VAEConfig()
    hidden = ", ".join(f"{arch} {' '.join(map(str, dims))}" for arch, dims in VAEConfig.DEFAULT_HIDDEN_DIMS.items())
    p.add_argument("--architecture", default=model.architecture, choices=VAEConfig.ARCHITECTURES,
                   help="encoder/decoder bodies (default: %(default)s)")
    p.add_argument("--latent-dim", type=int, default=model.latent_dim,
                   help=f"latent dimensions, {VAEConfig.LATENT_DIM} (default: %(default)s)")
    p.add_argument("--hidden", type=int, nargs="+",
                   help=f"MLP widths or conv channels, {VAEConfig.HIDDEN_LAYERS} sizes in {VAEConfig.HIDDEN_SIZE} "
                        f"(default: {hidden})")
    p.add_argument("--likelihood", default=model.likelihood, choices=VAEConfig.LIKELIHOODS,
                   help="p(x|z) (default: %(default)s)")
    p.add_argument("--beta", type=float, default=model.beta,
                   help=f"KL weight, {VAEConfig.BETA} (default: %(default)s: a true VAE)")


def _add_training_args(p: argparse.ArgumentParser) -> None:
    """Defaults and allowed values come from TrainConfig."""
    train = TrainConfig()
    p.add_argument("--epochs", type=int, default=train.epochs,
                   help=f"epochs to train, {TrainConfig.EPOCHS} (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=train.batch_size,
                   help=f"{TrainConfig.BATCH_SIZE} (default: %(default)s)")
    p.add_argument("--lr", type=float, default=train.learning_rate,
                   help=f"Adam learning rate, {TrainConfig.LEARNING_RATE} (default: %(default)s)")
    p.add_argument("--kl-warmup", type=float, default=train.kl_warmup_epochs,
                   help=f"epochs of beta annealing, {TrainConfig.KL_WARMUP_EPOCHS} (default: %(default)s)")
    p.add_argument("--seed", type=int, default=train.seed, help=f"{TrainConfig.SEED} (default: %(default)s)")
    p.add_argument("--device", default=train.device, choices=TrainConfig.DEVICES,
                   help="auto picks cuda when available (default: %(default)s)")
    p.add_argument("--precision", default=train.precision, choices=TrainConfig.PRECISIONS,
                   help="bf16 autocast, cuda only (default: %(default)s)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (measure first)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_core", description="Train, evaluate and encode with Variational Autoencoders."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a VAE and save a .safetensors checkpoint")
    _add_data_args(train)
    train.add_argument("--out", required=True, help="checkpoint path, e.g. checkpoints/digits-2d.safetensors")
    train.add_argument("--resume", help="continue training this checkpoint (its history continues)")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    train.add_argument("--no-optimizer-state", action="store_true",
                       help="leave Adam's moments out of the checkpoint: 3x smaller, but --resume restarts Adam")
    _add_model_args(train)
    _add_training_args(train)

    ev = sub.add_parser("eval", help="print test recon / KL / ELBO / importance-weighted log p(x)")
    ev.add_argument("checkpoint")
    _add_data_args(ev)
    ev.add_argument("-k", type=int, default=100, help="importance samples for log p(x) (default 100)")
    ev.add_argument("--limit", type=int, help="evaluate on the first N test examples only")

    enc = sub.add_parser("encode", help="write latent means and std-devs of a split to CSV or NPZ")
    enc.add_argument("checkpoint")
    _add_data_args(enc)
    enc.add_argument("--split", default="test", choices=["train", "test"])
    enc.add_argument("--out", required=True, help="output file ending in .csv or .npz")
    for sub_parser in (ev, enc):
        sub_parser.add_argument("--device", default="auto", choices=TrainConfig.DEVICES,
                                help="where the model runs (auto picks cuda when available)")

    exp = sub.add_parser("export", help="write the decoder (z -> mean image) as an ONNX file, or the embedding "
                         "in the Embedding Projector's format")
    exp.add_argument("checkpoint")
    exp.add_argument("--format", default="onnx", choices=["onnx", "projector"],
                     help="onnx: the decoder; projector: tensors.tsv, metadata.tsv, sprite.png, "
                          "projector_config.pbtxt and embedding.csv of a split's latent means (default: onnx)")
    exp.add_argument("--out", required=True, help="output file (onnx, e.g. decoder.onnx) or folder (projector)")
    exp.add_argument("--split", default="test", choices=SPLITS,
                     help="projector: the examples exported; all is train then test (default: test)")
    exp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return parser


class ProgressBar:
    """A one-line progress bar on stderr (no dependency needed for this)."""

    def __init__(self, total: int, stream=sys.stderr, interval: float = 0.25):
        self.total, self.stream, self.interval = total, stream, interval
        self.started = self.last_draw = time.perf_counter()

    def update(self, done: int, text: str) -> None:
        now = time.perf_counter()
        if now - self.last_draw < self.interval and done < self.total:
            return
        self.last_draw = now
        width = 30
        filled = int(width * done / max(1, self.total))
        elapsed = time.perf_counter() - self.started
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {elapsed:5.0f}s {text}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def _load_data_for(args, dataset_info: DatasetInfo | None = None) -> Dataset:
    """The dataset --dataset names; with none, the checkpoint's (reloaded the one safe way, `DatasetInfo.load`,
    unless --data-dir points elsewhere), else DEFAULT_DATASET."""
    if args.dataset is None and dataset_info is not None and not args.data_dir:
        return dataset_info.load(download=args.download)
    args.dataset = args.dataset or (dataset_info.name if dataset_info is not None else DEFAULT_DATASET)
    return load_dataset(args.dataset, **_dataset_options(args))


def _train_config(args) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        seed=args.seed, kl_warmup_epochs=args.kl_warmup, device=args.device,
        precision=args.precision, compile=args.compile,
    )


def _model_config(args, dataset: Dataset) -> VAEConfig:
    return VAEConfig(
        image_shape=dataset.image_shape, latent_dim=args.latent_dim, architecture=args.architecture,
        hidden_dims=tuple(args.hidden) if args.hidden else None, likelihood=args.likelihood, beta=args.beta,
    )


def _train_with_progress_bar(trainer: Trainer, show: bool) -> FinishedEvent:
    """Run the trainer to its end, drawing its events on stderr when `show`; returns the final event."""
    bar = ProgressBar(trainer.run_steps) if show else None
    first_step, last_test = trainer.step, ""
    for event in trainer.run():
        if isinstance(event, FinishedEvent):
            if bar is not None:
                bar.close()
                print(f"{event.reason}: {event.message}", file=sys.stderr)
            return event
        if bar is None:
            continue
        if isinstance(event, StepEvent):
            bar.update(event.step - first_step, f"epoch {event.epoch:.2f} recon {event.recon:8.2f} "
                                                f"KL {event.kl:6.2f} ELBO {event.elbo:8.2f} {last_test}")
        elif isinstance(event, EpochEvent):
            last_test = f"| test ELBO {event.elbo:.2f}"
    raise AssertionError("Trainer.run ends with a FinishedEvent")


def cmd_train(args, argv: list[str]) -> int:
    from . import distributed

    resume = load_checkpoint(args.resume) if args.resume else None
    dataset = _load_data_for(args, resume.dataset if resume is not None else None)
    train_config = _train_config(args)
    out = Path(args.out)
    if out.exists() and not (args.overwrite or args.resume):
        raise VAEError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    world = distributed.setup(train_config.device)
    if resume is not None:
        trainer = build_trainer(dataset, train_config, resume=resume, world=world)
    else:
        trainer = build_trainer(dataset, train_config, _model_config(args, dataset), world=world)
    first_step = trainer.step
    finished = _train_with_progress_bar(trainer, world.is_main)
    if finished.reason == "diverged" and trainer.step == first_step:  # every rank agrees on divergence
        distributed.teardown(world)
        raise TrainingError(f"{finished.message} Not one step was trained, so {out} was not written")
    if world.is_main:
        launcher = (f"torchrun --nproc_per_node={world.world_size} -m vae_core" if world.is_distributed
                    else "python -m vae_core")
        command = f"{launcher} {shlex.join(argv)}"
        info = DatasetInfo(dataset.name, dataset.image_shape, dataset.class_names, dataset.options)
        save_checkpoint(out, trainer.model, info, trainer.history, trainer.epoch, command,
                        train_config=vars(train_config), overwrite=True,
                        optimizer_state=None if args.no_optimizer_state else trainer.optimizer.state_dict()["state"])
        test = trainer.history["test"][-1] if trainer.history["test"] else None
        summary = f"test recon {test['recon']:.2f} KL {test['kl']:.2f} ELBO {test['elbo']:.2f} nats" if test else ""
        print(f"saved {out} (epoch {trainer.epoch}) {summary}")
    distributed.teardown(world)
    return 0


def cmd_eval(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    dataset = _load_data_for(args, ckpt.dataset)
    x = dataset.x_test[: args.limit] if args.limit else dataset.x_test
    if not 1 <= args.k <= 10_000:
        raise VAEError(f"-k must be 1..10000, got {args.k}")
    ckpt.model.to(resolve_device(args.device))
    torch.manual_seed(0)
    r = evaluate(ckpt.model, x, k=args.k)
    print(f"{dataset.name} test set, {len(x)} examples, {ckpt.epoch} epochs (nats per example)")
    print(f"  reconstruction E_q[log p(x|z)] {r['recon']:10.3f}")
    print(f"  KL(q(z|x) || p(z))             {r['kl']:10.3f}")
    print(f"  ELBO                           {r['elbo']:10.3f}")
    print(f"  log p(x), IWAE K={args.k:<6}       {r['log_px']:10.3f}")
    print(f"  gap log p(x) - ELBO            {r['gap']:10.3f}")
    print(f"  active units                   {r['active_units']:>6} / {ckpt.config.latent_dim}")
    return 0


def cmd_encode(args) -> int:
    import numpy as np

    ckpt = load_checkpoint(args.checkpoint)
    dataset = _load_data_for(args, ckpt.dataset)
    x, y = dataset.split(args.split)
    ckpt.model.to(resolve_device(args.device))
    bar = ProgressBar(len(x))
    mu, logvar = encode_means(ckpt.model, x, on_batch=lambda done, total: bar.update(done, "examples encoded"))
    bar.close()
    sigma = (0.5 * logvar).exp()
    out = Path(args.out)
    if out.suffix == ".npz":
        np.savez(out, mu=mu.numpy(), sigma=sigma.numpy(), label=y.numpy())
    elif out.suffix == ".csv":
        d = mu.shape[1]
        header = ["index", "label", *[f"mu{i}" for i in range(d)], *[f"sigma{i}" for i in range(d)]]
        rows = np.column_stack([np.arange(len(y)), y.numpy(), mu.numpy(), sigma.numpy()])
        np.savetxt(out, rows, delimiter=",", header=",".join(header), comments="",
                   fmt=["%d", "%d"] + ["%.6g"] * (2 * d))
    else:
        raise VAEError(f"--out must end in .csv or .npz, got {out.name}")
    print(f"wrote {len(y)} codes ({mu.shape[1]}-D) to {out}")
    return 0


def cmd_export(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    if args.format == "projector":
        return _export_projector(ckpt, args)
    out = export_decoder_onnx(ckpt.model, args.out, overwrite=args.overwrite)
    config = ckpt.config
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB): input '{DECODER_INPUT}' (batch, {config.latent_dim}) "
          f"-> '{DECODER_OUTPUT}' (batch, {', '.join(map(str, config.image_shape))}) in [0, 1]")
    return 0


def _export_projector(ckpt, args) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise VAEError(f"{out} is a folder with files in it; pass --overwrite to replace the export there")
    bar = ProgressBar(100)
    name = f"{Path(args.checkpoint).stem} mu ({args.split})"
    table = embedding_table(ckpt, ckpt.dataset.load(), args.split, name=name,
                            progress=lambda fraction, message: bar.update(round(100 * fraction), message))
    bar.close()
    files = write_projector(table, out)
    print(f"wrote {files.rows:,} embeddings ({table.mu.shape[1]}-D) to {out}/: {', '.join(FILES)}; "
          f"sprite tiles {files.sprite_tile_px} px")
    if files.sprite_note:
        print(f"note: {files.sprite_note}")
    print(f"view: tensorboard --logdir {out} (Projector tab); or serve the folder and open "
          "projector.tensorflow.org/?config=<its URL>/projector_config.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, argv)
        if args.command == "export":
            return cmd_export(args)
        return cmd_eval(args) if args.command == "eval" else cmd_encode(args)
    except (VAEError, ValueError, OSError) as exc:  # OSError: an output folder that is missing or read-only
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
