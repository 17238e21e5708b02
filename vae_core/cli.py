"""Command line: `python -m vae_core train|eval|encode|export|half ...` (also under torchrun for several processes)."""

from __future__ import annotations

import argparse
import csv
import functools
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .checkpoint import DatasetInfo, load_checkpoint, with_float16_weights
from .data import DATA_ROOT, DATASETS, DEFAULT_DATASET, DEFAULT_IMAGE_SIZE, SPLITS, Dataset, load_dataset
from .embedding_export import FILES, embedding_table, write_projector
from .errors import TrainingError, VAEError
from .eta import format_duration, remaining_seconds
from .export import (
    DECODER_CLASS_INPUT,
    DECODER_INPUT,
    DECODER_LOGITS_OUTPUT,
    DECODER_OUTPUT,
    ENCODER_CLASS_INPUT,
    ENCODER_INPUT,
    ENCODER_OUTPUTS,
    PARTS,
    export_onnx,
)
from .files import write_atomically
from .metrics import FULL_EVAL, EvalConfig, encode_posterior, evaluate_seeded
from .models import VAEConfig
from .standalone import standalone_page, write_standalone_page
from .train import (
    EpochEvent,
    FinishedEvent,
    SnapshotEvent,
    StepEvent,
    TrainConfig,
    Trainer,
    TrainingSnapshot,
    build_trainer,
    resolve_device,
)


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
    p.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE,
                   help="side in pixels for --dataset folder (default: %(default)s)")
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
    p.add_argument("--conditional", action="store_true",
                   help="a conditional VAE: encoder and decoder also take the one-hot class (the dataset's labels)")


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
    p.add_argument("--replay-points", type=int, default=train.replay_points,
                   help=f"test codes snapshotted per epoch for the formation replay, {TrainConfig.REPLAY_POINTS}; "
                        "0: none (default: %(default)s)")


class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to each option's help that does not say it already (flags and None left out)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "%(default)" in help_text or "default:" in help_text or action.default in (None, False, argparse.SUPPRESS):
            return help_text
        return f"{help_text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_core", description="Train, evaluate and encode with Variational Autoencoders."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, formatter_class=_DefaultsHelpFormatter)

    train = sub.add_parser("train", help="train a VAE and save a .safetensors checkpoint")
    _add_data_args(train)
    train.add_argument("--out", required=True, help="checkpoint path, e.g. checkpoints/digits-2d.safetensors")
    train.add_argument("--resume", help="continue training this checkpoint (its history continues)")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    train.add_argument("--save-every", type=int, metavar="N",
                       help="also save --out every N epochs (Ctrl-C always saves the last completed epoch)")
    train.add_argument("--no-optimizer-state", action="store_true",
                       help="leave Adam's moments out of the checkpoint: 3x smaller, but --resume restarts Adam")
    _add_model_args(train)
    _add_training_args(train)

    ev = sub.add_parser("eval", help="print test recon / KL / ELBO / importance-weighted log p(x)")
    ev.add_argument("checkpoint")
    _add_data_args(ev)
    quick = EvalConfig()
    ev.add_argument("-k", type=int, help=f"importance samples for log p(x), {EvalConfig.K} "
                                          f"(default: {quick.k}; {FULL_EVAL.k} with --full)")
    ev.add_argument("--limit", type=int, metavar="N",
                    help=f"evaluate the first N test examples (default: a fixed random sample of {quick.examples}; "
                         "all with --full)")
    ev.add_argument("--full", action="store_true",
                    help=f"the full estimate: every test example and K={FULL_EVAL.k} (minutes for a conv model "
                         "on a CPU; the quick run prints how long)")

    enc = sub.add_parser("encode", help="write latent means and std-devs of a split to CSV or NPZ")
    enc.add_argument("checkpoint")
    _add_data_args(enc)
    enc.add_argument("--split", default="test", choices=["train", "test"], help="which split to encode")
    enc.add_argument("--out", required=True, help="output file ending in .csv or .npz")
    for sub_parser in (ev, enc):
        sub_parser.add_argument("--device", default="auto", choices=TrainConfig.DEVICES,
                                help="where the model runs (auto picks cuda when available)")

    half = sub.add_parser("half", help="store a checkpoint's weights as float16 (half its weights' bytes; they load "
                          "as float32), in place unless --out")
    half.add_argument("checkpoint")
    half.add_argument("--out", help="write here instead (default: replace CHECKPOINT)")

    exp = sub.add_parser("export", help="write the decoder (z -> mean image) or the encoder (image -> mu, logvar) as "
                         "an ONNX file (a conditional model's takes the class too), or the embedding in the "
                         "Embedding Projector's format")
    exp.add_argument("checkpoint")
    exp.add_argument("--format", default="onnx", choices=["onnx", "projector", "html"],
                     help=f"onnx: the --part, whose inputs are float32 with a batch axis (the decoder's "
                          f"'{DECODER_INPUT}', the encoder's '{ENCODER_INPUT}') and, for a conditional model, "
                          f"'{DECODER_CLASS_INPUT}' int64 (batch,) class labels; projector: "
                          "tensors.tsv, metadata.tsv, sprite.png, projector_config.pbtxt and embedding.csv of a "
                          "split's latent means; html: one page that opens from disk with no server or network, the "
                          "latent pad decoding in the page over its decoded map, a drawing encoded as it is drawn, "
                          "the test codes with hover thumbnails and the model's card (default: onnx)")
    exp.add_argument("--part", default="decoder", choices=PARTS,
                     help="onnx: the decoder (z -> mean image and logits) or the encoder (image in [0, 1] -> "
                          "mu, logvar of q(z|x)) (default: decoder)")
    exp.add_argument("--out", required=True, help="output file (onnx, e.g. decoder.onnx) or folder (projector)")
    exp.add_argument("--split", default="test", choices=SPLITS,
                     help="projector: the examples exported; all is train then test (default: test)")
    exp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return parser


