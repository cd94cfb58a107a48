"""The Mahalanobis out-of-distribution detector."""

import numpy as np
import pytest

from neuron_types.models.ood import MahalanobisDetector, fit_mahalanobis


def test_distance_by_hand():
    detector = MahalanobisDetector(np.zeros(2), np.diag([1.0, 4.0]), threshold=3.0)
    assert detector.score(np.array([[3.0, 1.0], [1.0, 0.5]])) == pytest.approx([np.sqrt(13), np.sqrt(2)])
    assert detector.flag(np.array([[3.0, 1.0], [1.0, 0.5]])).tolist() == [True, False]
    again = MahalanobisDetector.from_dict(detector.to_dict())
    assert again.score(np.array([[3.0, 1.0]])) == pytest.approx([np.sqrt(13)])


def test_threshold_flags_about_the_quantile_of_new_cells_and_every_shifted_one():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(8, 8))
    train, held_out, new = (rng.normal(size=(n, 8)) @ mixing for n in (1500, 500, 2000))
    detector = fit_mahalanobis(train, held_out, 0.95)
    assert detector.flag(new).mean() == pytest.approx(0.05, abs=0.03)
    assert detector.flag(new + 3 * new.std(axis=0)).mean() > 0.95
    # each feature shuffled on its own: the marginals stay, the correlations go
    shuffled = np.column_stack([rng.permutation(column) for column in new.T])
    assert detector.flag(shuffled).mean() > 0.5
