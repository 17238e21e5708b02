"""What moved between two models: examples ranked by how much their k-nearest-neighbour sets differ."""

from __future__ import annotations

import numpy as np
import pytest

from vae_core.latent import most_moved, neighbourhood_change


def two_clusters() -> np.ndarray:
    """20 codes in two tight clusters of 10, far apart: each code's 9 neighbours are its own cluster's."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [100.0, 0.0]])
    return np.concatenate([centre + rng.normal(0, 0.1, (10, 2)) for centre in centres])


def test_the_same_neighbourhoods_up_to_scale_and_rotation_have_not_moved():
    codes = two_clusters()
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert np.all(neighbourhood_change(codes, codes, k=9) == 0)
    assert np.all(neighbourhood_change(codes, 3 * codes @ rotation.T, k=9) == 0)


def test_an_example_that_changed_clusters_moved_completely_and_its_old_neighbours_a_little():
    before = two_clusters()
    after = before.copy()
    after[0] += [100.0, 0.0]  # example 0 joins the other cluster
    change = neighbourhood_change(before, after, k=9)
    assert change[0] == 1.0  # its 9 neighbours were cluster one's, now they are all cluster two's
    # cluster one's others lose it (8 of their 9 stay): 1 - 8/10; cluster two's gain it: also 1 - 8/10
    np.testing.assert_allclose(change[1:], 1 - 8 / 10)
    indices, top = most_moved(before, after, k=9, top=3)
    assert indices[0] == 0 and top.tolist() == pytest.approx([1.0, 0.2, 0.2])


def test_among_examples_that_share_no_neighbour_the_one_that_left_its_region_ranks_first():
    rng = np.random.default_rng(0)
    centres = [0.0, 10.0, 20.0, 30.0, 1000.0]  # five clusters of 4: each code's 3 neighbours are its cluster's
    before = np.concatenate([[c, 0.0] + rng.normal(0, 0.1, (4, 2)) for c in centres])
    after = before.copy()
    after[0] += [10.0, 0.0]  # to the next cluster: its old neighbours 10 away
    after[1] += [1000.0, 0.0]  # to the far cluster: its old neighbours 1000 away
    change = neighbourhood_change(before, after, k=3)
    assert change[0] == change[1] == 1.0
    indices, top = most_moved(before, after, k=3, top=2)
    assert indices.tolist() == [1, 0] and top.tolist() == [1.0, 1.0]


def test_codes_of_different_latent_sizes_compare_by_their_neighbour_sets():
    codes = two_clusters()
    padded = np.concatenate([codes, np.zeros((len(codes), 3))], axis=1)  # 5-D, the same distances
    assert np.all(neighbourhood_change(codes, padded, k=5) == 0)


def test_codes_of_different_examples_are_refused():
    with pytest.raises(ValueError, match="same examples"):
        neighbourhood_change(np.zeros((5, 2)), np.zeros((6, 2)))
