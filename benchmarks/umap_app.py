"""UMAP of all 70,000 MNIST means in the app: Compute -> points drawn on a cold server, and reopening the map.

Each case starts a fresh `python -m ui.serve` and opens the Latent scatter page in a fresh Chromium, chooses
Train + test and UMAP, and presses Compute; the time runs from the click to the inspector's frame that drew the
UMAP's points (its performance mark):
- `cold`: empty disk caches (numba's compiled kernels and the app's projection store): a machine's first map.
- `warm kernels`: a new server whose numba cache the `cold` case filled, and an empty projection store: every
  later server's first map of a model.
- `reopen, same server`: another session on the `warm kernels` server asks for the same map.
- `reopen, new server`: a new server reading the map from the projection store the cases above filled.

`python -m benchmarks.umap_app` prints the table (benchmarks/RESULTS.md, "UMAP on 70,000 in the app").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ui.cache import CACHE_ENV
from vae_core.projection import NUMBA_CACHE_ENV

from .classroom import SPLITS, ready_to_compute_umap, umap_drawn
from .report import Table
from .sessions import OUT, SessionReport, browser_session, load_averages, serve, write

GOAL_COLD_S = 30.0
GOAL_REOPEN_S = 1.0
TIMEOUT_S = 900


@dataclass
class Case:
    name: str
    seconds: float | None
    points: int | None
    load: str
    errors: list[str]


def compute_umap(url: str, split: str, name: str) -> Case:
    """One fresh browser session: the scatter page, UMAP of `split`, Compute -> the UMAP's points drawn."""
    report = SessionReport(name, "project")
    with browser_session(url, report) as page:
        compute = ready_to_compute_umap(page, url, split, report)
        since = page.evaluate("performance.now()")
        compute.click()
        seconds, points = umap_drawn(page, since, TIMEOUT_S * 1000)
    return Case(name, seconds, points, load_averages(), report.errors)


def run_cases(split: str) -> list[Case]:
    cases = []
    with tempfile.TemporaryDirectory() as numba, tempfile.TemporaryDirectory() as store:
        cold_env = {NUMBA_CACHE_ENV: numba, CACHE_ENV: store}
        with serve(OUT, cold_env) as server:
            cases.append(compute_umap(server.url, split, "cold"))
        with tempfile.TemporaryDirectory() as empty_store, serve(OUT, {**cold_env, CACHE_ENV: empty_store}) as server:
            cases.append(compute_umap(server.url, split, "warm kernels"))
            cases.append(compute_umap(server.url, split, "reopen, same server"))
        with serve(OUT, cold_env) as server:
            cases.append(compute_umap(server.url, split, "reopen, new server"))
    return cases


def table(cases: list[Case], split: str) -> Table:
    result = Table(f"UMAP of {SPLITS[split][1]:,} MNIST means in the app (mnist-2d): Compute -> points drawn",
                   ["case", "seconds", "points", "load after (1 / 5 / 15 min)", "errors"])
    for case in cases:
        result.rows.append([case.name, "-" if case.seconds is None else f"{case.seconds:.2f}",
                            f"{case.points or 0:,}", case.load, str(len(case.errors))])
    by_name = {case.name: case.seconds for case in cases}
    cold, reopen = by_name.get("cold"), max(filter(None, [by_name.get("reopen, same server"),
                                                          by_name.get("reopen, new server")]), default=None)
    result.notes.append(
        f"Goals: cold <= {GOAL_COLD_S:g} s: {verdict(cold, GOAL_COLD_S)}; reopen <= {GOAL_REOPEN_S:g} s: "
        f"{verdict(reopen, GOAL_REOPEN_S)}. Each case: a fresh server (`python -m ui.serve`) and a fresh Chromium "
        "on the same machine; from the click on Compute to the inspector's frame that drew the points.")
    return result


def verdict(seconds: float | None, goal: float) -> str:
    if seconds is None:
        return "not measured"
    return f"{'met' if seconds <= goal else 'NOT met'} ({seconds:.2f} s)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.umap_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=list(SPLITS), default="all")
    args = parser.parse_args(argv)
    started = time.time()
    cases = run_cases(args.split)
    write("umap-app", {"split": args.split, "started": started, "cases": [vars(case) for case in cases]})
    result = table(cases, args.split)
    (Path(OUT) / "umap-app.md").write_text(result.markdown())
    print(result.text())


if __name__ == "__main__":
    main()
