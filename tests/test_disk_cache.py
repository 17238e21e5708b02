"""Encodings and per-example terms kept on disk: a restarted server reads them back instead of encoding and
scoring every example again (the 70,000-point inspector took 17 s to score after each restart)."""

from __future__ import annotations

import numpy as np
import pytest
from support.paths import ROOT

from ui import cache, model_view
from ui.model_view import ModelView
from vae_core.checkpoint import load_checkpoint_bytes
from vae_core.metrics import encode_posterior, per_example_terms
from vae_core.store import ArrayStore

CHECKPOINT = ROOT / "checkpoints" / "digits-2d.safetensors"


@pytest.fixture
def store_root(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    return tmp_path


def restarted(checkpoint) -> ModelView:
    """The model's view as a new server process starts with it: nothing derived in memory (the disk stays)."""
    return ModelView(checkpoint, None, cache.checkpoint_dataset(checkpoint, None))


def test_the_store_gives_back_what_was_put_and_refuses_paths_outside_it(tmp_path):
    store = ArrayStore(tmp_path)
    arrays = {"mu": np.arange(6, dtype=np.float32).reshape(3, 2), "name": np.array("umap")}
    path = store.put("ab12", "test", "encodings", arrays)
    assert path == tmp_path / "ab12" / "test" / "encodings.npz"
    back = store.get("ab12", "test", "encodings")
    np.testing.assert_array_equal(back["mu"], arrays["mu"])
    assert str(back["name"]) == "umap" and store.get("ab12", "train", "encodings") is None
    path.write_bytes(b"not a zip")
    assert store.get("ab12", "test", "encodings") is None  # unreadable counts as missing
    for bad in [("../x", "test", "e"), ("ab12", "te/st", "e"), ("ab12", "test", "../e")]:
        with pytest.raises(ValueError):
            store.path(*bad)
    assert not list(tmp_path.glob("**/.tmp-*"))


def test_encodings_and_terms_are_read_back_from_disk_after_a_restart(store_root, monkeypatch):
    checkpoint = cache.checkpoint(CHECKPOINT.read_bytes())
    view = restarted(checkpoint)
    x = view.dataset.split("all").x
    mu, logvar = view.encodings("all")
    terms = view.terms("all")
    posterior = encode_posterior(checkpoint.model, x)
    np.testing.assert_allclose(mu, posterior.mu.numpy(), atol=1e-6)
    np.testing.assert_allclose(logvar, posterior.logvar.numpy(), atol=1e-6)
    np.testing.assert_allclose(terms["elbo"], per_example_terms(checkpoint.model, x)["elbo"], atol=1e-4)
    np.testing.assert_allclose(terms["elbo"], terms["recon"] - terms["kl"], atol=1e-4)
    folder = store_root / "examples" / checkpoint.sha256 / "all"
    assert sorted(p.name for p in folder.iterdir()) == ["encodings.npz", "terms.npz"]

    view = restarted(checkpoint)
    def refuse(*args, **kwargs):
        raise AssertionError("computed again although the disk cache has it")
    monkeypatch.setattr(model_view, "encode_posterior", refuse)
    monkeypatch.setattr(model_view, "per_example_terms", refuse)
    np.testing.assert_array_equal(view.encodings("all")[0], mu)
    np.testing.assert_array_equal(view.terms("all")["kl"], terms["kl"])


def test_a_stored_file_for_another_number_of_examples_is_computed_again(store_root):
    """A folder dataset can gain or lose files under the same checkpoint: its old arrays do not fit any more."""
    checkpoint = load_checkpoint_bytes(CHECKPOINT.read_bytes())
    stale = np.zeros((5, checkpoint.config.latent_dim), np.float32)
    cache.disk_store("examples").put(checkpoint.sha256, "test", "encodings", {"mu": stale, "logvar": stale})
    view = restarted(checkpoint)
    mu, _ = view.encodings("test")
    assert len(mu) == len(view.dataset.y_test) and np.abs(mu).max() > 0.1
    assert len(cache.disk_store("examples").get(checkpoint.sha256, "test", "encodings")["mu"]) == len(mu)
