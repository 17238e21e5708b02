"""Classroom: one session drags the latent pad while a class presses Start training on MNIST at the same moment
and one more computes a UMAP of every example.

A fresh `python -m ui.serve` (as `make run` starts it) with an empty disk cache, so the UMAP is computed, not
reopened; every session in its own headless Chromium, driven by real pointer events and clicks:
1. quiet: the observer drags on the Latent sliders pad alone (its move -> frame and release -> server answer);
2. one run alone: a trainer presses Start on the Train page (MNIST, the class's epochs) and is watched to its end
   while nobody else does anything: the baseline examples/s;
3. the class: N trainers open the Train page (MNIST, E epochs) and one session the Latent scatter page (split
   "Train + test", UMAP) at their own pace; then all press Start / Compute at once while the observer drags again,
   until every run has ended and the map is drawn (at most S seconds).
Each trainer's page is read every POLL_S: the time from its press to its first step (the queue wait: a queued run
shows its position first), steps/s while it trains, its end. The server's memory (its own RSS, and the PSS of it
and every process it started, e.g. training workers), the load averages and every process's CPU (by kind: the
server with its workers, the sessions' Chromiums, this benchmark, the rest) are sampled every second.

`python -m benchmarks --only classroom` (8 trainers, 10 epochs, UMAP on all 70,000 examples) or
`python -m benchmarks.classroom [--trainers N] [--epochs E] [--seconds S] [--umap all|train|test|none]`.
Writes benchmarks/out/classroom.json and, from the command line, classroom.md (git-ignored), the tables to paste
into RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field

from support.browser import CHROMIUM, FIRST_LOAD_MS, INSPECTOR, MAIN, choose_radio, wait_for_inspector

from ui.cache import CACHE_ENV

from .context import Context
from .report import Table
from .sessions import (
    OUT,
    SCATTER,
    SLIDERS,
    TRAIN,
    ProcessCpu,
    Server,
    SessionReport,
    arrive_on,
    attempt,
    browser_session,
    check_page,
    fill_training_form,
    guarded,
    load_averages,
    machine_busy_cpu_s,
    ms,
    one_drag,
    serve,
    server_problems,
    start_button,
    write,
)

GOAL_RELEASE_P95_MS = 150
GOAL_THROUGHPUT_RATIO = 0.9
DATASET = "mnist"
MNIST_TRAIN_EXAMPLES = 60_000  # an epoch's examples: the page counts steps, examples/step = this * epochs / steps
SPLITS = {"all": ("Train + test", 70_000), "train": ("Train", 60_000), "test": ("Test", 10_000)}
POLL_S = 0.5  # the Train page redraws its progress every second
CHECK_EVERY_S = 5.0  # no exception shown, no broken image
MAP_KEPT_AFTER_S = 3.0  # after Compute: is a map still on screen while the projection computes?
BETWEEN_DRAGS_S = 0.2
READY_TIMEOUT_S = 600  # for every session of the class to open its page and fill in its form

# What the Train page shows: its progress bars' and alerts' texts, read in one go with the page's clock.
TRAIN_PAGE_NOW = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const texts = (selector) => Array.from(main.querySelectorAll(selector), e => e.innerText);
  return {at: Date.now() / 1000, progress: texts('[data-testid=stProgress]'), alerts: texts('[data-testid=stAlert]')};
}"""
STEP = re.compile(r"step ([\d,]+) of ([\d,]+)")
PAGE_RATE = re.compile(r"([\d,.]+) steps/s")
QUEUED = re.compile(r"queued: position (\d+)")
ENDED = re.compile(r"Training (completed|stopped|failed|abandoned)|Cannot start training|Try other settings")
# The frame that drew the UMAP asked for after `since` (the inspector's paint mark names its view).
UMAP_PAINTED = """(since) => {
  const mark = performance.getEntriesByName('inspector:paint')
    .filter(m => m.startTime > since && m.detail.view.includes('|umap')).at(-1);
  return mark ? {at: mark.startTime, count: mark.detail.count} : null;
}"""


# --- the sessions -------------------------------------------------------------------------------------------------


