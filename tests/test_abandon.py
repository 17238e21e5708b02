"""The server's policy for runs nobody watches (ui.abandon): a run no page showed for the limit ends, queued or
training, keeping what it trained; a run a page keeps alive trains on; the library never decides this itself."""

from __future__ import annotations

import logging
import time

import pytest
from support.jobs import finish, tiny_job, wait_until, worker_job

from ui.abandon import ABANDON_ENV, AbandonPolicy, Watchdog
from vae_core.checkpoint import load_checkpoint_bytes
from vae_core.errors import ConfigError

FAST = AbandonPolicy(after_s=0.3, check_every_s=0.05)


def test_a_run_nobody_keeps_alive_is_abandoned_and_says_so(digits, caplog):
    job = Watchdog(FAST).watch(tiny_job(digits, epochs=1000))
    with caplog.at_level(logging.WARNING, logger="ui.abandon"):
        assert job.join(timeout=20)
    progress = job.progress()
    assert progress.finished.reason == "abandoned" and "no page showed this run" in progress.finished.message
    assert progress.error is None and progress.steps_done > 0
    records = [r.getMessage() for r in caplog.records if r.name == "ui.abandon"]
    assert len(records) == 1 and records[0].startswith(f"training run {job.default_name()} abandoned: ")
    kept = load_checkpoint_bytes(job.checkpoint_bytes())  # what it trained can still be saved and resumed
    assert len(kept.history["train"]) == progress.step and kept.optimizer_state is not None


def test_a_run_kept_alive_trains_on_past_the_limit(digits):
    job = Watchdog(FAST).watch(tiny_job(digits, epochs=1000))
    try:
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            job.keep_alive()
            time.sleep(0.05)
        assert job.running and job.progress().running
    finally:
        finish(job)
    assert job.progress().finished.reason == "stopped"


def test_a_worker_run_nobody_keeps_alive_is_abandoned(digits):
    job = Watchdog(AbandonPolicy(after_s=1.0, check_every_s=0.1)).watch(worker_job(digits, epochs=1000).start())
    assert job.join(timeout=60)
    progress = job.progress()
    assert progress.finished.reason == "abandoned" and "no page showed this run" in progress.finished.message
    assert load_checkpoint_bytes(job.checkpoint_bytes()).optimizer_state is not None


def test_a_queued_run_nobody_keeps_alive_leaves_the_queue_and_never_starts(digits):
    job = Watchdog(FAST).watch(worker_job(digits, epochs=1))  # queued: no slot ever frees for it here
    wait_until(lambda: not job.running, timeout=10)
    job.start()
    progress = job.progress()
    assert job.pid is None and progress.finished.reason == "abandoned" and not job.has_model
    assert progress.finished.message.startswith("abandoned before it started: no page showed this run for ")


def test_the_limit_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv(ABANDON_ENV, raising=False)
    assert AbandonPolicy().after_s == 180.0
    monkeypatch.setenv(ABANDON_ENV, "12.5")
    assert AbandonPolicy().after_s == 12.5
    with pytest.raises(ConfigError, match="after_s"):
        AbandonPolicy(after_s=0)