class ProgressBar:
    """A one-line progress bar on stderr with the time left (no dependency needed for this)."""

    def __init__(self, total: int, stream=None, interval: float = 0.25):
        self.total, self.stream, self.interval = total, stream or sys.stderr, interval
        self.started = self.last_draw = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def projected_total(self, done: int) -> float:
        """Seconds the whole bar takes at the pace so far."""
        return self.elapsed + (remaining_seconds(done, self.total, self.elapsed) or 0.0)

    def update(self, done: int, text: str) -> None:
        now = time.perf_counter()
        if now - self.last_draw < self.interval and done < self.total:
            return
        self.last_draw = now
        width = 30
        filled = int(width * done / max(1, self.total))
        left = remaining_seconds(done, self.total, self.elapsed)
        eta = f" ~{format_duration(left)} left" if left is not None and done < self.total else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
                          f"{self.elapsed:5.0f}s{eta} {text}")
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
        precision=args.precision, compile=args.compile, replay_points=args.replay_points,
    )


def _model_config(args, dataset: Dataset) -> VAEConfig:
    return VAEConfig(
        image_shape=dataset.image_shape, latent_dim=args.latent_dim, architecture=args.architecture,
        hidden_dims=tuple(args.hidden) if args.hidden else None, likelihood=args.likelihood, beta=args.beta,
        n_classes=len(dataset.class_names) if args.conditional else 0,
    )


ETA_AFTER_STEPS = 20  # steps timed before a run prints its projected time (fewer if an epoch is shorter)...
ETA_AFTER_SECONDS = 10.0  # ...or fewer steps (at least 2) when they are slow


class _RunSaver:
    """Saves a CLI run to --out: at its end, every `every` epochs, and on Ctrl-C the last completed epoch.

    The run is snapshotted at each epoch's end, so an interrupt mid-epoch saves a checkpoint that resumes exactly
    (runs are seeded per epoch), never the half-trained epoch in progress.
    """

    def __init__(self, trainer: Trainer, out: Path, command: str, keep_adam: bool, every: int | None = None):
        self.trainer, self.out, self.command = trainer, out, command
        self.keep_adam, self.every = keep_adam, every
        self.first_epoch = trainer.epoch
        self.last: TrainingSnapshot | None = None  # at the last completed epoch

    def epoch_done(self) -> None:
        self.last = self.trainer.snapshot(with_adam=self.keep_adam)
        if self.every and (self.last.epoch - self.first_epoch) % self.every == 0:
            print(f"\nsaved {self.save(self.last)} (epoch {self.last.epoch}, --save-every {self.every})",
                  file=sys.stderr)

    def save(self, snapshot: TrainingSnapshot) -> Path:
        return snapshot.save(self.out, self.command, overwrite=True)

    def save_now(self) -> Path:
        """Save the run as it stands (at its end)."""
        return self.save(self.trainer.snapshot(with_adam=self.keep_adam))

    def interrupted(self) -> int:
        print("", file=sys.stderr)
        if self.last is None:
            print(f"interrupted before the first epoch ended: nothing saved, {self.out} untouched", file=sys.stderr)
        else:
            saved = self.save(self.last)
            print(f"interrupted: saved {saved} at the last completed epoch, {self.last.epoch}; continue with "
                  f"--resume {saved}", file=sys.stderr)
        return 130