class StartLine:
    """Sessions get ready at their own pace and go together; one that fails to get ready holds nobody back."""

    def __init__(self, sessions: int):
        self.left = sessions
        self.changed = threading.Condition()
        self.go = threading.Event()
        self.deadline = 0.0  # time.monotonic() by which the sessions stop, set at the go

    def arrived(self) -> None:
        with self.changed:
            self.left -= 1
            self.changed.notify_all()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.left <= 0, timeout_s)

    def start(self, seconds: float) -> float:
        """Go: the sessions have `seconds` from now; returns the wall-clock time of the go."""
        self.deadline = time.monotonic() + seconds
        self.go.set()
        return time.time()


@dataclass
class TrainerRun:
    """One Train page session: when it pressed Start, what its page showed, when its run stepped and ended."""

    session: SessionReport
    epochs: int
    pressed: float | None = None  # wall-clock seconds (time.time()) of the Start click
    queue_position: int | None = None  # the first position shown while it waited, if it ever waited
    first_step_at: float | None = None  # the first reading that showed a step done
    ended_at: float | None = None  # the first reading that showed the run's end
    end: str = ""  # what the page said then
    samples: list[tuple[float, int]] = field(default_factory=list)  # (wall-clock s, steps done), the end's too
    total_steps: int = 0
    page_rate: float | None = None  # the steps/s the page showed last while it trained

    @property
    def queue_wait_s(self) -> float | None:
        return None if self.first_step_at is None else self.first_step_at - self.pressed

    @property
    def steps_per_s(self) -> float | None:
        """Steps between the first reading that showed a step done and the last one (its end, once ended)."""
        if len(self.samples) < 2 or self.samples[-1][0] <= self.samples[0][0]:
            return None
        (t0, s0), (t1, s1) = self.samples[0], self.samples[-1]
        return (s1 - s0) / (t1 - t0)

    @property
    def examples_per_step(self) -> float:
        return MNIST_TRAIN_EXAMPLES * self.epochs / self.total_steps if self.total_steps else 0.0

    @property
    def examples_per_s(self) -> float | None:
        return None if self.steps_per_s is None else self.steps_per_s * self.examples_per_step

    @property
    def examples_done(self) -> float:
        return (self.samples[-1][1] if self.samples else 0) * self.examples_per_step

    def summary(self) -> dict:
        return {"name": self.session.name, "pressed": self.pressed, "queue_position": self.queue_position,
                "queue_wait_s": self.queue_wait_s, "first_step_at": self.first_step_at, "ended_at": self.ended_at,
                "end": self.end, "total_steps": self.total_steps, "steps_per_s": self.steps_per_s,
                "page_rate": self.page_rate, "examples": self.examples_done, "samples": self.samples,
                "errors": self.session.errors, "broken_images": sorted(self.session.broken_images)}


def train_session(url: str, run: TrainerRun, line: StartLine) -> None:
    """Open the Train page, choose MNIST and the epochs; at the go press Start and watch the run to its end."""
    with browser_session(url, run.session) as page:
        try:
            arrive_on(page, url, TRAIN, run.session)
            fill_training_form(page, DATASET, run.epochs)
        finally:
            line.arrived()
        line.go.wait()
        run.pressed = time.time()
        start_button(page).click()
        watch_run(page, run, line.deadline)


def watch_run(page, run: TrainerRun, deadline: float) -> None:
    """Read the page every POLL_S until it shows the run's end (or the deadline)."""
    checked = time.monotonic()
    while time.monotonic() < deadline:
        now = page.evaluate(TRAIN_PAGE_NOW)
        if read_train_page(run, now):
            return
        if time.monotonic() - checked > CHECK_EVERY_S:
            check_page(page, run.session)
            checked = time.monotonic()
        page.wait_for_timeout(POLL_S * 1000)
    run.session.error("the run had not ended by the deadline")


def read_train_page(run: TrainerRun, now: dict) -> bool:
    """Record one reading of the Train page; True once it shows the run's end."""
    alerts = " | ".join(now["alerts"])
    queued = QUEUED.search(alerts)
    if queued and run.queue_position is None:
        run.queue_position = int(queued.group(1))
    ended = ENDED.search(alerts)
    step = next((m for m in map(STEP.search, now["progress"]) if m), None)
    if step:  # while it trains, and once more in the ended run's view
        done, run.total_steps = (int(g.replace(",", "")) for g in step.groups())
        if done > 0:
            run.first_step_at = run.first_step_at or now["at"]
            run.samples.append((now["at"], done))
    rate = next((m for m in map(PAGE_RATE.search, now["progress"]) if m), None)
    if rate and not ended:
        run.page_rate = float(rate.group(1).replace(",", ""))
    if ended:
        run.ended_at, run.end = now["at"], alerts[:300]
        if not ended.group(0).startswith("Training completed"):
            run.session.error(f"the run did not complete: {alerts[:300]}")
    return bool(ended)


