"""The theory page and vae_core.divergence: the notes' numbers, their limits, and the ELBO gap of a real model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from support.apptest import app_session
from support.paths import ROOT

from vae_core import divergence
from vae_core.checkpoint import load_checkpoint

DIGITS_2D = ROOT / "checkpoints" / "digits-2d.safetensors"

D1, D2 = (0.8, 0.1, 0.1), (0.3, 0.3, 0.4)
KL_D1_D2 = 0.8 * math.log(0.8 / 0.3) + 0.1 * math.log(0.1 / 0.3) + 0.1 * math.log(0.1 / 0.4)
KL_D2_D1 = 0.3 * math.log(0.3 / 0.8) + 0.3 * math.log(0.3 / 0.1) + 0.4 * math.log(0.4 / 0.1)


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(DIGITS_2D)


def open_theory_page() -> AppTest:
    at = app_session()
    at.switch_page("pages/theory.py")
    return at.run()


def metric_value(at: AppTest, label: str) -> float:
    return float(next(m.value for m in at.metric if m.label == label))


# --- discrete KL -------------------------------------------------------------------------------------

def test_default_kl_equals_the_closed_forms_in_nats_and_bits():
    forward, backward = divergence.kl_divergence(D1, D2), divergence.kl_divergence(D2, D1)
    assert forward.nats == pytest.approx(KL_D1_D2, abs=1e-12)
    assert backward.nats == pytest.approx(KL_D2_D1, abs=1e-12)
    assert forward.bits == pytest.approx(KL_D1_D2 / math.log(2))
    assert forward.reason is None and backward.reason is None
    assert abs(forward.nats - backward.nats) > 0.05  # the asymmetry the notes point out


def test_inputs_are_normalised():
    assert divergence.kl_divergence((8, 1, 1), (3, 3, 4)).nats == pytest.approx(KL_D1_D2)
    np.testing.assert_allclose(divergence.normalise([2, 0, 2]), [0.5, 0.0, 0.5])
    with pytest.raises(ValueError):
        divergence.normalise([0, 0, 0])


def test_zero_in_d2_where_d1_is_positive_gives_inf_with_the_reason():
    kl = divergence.kl_divergence(D1, (0.0, 0.5, 0.5), names=("D1", "D2"))
    assert kl.nats == math.inf and kl.bits == math.inf
    assert "'a'" in kl.reason and "D2 gives probability 0" in kl.reason
    assert divergence.kl_divergence((0.0, 0.5, 0.5), D1).reason is None  # a zero in p only drops a term


# --- KL as a likelihood ratio --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_running_ratio_after_100000_draws_is_within_001_of_kl(seed):
    from_d1 = divergence.running_log_likelihood_ratio(divergence.sample_sequence(D1, 100_000, seed), D1, D2)
    from_d2 = divergence.running_log_likelihood_ratio(divergence.sample_sequence(D2, 100_000, seed), D1, D2)
    assert abs(from_d1[-1] - KL_D1_D2) < 0.01
    assert abs(from_d2[-1] + KL_D2_D1) < 0.01
    assert abs(from_d1[99] - KL_D1_D2) > abs(from_d1[-1] - KL_D1_D2)  # it is the long run that converges


def test_running_ratio_is_the_mean_log_ratio_of_each_prefix():
    sequence = np.array([0, 1, 2, 0])
    expected = np.cumsum(np.log([0.8 / 0.3, 0.1 / 0.3, 0.1 / 0.4, 0.8 / 0.3])) / np.arange(1, 5)
    np.testing.assert_allclose(divergence.running_log_likelihood_ratio(sequence, D1, D2), expected)


def test_sequences_are_seeded_and_follow_the_distribution():
    a, b = divergence.sample_sequence(D1, 20_000, 7), divergence.sample_sequence(D1, 20_000, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, divergence.sample_sequence(D1, 20_000, 8))
    np.testing.assert_allclose(np.bincount(a, minlength=3) / len(a), D1, atol=0.01)
    assert divergence.as_text(np.array([0, 1, 2, 1, 0]), limit=3) == "abc..."


# --- Gaussian KL ------------------------------------------------------------------------------------

def test_monte_carlo_gaussian_kl_is_within_3_standard_errors_of_the_closed_form(shipped, digits):
    with torch.no_grad():
        posterior = shipped.model.encode(digits.x_test[:5])
    for i in range(5):
        check = divergence.monte_carlo_gaussian_kl(posterior.mu[i].numpy(), posterior.logvar[i].numpy(), 20_000, i)
        assert abs(check.total.mean[-1] - check.closed_form.sum()) < 3 * check.total.stderr[-1]
        assert np.all(np.abs(check.per_dim.mean[-1] - check.closed_form) < 3 * check.per_dim.stderr[-1])


def test_monte_carlo_standard_error_shrinks_like_one_over_root_n():
    check = divergence.monte_carlo_gaussian_kl(np.array([1.0, -0.5]), np.array([-1.0, 0.5]), 10_000, 0, points=5)
    np.testing.assert_array_equal(check.total.counts, [1, 10, 100, 1000, 10_000])
    ratio = check.total.stderr[2] / check.total.stderr[-1]
    assert 5 < ratio < 20  # sqrt(10000 / 100) = 10
    np.testing.assert_allclose(check.closed_form, 0.5 * (np.array([1.0, 0.25]) + np.exp([-1.0, 0.5]) - 1
                                                          - np.array([-1.0, 0.5])))


# --- ELBO gap ---------------------------------------------------------------------------------------

def test_iwae_bound_rises_with_k_on_average_and_stays_above_the_elbo(shipped, digits):
    gap = divergence.elbo_gap(shipped.model, digits.x_test, k_max=64, seed=0)
    ks = [1, 2, 4, 8, 16, 32, 64]
    for k, k2 in itertools.pairwise(ks):
        increment = gap.bounds[:, k2 - 1] - gap.bounds[:, k - 1]  # paired: the same samples, nested
        assert increment.mean() > -3 * increment.std() / math.sqrt(len(increment)), (k, k2)
    mean_curve = gap.bounds.mean(axis=0)
    assert mean_curve[-1] - mean_curve[0] > 0.2
    assert np.diff(mean_curve).min() > -0.02  # nested subsets: only sampling noise can dip it
    assert mean_curve[-1] > gap.elbo.mean() + 0.2
    assert gap.bounds[:, 0].mean() == pytest.approx(gap.elbo.mean(), abs=0.3)  # K = 1 is the ELBO on average
    np.testing.assert_allclose(gap.gap, gap.log_px - gap.recon + gap.kl)


def test_elbo_gap_is_reproducible_and_leaves_the_global_random_state_alone(shipped, digits):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = divergence.elbo_gap(shipped.model, digits.x_test[:20], k_max=8, seed=3)
    assert torch.rand(1) == expected_next
    second = divergence.elbo_gap(shipped.model, digits.x_test[:20], k_max=8, seed=3)
    np.testing.assert_array_equal(first.bounds, second.bounds)
    with pytest.raises(ValueError):
        divergence.elbo_gap(shipped.model, digits.x_test[:2], k_max=0)


# --- the page ---------------------------------------------------------------------------------------

def test_page_renders_on_the_default_model_with_its_closed_form_numbers():
    at = open_theory_page()
    assert not at.exception
    assert [h.value[:2] for h in at.main.header] == ["1.", "2.", "3.", "4."]
    assert metric_value(at, "KL(D1||D2) in nats") == pytest.approx(KL_D1_D2, abs=1e-4)
    assert metric_value(at, "KL(D2||D1) in nats") == pytest.approx(KL_D2_D1, abs=1e-4)
    assert metric_value(at, "KL(D1||D2) in bits") == pytest.approx(KL_D1_D2 / math.log(2), abs=1e-4)
    assert metric_value(at, "KL(D2||D1) in bits") == pytest.approx(KL_D2_D1 / math.log(2), abs=1e-4)
    assert len(at.get("plotly_chart")) == 5
    thumbnails = at.get("image")[-1].proto.imgs
    gaps = [float(img.caption.split(": ")[1].split()[0]) for img in thumbnails]
    assert len(gaps) == 8 and gaps == sorted(gaps, reverse=True)


def test_page_shows_inf_with_the_reason_and_survives_an_all_zero_distribution():
    at = open_theory_page()
    at.number_input(key="theory_D2_a").set_value(0.0).run()
    assert metric_value(at, "KL(D1||D2) in nats") == math.inf
    assert any("D2 gives probability 0 to 'a'" in w.value for w in at.warning)
    for symbol in "abc":
        at.number_input(key=f"theory_D1_{symbol}").set_value(0.0)
    at.run()
    assert not at.exception
    assert "at least one above zero" in at.error[0].value
    assert len(at.get("plotly_chart")) == 3  # the model's sections still render
