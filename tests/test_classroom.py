"""The classroom benchmark's reading of the Train page (benchmarks/classroom.py): a run queued, then training, then
ended, as the page shows it, becomes its queue position, start, steps/s and examples; no browser needed here
(`python -m benchmarks.classroom` drives the real pages)."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

from benchmarks.classroom import TrainerRun, read_train_page  # noqa: E402
from benchmarks.sessions import SessionReport  # noqa: E402


def reading(at: float, progress: list[str] = (), alerts: list[str] = ()) -> dict:
    return {"at": at, "progress": list(progress), "alerts": list(alerts)}


def test_a_queued_run_read_from_its_page_gives_its_wait_rate_and_examples():
    run = TrainerRun(SessionReport("trainer", "train"), epochs=2, pressed=100.0)
    readings = [
        reading(101.0, alerts=["Training queued: position 2, starts in about 30 s. Heavy jobs take turns."]),
        reading(110.0, alerts=["Training starting: its worker is loading the data."]),
        reading(112.0, ["epoch 0 · step 100 of 938 · 100 steps/s · about 8 s left"]),
        reading(116.0, ["epoch 1 · step 500 of 938 · 100 steps/s · about 4 s left"]),
        reading(121.0, ["epoch 2 · step 938 of 938 · 98 steps/s"], ["Training completed: training ended"]),
    ]
    assert [read_train_page(run, r) for r in readings] == [False, False, False, False, True]
    assert run.queue_position == 2 and run.queue_wait_s == 12.0
    assert run.steps_per_s == pytest.approx(838 / 9)
    assert run.page_rate == 100  # the last rate shown while it trained
    assert run.examples_done == pytest.approx(120_000)
    assert run.examples_per_s == pytest.approx(838 / 9 * 60_000 * 2 / 938)
    assert not run.session.errors


def test_a_run_that_did_not_complete_is_an_error_of_its_session():
    run = TrainerRun(SessionReport("trainer", "train"), epochs=1, pressed=0.0)
    assert read_train_page(run, reading(5.0, ["epoch 0 · step 10 of 469 · 5 steps/s"],
                                        ["Training failed: out of memory"]))
    assert run.session.errors and run.examples_done == pytest.approx(10 * 60_000 / 469)


def test_the_umaps_turn_in_the_slot_runs_from_the_run_before_it_ending_to_its_points_drawn():
    from types import SimpleNamespace

    from benchmarks.classroom import UmapRun, umap_turn_s

    runs = [SimpleNamespace(ended_at=end) for end in (150.0, 200.0, 260.0)]
    umap = UmapRun(SessionReport("umap", "project"), "all", pressed=100.0, seconds=125.0)  # drawn at 225
    result = SimpleNamespace(umap=umap, runs=runs)
    assert umap_turn_s(result, start=110.0, end=260.0) == pytest.approx(25.0)  # the slot freed at 200
    assert umap_turn_s(result, start=230.0, end=260.0) == 0.0  # drawn before the window
    umap.seconds = 10.0  # drawn at 110, before any run ended: it went first
    assert umap_turn_s(result, start=105.0, end=260.0) == pytest.approx(10.0)
