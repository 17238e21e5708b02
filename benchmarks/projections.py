"""t-SNE (scikit-learn, openTSNE) and UMAP (umap-learn) on MNIST latent means: seconds and peak memory.

The numbers behind the default point caps (`projection.METHOD_INFO`) and the libraries in requirements.txt. Each
case runs in a fresh process (`python -m benchmarks.projections --worker ...`), so its peak RSS is its own and
UMAP's numba compilation is paid where a freshly started server pays it: that first call is timed on its own
(1,000 points) and reported apart. Every library runs on one BLAS/OpenMP thread, as the app runs it
(`projection.PROJECTION_THREADS`).
The means are the posterior means of both MNIST splits (70,000) under the shipped checkpoints; 10,000 is a
stratified subsample. A case past its time limit is stopped and reported as "> N s". The 1-minute load average
is recorded before and after each case (the box is shared).

`python -m benchmarks --only projections --out benchmarks/out/projections.md [--quick]`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # a worker process imports numpy only, so its peak RSS is the library's, not torch's
    from .context import Context
    from .report import Table

REPO = Path(__file__).resolve().parent.parent

MODELS = {"mnist-conv (16-D)": "mnist-conv", "mnist-2d (2-D)": "mnist-2d"}
LIBRARIES = ("opentsne", "umap", "sklearn-tsne")  # the slowest last: its 70,000-point cases may be stopped
FULL_POINTS = (10_000, 70_000)
QUICK_POINTS = (2_000,)
# CPU seconds a case may take (the box is shared: wall time runs 3-4x longer at a load average of 8): a library
# that needs more than 15 minutes of one core for 70,000 points is out.
FULL_LIMIT_S = 900
QUICK_LIMIT_S = 120
WALL_LIMIT_FACTOR = 6  # a case is also stopped after this many times its CPU limit in wall time
MU_CACHE = REPO / "benchmarks" / "out" / "projection-mu"  # git-ignored: encodings made once per checkpoint


def latent_means(model: str) -> tuple[np.ndarray, np.ndarray]:
    """(mu (70000, D), labels) of both MNIST splits under checkpoints/<model>.safetensors, cached on disk."""
    path = MU_CACHE / f"{model}.npz"
    if not path.exists():
        from vae_core.checkpoint import load_checkpoint
        from vae_core.data import load_dataset
        from vae_core.metrics import encode_posterior

        every = load_dataset("mnist").split("all")
        x, y = every.x, every.y
        mu = encode_posterior(load_checkpoint(REPO / "checkpoints" / f"{model}.safetensors").model, x).mu
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, mu=mu.numpy(), labels=y.numpy())
    with np.load(path) as f:
        return f["mu"], f["labels"]


def embed(library: str, mu: np.ndarray, seed: int = 0) -> np.ndarray:
    """One 2-D embedding with each library's defaults (perplexity 30; n_neighbors 15, min_dist 0.1), 1 thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        if library == "sklearn-tsne":
            from sklearn.manifold import TSNE

            return TSNE(n_components=2, perplexity=30.0, init="pca", random_state=seed).fit_transform(mu)
        if library == "opentsne":
            from openTSNE import TSNE

            return np.asarray(TSNE(n_components=2, perplexity=30.0, n_jobs=1, random_state=seed).fit(mu))
        if library == "umap":
            import umap

            return umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=seed, n_jobs=1).fit_transform(mu)
    raise ValueError(f"unknown library {library!r}")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: that survives exec, so a worker would report
    at least its parent's peak (torch's 500 MB) whatever it used itself."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def cpu_seconds() -> float:
    """CPU time of this process (user + system): on a shared box, less sensitive to other load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(library: str, model: str, points: int, limit_s: float) -> dict:
    """Runs in its own process: one embedding, timed, with the process's peak RSS; the kernel stops it (SIGXCPU)
    after limit_s CPU seconds."""
    from vae_core.projection import stratified_subsample

    resource.setrlimit(resource.RLIMIT_CPU, (int(limit_s), int(limit_s) + 5))
    mu, labels = latent_means(model)
    rows = stratified_subsample(labels, len(mu), points, seed=0)
    mu = np.ascontiguousarray(mu[rows])
    result = {"rss_before_mb": peak_rss_mb()}
    if library == "umap":  # numba compiles UMAP's kernels on the first call of a process: timed apart
        start = time.perf_counter()
        embed(library, mu[:1000])
        result["first_call_s"] = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), cpu_seconds()
    coords = embed(library, mu)
    result.update(seconds=time.perf_counter() - start, cpu_s=cpu_seconds() - cpu_start, peak_rss_mb=peak_rss_mb(),
                  finite=bool(np.isfinite(coords).all()), n=len(coords))
    return result


def run_case(library: str, model: str, points: int, limit_s: float) -> dict:
    load_before = os.getloadavg()[0]
    command = [sys.executable, "-m", "benchmarks.projections", "--worker", library, model, str(points), str(limit_s)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=WALL_LIMIT_FACTOR * limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
    if process.returncode == 0:
        result = json.loads(out.strip().splitlines()[-1])
    elif process.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        result = {"timeout_s": limit_s}
    else:
        result = {"error": process.returncode}
    result.update(wall_s=time.perf_counter() - started, load_before=load_before, load_after=os.getloadavg()[0])
    return result


def row(table: Table, label: str, points: int, library: str, r: dict) -> None:
    seconds = f"> {r['wall_s']:.0f} (stopped)" if "timeout_s" in r else r.get("seconds")
    cpu = f"> {r['timeout_s']:.0f} (stopped)" if "timeout_s" in r else r.get("cpu_s")
    if "error" in r:
        seconds = cpu = f"failed (exit {r['error']})"
    table.add(label, points, library, seconds, cpu, r.get("peak_rss_mb"), r.get("first_call_s"),
              f"{r['load_before']:.2f} / {r['load_after']:.2f}")
    print("  " + " | ".join(table.rows[-1]), flush=True)


def reopen_table() -> Table:
    """How long a finished 70,000-point map takes to come back from the disk cache (what a reopened page waits)."""
    import tempfile

    from vae_core.projection import Projection, ProjectionParams, ProjectionStore

    from .report import Table, median, repeat_seconds, timed

    table = Table("Reopening a cached projection (ProjectionStore, 70,000 points)", ["what", "ms", "file (MB)"])
    params = ProjectionParams("tsne")
    n = 70_000
    projection = Projection(np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32), np.arange(n),
                            "tsne", f"t-SNE of {n:,} points")
    with tempfile.TemporaryDirectory() as root:
        store = ProjectionStore(root)
        put_s, path = timed(lambda: store.put("0" * 64, "all", params, projection))
        table.add("write (atomic rename)", 1000 * put_s, path.stat().st_size / 1e6)
        table.add("read back, median of 5", 1000 * median(repeat_seconds(
            lambda: store.get("0" * 64, "all", params), 5, warmup=0)), path.stat().st_size / 1e6)
    table.notes.append(f"load average {os.getloadavg()[0]:.2f}; the goal is a reopened page within 1 s")
    return table


def projection_table() -> Table:
    from .report import Table

    return Table("2-D projections of MNIST latent means, one thread (CPU)",
                 ["latent", "points", "library", "seconds (wall)", "CPU seconds", "peak RSS (MB)",
                  "numba first call (s)", "load before / after"])


def run(ctx: Context) -> list[Table]:

    points_list = QUICK_POINTS if ctx.settings.quick else FULL_POINTS
    limit_s = QUICK_LIMIT_S if ctx.settings.quick else FULL_LIMIT_S
    table = projection_table()
    for points in points_list:
        for library in LIBRARIES:
            for label, model in MODELS.items():
                row(table, label, points, library, run_case(library, model, points, limit_s))
    table.notes += [
        "Each case in a fresh process; peak RSS is that process's (encodings loaded from disk: ~"
        f"{70_000 * 16 * 4 / 1e6:.0f} MB of means, plus Python, torch and the library).",
        "UMAP's time excludes its first call (numba JIT + imports, on 1,000 points), given in its own column.",
        "Defaults: perplexity 30 (both t-SNEs, PCA initialisation for scikit-learn, openTSNE's own default init); "
        "UMAP n_neighbors 15, min_dist 0.1; seed 0.",
    ]
    return [table, reopen_table()]


def main() -> None:
    """`--case LIBRARY MODEL POINTS` runs cases one after another and prints their rows (to spread a long
    measurement over several processes); `--worker` is one case in its own process (what run_case starts)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projections")
    parser.add_argument("--worker", nargs=4, metavar=("LIBRARY", "MODEL", "POINTS", "LIMIT_S"))
    parser.add_argument("--case", nargs=3, action="append", metavar=("LIBRARY", "MODEL", "POINTS"))
    parser.add_argument("--limit-s", type=float, default=FULL_LIMIT_S, help="CPU seconds per case")
    args = parser.parse_args()
    if args.worker:
        library, model, points, limit_s = args.worker
        print(json.dumps(worker(library, model, int(points), float(limit_s))), flush=True)
        return
    table = projection_table()
    labels = {model: label for label, model in MODELS.items()}
    for library, model, points in args.case or []:
        row(table, labels[model], int(points), library, run_case(library, model, int(points), args.limit_s))
    print(table.markdown())


if __name__ == "__main__":
    main()
