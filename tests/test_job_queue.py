"""The job queue (ui.job_queue): a cap on running worker jobs, first come first served, one training run per owner,
a waiting job's position and estimated start, Stop of a waiting job."""

from __future__ import annotations

import time

import numpy as np
import pytest
from support.jobs import wait_until
from support.worker_jobs import intervals, most_at_once, timed_sleep

from ui.job_queue import TRAINING, JobQueue, QueueConfig, QueueError, default_max_running
from vae_core.workers import WorkerCall


def sleeper(log, name: str, seconds: float) -> WorkerCall:
    return WorkerCall(f"test {name}", timed_sleep, (log, name, seconds))


def test_the_cap_holds_under_a_burst_of_submissions_and_waiting_jobs_start_in_turn(tmp_path):
    log = tmp_path / "log.txt"
    queue = JobQueue(QueueConfig(max_running=2, cores=2))
    jobs = [queue.submit(sleeper(log, f"job{i}", 0.6), owner=f"session{i}", kind="tsne") for i in range(5)]
    assert [queue.position(job) for job in jobs] == [None, None, 1, 2, 3]
    assert queue.counts() == (2, 3)
    assert all(job.join(timeout=60) for job in jobs)
    spans = intervals(log)  # as the worker processes themselves saw their start and end
    assert sorted(spans) == [f"job{i}" for i in range(5)] and [job.result for job in jobs] == sorted(spans)
    assert most_at_once(spans.values()) == 2
    # The queue's order is the positions above; two slots freeing at once may start their jobs in either order.
    started = [job.started_at for job in jobs]
    assert started[4] > max(started[2:4]) > min(started[2:4]) > max(started[:2])
    assert queue.counts() == (0, 0)


def test_a_second_training_run_for_one_owner_is_refused_with_a_clear_message(tmp_path):
    queue = JobQueue(QueueConfig(max_running=1, cores=2))
    first = queue.submit(sleeper(tmp_path / "log", "first", 30), owner="alice", kind=TRAINING)
    queued = queue.submit(sleeper(tmp_path / "log", "queued", 30), owner="bob", kind=TRAINING)
    try:
        with pytest.raises(QueueError, match="already has a training run, which is training: stop it"):
            queue.submit(sleeper(tmp_path / "log", "second", 1), owner="alice", kind=TRAINING)
        with pytest.raises(QueueError, match=r"waits in the queue \(position 1\)"):
            queue.submit(sleeper(tmp_path / "log", "second", 1), owner="bob", kind=TRAINING)
        queue.submit(sleeper(tmp_path / "log", "map", 1), owner="alice", kind="umap")  # other kinds are not limited
        assert queue.counts() == (1, 2)
    finally:
        for job in (first, queued):
            job.stop()
    assert first.join(timeout=30) and queued.join(timeout=30)


def test_stopping_a_queued_job_removes_it_and_the_next_one_starts_when_the_running_one_ends(tmp_path):
    log = tmp_path / "log.txt"
    queue = JobQueue(QueueConfig(max_running=1, cores=2))
    running, removed, last = (queue.submit(sleeper(log, name, 1.0), owner=name, kind=TRAINING)
                              for name in ("running", "removed", "last"))
    removed.stop()
    assert not removed.running and not removed.started and "removed from the queue" in str(removed.exception)
    assert queue.position(last) == 1 and queue.counts() == (1, 1)
    assert last.join(timeout=60) and running.join(timeout=1)
    spans = intervals(log)
    assert sorted(spans) == ["last", "running"] and spans["last"][0] >= spans["running"][1] - 0.05


def test_a_map_asked_for_behind_waiting_training_runs_starts_before_them_and_runs_after_one_another(tmp_path):
    log = tmp_path / "log.txt"
    queue = JobQueue(QueueConfig(max_running=1, cores=2))
    first_run, second_run = (queue.submit(sleeper(log, name, 0.5), owner=name, kind=TRAINING)
                             for name in ("run1", "run2"))
    first_map, second_map = (queue.submit(sleeper(log, name, 0.2), owner="projections", kind="umap")
                             for name in ("map1", "map2"))
    assert [queue.position(job) for job in (first_run, first_map, second_map, second_run)] == [None, 1, 2, 3]
    assert all(job.join(timeout=60) for job in (first_run, second_run, first_map, second_map))
    spans = intervals(log)
    assert sorted(spans, key=lambda name: spans[name][0]) == ["run1", "map1", "map2", "run2"]


