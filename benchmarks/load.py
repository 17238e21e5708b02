"""Load: sessions dragging on the latent canvas and clicking scatter points while one more session trains.

A fresh `python -m ui.serve` (the way `make run` starts the app), then every session at once, each in its own
headless Chromium driven by real pointer events: explorers alternate between the Latent sliders page (drags on
the pad and on a slider, each ending with its release round trip to the server) and the Latent scatter page
(clicks on random points, each rerunning the page and showing the selection's images); the trainer starts a long
run on the Train page and watches it. Every session checks on every page that it has the app's own navigation,
that no image is broken, that no exception, console error or failed request occurred, and that it sees only its
own code and no other session's run. At the end the trainer closes its browser, and the server log shows when
its job, no longer kept alive by any page, stopped itself.

`python -m benchmarks --only load` (the full run: 8 explorers + 1 trainer for 120 s) or
`python -m benchmarks.load [--sessions N] [--seconds S] [--abandon-after S]`. Also measured here: the first paint
of a fresh session on a freshly started server, `python -m ui.serve` against a plain `streamlit run app.py`.
Each run writes its figures to benchmarks/out/ (git-ignored) with the load averages of the machine.
"""

from __future__ import annotations

import argparse
import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FIRST_LOAD_MS,
    MAIN,
    NAV_LINK,
    PROGRESS,
    VIEWPORT,
    local_only,
    nav_titles,
    streamlit_server,
    wait_for_inspector,
)

from ui.abandon import ABANDON_ENV, AbandonPolicy

from .context import Context
from .report import Table
from .sessions import (
    ABANDONED,
    ACTION_TIMEOUT_MS,
    APP_TITLES,
    OUT,
    SCATTER,
    SLIDERS,
    TRAIN,
    Server,
    SessionReport,
    arrive,
    attempt,
    browser_session,
    check_page,
    fill_training_form,
    guarded,
    load_averages,
    ms,
    one_drag,
    progress_now,
    serve,
    server_problems,
    spread,
    start_button,
    visit,
    write,
)

DRAGS_PER_VISIT = 3  # then the explorer goes to the scatter
CLICKS_PER_VISIT = 3  # then back to the sliders
TRAIN_EPOCHS = 10_000  # longer than any run here: the run ends by being abandoned, not by completing
MIN_WATCH_S = 6.0  # the trainer watches its run at least this long, even when starting it used up the time

# A random point of the scatter's inspector on screen, inside its stage and the window: the component's root says
# where its view's coordinates are (a static file, already fetched) and how it maps them to the screen.
RANDOM_POINT_ON_SCREEN = """async (seed) => {
  const find = (root) => root.querySelector('.embedding-inspector')
    ?? Array.from(root.querySelectorAll('*')).map(e => e.shadowRoot && find(e.shadowRoot)).find(Boolean);
  const root = find(document), stage = root.querySelector('.stage');
  stage.scrollIntoView({block: 'center'});  // a point below the fold cannot be clicked
  const t = JSON.parse(root.dataset.transform), box = stage.getBoundingClientRect();
  const coords = new Float32Array(await (await fetch(root.dataset.coords)).arrayBuffer());
  const indices = new Int32Array(await (await fetch(root.dataset.indices)).arrayBuffer());
  let rnd = seed;
  const next = () => (rnd = (rnd * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let tries = 0; tries < 100; tries++) {
    const j = Math.floor(next() * indices.length);
    const px = t.width / 2 + (coords[2 * j] - t.cx) * t.sx, py = t.height / 2 - (coords[2 * j + 1] - t.cy) * t.sy;
    const x = box.left + stage.clientLeft + px, y = box.top + stage.clientTop + py;
    if (px < 5 || py < 5 || px > t.width - 5 || py > t.height - 5 || y < 5 || y > innerHeight - 5) continue;
    return {x, y, index: indices[j]};
  }
  return null;
}"""

