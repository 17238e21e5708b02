"""Browser sessions on a fresh app server, shared by the benchmarks that drive many of them (load, soak,
classroom): the server (`python -m ui.serve`) with its memory and CPU, one headless Chromium per session that
records every error it sees, page visits with their checks, drags on the latent pad with their release round trip,
the Train page's progress, and the spreads and files the benchmarks report.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.browser import (
    CANVAS_PAD,
    CANVAS_SLIDER,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXCEPTION,
    FIRST_LOAD_MS,
    MAIN,
    PROGRESS,
    VIEWPORT,
    Drag,
    app_server,
    choose,
    drag_on_canvas,
    free_port,
    local_only,
    nav_titles,
    open_page,
    wait_until_idle,
)

from ui.navigation import PAGES

from .context import REPO
from .report import percentile

OUT = REPO / "benchmarks" / "out"  # git-ignored
APP_TITLES = [title for _, title, _ in PAGES]
SLIDERS, SCATTER, TRAIN = "Latent sliders", "Latent scatter", "Train"
ACTION_TIMEOUT_MS = 30_000  # a drag's release round trip or a click's selection panel
PAD_SHARE = 0.7  # of the drags: on the pad (the rest pull the first slider)
ABANDONED = re.compile(r"training run \S+ abandoned")

# Armed before a drag: resolves with the ms from the pointer's release to the server's answer on the page (the
# caption naming the code as of the last release changes), and that caption.
ARM_RELEASE_TIMER = """(timeoutMs) => {
  const main = document.querySelector('[data-testid=stMain]');
  const caption = () => Array.from(main.querySelectorAll('[data-testid=stCaptionContainer]'))
    .map(c => c.innerText).find(t => t.startsWith('Code as of your last release')) ?? '';
  const before = caption();
  let releasedAt = null;
  document.addEventListener('pointerup', () => { releasedAt ??= performance.now(); }, {capture: true, once: true});
  window.__released = new Promise((resolve, reject) => {
    const check = () => {
      const now = caption();
      if (releasedAt === null || !now || now === before) return false;
      observer.disconnect(); clearTimeout(timer);
      resolve({ms: performance.now() - releasedAt, caption: now});
      return true;
    };
    const timer = setTimeout(() => { if (!check()) { observer.disconnect(); reject(new Error(
      'no release round trip: the caption still reads ' + JSON.stringify(caption()))); } }, timeoutMs);
    const observer = new MutationObserver(check);
    observer.observe(main, {subtree: true, childList: true, characterData: true});
  });
}"""
# Images that finished loading with nothing to show (a broken data: URL or a failed fetch).
BROKEN_IMAGES = """() => Array.from(document.querySelectorAll('img'))
  .filter(img => img.complete && img.naturalWidth === 0 && img.src)
  .map(img => img.src.slice(0, 80))"""


@dataclass
class SessionReport:
    """What one browser session did and saw."""

    name: str
    role: str  # explore | train | project
    moves: int = 0  # drags, each with its release round trip
    pointer_moves: int = 0  # pointer moves that changed the code, over all drags
    frames: int = 0  # frames that showed a new image, over all drags
    frame_ms: list[float] = field(default_factory=list)  # per frame: pointer move -> frame
    release_ms: list[float] = field(default_factory=list)  # per drag: release -> server's answer on the page
    select_ms: list[float] = field(default_factory=list)  # per click: release -> selection panel with images
    first_load_ms: float = 0.0  # everyone's arrival -> the first page run and idle
    page_visits: int = 0
    page_ms: list[float] = field(default_factory=list)  # per visit: sidebar click -> page run and idle
    nav_ok: int = 0  # page visits that showed the app's own navigation
    errors: list[str] = field(default_factory=list)  # everything that went wrong, each with what it was
    broken_images: set[str] = field(default_factory=set)
    isolation: list[str] = field(default_factory=list)  # a trace of another session's code or run
    training_steps: tuple[int, int] = (0, 0)  # trainer: steps done at the start and at the end of the watch
    training_started_s: float = 0.0  # trainer: from everyone's arrival to its run's progress bar showing
    closed_at: float = 0.0  # trainer: time.monotonic() when its browser had closed

    def error(self, what: str) -> None:
        self.errors.append(f"{time.strftime('%H:%M:%S')} {what}"[:400])

    def summary(self) -> dict:
        return {"name": self.name, "role": self.role, "moves": self.moves, "pointer_moves": self.pointer_moves,
                "frames": self.frames, "frame_ms": spread(self.frame_ms), "release_ms": spread(self.release_ms),
                "selections": len(self.select_ms), "select_ms": spread(self.select_ms),
                "first_load_ms": round(self.first_load_ms), "page_visits": self.page_visits,
                "page_ms": spread(self.page_ms), "nav_ok": self.nav_ok, "errors": self.errors,
                "broken_images": sorted(self.broken_images), "isolation": self.isolation,
                "training_progress": self.training_steps, "training_started_s": round(self.training_started_s, 1)}


def spread(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
            "max": round(max(values), 1)}


def load_averages() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


# --- the server ---------------------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path
    ready_s: float  # from the process start to the health check answering

    def rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.process.pid, "VmHWM") / 1024

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tree_cpu_s(self) -> float:
        """CPU seconds of the server and every process it started (workers), ended ones included."""
        return process_tree_cpu_s(self.process.pid)

    def tree_pss_mb(self) -> float:
        """Proportional set size of the server and every process it started (workers), summed: what the app
        holds in memory, shared pages counted once."""
        return sum(_pss_kb(pid) for pid in [self.process.pid, *_descendants(self.process.pid)]) / 1024

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, of the children it has waited for and of its live descendants."""
    return sum(_cpu_ticks(p) for p in [pid, *_descendants(pid)]) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # it ended meanwhile
        return 0
    return sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime


