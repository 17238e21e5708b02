"""Heavy work in worker processes, so that it never shares the server's interpreter (its GIL, its thread pools).

Workers are forked from a forkserver: a clean single-threaded process started once, with torch and the library
already imported, so a worker starts in tens of milliseconds and never inherits a thread pool (forking a process
whose torch/OpenMP threads are running can deadlock the child). Each worker runs niced, with the number of
threads it is given, and ends when the server does: the kernel signals it when its parent goes, and its pipe to
the server reads EOF.

`WorkerCall` runs one function in a worker and brings back its progress reports and its result; the training run
(vae_core.train_worker) talks to its worker both ways.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger(__name__)

# torch._dynamo: torch.optim's constructors import it, and in every fresh worker that import took seconds.
PRELOAD = ["torch", "torch._dynamo", "numpy", "vae_core.train", "vae_core.checkpoint", "vae_core.projection"]
WORKER_NICENESS = 10  # the server's own threads (every visitor's sliders) win the CPU over heavy work
_PR_SET_PDEATHSIG = 1
_context_lock = threading.Lock()
_main_lock = threading.Lock()
_context: multiprocessing.context.BaseContext | None = None


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context of every worker: forkserver with the library preloaded (spawn where there is no
    forkserver); never plain fork, which would copy the server's running threads' locks."""
    global _context
    with _context_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = multiprocessing.get_context("forkserver")
                _context.set_forkserver_preload(PRELOAD)
            else:
                _context = multiprocessing.get_context("spawn")
        return _context


def warm_up() -> None:
    """Start the forkserver (and its imports) now, in the background, so that the first job does not wait for it."""
    context = worker_context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        def start() -> None:
            with _no_main_module():
                forkserver.ensure_running()

        threading.Thread(target=start, name="forkserver warm-up", daemon=True).start()


@contextmanager
def _no_main_module() -> Iterator[None]:
    """multiprocessing has each new process import the parent's `__main__` by its path first; in a Streamlit
    server that is whichever page script runs at that moment (Streamlit swaps `sys.modules["__main__"]`), which
    the worker would then run, widgets and all. An empty `__main__` while a process starts: workers import what
    their target needs by module name."""
    with _main_lock:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is None:
                del sys.modules["__main__"]
            else:
                sys.modules["__main__"] = main


def start_worker(target: Callable[..., None], args: tuple, threads: int, name: str
                 ) -> tuple[multiprocessing.process.BaseProcess, Connection]:
    """Run target(connection, *args) in a new worker process on `threads` threads; returns the process and the
    server's end of the pipe."""
    context = worker_context()
    server_end, worker_end = context.Pipe(duplex=True)
    process = context.Process(target=_bootstrap, args=(target, worker_end, threads, args), name=name, daemon=True)
    with _no_main_module():
        process.start()
    worker_end.close()  # the worker's copy is the only one left: its death reads as EOF here
    return process, server_end


def _bootstrap(target: Callable[..., None], connection: Connection, threads: int, args: tuple) -> None:
    _die_with_parent()
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)  # numpy's BLAS and OpenMP pools (scikit-learn, UMAP's helpers)
    os.environ["NUMBA_NUM_THREADS"] = str(threads)
    target(connection, *args)


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM when the parent (the server, or its forkserver) dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(1)


def send(connection: Connection, message: tuple) -> bool:
    """Send a message to the other end; False if it is gone."""
    try:
        connection.send(message)
        return True
    except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
        return False


def exit_message(process: multiprocessing.process.BaseProcess) -> str:
    process.join(timeout=5)
    code = process.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    hint = " (out of memory?)" if code == -signal.SIGKILL else ""
    return f"the worker process ended unexpectedly ({how}{hint})"