# Armed before a click: resolves with the ms from the release to the selection panel showing a new selection
# with its images decoded, and the panel's captions.
ARM_SELECTION_TIMER = """(timeoutMs) => {
  const main = document.querySelector('[data-testid=stMain]');
  const panel = () => {  // the captions under the selected images, '#12: 3|#40: 7', once the heading is there
    const heading = Array.from(main.querySelectorAll('h1, h2, h3')).find(h => /^\\d+ selected/.test(h.innerText));
    return heading ? (main.innerText.match(/#\\d+: [^\\s|]+/g) ?? []).join('|') : null;
  };
  const before = panel();
  let releasedAt = null;
  document.addEventListener('pointerup', () => { releasedAt ??= performance.now(); }, {capture: true, once: true});
  window.__selected = new Promise((resolve, reject) => {
    let done = false;
    const check = async () => {
      const now = panel();
      if (done || releasedAt === null || !now || now === before || main.querySelector('[data-stale=true]')) return;
      done = true; observer.disconnect(); clearTimeout(timer);
      await Promise.all(Array.from(main.querySelectorAll('img')).map(img => img.decode().catch(() => null)));
      resolve({ms: performance.now() - releasedAt, captions: now});
    };
    const timer = setTimeout(() => { if (!done) { done = true; observer.disconnect(); reject(new Error(
      'the click selected nothing new: the panel still shows ' + JSON.stringify(panel()))); } }, timeoutMs);
    const observer = new MutationObserver(check);
    observer.observe(main, {subtree: true, childList: true, characterData: true, attributes: true});
  });
}"""




def one_click(page, report: SessionReport, rng: random.Random) -> None:
    point = page.evaluate(RANDOM_POINT_ON_SCREEN, rng.randrange(1, 2**31))
    page.evaluate(ARM_SELECTION_TIMER, ACTION_TIMEOUT_MS)
    page.mouse.move(point["x"], point["y"])
    page.mouse.down()
    page.mouse.up()
    answer = page.evaluate("window.__selected")
    report.select_ms.append(answer["ms"])
    page.mouse.move(5, 5)  # off the map: no hover thumbnail over the next point



def explore(url: str, report: SessionReport, start: threading.Barrier, seconds: float, seed: int) -> None:
    """Alternate between the sliders (drags) and the scatter (clicks) for `seconds` after everyone is ready (the
    last round of both is finished even when the time is up)."""
    rng = random.Random(seed)
    with browser_session(url, report) as page:
        deadline = arrive(page, url, report, start, seconds)
        while time.monotonic() < deadline:
            attempt(lambda: drags(page, report, rng), "the sliders page", page, report)
            attempt(lambda: clicks(page, report, rng), "the scatter page", page, report)
        visit(page, TRAIN, report)  # a session that never trained has no run to show
        if page.locator(PROGRESS).count() or page.locator(MAIN).get_by_role("button", name=re.compile(
                "stop", re.IGNORECASE)).count():
            report.isolation.append("the Train page shows a running job to a session that never trained")


def drags(page, report: SessionReport, rng: random.Random) -> None:
    visit(page, SLIDERS, report)
    page.locator(MAIN).get_by_text("Code as of your last release").wait_for(timeout=FIRST_LOAD_MS)
    for _ in range(DRAGS_PER_VISIT):
        attempt(lambda: one_drag(page, report, rng), "drag", page, report)


def clicks(page, report: SessionReport, rng: random.Random) -> None:
    visit(page, SCATTER, report)
    wait_for_inspector(page, FIRST_LOAD_MS)
    for _ in range(CLICKS_PER_VISIT):
        attempt(lambda: one_click(page, report, rng), "scatter click", page, report)



def train(url: str, report: SessionReport, start: threading.Barrier, seconds: float,
          closed: threading.Event) -> None:
    """Start a long run on the Train page, watch it for `seconds`, then close the browser."""
    try:
        with browser_session(url, report) as page:
            deadline = arrive(page, url, report, start, seconds)
            visit(page, TRAIN, report)
            fill_training_form(page, "digits", TRAIN_EPOCHS)
            start_button(page).click()
            page.locator(PROGRESS).first.wait_for(timeout=FIRST_LOAD_MS)
            pressed = time.monotonic()  # a worker starts and loads the data (or waits its turn) before its first step
            while progress_now(page) == 0 and time.monotonic() - pressed < FIRST_LOAD_MS / 1000:
                page.wait_for_timeout(500)
            report.training_started_s = time.monotonic() - (deadline - seconds)
            first = last = progress_now(page)
            watch_until = max(deadline, time.monotonic() + MIN_WATCH_S)
            while time.monotonic() < watch_until:
                page.wait_for_timeout(2000)
                check_page(page, report)
                last = max(last, progress_now(page))
            report.training_steps = (first, last)
            if not last > first:
                report.error(f"training did not advance: steps {first} -> {last}; the page shows "
                             f"{page.locator(MAIN).locator(PROGRESS).first.inner_text()!r}")
            if page.locator(NAV_LINK).count() and nav_titles(page) != APP_TITLES:
                report.error(f"navigation on the Train page shows {nav_titles(page)}")
    finally:  # also when the session stopped early: its browser is closed all the same
        report.closed_at = time.monotonic()
        closed.set()