@dataclass
class UmapRun:
    """The Latent scatter session: Compute pressed on a UMAP of a split, and when the page drew its points."""

    session: SessionReport
    split: str
    pressed: float | None = None  # wall-clock seconds of the Compute click
    seconds: float | None = None  # Compute -> the frame that drew the UMAP's points
    points: int | None = None  # how many it drew
    map_kept: bool | None = None  # was a map on screen MAP_KEPT_AFTER_S after Compute, while it computed?

    def summary(self) -> dict:
        return {"split": self.split, "pressed": self.pressed, "seconds": self.seconds, "points": self.points,
                "map_kept": self.map_kept, "errors": self.session.errors}


def umap_session(url: str, run: UmapRun, line: StartLine) -> None:
    """Open the Latent scatter page on the split, choose UMAP; at the go press Compute and wait for the points."""
    with browser_session(url, run.session) as page:
        try:
            compute = ready_to_compute_umap(page, url, run.split, run.session)
        finally:
            line.arrived()
        line.go.wait()
        since = page.evaluate("performance.now()")
        run.pressed = time.time()
        compute.click()
        page.wait_for_timeout(MAP_KEPT_AFTER_S * 1000)
        run.map_kept = page.locator(INSPECTOR).count() > 0
        left_ms = max(1000.0, (line.deadline - time.monotonic()) * 1000)
        run.seconds, run.points = umap_drawn(page, since, left_ms)
        check_page(page, run.session)


def ready_to_compute_umap(page, url: str, split: str, report: SessionReport):
    """The Latent scatter page on `split` with UMAP chosen; returns its Compute button."""
    arrive_on(page, url, SCATTER, report)
    wait_for_inspector(page, FIRST_LOAD_MS)
    choose_radio(page, "Examples", SPLITS[split][0])
    choose_radio(page, "Projection", "UMAP")
    compute = page.locator(MAIN).get_by_role("button", name="Compute")
    compute.wait_for()
    return compute


def umap_drawn(page, since: float, timeout_ms: float) -> tuple[float, int]:
    """(seconds from `since` (the page's performance.now()) to the frame that drew a UMAP, its points)."""
    painted = page.wait_for_function(UMAP_PAINTED, arg=since, timeout=timeout_ms, polling=100).json_value()
    return (painted["at"] - since) / 1000, painted["count"]


class Observer:
    """The session on the Latent sliders page: drags on the pad, one after another, while a phase is set; each
    phase's drags go to its own report."""

    def __init__(self, url: str):
        self.url = url
        self.session = SessionReport("observer", "explore")  # its page's errors outside the drags
        self.phases: dict[str, SessionReport] = {}
        self.phase: str | None = None
        self.dragging = threading.Lock()  # held during a drag: a phase changes between two drags
        self.ready = threading.Event()
        self.stop = threading.Event()

    def set_phase(self, phase: str | None) -> None:
        with self.dragging:
            if phase is not None:
                self.phases.setdefault(phase, SessionReport(f"observer, {phase}", "explore"))
            self.phase = phase

    def run(self) -> None:
        rng = random.Random(0)
        with browser_session(self.url, self.session) as page:
            try:
                arrive_on(page, self.url, SLIDERS, self.session)
                page.locator(MAIN).get_by_text("Code as of your last release").wait_for(timeout=FIRST_LOAD_MS)
            finally:
                self.ready.set()
            while not self.stop.is_set():
                with self.dragging:
                    report = self.phases.get(self.phase) if self.phase else None
                    if report is not None:
                        attempt(lambda: one_drag(page, report, rng, pad_share=1.0), "drag", page, report)
                time.sleep(BETWEEN_DRAGS_S)  # the hand lifts and lands again; a phase can change meanwhile

    def drags(self, phase: str) -> int:
        report = self.phases.get(phase)
        return 0 if report is None else report.moves + len(report.errors)


