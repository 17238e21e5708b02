"""One view per model: a page run and a projection request find the model's dataset once, not at each use, and two
visitors whose data roots differ never share a dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from support.paths import ROOT

from ui import cache, model_view, projections
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes
from vae_core.models import VAE, VAEConfig
from vae_core.projection import ProjectionParams
from vae_core.roots import DataRoots

DIGITS_8D = ROOT / "checkpoints" / "digits-8d.safetensors"


@pytest.fixture
def resolutions(monkeypatch) -> list[str]:
    """The sha256 of the checkpoint at each lookup of a model's dataset, from a server with no view yet."""
    found, real = [], cache.checkpoint_dataset

    def counting(checkpoint, roots):
        found.append(checkpoint.sha256)
        return real(checkpoint, roots)

    monkeypatch.setattr(cache, "checkpoint_dataset", counting)
    model_view._view.clear()
    yield found
    model_view._view.clear()


def test_the_scatter_page_finds_its_models_dataset_once_over_its_runs(resolutions):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.sidebar.selectbox(key="app_checkpoint").select(DIGITS_8D.name).run()
    at.switch_page("pages/scatter.py").run()
    at.radio(key="scatter_method").set_value("direct").run()
    at.run()
    assert not at.exception and not at.main.error
    sha256 = cache.checkpoint(DIGITS_8D.read_bytes()).sha256
    assert resolutions.count(sha256) == 1  # Overview, then four scatter runs: encodings, terms, maps, activity


def test_a_projection_request_reads_the_views_dataset_and_finds_it_no_more(resolutions):
    view = model_view.of(cache.checkpoint(DIGITS_8D.read_bytes()), None)
    for params in (ProjectionParams("pca"), ProjectionParams("direct", (2, 5))):
        run = projections.request(view, "test", params)
        assert run.done and run.error is None and len(run.result.indices) == len(view.dataset.y_test)
        assert projections.request(view, "test", params).result is run.result  # kept with the view
    assert resolutions == [view.sha256] and model_view.of(view.checkpoint, None) is view


def folder_model(name: str) -> bytes:
    """A checkpoint whose dataset is the image folder `name` (found by name inside the data roots)."""
    info = DatasetInfo("folder", (1, 8, 8), ("a", "b"), {"path": f"/elsewhere/{name}", "size": 8, "grayscale": True})
    torch.manual_seed(0)
    return checkpoint_bytes(VAE(VAEConfig(image_shape=(1, 8, 8), hidden_dims=(8,))), info, {"train": [], "test": []}, 0)


def image_folder(root, name: str, n: int) -> DataRoots:
    rng = np.random.default_rng(n)
    for i in range(n):
        (root / name / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / name / "ab"[i % 2] / f"{i}.png")
    return DataRoots((root,))


def test_visitors_with_different_roots_get_their_own_dataset_and_a_missing_one_is_a_problem_not_kept(tmp_path,
                                                                                                    resolutions):
    checkpoint = cache.checkpoint(folder_model("pets"))
    mine, theirs, empty = (tmp_path / name for name in ("mine", "theirs", "empty"))
    empty.mkdir()
    mine_view = model_view.of(checkpoint, image_folder(mine, "pets", 6))
    theirs_view = model_view.of(checkpoint, image_folder(theirs, "pets", 10))
    assert mine_view is not theirs_view
    assert len(mine_view.dataset.split("all")) == 6 and len(theirs_view.dataset.split("all")) == 10
    assert model_view.of(checkpoint, DataRoots((mine,))) is mine_view

    missing = model_view.of(checkpoint, DataRoots((empty,)))
    assert missing.dataset is None and "pets" in str(missing.problem)
    image_folder(empty, "pets", 4)  # the visitor uploads it: the next run finds it
    assert len(model_view.of(checkpoint, DataRoots((empty,))).dataset.split("all")) == 4