def _train_with_progress_bar(trainer: Trainer, show: bool,
                             on_epoch: Callable[[], None] = lambda: None) -> FinishedEvent:
    """Run the trainer to its end, drawing its events on stderr when `show` (and, after the first steps, the
    projected time of the run); calls `on_epoch` after each epoch; returns the final event."""
    bar = ProgressBar(trainer.run_steps) if show else None
    first_step, last_test = trainer.step, ""
    eta_after, eta_printed = min(ETA_AFTER_STEPS, trainer.steps_per_epoch), False
    for event in trainer.run():
        if isinstance(event, FinishedEvent):
            if bar is not None:
                bar.close()
                print(f"{event.reason}: {event.message}", file=sys.stderr)
            return event
        if isinstance(event, EpochEvent):
            last_test = f"| test ELBO {event.elbo:.2f}"
        # an epoch is complete once its replay frame (which follows its EpochEvent) is taken
        if isinstance(event, SnapshotEvent) or (isinstance(event, EpochEvent) and not trainer.records_replay):
            on_epoch()
        if bar is None or not isinstance(event, StepEvent):
            continue
        done = event.step - first_step
        if not eta_printed and (done >= eta_after or (done >= 2 and bar.elapsed > ETA_AFTER_SECONDS)):
            eta_printed, epochs = True, trainer.config.epochs
            print(f"\r\u2248 {format_duration(bar.projected_total(done))} for {epochs} epoch{'s' * (epochs != 1)} "
                  f"({trainer.run_steps:,} steps; timed over the first {done})", file=sys.stderr)
        bar.update(done, f"epoch {event.epoch:.2f} recon {event.recon:8.2f} "
                         f"KL {event.kl:6.2f} ELBO {event.elbo:8.2f} {last_test}")
    raise AssertionError("Trainer.run ends with a FinishedEvent")


def cmd_train(args, argv: list[str]) -> int:
    from . import distributed

    resume = load_checkpoint(args.resume) if args.resume else None
    dataset = _load_data_for(args, resume.dataset if resume is not None else None)
    if dataset.report is not None:
        print("\n".join(dataset.report.lines()), file=sys.stderr)
    train_config = _train_config(args)
    out = Path(args.out)
    if args.save_every is not None and args.save_every < 1:
        raise VAEError(f"--save-every must be a number of epochs >= 1, got {args.save_every}")
    if out.exists() and not (args.overwrite or args.resume):
        raise VAEError(f"{out} exists; pass --overwrite to replace it or choose another --out")
    world = distributed.setup(train_config.device)
    if resume is not None:
        trainer = build_trainer(dataset, train_config, resume=resume, world=world)
    else:
        trainer = build_trainer(dataset, train_config, _model_config(args, dataset), world=world)
    first_step = trainer.step
    launcher = (f"torchrun --nproc_per_node={world.world_size} -m vae_core" if world.is_distributed
                else "python -m vae_core")
    saver = _RunSaver(trainer, out, f"{launcher} {shlex.join(argv)}", keep_adam=not args.no_optimizer_state,
                      every=args.save_every)
    try:
        finished = _train_with_progress_bar(trainer, world.is_main, saver.epoch_done if world.is_main else lambda: None)
    except KeyboardInterrupt:
        return saver.interrupted() if world.is_main else 130
    if finished.reason == "diverged" and trainer.step == first_step:  # every rank agrees on divergence
        distributed.teardown(world)
        raise TrainingError(f"{finished.message} Not one step was trained, so {out} was not written")
    if world.is_main:
        saver.save_now()
        test = trainer.history["test"][-1] if trainer.history["test"] else None
        summary = f"test recon {test['recon']:.2f} KL {test['kl']:.2f} ELBO {test['elbo']:.2f} nats" if test else ""
        print(f"saved {out} (epoch {trainer.epoch}) {summary}")
    distributed.teardown(world)
    return 0