# --- the server's memory and the machine's load -------------------------------------------------------------------


class Sampler:
    """Every second: the server's RSS, the PSS of it and its child processes, the 1-minute load average, and every
    process's CPU (`cpu`)."""

    def __init__(self, server: Server):
        self.server = server
        self.cpu = ProcessCpu(server.process.pid)
        self.samples: list[tuple[float, float, float, float]] = []  # (wall-clock s, RSS MB, tree PSS MB, load 1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.take()
            self.stop.wait(1.0)

    def take(self) -> tuple[float, float, float, float]:
        sample = (time.time(), self.server.rss_mb(), self.server.tree_pss_mb(), os.getloadavg()[0])
        self.samples.append(sample)
        self.cpu.sample()
        return sample

    def between(self, start: float, end: float) -> list[tuple[float, float, float, float]]:
        return [s for s in self.samples if start <= s[0] <= end]


# --- the run ------------------------------------------------------------------------------------------------------


@dataclass
class ClassroomResult:
    trainers: int
    epochs: int
    seconds: float
    umap_split: str | None
    observer: dict[str, dict]  # phase -> its drags' summary
    baseline: TrainerRun
    runs: list[TrainerRun]
    umap: UmapRun | None
    went: float  # wall-clock s of the class's go
    class_end: float  # wall-clock s when every run had ended and the map was drawn (or the deadline)
    server_ready_s: float
    memory: dict[str, tuple[float, float]]  # moment -> (server RSS MB, server + children PSS MB)
    peak: tuple[float, float, float]  # during the class: RSS MB, PSS MB, 1-minute load
    load: dict[str, str]  # moment -> load averages (1 / 5 / 15 min)
    cpu_s: dict[str, float]  # during the class: ProcessCpu's kinds, and "machine" (every process, every core)
    cpu_alone_s: dict[str, float]  # the same during the run alone
    server_problems: list[str]
    errors: list[str]  # the observer's page errors outside its drags

    def summary(self) -> dict:
        data = {k: v for k, v in vars(self).items() if k not in ("baseline", "runs", "umap")}
        data["baseline"] = self.baseline.summary()
        data["runs"] = [r.summary() for r in self.runs]
        data["umap"] = self.umap.summary() if self.umap else None
        data["throughput"] = throughput(self)
        return data


def run_classroom(trainers: int, epochs: int, seconds: float, umap_split: str | None, quiet_drags: int = 20,
                  baseline_epochs: int | None = None) -> ClassroomResult:
    load, memory = {"before start": load_averages()}, {}
    with tempfile.TemporaryDirectory(prefix="classroom-cache-") as cache, \
            serve(OUT, {CACHE_ENV: cache}) as server:
        sampler = Sampler(server)
        memory["at the start"] = sampler.take()[1:3]
        sampler.thread.start()
        observer = Observer(server.url)
        watching = threading.Thread(target=guarded, args=(observer.run, observer.session), daemon=True)
        watching.start()
        observer.ready.wait()
        quiet_phase(observer, quiet_drags, watching)
        load["after the quiet drags"] = load_averages()
        alone_from = sampler.cpu.mark()
        baseline = one_run_alone(server.url, baseline_epochs or epochs, seconds)
        cpu_alone = sampler.cpu.since(alone_from)
        load["after the run alone"], memory["after the run alone"] = load_averages(), sampler.take()[1:3]
        runs = [TrainerRun(SessionReport(f"trainer {i + 1}", "train"), epochs) for i in range(trainers)]
        umap = UmapRun(SessionReport("umap", "project"), umap_split) if umap_split else None
        line = StartLine(trainers + (umap is not None))
        threads = start_sessions(server.url, runs, umap, line)
        line.wait_ready()
        observer.set_phase("class")
        load["at the go"], cpu_from, machine_from = load_averages(), sampler.cpu.mark(), machine_busy_cpu_s()
        went = line.start(seconds)
        for thread in threads:
            thread.join(timeout=seconds + 120)
        class_end = time.time()
        observer.set_phase(None)
        load["at the end"] = load_averages()
        cpu_used = sampler.cpu.since(cpu_from) | {"machine": machine_busy_cpu_s() - machine_from}
        observer.stop.set()
        watching.join(timeout=60)
        sampler.stop.set()
        memory["at the end"] = sampler.take()[1:3]
        during = sampler.between(went, class_end) or sampler.samples[-1:]
        peak = tuple(max(s[i] for s in during) for i in (1, 2, 3))
        return ClassroomResult(trainers, epochs, seconds, umap_split,
                               {phase: r.summary() for phase, r in observer.phases.items()}, baseline, runs, umap,
                               went, class_end, server.ready_s, memory, peak, load, cpu_used, cpu_alone,
                               server_problems(server.log()), observer.session.errors)


