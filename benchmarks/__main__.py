"""`python -m benchmarks [--quick] [--device cuda] [--repeats N] [--only NAME ...]`: print tables, write RESULTS.md."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from . import (
    canvas,
    classroom,
    inspector,
    interactivity,
    load,
    memory,
    projections,
    quality,
    renderer,
    replay_cost,
    soak,
    throughput,
)
from .context import DEFAULT_DATA_ROOT, Context, Settings, raw_mnist_root
from .report import Table, machine_table

BENCHMARKS = {"throughput": throughput, "quality": quality, "interactivity": interactivity, "canvas": canvas,
              "memory": memory, "load": load, "soak": soak, "replay": replay_cost,
              "projections": projections, "inspector": inspector, "classroom": classroom, "renderer": renderer}
NOT_QUICK = ("load", "soak", "inspector", "classroom", "renderer")  # minutes of browsers: `make bench`, not quick CI
ON_REQUEST = ("projections",)  # up to an hour (15-minute cases): only with --only, never in `make bench`
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
QUICK_RESULTS = Path(__file__).resolve().parent / "out" / "RESULTS-quick.md"  # git-ignored


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI variant: small data, few repeats, < 2 minutes")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where training runs")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT,
                        help="folder holding MNIST/raw (default: the bundled copy, decompressed there)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, help="throughput: interleaved pairs of epochs, tutorial then ours "
                        "(default 3, --quick 2)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--out", type=Path, help="markdown file to write (default: RESULTS.md, quick: out/)")
    return parser.parse_args(argv)


def document(tables: list[Table], args: argparse.Namespace, seconds: float) -> str:
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + (
        f" --device {args.device}" if args.device != "cpu" else "") + (
        f" --threads {args.threads}" if args.threads else "")
    header = [
        "# Benchmark results", "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} in {seconds / 60:.1f} minutes. "
        "Timings are medians over repeats; ratios compare runs made in the same process.", "", "",
    ]
    return "\n".join(header) + "\n".join(t.markdown() for t in tables)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for but no CUDA GPU is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    make = Settings.quick_run if args.quick else Settings.full
    if args.data_root == DEFAULT_DATA_ROOT:
        raw_mnist_root()
    overrides = {"throughput_repeats": args.repeats} if args.repeats else {}
    ctx = Context(make(device=args.device, data_root=args.data_root, **overrides))
    started = time.perf_counter()
    tables = [machine_table(args.device)]
    print(tables[0].text(), flush=True)
    default = [name for name in BENCHMARKS if name not in ON_REQUEST and not (args.quick and name in NOT_QUICK)]
    for name in args.only or default:
        section_start = time.perf_counter()
        for table in BENCHMARKS[name].run(ctx):
            tables.append(table)
            print("\n" + table.text(), flush=True)
        print(f"  ({name}: {time.perf_counter() - section_start:.0f} s)", flush=True)
    elapsed = time.perf_counter() - started
    out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document(tables, args, elapsed))
    print(f"\nwrote {out} ({elapsed / 60:.1f} minutes)")


if __name__ == "__main__":
    main()
