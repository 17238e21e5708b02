"""The server's policy for training runs nobody watches: they end, queued or training, keeping what they trained.

Every page showing a run calls its `keep_alive()` (ui.jobs polls it in the sidebar); a closed browser tab stops
calling, and the run is stopped ("abandoned") instead of holding a core and memory forever. The library offers only
the mechanism (`keep_alive`, `unseen_seconds`, `stop(reason, why)`); the limit and the decision live here, without
Streamlit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from vae_core.limits import Range, check

if TYPE_CHECKING:
    from vae_core.background import TrainingRun

logger = logging.getLogger(__name__)

ABANDON_ENV = "VAE_ABANDON_AFTER_S"  # overrides AbandonPolicy's default limit (load tests wait less)


def _after_s_from_env() -> float:
    return float(os.environ.get(ABANDON_ENV, 180.0))


@dataclass(frozen=True)
class AbandonPolicy:
    AFTER_S: ClassVar[Range] = Range(0.05, 24 * 3600.0)

    # Generous, because browsers throttle the timers of a hidden tab (Chrome: to once a minute after 5 minutes
    # hidden), and a run in a tab left in the background is not abandoned.
    after_s: float = field(default_factory=_after_s_from_env)
    check_every_s: float = 1.0  # how often the watchdog looks: a run ends at most this much after its limit

    def __post_init__(self):
        check([(self.AFTER_S.contains(self.after_s), f"after_s must be in {self.AFTER_S} seconds, got {self.after_s}"),
               (self.check_every_s > 0, f"check_every_s must be > 0, got {self.check_every_s}")])

    def why(self, run: TrainingRun) -> str | None:
        """Why `run` should end now, or None while a page has shown it recently enough."""
        unseen = run.unseen_seconds()
        if unseen < self.after_s:
            return None
        return f"no page showed this run for {unseen:.0f} s (limit {self.after_s:g} s)"


class Watchdog:
    """Stops the runs it watches once the policy says so, from a daemon thread that lives while it watches any."""

    def __init__(self, policy: AbandonPolicy | None = None):
        self.policy = policy or AbandonPolicy()
        self._lock = threading.Lock()
        self._runs: list[TrainingRun] = []
        self._thread: threading.Thread | None = None

    def watch(self, run: TrainingRun) -> TrainingRun:
        """Watch `run` (queued or started) until it ends."""
        with self._lock:
            self._runs.append(run)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="vae-abandon-watchdog", daemon=True)
                self._thread.start()
        return run

    def check(self) -> list[TrainingRun]:
        """Stop ("abandoned") every watched run the policy says should end; returns those."""
        with self._lock:
            self._runs = [run for run in self._runs if run.running]
            runs = self._runs[:]
        abandoned = []
        for run in runs:
            why = self.policy.why(run)
            if why is not None:
                logger.warning("training run %s abandoned: %s", run.default_name(), why)
                run.stop("abandoned", why)
                abandoned.append(run)
        with self._lock:
            self._runs = [run for run in self._runs if run not in abandoned]
        return abandoned

    def _loop(self) -> None:
        while True:
            time.sleep(self.policy.check_every_s)
            self.check()
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
