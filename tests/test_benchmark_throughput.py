"""The throughput benchmark's arithmetic (benchmarks/throughput.py): the spread of interleaved repeats, each
repeat's own speed-up and load, and a goal verdict read only from a repeat the rest of the machine left alone.
No timing here: `python -m benchmarks --only throughput` measures."""

from __future__ import annotations

import pytest

from benchmarks.throughput import Repeat, goal_verdict, interleaved_repeats, spread, spread_text


def test_spread_is_the_median_with_the_lowest_and_highest_value():
    assert spread([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert spread([4.0, 1.0]) == (2.5, 1.0, 4.0)
    assert spread_text([2.52, 1.83, 2.45]) == "2.45 (1.83-2.52)"


def test_a_repeat_compares_its_own_two_epochs_and_carries_its_busiest_load_reading():
    repeat = Repeat(tutorial_rate=3000.0, ours_rate=7500.0, loads=(1.2, 3.4, 2.0))
    assert repeat.speed_up == pytest.approx(2.5)
    assert repeat.load == 3.4


def test_repeats_alternate_epochs_and_read_the_load_between_them(monkeypatch):
    readings = iter([1.0, 2.0, 3.0, 4.0, 5.0])
    monkeypatch.setattr("benchmarks.throughput.one_minute_load", lambda: next(readings))
    repeats = interleaved_repeats(iter([20.0, 30.0]), iter([10.0, 10.0]), n=60_000)
    assert [(r.tutorial_rate, r.ours_rate, r.loads) for r in repeats] == [
        (3000.0, 6000.0, (1.0, 2.0, 3.0)), (2000.0, 6000.0, (3.0, 4.0, 5.0))]


def test_the_goal_is_not_judged_when_every_repeat_ran_above_the_core_count():
    loaded = [Repeat(3000.0, 10_470.0, (3.8, 4.0, 4.1)), Repeat(3000.0, 9000.0, (2.5, 2.6, 2.7))]
    verdict = goal_verdict(loaded, tutorial_elbo=-116.0, ours_elbo=-115.8, cores=2)
    assert "cannot be judged under load" in verdict
    assert "repeat 2: load 2.70, speed-up 3.00" in verdict


def test_the_goal_is_judged_on_the_lowest_load_repeat_alone():
    quiet_but_slower = Repeat(3000.0, 7500.0, (1.5, 1.9, 1.8))
    loaded_and_faster = Repeat(3000.0, 10_500.0, (4.0, 5.0, 6.0))
    verdict = goal_verdict([loaded_and_faster, quiet_but_slower], -116.0, -115.8, cores=2)
    assert ": NOT met on the lowest-load repeat (repeat 2: load 1.90, speed-up 2.50" in verdict


def test_the_goal_needs_both_the_speed_up_and_an_equal_or_better_elbo():
    fast = [Repeat(3000.0, 9600.0, (1.0, 1.0, 1.0))]
    assert ": met on the lowest-load repeat" in goal_verdict(fast, -116.0, -115.8, cores=2)
    assert ": NOT met" in goal_verdict(fast, -115.8, -116.0, cores=2)
