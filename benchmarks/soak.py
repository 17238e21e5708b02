"""Soak: one session makes many drags on the latent canvas, each with its release round trip, on a fresh server.

Does the server's memory grow with the number of moves, and does a move get slower as a session ages? The
session drags as benchmarks/load.py's explorers do (same drags, same checks: own navigation, no broken image, no
error, the server answering with the session's own code); the server's RSS is read every 100 moves and the
latencies of the first and last 100 moves are compared.

`python -m benchmarks --only soak` (1,000 moves; --quick: 100) or `python -m benchmarks.soak [--moves N]`.
"""

from __future__ import annotations

import argparse
import random
import time

from support.browser import CHROMIUM, FIRST_LOAD_MS, MAIN, wait_until_idle

from .context import Context
from .report import Table
from .sessions import (
    OUT,
    SLIDERS,
    SessionReport,
    attempt,
    browser_session,
    load_averages,
    ms,
    one_drag,
    serve,
    server_problems,
    spread,
    visit,
    write,
)

SAMPLE_EVERY = 100  # moves between two readings of the server's RSS and the load average


def run_soak(moves: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    report = SessionReport("soak", "explore")
    samples = []  # (moves done, server RSS MB, load averages)
    with serve(OUT) as server:
        started = time.perf_counter()
        with browser_session(server.url, report) as page:
            page.goto(server.url)
            wait_until_idle(page, FIRST_LOAD_MS)
            visit(page, SLIDERS, report)
            page.locator(MAIN).get_by_text("Code as of your last release").wait_for()
            samples.append((0, server.rss_mb(), load_averages()))
            for i in range(1, moves + 1):
                attempt(lambda: one_drag(page, report, rng), "drag", page, report)
                if i % SAMPLE_EVERY == 0 or i == moves:
                    samples.append((i, server.rss_mb(), load_averages()))
            visit(page, SLIDERS, report)  # the page still routes and draws after the last move
        window = min(SAMPLE_EVERY, len(report.release_ms) // 2)
        return {"moves": moves, "done": report.moves, "minutes": round((time.perf_counter() - started) / 60, 1),
                "release_first": spread(report.release_ms[:window]),
                "release_last": spread(report.release_ms[-window:]) if window else {"n": 0},
                "release_all": spread(report.release_ms), "frame_all": spread(report.frame_ms),
                "frames_per_move": round(report.frames / max(1, report.pointer_moves), 3),
                "samples": samples, "peak_rss_mb": round(server.peak_rss_mb()), "session": report.summary(),
                "server_problems": server_problems(server.log())}


def soak_table(result: dict) -> Table:
    table = Table(f"Soak: {result['moves']:,} drags in one session on a fresh `python -m ui.serve`", [
        "moves done", "server RSS MB", "load (1 / 5 / 15 min)"])
    for done, rss, load in result["samples"]:
        table.add(done, round(rss), load)
    first, last, whole = result["release_first"], result["release_last"], result["release_all"]
    session = result["session"]
    growth = result["samples"][-1][1] - result["samples"][0][1]
    table.notes += [
        f"{result['done']:,} drags in {result['minutes']} minutes; server RSS {result['samples'][0][1]:,.0f} -> "
        f"{result['samples'][-1][1]:,.0f} MB ({growth:+,.0f} MB, {growth * 1024 / max(1, result['done']):+.1f} "
        f"KB per move), peak {result['peak_rss_mb']:,} MB.",
        f"Release -> server answer on the page (ms, p50 / p95 / max): first {first['n']} moves {ms(first)}, last "
        f"{last['n']} moves {ms(last)}, all {ms(whole)}. Move -> frame on the canvas: p50 "
        f"{result['frame_all'].get('p50', '-')} ms, p95 {result['frame_all'].get('p95', '-')} ms, "
        f"{result['frames_per_move']} frames per pointer move.",
        f"Errors {len(session['errors'])}, broken images {len(session['broken_images'])}, answers with another code "
        f"{len(session['isolation'])}, page visits with the app's own navigation {session['nav_ok']} of "
        f"{session['page_visits']}; server log error lines {len(result['server_problems'])}.",
    ]
    return table


def run(ctx: Context) -> list[Table]:
    if not CHROMIUM.exists():
        return [Table("Soak", [], notes=[f"{CHROMIUM} not found: install Debian's chromium"])]
    result = run_soak(100 if ctx.settings.quick else 1000)
    write("soak-quick" if ctx.settings.quick else "soak", result)
    return [soak_table(result)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=1000)
    args = parser.parse_args(argv)
    result = run_soak(args.moves)
    write("soak", result)
    print(soak_table(result).text())


if __name__ == "__main__":
    main()