def machine_busy_cpu_s() -> float:
    """CPU seconds every process on the machine has used since boot (all cores)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class ProcessCpu:
    """CPU seconds by kind of process on the machine: the server with its workers, the sessions' Chromiums, this
    benchmark (its Python and Playwright's driver), the rest. Chromium's renderers are not the benchmark's
    descendants (its zygote is re-parented), so a process's kind comes from its command line when it is first seen.
    Each `sample()` reads every process's own ticks; one that ends between two samples loses what it used since
    the last (`Sampler`s take one a second)."""

    KINDS = ("server", "browsers", "benchmark", "other")

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.ticks: dict[int, int] = {}
        self.kinds: dict[int, str] = {}
        self.lock = threading.Lock()
        self.sample()

    def sample(self) -> None:
        with self.lock:
            server = {self.server_pid, *_descendants(self.server_pid)}
            ours = {os.getpid(), *_descendants(os.getpid())}
            for entry in Path("/proc").iterdir():
                ticks = _own_ticks(entry) if entry.name.isdigit() else None
                if ticks is not None:
                    pid = int(entry.name)
                    self.kinds.setdefault(pid, _kind(entry, pid, server, ours))
                    self.ticks[pid] = ticks

    def mark(self) -> dict[int, int]:
        """Every process's ticks now, to count from (`since`)."""
        self.sample()
        with self.lock:
            return dict(self.ticks)

    def since(self, mark: dict[int, int]) -> dict[str, float]:
        """CPU seconds per kind since `mark` (a process started since counts from zero)."""
        self.sample()
        used = dict.fromkeys(self.KINDS, 0.0)
        with self.lock:
            for pid, ticks in self.ticks.items():
                used[self.kinds[pid]] += (ticks - mark.get(pid, 0)) / os.sysconf("SC_CLK_TCK")
        return used


def _own_ticks(entry: Path) -> int | None:
    try:
        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):  # it ended meanwhile
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime: its own, not its children's (they are counted apart)