def start_sessions(url: str, runs: list[TrainerRun], umap: UmapRun | None, line: StartLine) -> list[threading.Thread]:
    """The class's sessions, each in its own thread (and Chromium), getting ready to go at `line`."""
    sessions = [(train_session, run) for run in runs] + ([(umap_session, umap)] if umap else [])
    threads = [threading.Thread(target=guarded, args=(target, run.session, url, run, line), daemon=True)
               for target, run in sessions]
    for thread in threads:
        thread.start()
    return threads


def quiet_phase(observer: Observer, drags: int, watching: threading.Thread) -> None:
    """The observer drags alone until it has done `drags` drags."""
    observer.set_phase("quiet")
    while observer.drags("quiet") < drags and watching.is_alive():
        time.sleep(0.2)
    observer.set_phase(None)


def one_run_alone(url: str, epochs: int, seconds: float) -> TrainerRun:
    """The baseline: one trainer on an otherwise idle server, the same settings as the class's runs."""
    run = TrainerRun(SessionReport("one run alone", "train"), epochs)
    line = StartLine(1)
    thread = threading.Thread(target=guarded, args=(train_session, run.session, url, run, line),
                              daemon=True)
    thread.start()
    line.wait_ready()
    line.start(seconds)
    thread.join(timeout=seconds + 120)
    return run


def throughput(result: ClassroomResult) -> dict:
    """Examples/s of one run alone (from its first step shown to its end) and of the class's runs together, over
    the window from the first step any of them showed (or from the go) to the last one's end; and over that window
    less the UMAP's turn in the queue, when it took one in the window."""
    runs, alone = result.runs, result.baseline.examples_per_s
    examples = sum(r.examples_done for r in runs)
    starts = [r.first_step_at for r in runs if r.first_step_at is not None]
    end = max([r.ended_at or result.class_end for r in runs], default=result.class_end)
    window = end - min(starts) if starts else None
    umap_turn = umap_turn_s(result, min(starts), end) if starts else 0.0
    stepping = examples / window if window else None
    training_only = examples / (window - umap_turn) if window and window > umap_turn else None
    from_go = examples / (end - result.went)
    return {"alone": alone, "class_from_first_step": stepping, "class_from_go": from_go, "examples": examples,
            "ratio": stepping / alone if stepping and alone else None,
            "ratio_from_go": from_go / alone if alone else None, "umap_turn_s": umap_turn,
            "ratio_without_umap_turn": training_only / alone if training_only and alone else None}


def umap_turn_s(result: ClassroomResult, start: float, end: float) -> float:
    """How long the UMAP held the queue's slot inside the window: from the end of the last run that ended before
    its points were drawn (the slot freed, the map went next) to the points; 0 when it ran outside the window."""
    umap = result.umap
    if umap is None or umap.seconds is None:
        return 0.0
    drawn = umap.pressed + umap.seconds
    before = [r.ended_at for r in result.runs if r.ended_at is not None and r.ended_at <= drawn]
    if not start < drawn < end:
        return 0.0
    return drawn - max([*before, umap.pressed])


# --- tables -------------------------------------------------------------------------------------------------------


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("s" if n != 1 else "")