def _eval_examples(args, config: EvalConfig, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The test examples (x, y) to evaluate and how they were chosen: the first --limit, or the config's sample."""
    test = dataset.split("test")
    x_test, y_test = test.x, test.y
    if args.limit is not None:
        if args.limit < 1:
            raise VAEError(f"--limit must be >= 1, got {args.limit}")
        which = f"the first {min(args.limit, len(x_test)):,} of the {len(x_test):,}"
        return x_test[:args.limit], y_test[:args.limit], which
    x, y = config.chosen(x_test, y_test)
    if len(x) == len(x_test):
        return x, y, "all"
    return x, y, f"a fixed random sample of {len(x):,} of the {len(x_test):,}"


def cmd_half(args) -> int:
    before = Path(args.checkpoint).read_bytes()
    data = with_float16_weights(before)
    out = write_atomically(args.out or args.checkpoint, data)
    print(f"{out}: {len(before) / 2**20:.2f} MiB -> {len(data) / 2**20:.2f} MiB (float16 weights)")
    return 0


def cmd_eval(args) -> int:
    base = FULL_EVAL if args.full else EvalConfig()  # -k overrides either
    config = EvalConfig(k=base.k if args.k is None else args.k, examples=base.examples, seed=base.seed)
    ckpt = load_checkpoint(args.checkpoint)
    dataset = _load_data_for(args, ckpt.dataset)
    x, y, which = _eval_examples(args, config, dataset)
    ckpt.model.to(resolve_device(args.device))
    bar = ProgressBar(len(x))
    r = evaluate_seeded(ckpt.model, x, k=config.k, y=y, seed=config.seed,
                        on_batch=lambda done, total: bar.update(done, "examples"))
    bar.close()
    seconds = bar.elapsed
    n_test = len(dataset.x_test)
    print(f"{dataset.name}: {which} test examples, K={config.k}, {ckpt.epoch} epochs (nats per example; "
          f"{seconds:.1f} s)")
    print(f"  reconstruction E_q[log p(x|z)] {r['recon']:10.3f}")
    print(f"  KL(q(z|x) || p(z))             {r['kl']:10.3f}")
    print(f"  ELBO                           {r['elbo']:10.3f}")
    print(f"  log p(x), IWAE K={config.k:<6}       {r['log_px']:10.3f}")
    print(f"  gap log p(x) - ELBO            {r['gap']:10.3f}")
    print(f"  active units                   {r['active_units']:>6} / {ckpt.config.latent_dim}")
    if len(x) < n_test or config.k < FULL_EVAL.k:
        # Per example: about one decode for the ELBO and the encodings, K for log p(x).
        full = seconds * (n_test / len(x)) * (FULL_EVAL.k + 2) / (config.k + 2)
        print(f"a quick estimate; the full one (all {n_test:,} examples, K={FULL_EVAL.k}) takes roughly "
              f"{format_duration(full)} here: add --full")
    return 0


ENCODE_FORMATS = (".csv", ".npz")


def _write_codes(out: Path, dataset: Dataset, split: str, mu: torch.Tensor, sigma: torch.Tensor) -> None:
    """One row per example: its position, stable id, label and class name beside its code (mu, sigma)."""
    import numpy as np

    examples = dataset.split(split)
    y, ids = examples.y, np.array(examples.ids)
    class_name = np.array(dataset.class_names)[y.numpy()]
    if out.suffix == ".npz":
        np.savez(out, mu=mu.numpy(), sigma=sigma.numpy(), label=y.numpy(), id=ids, class_name=class_name)
        return
    d = mu.shape[1]
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "id", "label", "class_name", *[f"mu{i}" for i in range(d)],
                         *[f"sigma{i}" for i in range(d)]])
        for i, row in enumerate(zip(ids, y.tolist(), class_name, mu.tolist(), sigma.tolist())):
            example_id, label, name, m, s = row
            writer.writerow([i, example_id, label, name, *(f"{v:.6g}" for v in (*m, *s))])


