"""Farthest-point sampling and candidate selection against brute force."""

from __future__ import annotations

import numpy as np

from anncli.validation.selection import farthest_point_sampling, select_candidates, structure_fingerprints

def test_fps_greedy_choice_by_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    chosen = farthest_point_sampling(x, 6, first=3)
    assert chosen[0] == 3 and len(set(chosen.tolist())) == 6
    for k in range(1, 6):
        d = np.min(np.linalg.norm(x[:, None] - x[chosen[:k]][None], axis=2), axis=1)
        assert chosen[k] == int(np.argmax(d))

def test_fps_spreads_over_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    x = np.vstack([c + 0.1 * rng.normal(size=(20, 2)) for c in centres])
    chosen = farthest_point_sampling(x, 4)
    assert sorted(chosen // 20) == [0, 1, 2, 3]  # one per cluster

def test_select_candidates_threshold_top_and_diverse():
    scores = np.array([0.5, 3.0, 2.0, 0.1, 2.5, 1.0])
    assert select_candidates(scores, 3).tolist() == [1, 4, 2]
    assert select_candidates(scores, 10, threshold=1.5).tolist() == [1, 4, 2]
    prints = np.array([[0.0], [5.0], [5.01], [9.0], [5.02], [0.2]])  # 1, 2, 4 are near-copies
    picked = select_candidates(scores, 3, prints, pool=2)  # pool: the 6 best
    assert picked[0] == 1 and not {2, 4} <= set(picked.tolist())

def test_structure_fingerprints_are_mean_zscores_and_composition():
    feats = {"A": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), "B": np.array([[10.0]])}
    index = {"A": np.array([0, 0, 1]), "B": np.array([1])}
    mean = {"A": np.array([1.0, 0.0]), "B": np.array([0.0])}
    std = {"A": np.array([2.0, 0.0]), "B": np.array([5.0])}  # a constant feature: not scaled
    fp = structure_fingerprints(feats, index, 2, mean, std, ["A", "B"])
    z0 = np.mean([[0.0, 2.0], [1.0, 4.0]], axis=0)
    np.testing.assert_allclose(fp[0], [*z0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(fp[1], [2.0, 6.0, 2.0, 0.5, 0.5])
    assert fp.shape == (2, 5)
