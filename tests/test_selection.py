"""A selection of examples written as CSV or Parquet (the scatter page's downloads) and read back with
`vae_core.selection.load_selection`: the same ids, labels and posteriors, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from support.apptest import page
from support.paths import ROOT

from ui.session_keys import SCATTER_SELECTION
from vae_core.checkpoint import load_checkpoint
from vae_core.errors import VAEError
from vae_core.metrics import encode_posterior, per_example_terms
from vae_core.selection import Selection, load_selection, selection_csv, selection_parquet

WRITERS = {".csv": selection_csv, ".parquet": selection_parquet}


@pytest.fixture(scope="module")
def selection(digits) -> Selection:
    model = load_checkpoint(ROOT / "checkpoints" / "digits-8d.safetensors").model
    test = digits.split("test")
    posterior = encode_posterior(model, test.x)
    return Selection.of("test", [17, 3, 250], test.ids, test.y.numpy(), digits.class_names, posterior.mu.numpy(),
                        posterior.logvar.numpy(), per_example_terms(model, test.x))


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_a_selection_file_round_trips_ids_labels_and_posteriors_exactly(selection, tmp_path, suffix):
    path = tmp_path / f"selection{suffix}"
    path.write_bytes(WRITERS[suffix](selection))

    loaded = load_selection(path)

    assert loaded.ids == selection.ids and loaded.split == "test"
    np.testing.assert_array_equal(loaded.indices, [17, 3, 250])
    np.testing.assert_array_equal(loaded.labels, selection.labels)
    assert loaded.class_names == selection.class_names
    np.testing.assert_array_equal(loaded.mu, selection.mu)
    np.testing.assert_array_equal(loaded.sigma, selection.sigma)
    for name in ("recon", "kl", "elbo"):
        np.testing.assert_array_equal(loaded.terms[name], selection.terms[name])


def test_the_selection_holds_each_rows_posterior_and_terms(selection, digits):
    test = digits.split("test")
    assert selection.ids == (test.ids[17], test.ids[3], test.ids[250])
    assert selection.mu.shape == selection.sigma.shape == (3, 8) and (selection.sigma > 0).all()
    np.testing.assert_allclose(selection.terms["elbo"], selection.terms["recon"] - selection.terms["kl"], rtol=1e-6)


def test_a_file_that_is_not_a_selection_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(VAEError, match="not a selection file"):
        load_selection(path)
    with pytest.raises(VAEError, match="ends in"):
        load_selection(tmp_path / "selection.json")


def test_the_scatter_page_selects_search_matches_and_offers_the_selection_as_csv_and_parquet():
    at = page("pages/scatter.py")
    at.text_input(key="scatter_search").input("17, 5").run()
    at.button(key="scatter_select_matches").click().run()
    assert at.session_state[SCATTER_SELECTION] == ("test", [5, 17])
    keys = {button.key for button in at.main.get("download_button")}
    assert {"scatter_selection_csv", "scatter_selection_parquet"} <= keys
    assert not at.exception
