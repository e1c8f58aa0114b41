"""Texture / shape S.D. (paper Table 9): population std (ddof = 0) per sequence, mean over dims, then sequences."""
import numpy as np
import pytest

from s2hand.evaluation.appearance import consistency_sd, shape_sd, texture_sd


def test_population_std_hand_worked():
    values = np.array([[0.0, 0.0], [2.0, 4.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]])
    ids = ["a", "a", "b", "b", "b"]
    result = consistency_sd(values, ids)
    # sequence a: per-dimension std (ddof=0) = (1, 2) -> 1.5 (ddof=1 would give 2.12); b is constant -> 0
    assert result["per_sequence"] == {"ids": ["a", "b"], "sd": pytest.approx([1.5, 0.0])}
    assert result["sd"] == pytest.approx(0.75)  # each sequence counts once, whatever its length


def test_matches_numpy_on_random_sequences():
    rng = np.random.default_rng(0)
    lengths = [1, 4, 9, 2]
    ids = np.repeat(np.arange(4), lengths)
    betas = rng.normal(size=(len(ids), 10))
    textures = rng.uniform(size=(len(ids), 1538, 3))
    for values, metric in ((betas, shape_sd), (textures, texture_sd)):
        flat = values.reshape(len(ids), -1)
        expected = np.mean([flat[ids == s].std(axis=0, ddof=0).mean() for s in range(4)])
        assert metric(values, ids) == pytest.approx(expected, abs=1e-12)