def cmd_encode(args) -> int:
    out = Path(args.out)
    if out.suffix not in ENCODE_FORMATS:  # checked before the (possibly long) encoding
        raise VAEError(f"--out must end in {' or '.join(ENCODE_FORMATS)}, got {out.name}")
    if not out.parent.is_dir():
        raise VAEError(f"the folder of --out, {out.parent}, does not exist")
    ckpt = load_checkpoint(args.checkpoint)
    dataset = _load_data_for(args, ckpt.dataset)
    examples = dataset.split(args.split)
    x, y = examples.x, examples.y
    ckpt.model.to(resolve_device(args.device))
    bar = ProgressBar(len(x))
    posterior = encode_posterior(ckpt.model, x, y,
                                 on_batch=lambda done, total: bar.update(done, "examples encoded"))
    bar.close()
    _write_codes(out, dataset, args.split, posterior.mu, posterior.std)
    print(f"wrote {len(x)} codes ({posterior.mu.shape[1]}-D) to {out}, with each example's id and class name")
    return 0


def cmd_export(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    if args.format == "projector":
        return _export_projector(ckpt, args)
    if args.format == "html":
        return _export_html(ckpt, args)
    out = export_onnx(ckpt.model, args.out, args.part, overwrite=args.overwrite)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB): {_graph_signature(ckpt.config, args.part)}")
    return 0


def _graph_signature(config, part: str) -> str:
    """The exported graph's inputs and outputs, in words."""
    image = f"(batch, {', '.join(map(str, config.image_shape))})"
    codes = f"(batch, {config.latent_dim})"
    class_input = ENCODER_CLASS_INPUT if part == "encoder" else DECODER_CLASS_INPUT
    label = f" and '{class_input}' (batch,) int64 class 0-{config.n_classes - 1}" if config.conditional else ""
    if part == "encoder":
        return (f"input '{ENCODER_INPUT}' {image} in [0, 1]{label} -> "
                + " and ".join(f"'{name}' {codes}" for name in ENCODER_OUTPUTS))
    return (f"input '{DECODER_INPUT}' {codes}{label} -> '{DECODER_OUTPUT}' {image} in [0, 1] "
            f"and '{DECODER_LOGITS_OUTPUT}' {image}")


def _trusted_fix(args, fix: dict) -> dict:
    """A fix in a folder the user named (or data/); a folder only a checkpoint named is a stranger's choice,
    so the command offered then downloads into data/ and deletes nothing."""
    if getattr(args, "data_dir", None) or Path(fix["root"]).resolve() == DATA_ROOT.resolve():
        return fix
    return {"root": str(DATA_ROOT), "download": True}


def _fixed_command(argv: list[str], fix: dict) -> str:
    """The command line with the data flags a DatasetError says would fix it."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--data-dir":
            skip = True
        elif not (arg.startswith("--data-dir=") or arg == "--download"):
            kept.append(arg)
    flags = ["--data-dir", fix["root"]] + (["--download"] if fix.get("download") else [])
    delete = f"rm {shlex.quote(fix['delete'])} && " if fix.get("delete") else ""
    return f"{delete}python -m vae_core {shlex.join([*kept, *flags])}"


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


def _export_html(ckpt, args) -> int:
    split = "test" if args.split == "all" else args.split
    examples = ckpt.dataset.load().split(split)
    page = standalone_page(ckpt, examples.x, examples.y, title=Path(args.checkpoint).stem)
    out = write_standalone_page(page, args.out, overwrite=args.overwrite)
    print(f"wrote {out} ({len(page.html) / 1e6:.1f} MB, {page.points:,} {split} examples): open it in a browser, "
          "from disk; it needs no server and no network")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args, argv)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "half":
            return cmd_half(args)
        return cmd_eval(args) if args.command == "eval" else cmd_encode(args)
    except (VAEError, ValueError, OSError) as exc:  # OSError: an output folder that is missing or read-only
        print(f"error: {exc}", file=sys.stderr)
        if getattr(exc, "fix", None):
            print(f"fix: {_fixed_command(argv, _trusted_fix(args, exc.fix))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
