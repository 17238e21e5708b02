"""Compare page, driven through the app with AppTest: it opens on the shipped beta sweep, its rate-distortion points
are what `python -m vae_core eval` prints, an example picked anywhere is ringed in every model's map, and a beta
sweep started there trains one queued run per beta and saves each as a checkpoint to compare."""

from __future__ import annotations

import re
import shutil

import pytest
from support.apptest import app_session, chart_traces, page, plotly_array, start_sweep, sweep_owners
from support.paths import ROOT

from ui.comparison import default_choice
from ui.session_keys import OWNER
from vae_core import cli
from vae_core.checkpoint import load_checkpoint

SWEEP = sorted(path.name for path in (ROOT / "checkpoints").glob("mnist-2d*.safetensors"))
DIGITS = ["digits-2d.safetensors", "digits-8d.safetensors"]


def compare_page(models: list[str] | None = None):
    at = page("pages/compare.py", None)
    if models is not None:
        at.multiselect(key="compare_models").set_value(models).run()
    assert not at.exception and not at.error
    return at


def model_points(at) -> dict[str, tuple[float, float]]:
    """The rate-distortion plane's model points: label -> (rate, distortion)."""
    return {trace["name"]: (float(plotly_array(trace["x"])[0]), float(plotly_array(trace["y"])[0]))
            for trace in chart_traces(at, 0) if trace["mode"] == "markers+text"}


def eval_printed(path, capsys) -> tuple[float, float]:
    """(KL, -recon) as `python -m vae_core eval` prints them for this checkpoint."""
    capsys.readouterr()
    assert cli.main(["eval", str(path)]) == 0
    out = capsys.readouterr().out
    recon = float(re.search(r"reconstruction E_q\[log p\(x\|z\)\]\s+(\S+)", out).group(1))
    kl = float(re.search(r"KL\(q\(z\|x\) \|\| p\(z\)\)\s+(\S+)", out).group(1))
    return kl, -recon


def test_the_shipped_beta_sweep_is_at_least_three_betas_and_the_default_choice():
    betas = [name for name in SWEEP if name == "mnist-2d.safetensors" or "-beta" in name]
    assert len(betas) >= 3
    assert default_choice(SWEEP + DIGITS) == betas[:4]


@pytest.mark.slow
def test_the_page_opens_on_the_beta_sweep_with_the_points_that_eval_prints(capsys):
    at = compare_page()
    points = model_points(at)
    assert len(points) == len(default_choice(SWEEP))
    for name in default_choice(SWEEP):
        label = next(label for label in points if label.startswith(name.removesuffix(".safetensors") + " "))
        assert points[label] == pytest.approx(eval_printed(ROOT / "checkpoints" / name, capsys), abs=5e-4)
    rates = [rate for rate, _ in points.values()]
    assert rates == sorted(rates, reverse=True)  # by beta: a larger beta buys a smaller rate


def test_an_example_chosen_in_what_moved_is_ringed_in_every_map():
    at = compare_page(DIGITS)
    show = [button for button in at.button if button.key.startswith("compare_show_")]
    assert len(show) == 8
    index = int(show[3].key.removeprefix("compare_show_"))
    show[3].click().run()
    assert at.number_input(key="compare_example").value == index
    rings = [trace for trace in chart_traces(at, 2) if trace["name"] == f"test {index}"]
    assert len(rings) == 2 and all(plotly_array(ring["customdata"]).tolist() == [index] for ring in rings)


def test_models_of_two_datasets_are_refused_with_a_message():
    at = page("pages/compare.py", None)
    at.multiselect(key="compare_models").set_value(["digits-2d.safetensors", "mnist-conv.safetensors"]).run()
    assert not at.exception
    assert "one dataset" in at.error[0].value


@pytest.fixture
def digits_checkpoints(checkpoint_dir):
    """The test's own checkpoint folder (its user/ is where a sweep saves) with the two digits models."""
    for name in DIGITS:
        shutil.copy(ROOT / "checkpoints" / name, checkpoint_dir / name)
    return checkpoint_dir


@pytest.mark.slow
def test_a_beta_sweep_queues_one_run_per_beta_under_its_own_owner_key_and_saves_each_as_a_checkpoint(
        digits_checkpoints):
    at = compare_page(DIGITS)
    start_sweep(at, "2, 0.5")
    assert not at.error
    token = at.session_state[OWNER]
    owners = sweep_owners()
    assert set(owners) == {f"{token}/sweep/beta=0.5", f"{token}/sweep/beta=2"}
    for job in owners.values():
        assert job.join(timeout=120)
    at.run()
    user = digits_checkpoints / "user"
    saved = {load_checkpoint(path).config.beta: path.name for path in user.glob("*.safetensors")}
    assert saved == {0.5: "digits-sweep-beta0.5.safetensors", 2.0: "digits-sweep-beta2.safetensors"}
    assert [caption.value for caption in at.caption if caption.value.startswith("beta ")] == [
        "beta 0.5: completed, saved as user/digits-sweep-beta0.5.safetensors",
        "beta 2: completed, saved as user/digits-sweep-beta2.safetensors"]
    at.button(key="compare_sweep_compare").click().run()
    assert not at.exception and not at.error
    assert at.multiselect(key="compare_models").value == ["user/digits-sweep-beta0.5.safetensors",
                                                          "user/digits-sweep-beta2.safetensors"]
    assert sorted(model_points(at)) == ["digits-sweep-beta0.5 (beta 0.5)", "digits-sweep-beta2 (beta 2)"]


@pytest.mark.parametrize("betas, expected", [("0.5, abc", "numbers separated by commas"),
                                             ("1, 2, 3, 4, 5", "1 to 4 betas"), ("1, 200", "in 0..100"),
                                             ("", "1 to 4 betas"), ("2, 2.0", "each beta once")])
def test_a_bad_beta_list_is_refused_with_a_message_and_queues_nothing(digits_checkpoints, betas, expected):
    at = start_sweep(compare_page(DIGITS), betas)
    assert len(at.error) == 1 and expected in at.error[0].value and at.error[0].value.startswith("Sweep not started")
    assert not sweep_owners()


def test_a_reload_finds_the_sweep_again_by_its_token_and_stop_ends_every_run(digits_checkpoints):
    at = start_sweep(compare_page(DIGITS), "0.5, 2, 8", epochs=1000)
    token = at.session_state[OWNER]
    runs = list(sweep_owners().values())
    assert len(runs) == 3
    reloaded = app_session(timeout=120)  # a reload is a new session with the same URL
    reloaded.query_params["ws"] = token
    reloaded.switch_page("pages/compare.py").run()
    assert not reloaded.exception
    states = [bar.proto.text for bar in reloaded.get("progress") if bar.proto.text.startswith("beta ")]
    assert [text.split(":")[0] for text in states] == ["beta 0.5", "beta 2", "beta 8"]
    assert any("queued: position" in text for text in states)
    stranger = page("pages/compare.py", None)
    assert not [bar for bar in stranger.get("progress") if bar.proto.text.startswith("beta ")]
    reloaded.switch_page("pages/home.py").run()  # any page keeps the runs alive (polled in the sidebar)
    assert "Beta sweep: 3 of 3 runs to go" in " ".join(caption.value for caption in reloaded.sidebar.caption)
    reloaded.switch_page("pages/compare.py").run()

    reloaded.button(key="compare_sweep_stop").click().run()
    assert not any(run.running for run in runs)
    assert not reloaded.exception and not reloaded.get("progress")
    assert [caption.value.split(":")[0] for caption in reloaded.caption if caption.value.startswith("beta ")] == [
        "beta 0.5", "beta 2", "beta 8"]