class WorkerJob:
    """A job the queue (ui.job_queue) runs: started when a slot frees, ended by `stop()` or by itself, telling its
    end to whoever asked (`on_end`). Subclasses say what runs in the worker."""

    def __init__(self, name: str):
        self.name = name
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._ended_event = threading.Event()
        self._end_callbacks: list[Callable[[WorkerJob], None]] = []
        self._callbacks_lock = threading.Lock()
        self.started_at: float | None = None  # time.monotonic() when its worker started
        self.ended_at: float | None = None
        self._kept_warm = False  # its worker went back to a pool for the next job (WorkerCall)

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def running(self) -> bool:
        """Not ended: waiting in a queue or working."""
        return not self._ended_event.is_set()

    @property
    def queued(self) -> bool:
        return self.running and not self.started

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def on_end(self, callback: Callable[[WorkerJob], None]) -> None:
        """Call callback(job) once the job has ended (at once if it has)."""
        with self._callbacks_lock:
            if self.running:
                self._end_callbacks.append(callback)
                return
        callback(self)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; True if it has."""
        return self._ended_event.wait(timeout)

    def remaining_seconds(self) -> float | None:
        """Seconds until a started job ends, estimated from its progress; None while unknown."""
        return None

    def duration_seconds(self) -> float | None:
        """How long the whole job takes, estimated (None: unknown); for the start of the jobs queued behind it."""
        remaining = self.remaining_seconds()
        if remaining is None or self.started_at is None:
            return None
        return time.monotonic() - self.started_at + remaining

    def start(self, threads: int = 1) -> WorkerJob:
        """Start the worker on `threads` threads and a thread here that reads what it reports."""
        if self.started or not self.running:
            return self
        self._listen(*start_worker(*self._worker(), threads=threads, name=self.name))
        return self

    def _listen(self, process: multiprocessing.process.BaseProcess, connection: Connection) -> None:
        self._process, self._connection = process, connection
        self.started_at = time.monotonic()
        threading.Thread(target=self._read, name=f"{self.name} reader", daemon=True).start()

    def stop(self) -> None:
        """A queued job ends at once; a running one is asked to stop (subclasses say how)."""
        if self.queued:
            self._end_unstarted()

    def _worker(self) -> tuple[Callable[..., None], tuple]:
        """(target, args) run in the worker as target(connection, *args)."""
        raise NotImplementedError

    def _receive(self, message: tuple) -> None:
        """One message from the worker."""
        raise NotImplementedError

    def _lost(self, reason: str) -> None:
        """The worker ended without saying so (crashed, killed)."""
        raise NotImplementedError

    def _end_unstarted(self) -> None:
        """Stopped before it started."""
        self._mark_ended()

    def _read(self) -> None:
        connection = self._connection
        while self.running:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                if self.running:
                    self._lost(exit_message(self._process))
                break
            try:
                self._receive(message)
            except Exception:  # noqa: BLE001 - a reader thread has nobody to raise to
                logger.exception("%s: bad message from the worker", self.name)
        if not self._kept_warm:
            connection.close()
            self._process.join(timeout=10)

    def _mark_ended(self) -> None:
        with self._callbacks_lock:
            if not self.running:
                return
            self.ended_at = time.monotonic()
            self._ended_event.set()
            callbacks, self._end_callbacks = self._end_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - one broken listener must not keep the others from hearing
                logger.exception("%s: end callback failed", self.name)

    def _send(self, message: tuple) -> bool:
        return self._connection is not None and send(self._connection, message)


_warm_lock = threading.Lock()
_warm: dict[tuple[str, int], tuple[multiprocessing.process.BaseProcess, Connection]] = {}  # one idle worker a pool


class WorkerCall(WorkerJob):
    """function(*args, progress=report, **kwargs) run in a worker; `report(fraction, message)` calls come back to
    `on_progress` here, then the result (`result`) or the exception it raised (`exception`).

    Calls of one `warm_pool` reuse an idle worker of the previous call: what it imported and compiled stays (UMAP's
    numba kernels compile once per server, not once per map). One idle worker is kept per pool."""

    def __init__(self, name: str, function: Callable[..., Any], args: tuple = (), kwargs: dict | None = None,
                 on_progress: Callable[[float, str], None] | None = None, warm_pool: str | None = None):
        super().__init__(name)
        self.function, self.args, self.kwargs = function, args, kwargs or {}
        self.warm_pool = warm_pool
        self._threads = 1
        self.on_progress = on_progress or (lambda fraction, message: None)
        self.fraction = 0.0
        self._stopping = False
        self.result: Any = None
        self.exception: BaseException | None = None

    def stop(self) -> None:
        super().stop()
        if self._process is not None and self.running:
            self._stopping = True
            self._process.terminate()  # nothing to keep

    def remaining_seconds(self) -> float | None:
        if self.started_at is None or self.fraction <= 0.05:
            return None
        elapsed = time.monotonic() - self.started_at
        return elapsed * (1 - self.fraction) / self.fraction

    def start(self, threads: int = 1) -> WorkerCall:
        if self.started or not self.running:
            return self
        self._threads = threads
        with _warm_lock:
            process, connection = _warm.pop((self.warm_pool, threads), (None, None))
        if process is not None and process.is_alive():
            self._listen(process, connection)
        else:
            super().start(threads)
        if not self._send(("call", self.function, self.args, self.kwargs)):
            self._lost(exit_message(self._process))
        return self

    def _worker(self) -> tuple[Callable[..., None], tuple]:
        return _serve_calls, ()

    def _receive(self, message: tuple) -> None:
        kind, *payload = message
        if kind == "progress":
            self.fraction = payload[0]
            self.on_progress(*payload)
            return
        if kind == "result":
            self.result = payload[0]
        else:
            self.exception = payload[0]
        self._keep_warm()
        self._mark_ended()

    def _keep_warm(self) -> None:
        """Give the worker to the pool for the next call (the reader thread here lets go of it)."""
        if self.warm_pool is None or self._stopping:
            return
        with _warm_lock:
            key = (self.warm_pool, self._threads)
            if key not in _warm:
                _warm[key] = (self._process, self._connection)
                self._kept_warm = True

    def _lost(self, reason: str) -> None:
        self.exception = RuntimeError("stopped" if self._stopping else reason)
        self._mark_ended()

    def _end_unstarted(self) -> None:
        self.exception = RuntimeError("removed from the queue before it started")
        self._mark_ended()


def without_progress(function: Callable[..., Any], *args, progress=None, **kwargs) -> Any:
    """`function(*args, **kwargs)` as a WorkerCall's function, for one that reports no progress."""
    return function(*args, **kwargs)


def _serve_calls(connection: Connection) -> None:
    """The worker of WorkerCalls: one call after another, until the server closes the pipe."""
    while True:
        try:
            _, function, args, kwargs = connection.recv()
        except (EOFError, OSError):
            return
        _call_in_worker(connection, function, args, kwargs)


def _call_in_worker(connection: Connection, function: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    def report(fraction: float, message: str) -> None:
        if not send(connection, ("progress", fraction, message)):
            os._exit(0)  # nobody listens any more: the server has gone

    try:
        result = function(*args, progress=report, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the server decides what to tell the user
        send(connection, ("error", _picklable(exc)))
        return
    send(connection, ("result", result))


def _picklable(exc: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any exception may fail to pickle in its own way
        return RuntimeError(f"{type(exc).__name__}: {exc}")