# --- the run ------------------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    explorers: int
    seconds: float
    sessions: list[SessionReport]
    server_ready_s: float
    rss_mb: tuple[float, float, float]  # at the start, at the end of the sessions, peak
    server_cpu_s: float  # during the sessions
    load: dict[str, str]  # load averages (1, 5, 15 min) at moments of the run
    job_end_s: float | None  # from the trainer's browser closing to its job stopping itself (None: not seen)
    job_end_line: str
    cpu_after_end: float | None  # server CPU seconds per second once the job had stopped
    rss_after_job_mb: float
    abandon_after_s: float
    server_problems: list[str]

    def summary(self) -> dict:
        data = {k: v for k, v in vars(self).items() if k != "sessions"}
        data["sessions"] = [s.summary() for s in self.sessions]
        return data


def run_load(explorers: int, seconds: float, abandon_after_s: float | None, log_dir: Path = OUT,
             job_end_timeout_s: float | None = None) -> LoadResult:
    """A fresh server, `explorers` exploring sessions and one training session arriving at once for `seconds`;
    then the trainer closes its browser and the job's end is awaited (abandon_after_s + 60 s at most)."""
    abandon = abandon_after_s if abandon_after_s is not None else AbandonPolicy().after_s
    load = {"before start": load_averages()}
    with serve(log_dir, {ABANDON_ENV: str(abandon)} if abandon_after_s is not None else None) as server:
        rss_start = server.rss_mb()
        cpu_start = server.cpu_s()
        reports = [SessionReport(f"explorer {i + 1}", "explore") for i in range(explorers)]
        trainer = SessionReport("trainer", "train")
        start = threading.Barrier(explorers + 1)
        closed = threading.Event()
        threads = [threading.Thread(target=guarded, args=(explore, r, server.url, r, start, seconds, i), daemon=True)
                   for i, r in enumerate(reports)]
        threads.append(threading.Thread(target=guarded, args=(train, trainer, server.url, trainer, start, seconds,
                                                              closed), daemon=True))
        job_end: dict = {}
        ended = threading.Thread(target=watch_job_end, args=(server, trainer, closed, abandon + 60, job_end),
                                 daemon=True)
        for thread in [*threads, ended]:
            thread.start()
        launched = time.monotonic()  # every session waits for the others' Chromium, then all arrive at once
        while start.n_waiting < start.parties and time.monotonic() - launched < 120:
            time.sleep(0.05)
        load["at arrival"] = load_averages()
        middle = threading.Timer(seconds / 2, lambda: load.setdefault("half-way", load_averages()))
        middle.start()
        for thread in threads:
            thread.join(timeout=seconds + 300)
        middle.cancel()
        load["at the end"] = load_averages()
        rss_end, cpu_used = server.rss_mb(), server.cpu_s() - cpu_start
        closed.wait(timeout=60)
        ended.join(timeout=abandon + 120)
        job_end_s, line = job_end.get("s"), job_end.get("line", "")
        cpu_rate, rss_after = None, server.rss_mb()
        if job_end_s is not None:
            before = server.cpu_s()
            time.sleep(5)
            cpu_rate = (server.cpu_s() - before) / 5
            rss_after = server.rss_mb()
        load["after the job ended"] = load_averages()
        return LoadResult(explorers, seconds, [*reports, trainer], server.ready_s,
                          (rss_start, rss_end, server.peak_rss_mb()), cpu_used, load, job_end_s, line, cpu_rate,
                          rss_after, abandon, server_problems(server.log()))




