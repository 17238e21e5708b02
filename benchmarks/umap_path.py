"""UMAP on all 70,000 MNIST latent means: umap-learn's defaults against the app's path, seconds and map quality.

The app's path (`vae_core.projection.compute` with `ProjectionParams("umap")`) gives umap-learn the exact k nearest
neighbours (scikit-learn) and a PCA start, and keeps numba's compiled kernels in a disk cache
(`projection.load_umap`). Each case runs in a fresh process, as a freshly started worker would:
- `default`: umap-learn's defaults (approximate neighbours by NN-descent, spectral start), seeded, one thread;
  its numba compilation is timed apart (a first call on 1,000 points) and not counted in its seconds.
- `app-cold`: the app's path in a process whose numba cache folder is empty (a machine's first map: its seconds
  include importing umap-learn and compiling its kernels).
- `app-warm`: the same in a new process after that (every later worker).
- variants of the app's path, after those (warm cache), that show where the time goes: the spectral start
  instead of PCA, and umap-learn's 200 layout epochs (the app runs 100 above 10,000 points).
Quality: trustworthiness (scikit-learn, k = 10 and 15) of each map against the latent means on a fixed uniform
subsample of 5,000 points (the same rows for every case), and the share of each of those points' 15 nearest
neighbours in the latent space that are among its 15 nearest on the map. CPU seconds are this process's user +
system time (wall time on a shared box runs several times longer); the 1-minute load average is recorded before
and after each case.

`python -m benchmarks.umap_path [--models mnist-2d mnist-conv] [--cases default app-cold app-warm ...]
[--threads N]` prints a markdown table (benchmarks/RESULTS.md, "UMAP on 70,000").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from .projections import MODELS, REPO, cpu_seconds, latent_means

CASES = ("default", "app-cold", "app-warm", "app-spectral", "app-200-epochs")
QUALITY_POINTS = 5_000
FIRST_CALL_POINTS = 1_000


def quality(mu: np.ndarray, coords: np.ndarray) -> dict[str, float]:
    """Trustworthiness (k = 10, 15) and the kept share of 15 nearest neighbours, on a fixed 5,000-point sample."""
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import NearestNeighbors

    rows = np.random.default_rng(0).choice(len(mu), QUALITY_POINTS, replace=False)
    high, low = mu[rows], coords[rows]
    near_high = NearestNeighbors(n_neighbors=15).fit(high).kneighbors(return_distance=False)
    near_low = NearestNeighbors(n_neighbors=15).fit(low).kneighbors(return_distance=False)
    kept = np.mean([len(np.intersect1d(a, b)) / 15 for a, b in zip(near_high, near_low)])
    return {"trust10": trustworthiness(high, low, n_neighbors=10),
            "trust15": trustworthiness(high, low, n_neighbors=15), "knn_kept": float(kept)}


def default_umap(mu: np.ndarray, n_epochs: int | None = None) -> np.ndarray:
    import umap

    return umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, n_jobs=1, n_epochs=n_epochs).fit_transform(mu)


def app_umap(mu: np.ndarray, case: str, threads: int, phases: list) -> np.ndarray:
    """The app's path; the variants change one argument of the UMAP it builds."""
    from vae_core import projection

    if case in ("app-spectral", "app-200-epochs"):
        umap = projection.load_umap()
        real = umap.UMAP
        change = {"app-spectral": {"init": "spectral"}, "app-200-epochs": {"n_epochs": 200}}[case]
        umap.UMAP = lambda **kwargs: real(**{**kwargs, **change})
    start = time.perf_counter()
    result = projection.compute(mu, projection.ProjectionParams("umap"), threads=threads,
                                progress=lambda fraction, message: phases.append(
                                    (time.perf_counter() - start, fraction, message)))
    return result.coords


def phase_seconds(phases: list) -> dict[str, float]:
    """Seconds from the start of compute to the graph (neighbours found) and to the first layout epoch."""
    graph = next((t for t, _, m in phases if "neighbour graph" in m), None)
    layout = next((t for t, _, m in phases if "layout epoch" in m), None)
    return {"to_graph_s": graph, "to_layout_s": layout}