def test_a_queued_job_is_told_about_when_it_starts_from_the_running_jobs_progress(tmp_path):
    queue = JobQueue(QueueConfig(max_running=1, cores=2))
    running = queue.submit(sleeper(tmp_path / "log", "running", 6.0), owner="a", kind="tsne")
    next_one = queue.submit(sleeper(tmp_path / "log", "next", 6.0), owner="b", kind="tsne")
    behind = queue.submit(sleeper(tmp_path / "log", "behind", 0.1), owner="c", kind="tsne")
    try:
        wait_until(lambda: running.fraction >= 0.3)
        first, typical, second = (queue.estimated_start(next_one), running.duration_seconds(),
                                  queue.estimated_start(behind))
        assert 0 < first < typical and typical >= 6
        assert second == pytest.approx(first + typical, abs=1.0)  # the one ahead lasts as long as the running one
        assert queue.estimated_start(running) is None  # it has started
    finally:
        for job in (running, next_one, behind):
            job.stop()
    assert all(job.join(timeout=30) for job in (running, next_one, behind))


def test_the_default_runs_a_job_per_core_on_one_thread_each(monkeypatch):
    monkeypatch.delenv("VAE_MAX_JOBS", raising=False)
    assert [default_max_running(cores) for cores in (1, 2, 4, 16)] == [1, 2, 4, 16]
    assert QueueConfig(max_running=default_max_running(2), cores=2).threads_per_job == 1
    assert QueueConfig(max_running=1, cores=2).threads_per_job == 2
    assert QueueConfig(max_running=3, cores=16).threads_per_job == 5


def test_a_worker_started_while_a_page_script_is_main_does_not_run_that_script(tmp_path, monkeypatch):
    """Streamlit makes the running page script `__main__`; multiprocessing would run it first in every worker."""
    import sys
    import types

    ran = tmp_path / "the page ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(ran)!r}, 'w').close()\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    call = WorkerCall("test main", timed_sleep, (tmp_path / "log", "call", 0.1)).start()
    assert call.join(timeout=60) and call.exception is None
    assert not ran.exists()


def test_a_stopped_running_call_ends_without_a_result(tmp_path):
    call = WorkerCall("test stop", timed_sleep, (tmp_path / "log", "stopped", 30)).start()
    wait_until(lambda: call.fraction > 0)
    started = time.monotonic()
    call.stop()
    assert call.join(timeout=10) and time.monotonic() - started < 5
    assert call.result is None and str(call.exception) == "stopped"


def test_calls_of_a_warm_pool_reuse_one_worker_and_others_get_their_own(tmp_path):
    log = tmp_path / "log.txt"
    first = WorkerCall("warm 1", timed_sleep, (log, "first", 0.1), warm_pool="test").start()
    assert first.join(timeout=30) and first.result == "first"
    second = WorkerCall("warm 2", timed_sleep, (log, "second", 0.1), warm_pool="test").start()
    assert second.join(timeout=30) and second.result == "second" and second.pid == first.pid
    alone = WorkerCall("cold", timed_sleep, (log, "alone", 0.1)).start()
    assert alone.join(timeout=30) and alone.pid != first.pid
    stopped = WorkerCall("warm 3", timed_sleep, (log, "stopped", 30), warm_pool="test").start()
    wait_until(lambda: stopped.fraction > 0)
    stopped.stop()  # a stopped worker is not reused
    assert stopped.join(timeout=10) and stopped.pid == first.pid
    after = WorkerCall("warm 4", timed_sleep, (log, "after", 0.1), warm_pool="test").start()
    assert after.join(timeout=30) and after.result == "after" and after.pid != first.pid


def test_an_evaluation_runs_in_a_worker_and_leaves_the_callers_tensors_as_they_were(digits, trained_digits):
    import os

    from ui import jobs
    from vae_core.metrics import per_example_terms

    labels_view = digits.y_test.numpy()  # a page holds numpy views of its dataset's tensors
    assert jobs.run_in_worker("where", os.getpid) != os.getpid()
    terms = jobs.run_in_worker("Scoring", per_example_terms, trained_digits.model, digits.x_test, digits.y_test)
    expected = per_example_terms(trained_digits.model, digits.x_test, digits.y_test)
    np.testing.assert_allclose(terms["elbo"], expected["elbo"], rtol=1e-5)
    assert np.array_equal(labels_view, digits.y_test.numpy())
