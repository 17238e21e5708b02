"""Training runs: the server-wide registry, the URL token that finds a run after a reload, its status on every page.

A run belongs to the session that started it. Its secret token rides in the URL (`?run=`) of every page, so a
browser reload on any page finds the run again, and a stranger without the token never sees it. Every page
keeps a running job alive (`TrainingJob.keep_alive`) by polling its status in the sidebar; a job no session
polls any more stops by itself (vae_core.background).
"""

from __future__ import annotations

import secrets

import streamlit as st

from vae_core.background import TrainingJob

from .state import TRAIN_JOB

RUN_PARAM = "run"
RUN_TOKEN = "app_run_token"  # this session's job's token (the URL loses it on a page switch; we put it back)
MAX_KEPT_JOBS = 16  # finished jobs kept findable by their token, oldest dropped first
STATUS_POLL_SECONDS = 2.0


@st.cache_resource
def _registry() -> dict[str, TrainingJob]:
    """Server-wide: a reload starts a new session, which finds its job again by the URL's token."""
    return {}


def adopt(job: TrainingJob) -> None:
    """Make `job` this session's run and put its token in the URL."""
    jobs = _registry()
    finished = [token for token, other in jobs.items() if not other.running]
    for token in finished[: max(0, len(jobs) - MAX_KEPT_JOBS + 1)]:
        del jobs[token]
    token = secrets.token_urlsafe(12)
    jobs[token] = job
    st.session_state[TRAIN_JOB] = job
    st.session_state[RUN_TOKEN] = token
    st.query_params[RUN_PARAM] = token


def session_job() -> TrainingJob | None:
    """This session's job, or the one the URL's token names after a reload (never another's by accident)."""
    if TRAIN_JOB not in st.session_state and RUN_PARAM in st.query_params:
        token = st.query_params[RUN_PARAM]
        job = _registry().get(token)
        if job is not None:
            st.session_state[TRAIN_JOB] = job
            st.session_state[RUN_TOKEN] = token
    return st.session_state.get(TRAIN_JOB)


def keep_token_in_url() -> None:
    """A page switch drops the query string: put the token back so a reload on this page finds the run."""
    token = st.session_state.get(RUN_TOKEN)
    if token is not None and st.query_params.get(RUN_PARAM) != token:
        st.query_params[RUN_PARAM] = token


def sidebar_status() -> None:
    """On every page while this session's job runs: its progress and a Stop button (keeping it alive)."""
    keep_token_in_url()
    job = session_job()
    if job is not None and job.running:
        with st.sidebar:
            _status()


@st.fragment(run_every=STATUS_POLL_SECONDS)
def _status() -> None:
    job = st.session_state.get(TRAIN_JOB)
    if job is None or not job.running:
        st.rerun()  # the whole page redraws without this poll
    job.keep_alive()
    progress = job.progress()
    st.progress(progress.fraction, text=f"Training · epoch {progress.epoch} · step {progress.steps_done:,} of "
                                        f"{progress.total_steps:,}")
    if st.button("Stop training (keeps the model so far)", key="app_stop_training"):
        job.stop()
        job.join(timeout=30)
        st.rerun()