def watch_job_end(server: Server, trainer: SessionReport, closed: threading.Event, timeout_s: float,
                  out: dict) -> None:
    """Once the trainer's browser has closed: the seconds until the server logs that its job stopped itself
    (the log lines carry no time, so the log is read every 0.2 s)."""
    closed.wait()
    while time.monotonic() - trainer.closed_at < timeout_s:
        found = [line for line in server.log().splitlines() if ABANDONED.search(line)]
        if found:
            out.update(s=time.monotonic() - trainer.closed_at, line=found[-1])
            return
        time.sleep(0.2)


# --- first paint --------------------------------------------------------------------------------------------------


def first_paint(url: str) -> dict:
    """A fresh session's ms from navigation to the Overview's heading, and to its first image shown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        local_only(context, url)
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.locator(MAIN).get_by_role("heading", name="VAE Latent Explorer").wait_for(timeout=FIRST_LOAD_MS)
        heading = time.perf_counter() - started
        page.wait_for_function(f"() => Array.from(document.querySelectorAll('{MAIN} img'))"
                               ".some(img => img.complete && img.naturalWidth > 0)", timeout=FIRST_LOAD_MS)
        image = time.perf_counter() - started
        browser.close()
    return {"heading_ms": round(heading * 1000), "first_image_ms": round(image * 1000), "load": load_averages()}


def run_first_paint(repeats: int, log_dir: Path = OUT) -> list[dict]:
    """Alternately: a fresh `python -m ui.serve` and a fresh `streamlit run app.py`, one fresh session each."""
    rows = []
    for _ in range(repeats):
        with serve(log_dir) as server:
            rows.append({"server": "python -m ui.serve (make run)", "ready_s": round(server.ready_s, 1),
                         **first_paint(server.url)})
        started = time.perf_counter()
        with streamlit_server(timeout_s=120) as url:
            ready = time.perf_counter() - started
            rows.append({"server": "streamlit run app.py", "ready_s": round(ready, 1), **first_paint(url)})
    return rows


# --- tables -------------------------------------------------------------------------------------------------------



def load_table(result: LoadResult) -> Table:
    table = Table(f"Load: {result.explorers} sessions exploring while one more trains, "
                  f"{result.seconds:.0f} s, fresh `python -m ui.serve`",
                  ["session", "first load s", "page switch p50 / max ms", "drags", "frames / move",
                   "move -> frame p50 / p95 ms", "release -> server p50 / p95 / max ms", "scatter clicks",
                   "click -> panel p50 / p95 / max ms", "pages (own nav)", "errors", "broken images", "saw another's"])
    for s in result.sessions:
        d = s.summary()
        frame = d["frame_ms"]
        pages = d["page_ms"]
        table.add(s.name, round(s.first_load_ms / 1000, 1),
                  "-" if not pages["n"] else f"{pages['p50']:.0f} / {pages['max']:.0f}", s.moves,
                  round(s.frames / s.pointer_moves, 2) if s.pointer_moves else None,
                  "-" if not frame["n"] else f"{frame['p50']:.0f} / {frame['p95']:.0f}", ms(d["release_ms"]),
                  len(s.select_ms), ms(d["select_ms"]), f"{s.page_visits} ({s.nav_ok})", len(s.errors),
                  len(s.broken_images), len(s.isolation))
    everyone = result.sessions
    all_release = spread([v for s in everyone for v in s.release_ms])
    all_select = spread([v for s in everyone for v in s.select_ms])
    all_frames = spread([v for s in everyone for v in s.frame_ms])
    all_pages = spread([v for s in everyone for v in s.page_ms])
    table.add("all", round(max(s.first_load_ms for s in everyone) / 1000, 1) if everyone else None,
              f"{all_pages['p50']:.0f} / {all_pages['max']:.0f}" if all_pages["n"] else "-",
              sum(s.moves for s in everyone),
              round(sum(s.frames for s in everyone) / max(1, sum(s.pointer_moves for s in everyone)), 2),
              "-" if not all_frames["n"] else f"{all_frames['p50']:.0f} / {all_frames['p95']:.0f}", ms(all_release),
              all_select["n"], ms(all_select), f"{sum(s.page_visits for s in everyone)} "
              f"({sum(s.nav_ok for s in everyone)})", sum(len(s.errors) for s in everyone),
              sum(len(s.broken_images) for s in everyone), sum(len(s.isolation) for s in everyone))
    rss = result.rss_mb
    trainer = next(s for s in result.sessions if s.role == "train")
    job = (f"{result.job_end_s:.0f} s after its browser closed (abandon_after_s = {result.abandon_after_s:g} s); "
           f"server CPU afterwards {result.cpu_after_end:.2f} s/s, RSS {result.rss_after_job_mb:,.0f} MB"
           if result.job_end_s is not None else
           f"NOT seen to stop within {result.abandon_after_s + 60:g} s of its browser closing")
    table.notes += [
        "Load averages (1 / 5 / 15 min, `uptime`): " + "; ".join(f"{k} {v}" for k, v in result.load.items()) + ".",
        f"Server: ready {result.server_ready_s:.1f} s after its start (warm-up included); RSS {rss[0]:,.0f} MB at "
        f"the start, {rss[1]:,.0f} MB at the end, peak {rss[2]:,.0f} MB; {result.server_cpu_s:.0f} CPU s used "
        f"during the run.",
        f"The trainer's run showed its progress bar {trainer.training_started_s:.0f} s after everyone arrived and "
        f"advanced from step {trainer.training_steps[0]:,} to {trainer.training_steps[1]:,} while it was watched. "
        f"The training job: {job}.",
        f"Server log: {len(result.server_problems)} error lines" + (
            ": " + " | ".join(result.server_problems[:3]) if result.server_problems else "") + ".",
        "First load: from everyone's arrival (all at once) to the session's first page run and idle (Overview); "
        "page switch: a sidebar click to the page's script run over and the page idle.",
        "Drags: 60 pointer moves at 60 Hz from the middle of the pad (70%) or of a slider to a random place "
        "(tests/support/browser.py's drag_on_canvas), decoded in the browser; release -> server: from the pointer's "
        "release to the page showing the code the server received. Click -> panel: from the release on a random "
        "scatter point to the selection panel showing it, images decoded. Every session runs its own headless "
        "Chromium on the same 2 cores as the server, so the browsers' own work is part of the load.",
        "Errors: exceptions shown, console errors, page errors, HTTP >= 400, failed requests, actions that timed "
        f"out ({ACTION_TIMEOUT_MS // 1000} s). Broken image: an <img> loaded with naturalWidth 0. Saw another's: "
        "a released code answered with another code, a run token, training status or Stop button in a session "
        "that never trained.",
    ]
    return table


def first_paint_table(rows: list[dict]) -> Table:
    table = Table("First paint: a fresh session on a freshly started server", [
        "server", "ready after start s", "navigation -> Overview heading ms", "-> first image ms",
        "load (1 / 5 / 15 min)"])
    for row in rows:
        table.add(row["server"], row["ready_s"], row["heading_ms"], row["first_image_ms"], row["load"])
    table.notes.append("Ready: the health check answers. `python -m ui.serve` imports torch and loads every "
                       "picker checkpoint before answering, so the first visitor does not wait for them.")
    return table



def run(ctx: Context) -> list[Table]:
    quick = ctx.settings.quick
    if not CHROMIUM.exists():
        return [Table("Load", [], notes=[f"{CHROMIUM} not found: install Debian's chromium"])]
    result = run_load(3 if quick else 8, 20 if quick else 120, 20 if quick else None)
    write("load-quick" if quick else "load", result.summary())
    paint = run_first_paint(1 if quick else 2)
    write("first-paint-quick" if quick else "first-paint", paint)
    return [load_table(result), first_paint_table(paint)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="exploring sessions (one more trains)")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--abandon-after", type=float, help=f"the server's {ABANDON_ENV} (default: the app's)")
    parser.add_argument("--first-paint", type=int, default=0, help="also measure first paint this many times")
    args = parser.parse_args(argv)
    result = run_load(args.sessions, args.seconds, args.abandon_after)
    write("load", result.summary())
    print(load_table(result).text())
    if args.first_paint:
        paint = run_first_paint(args.first_paint)
        write("first-paint", paint)
        print(first_paint_table(paint).text())


if __name__ == "__main__":
    main()
