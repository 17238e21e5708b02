"""Under load, briefly: on a fresh `python -m ui.serve`, 3 sessions drag on the latent canvas and click scatter
points while a 4th trains, all arriving at once (benchmarks/load.py; `python -m benchmarks --only load` is the
full 8 + 1 sessions). Then the trainer closes its browser, and its job, kept alive by no page, stops itself.
"""

from __future__ import annotations

import pytest
from support.browser import ARTIFACTS, CHROMIUM

pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

from benchmarks.load import run_load  # noqa: E402 - after the skip: it imports the browser helpers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXPLORERS = 3
SECONDS = 20
ABANDON_AFTER_S = 10  # the server's VAE_ABANDON_AFTER_S (the app's default is 180 s)
JOB_END_MARGIN_S = 15  # the last keep-alive came up to a poll (2 s) before the close; one step; a busy box


@pytest.fixture(scope="module")
def load():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    return run_load(EXPLORERS, SECONDS, ABANDON_AFTER_S, log_dir=ARTIFACTS,
                    job_end_timeout_s=ABANDON_AFTER_S + JOB_END_MARGIN_S)


def test_every_session_explores_without_errors_or_broken_images(load):
    for session in load.sessions:
        assert not session.errors, f"{session.name}: {session.errors}"
        assert not session.broken_images, f"{session.name}: {sorted(session.broken_images)}"
    assert not load.server_problems, load.server_problems[:10]
    explorers = [s for s in load.sessions if s.role == "explore"]
    assert all(s.moves >= 1 and s.select_ms for s in explorers), [s.summary() for s in explorers]


def test_every_session_is_on_the_apps_own_navigation(load):
    for session in load.sessions:
        assert session.page_visits >= 1 and session.nav_ok == session.page_visits, session.summary()


def test_no_session_sees_another_sessions_code_or_run(load):
    for session in load.sessions:
        assert not session.isolation, f"{session.name}: {session.isolation}"
    trainer = next(s for s in load.sessions if s.role == "train")
    assert trainer.training_steps[1] > trainer.training_steps[0], "the run did not advance under load"


def test_a_run_whose_browser_closed_stops_itself_within_the_abandon_time(load):
    assert load.job_end_s is not None, f"the job did not stop within {ABANDON_AFTER_S + JOB_END_MARGIN_S} s"
    assert load.job_end_s <= ABANDON_AFTER_S + JOB_END_MARGIN_S
    assert load.cpu_after_end < 0.5, f"the server still uses {load.cpu_after_end:.2f} CPU s/s after the job ended"
