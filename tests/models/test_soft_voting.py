"""Soft voting: the simplex grid, the weighted vote, and the weight choice on hand-built cases
(the better model wins; ties go to the weights nearest to equal)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from neuron_types.models.soft_voting import choose_weights, simplex_grid, vote


def macro_f1(y, predicted):
    return f1_score(y, predicted, average="macro", zero_division=0)


def test_the_grid_holds_every_multiple_of_the_step_summing_to_one():
    grid = simplex_grid(3, 0.1)
    assert grid.shape == (66, 3)  # C(10 + 2, 2)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert {tuple(row) for row in np.round(grid * 10).astype(int)} == {
        (a, b, 10 - a - b) for a in range(11) for b in range(11 - a)}
    with pytest.raises(ValueError, match="step 0.3 must divide 1"):
        simplex_grid(3, 0.3)


def test_the_vote_is_the_weighted_mean():
    a, b = np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.5, 0.5], [0.6, 0.4]])
    np.testing.assert_allclose(vote([a, b], np.array([0.25, 0.75])), [[0.6, 0.4], [0.5, 0.5]])


def test_the_better_model_gets_the_weight_and_ties_go_to_equal_weights():
    y = np.array([0, 1, 0, 1])
    right = np.eye(2)[y] * 0.8 + 0.1           # 0.9 on the true class
    wrong = np.eye(2)[1 - y] * 0.8 + 0.1       # 0.9 on the other class
    weights, score = choose_weights([wrong, right], y, 0.25, macro_f1)
    # (0.25, 0.75) and (0, 1) are both perfect; (0.25, 0.75) is nearer to (0.5, 0.5)
    np.testing.assert_allclose(weights, [0.25, 0.75])
    assert score == 1.0
    # two equally good models: every weighting with the right answer ties; equal weights win
    weights, _ = choose_weights([right, right], y, 0.1, macro_f1)
    np.testing.assert_allclose(weights, [0.5, 0.5])