def seconds_(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def observer_table(result: ClassroomResult) -> Table:
    table = Table("Classroom: the observer dragging on the Latent sliders pad", [
        "phase", "drags", "frames / move", "move -> frame p50 / p95 / max ms", "release -> server p50 / p95 / max ms",
        "errors"])
    names = {"quiet": "alone on the server", "class": f"with {count(result.trainers, 'trainer')}" +
             (" and a UMAP computing" if result.umap else "")}
    for phase, d in result.observer.items():
        table.add(names.get(phase, phase), d["moves"], round(d["frames"] / d["pointer_moves"], 2)
                  if d["pointer_moves"] else None, ms(d["frame_ms"]), ms(d["release_ms"]),
                  len(d["errors"]) + len(d["isolation"]))
    during = result.observer.get("class", {}).get("release_ms", {"n": 0})
    verdict = "no drags measured" if not during["n"] else (
        f"{'met' if during['p95'] <= GOAL_RELEASE_P95_MS else 'NOT met'} (p95 {during['p95']:.0f} ms)")
    table.notes += [
        f"Goal: release -> server answer p95 <= {GOAL_RELEASE_P95_MS} ms during the class: {verdict}.",
        "Each drag: 60 pointer moves at 60 Hz from the pad's centre along a random arc (tests/support/browser.py's "
        "drag_on_canvas), decoded in the browser; move -> frame from the canvas's performance marks; release -> "
        "server: from the pointer's release to the page showing the code the server received. The observer drags "
        "alone first, pauses during the run alone and while the class opens its pages, and drags again from the "
        "go to the class's end.",
    ]
    if result.errors:
        table.notes.append(f"Observer page errors: {' | '.join(result.errors[:3])}")
    return table


def trainers_table(result: ClassroomResult) -> Table:
    umap = f"; Compute pressed on a UMAP of {SPLITS[result.umap_split][1]:,} points" if result.umap else ""
    table = Table(f"Classroom: Start training pressed in {count(result.trainers, 'session')} at once, MNIST, "
                  f"{count(result.epochs, 'epoch')}{umap}, fresh `python -m ui.serve`", [
                      "session", "start -> first step s (queue position)", "steps/s (page shows)",
                      "start -> end s", "examples/s", "end", "errors"])
    for run in [result.baseline, *result.runs]:
        position = f" (#{run.queue_position})" if run.queue_position else ""
        shown = f" ({run.page_rate:.0f})" if run.page_rate is not None else ""
        table.add(run.session.name + (f", {count(run.epochs, 'epoch')}" if run is result.baseline else ""),
                  seconds_(run.queue_wait_s) + position,
                  ("-" if run.steps_per_s is None else f"{run.steps_per_s:.0f}") + shown,
                  seconds_(None if run.ended_at is None or run.pressed is None else run.ended_at - run.pressed),
                  run.examples_per_s, (run.end.split(":")[0] or "not ended")[:40],
                  len(run.session.errors) + len(run.session.broken_images))
    rates = throughput(result)
    table.add(f"all {result.trainers} together", None, None, seconds_(result.class_end - result.went),
              rates["class_from_first_step"], f"{rates['examples']:,.0f} examples", None)
    table.notes += throughput_notes(rates) + [umap_note(result.umap)] + server_notes(result)
    return table


def throughput_notes(rates: dict) -> list[str]:
    ratio = rates["ratio"]
    verdict = "-" if ratio is None else f"{'met' if ratio >= GOAL_THROUGHPUT_RATIO else 'NOT met'} ({ratio:.2f})"
    from_go = "-" if rates["ratio_from_go"] is None else f"{rates['ratio_from_go']:.2f}"
    without = rates.get("ratio_without_umap_turn")
    umap_turn = (f" The UMAP took the slot for {rates['umap_turn_s']:.1f} s inside that window (maps go before "
                 f"waiting runs): without its turn, {without:.2f} of one run alone." if rates.get("umap_turn_s")
                 and without else "")
    return [
        f"Goal: the class's total examples/s >= {GOAL_THROUGHPUT_RATIO} of one run alone: {verdict}. Total: every "
        "run's examples (its last step shown x 60,000 / steps per epoch) over the window from the first step any "
        f"run showed to the last run's end; from the go instead: {from_go} of one run alone. One run alone: the "
        "same measure for one run (first step shown to its end) on the same server just before the class, with "
        "the same settings and nobody else active: the machine to itself." + umap_turn,
        "Start -> first step: from the click on Start to the first reading of the page that shows a step done "
        f"(the page is read every {POLL_S:g} s and redraws every second), i.e. the queue wait plus loading the "
        "data; a queued run shows its position first. Steps/s: from that reading to the one that showed its end; "
        "in brackets the rate the page itself showed last while it trained. Runs of a few seconds (1 epoch in a "
        "worker) are measured coarsely: the end is seen up to a second or two late.",
    ]


def umap_note(umap: UmapRun | None) -> str:
    if umap is None:
        return "No UMAP session in this run."
    kept = {True: "a map stayed on screen", False: "no map on screen", None: "-"}[umap.map_kept]
    took = "not drawn" if umap.seconds is None else f"{umap.seconds:.1f} s for {umap.points:,} points"
    return (f"UMAP ({SPLITS[umap.split][0]}, the page's defaults, cold disk cache): Compute -> points drawn {took}; "
            f"{MAP_KEPT_AFTER_S:g} s after Compute {kept} while it computed. Errors: {len(umap.session.errors)}.")


def server_notes(result: ClassroomResult) -> list[str]:
    memory = "; ".join(f"{moment} {rss:,.0f} / {pss:,.0f}" for moment, (rss, pss) in result.memory.items())
    return [
        f"Server memory (MB, its RSS / PSS of it and its child processes): {memory}; peak during the class "
        f"{result.peak[0]:,.0f} / {result.peak[1]:,.0f}; ready {result.server_ready_s:.1f} s after its start.",
        cpu_note(result),
        "Load averages (1 / 5 / 15 min, `uptime`): " + "; ".join(f"{k} {v}" for k, v in result.load.items()) +
        f"; highest 1-minute load during the class {result.peak[2]:.2f}. Every session runs its own headless "
        "Chromium on the same machine as the server.",
        f"Server log: {len(result.server_problems)} error lines" + (
            ": " + " | ".join(result.server_problems[:3]) if result.server_problems else "") + ".",
    ]


def cpu_note(result: ClassroomResult) -> str:
    cpu, seconds = result.cpu_s, result.class_end - result.went
    alone = result.cpu_alone_s
    alone_s = (result.baseline.ended_at or result.baseline.pressed or 0) - (result.baseline.pressed or 0)
    return (f"CPU during the class ({seconds:.0f} s, {os.cpu_count()} cores: {seconds * os.cpu_count():.0f} CPU s "
            f"available, {cpu['machine']:.0f} s used): {cpu_kinds(cpu)}. During the run alone ({alone_s:.0f} s): "
            f"{cpu_kinds(alone)}.")


def cpu_kinds(cpu: dict[str, float]) -> str:
    names = {"server": "the server with its workers", "browsers": "the sessions' Chromiums",
             "benchmark": "this benchmark (its Python and Playwright's driver)", "other": "other processes"}
    return ", ".join(f"{names[kind]} {cpu[kind]:.0f} s" for kind in ProcessCpu.KINDS)


def tables(result: ClassroomResult) -> list[Table]:
    return [observer_table(result), trainers_table(result)]


def run(ctx: Context) -> list[Table]:
    if not CHROMIUM.exists():
        return [Table("Classroom", [], notes=[f"{CHROMIUM} not found: install Debian's chromium"])]
    quick = ctx.settings.quick
    result = run_classroom(2 if quick else 8, 1 if quick else 10, 600 if quick else 1800,
                           "test" if quick else "all", quiet_drags=5 if quick else 20)
    write("classroom-quick" if quick else "classroom", result.summary())
    return tables(result)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainers", type=int, default=8, help="sessions pressing Start training at once")
    parser.add_argument("--epochs", type=int, default=10, help="of each run (MNIST), the run alone's too")
    parser.add_argument("--seconds", type=float, default=1800, help="the class stops after this long at most")
    parser.add_argument("--umap", choices=[*SPLITS, "none"], default="all", help="the split the UMAP session maps")
    parser.add_argument("--quiet-drags", type=int, default=20, help="the observer's drags alone, first")
    parser.add_argument("--baseline-epochs", type=int, help="the run alone's epochs (default: --epochs)")
    args = parser.parse_args(argv)
    result = run_classroom(args.trainers, args.epochs, args.seconds, None if args.umap == "none" else args.umap,
                           args.quiet_drags, args.baseline_epochs)
    write("classroom", result.summary())
    (OUT / "classroom.md").write_text("\n".join(table.markdown() for table in tables(result)))  # for RESULTS.md
    for table in tables(result):
        print(table.text() + "\n")


if __name__ == "__main__":
    main()