def _kind(entry: Path, pid: int, server: set[int], ours: set[int]) -> str:
    if pid in server:
        return "server"
    try:
        command = (entry / "cmdline").read_bytes()
    except OSError:
        command = b""
    if b"chromium" in command or b"chrome" in command:
        return "browsers"
    return "benchmark" if pid in ours else "other"


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # it ended meanwhile
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [d for child in children for d in [child, *_descendants(child)]]


@contextmanager
def serve(log_dir: Path, env: dict[str, str] | None = None, timeout_s: float = 180) -> Iterator[Server]:
    """A fresh `python -m ui.serve` on 127.0.0.1 (as `make run` starts it) with these environment variables
    added, answering once warmed up."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"ui-serve-{port}.log"
    env = {**os.environ, **(env or {})}
    started = time.perf_counter()
    with app_server([sys.executable, "-m", "ui.serve"], port, log_path, env, timeout_s) as (url, process):
        yield Server(url, process, log_path, time.perf_counter() - started)


def server_problems(log: str) -> list[str]:
    """Lines of the server log that report a failure (tracebacks, errors), the abandoned-run notice excepted."""
    return [line for line in log.splitlines()
            if re.search(r"Traceback|Error|Exception|CRITICAL", line) and not ABANDONED.search(line)]


# --- one browser session ------------------------------------------------------------------------------------------


@contextmanager
def browser_session(url: str, report: SessionReport) -> Iterator:
    """Its own Chromium (Playwright's sync API is per thread) and a page that records every error it sees."""
    from playwright.sync_api import sync_playwright

    local = re.compile(rf"^(http|ws)://127\.0\.0\.1:{url.rsplit(':', 1)[1]}/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            local_only(context, url)
            page = context.new_page()
            page.on("response", lambda r: r.status >= 400 and report.error(f"HTTP {r.status} {r.url[:120]}"))
            page.on("requestfailed", lambda r: local.match(r.url) and report.error(
                f"request failed: {r.url[:120]} ({r.failure})"))
            page.on("pageerror", lambda exc: report.error(f"page error: {exc}"))
            page.on("console", lambda m: m.type == "error" and local.match(m.location.get("url") or url) and
                    report.error(f"console error: {m.text}"))
            yield page
        finally:
            browser.close()


def check_page(page, report: SessionReport) -> None:
    """No exception shown, no broken image."""
    shown = page.locator(EXCEPTION)
    if shown.count():
        report.error(f"exception shown on {page.url}: {shown.first.inner_text()[:300]}")
    report.broken_images.update(page.evaluate(BROKEN_IMAGES))


def visit(page, title: str, report: SessionReport) -> None:
    """Open a page from the sidebar (timed: click -> script run over and the page idle) and check it."""
    started = time.perf_counter()
    open_page(page, title, FIRST_LOAD_MS)
    report.page_ms.append((time.perf_counter() - started) * 1000)
    report.page_visits += 1
    titles = nav_titles(page)
    if titles == APP_TITLES:
        report.nav_ok += 1
    else:
        report.error(f"navigation on {title} shows {titles}")
    if page.locator("[data-testid=stSidebar]").get_by_text("Training ·").count() and report.role != "train":
        report.isolation.append(f"{title}: a training status in the sidebar of a session that never trained")
    if "run=" in page.url and report.role != "train":
        report.isolation.append(f"{title}: a run token in the URL of a session that never trained: {page.url}")
    check_page(page, report)


# --- drags on the latent canvas, each with its release round trip -------------------------------------------------


def random_pad_arc(rng: random.Random):
    """A drag from the pad's centre to a random place, curving on the way, as a hand does."""
    ax, ay, bend = rng.uniform(-0.45, 0.45), rng.uniform(-0.45, 0.45), rng.uniform(-0.2, 0.2)

    def path(t: float, box: dict) -> tuple[float, float]:
        return box["width"] * (ax * t + bend * math.sin(math.pi * t)), box["height"] * ay * t
    return path


def random_slider_pull(rng: random.Random):
    """A drag along a slider from its middle to a random place."""
    ax = rng.choice([-1, 1]) * rng.uniform(0.1, 0.45)
    return lambda t, box: (box["width"] * ax * t, 0.0)


def one_drag(page, report: SessionReport, rng: random.Random, pad_share: float = PAD_SHARE) -> None:
    """Drag on the pad (a `pad_share` of the drags) or on the first slider; wait for the server's answer to the
    release; check it is ours."""
    page.evaluate(ARM_RELEASE_TIMER, ACTION_TIMEOUT_MS)
    on_pad = rng.random() < pad_share
    result: Drag = drag_on_canvas(page, CANVAS_PAD if on_pad else CANVAS_SLIDER,
                                  random_pad_arc(rng) if on_pad else random_slider_pull(rng))
    try:
        answer = page.evaluate("window.__released")
    except Exception as exc:  # noqa: BLE001 - say which code was released, to tell a lost release from a slow one
        raise RuntimeError(f"{str(exc).splitlines()[0]}; this drag ({'pad' if on_pad else 'slider'}, "
                           f"{result.frames} frames) released z = {[round(v, 3) for v in result.z]}") from exc
    report.moves += 1
    report.pointer_moves += result.moves
    report.frames += result.frames
    report.frame_ms += result.latency_ms
    report.release_ms.append(answer["ms"])
    served = [float(v) for v in re.findall(r"z\d+ = ([+-]\d+\.\d+)", answer["caption"])]
    if len(served) != len(result.z) or max(abs(a - b) for a, b in zip(served, result.z)) > 0.011:
        report.isolation.append(f"released at {[round(v, 3) for v in result.z]}, the server answered "
                                f"{answer['caption']!r}")


# --- a session's course -------------------------------------------------------------------------------------------


def arrive_on(page, url: str, title: str, report: SessionReport) -> None:
    """Open the app at `url`, wait for its first run, and go to the page `title` from the sidebar (`visit`)."""
    page.goto(url)
    wait_until_idle(page, FIRST_LOAD_MS)
    visit(page, title, report)


def arrive(page, url: str, report: SessionReport, start: threading.Barrier, seconds: float) -> float:
    """Open the app together with every other session; returns the monotonic deadline `seconds` from then."""
    start.wait()
    deadline = time.monotonic() + seconds
    page.goto(url)
    wait_until_idle(page, FIRST_LOAD_MS)
    report.first_load_ms = (time.monotonic() - deadline + seconds) * 1000
    return deadline


def attempt(action, what: str, page, report: SessionReport) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - counted and reported; the session goes on
        report.error(f"{what} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    check_page(page, report)


def guarded(target, report: SessionReport, *args) -> None:
    """Run a session; anything that stops it early is one of its errors."""
    try:
        target(*args)
    except Exception as exc:  # noqa: BLE001
        report.error(f"session stopped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")


def progress_now(page) -> int:
    """Steps done, read from the live progress bar's text ('step 1,234 of ...'); 0 while it is being redrawn."""
    bars = page.locator(MAIN).locator(PROGRESS)
    text = bars.first.inner_text() if bars.count() else ""
    match = re.search(r"step ([\d,]+) of", text)
    return int(match.group(1).replace(",", "")) if match else 0


def fill_training_form(page, dataset: str, epochs: int) -> None:
    """On the Train page: choose the dataset and the number of epochs (Start is the caller's to press)."""
    choose(page, "Dataset", dataset)
    field_ = page.locator(MAIN).get_by_label("Epochs", exact=True)
    field_.fill(str(epochs))
    field_.press("Enter")
    wait_until_idle(page)


def start_button(page):
    return page.locator(MAIN).get_by_role("button", name=re.compile("start", re.IGNORECASE))


# --- what the benchmarks report -----------------------------------------------------------------------------------


def ms(spread_: dict) -> str:
    return "-" if not spread_["n"] else f"{spread_['p50']:.0f} / {spread_['p95']:.0f} / {spread_['max']:.0f}"


def write(name: str, data) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))