def worker(case: str, model: str, threads: int) -> dict:
    """One case in this (fresh) process: the map, timed, and its quality."""
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore")
    process_start = time.perf_counter()
    mu, _ = latent_means(model)
    result: dict = {"load_before": os.getloadavg()[0]}
    phases: list = []
    start, cpu_start = process_start, cpu_seconds()
    if case == "default":
        with threadpool_limits(limits=1):
            default_umap(np.ascontiguousarray(mu[:FIRST_CALL_POINTS]))  # numba's compilation: timed apart
            result["first_call_s"] = time.perf_counter() - start
            start, cpu_start = time.perf_counter(), cpu_seconds()
            coords = default_umap(mu)
    else:
        coords = app_umap(mu, case, threads, phases)
    result.update(seconds=time.perf_counter() - start, cpu_s=cpu_seconds() - cpu_start,
                  process_s=time.perf_counter() - process_start, load_after=os.getloadavg()[0],
                  **phase_seconds(phases), **quality(mu, coords))
    return result


def run_case(case: str, model: str, threads: int, numba_cache: str) -> dict:
    """`case` in a fresh process whose numba cache folder is `numba_cache`."""
    env = {**os.environ, "NUMBA_CACHE_DIR": numba_cache}
    command = [sys.executable, "-m", "benchmarks.umap_path", "--worker", case, model, str(threads)]
    started = time.perf_counter()
    out = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    return result


def table(rows: list[tuple[str, str, dict]]):
    from .report import Table

    out = Table("UMAP on 70,000 MNIST latent means: umap-learn's defaults against the app's path (CPU)",
                ["latent", "case", "seconds (wall)", "CPU seconds", "process total (s)", "to graph / layout (s)",
                 "numba first call (s)", "trust. k=10", "trust. k=15", "15-NN kept", "load before / after"])
    for label, case, r in rows:
        phases = (f"{r['to_graph_s']:.1f} / {r['to_layout_s']:.1f}" if r.get("to_layout_s") is not None else "")
        out.add(label, case, r["seconds"], r["cpu_s"], r["process_s"], phases, r.get("first_call_s"),
                f"{r['trust10']:.4f}", f"{r['trust15']:.4f}", f"{r['knn_kept']:.3f}",
                f"{r['load_before']:.2f} / {r['load_after']:.2f}")
    out.notes += [
        "Each case in a fresh process. `default`: umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, "
        "n_jobs=1), its numba compilation (a first call on 1,000 points) apart. `app`: projection.compute, exact "
        "neighbours + PCA start; cold: empty numba cache folder (process total includes imports and compilation); "
        "warm: a new process after it. Seeded: the layout runs on one thread in every case.",
        f"Quality on a fixed sample of {QUALITY_POINTS:,} of the 70,000 points: trustworthiness (1 is best) and "
        "the share of 15 latent-space nearest neighbours that stay among the 15 nearest on the map.",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.umap_path")
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "MODEL", "THREADS"))
    parser.add_argument("--models", nargs="+", default=list(MODELS.values()), choices=list(MODELS.values()))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--threads", type=int, default=1, help="threads the app's path may use (its neighbours)")
    args = parser.parse_args()
    if args.worker:
        case, model, threads = args.worker
        print(json.dumps(worker(case, model, int(threads))), flush=True)
        return
    labels = {model: label for label, model in MODELS.items()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="numba-default-") as default_cache:
        for model in args.models:
            # empty for each model's cold case; the later app cases find it warm
            with tempfile.TemporaryDirectory(prefix="numba-app-") as app_cache:
                for case in args.cases:
                    result = run_case(case, model, args.threads, default_cache if case == "default" else app_cache)
                    rows.append((labels[model], case, result))
                    print(f"  {model} {case}: {json.dumps(result)}", flush=True)
    print(table(rows).markdown())


if __name__ == "__main__":
    main()
