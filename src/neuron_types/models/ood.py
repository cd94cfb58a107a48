"""Out-of-distribution score of a cell: its Mahalanobis distance to the model's training
cells in the model's scaled feature space, with scikit-learn's Ledoit-Wolf covariance (41
features and a few hundred cells: the sample covariance would be ill-conditioned).
Kedro-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.covariance import LedoitWolf


@dataclass(frozen=True)
class MahalanobisDetector:
    """``location`` and ``precision`` of the training cells (scaled features), and the
    ``threshold`` above which a distance flags a cell."""

    location: np.ndarray
    precision: np.ndarray
    threshold: float

    def score(self, x_scaled: np.ndarray) -> np.ndarray:
        centred = np.asarray(x_scaled, dtype="float64") - self.location
        return np.sqrt(np.einsum("ij,jk,ik->i", centred, self.precision, centred))

    def flag(self, x_scaled: np.ndarray) -> np.ndarray:
        return self.score(x_scaled) > self.threshold

    def to_dict(self) -> dict:
        return {"location": self.location.tolist(), "precision": self.precision.tolist(),
                "threshold": float(self.threshold)}

    @classmethod
    def from_dict(cls, data: dict) -> MahalanobisDetector:
        return cls(np.asarray(data["location"], dtype="float64"), np.asarray(data["precision"], dtype="float64"),
                   float(data["threshold"]))


def fit_mahalanobis(x_train: np.ndarray, x_held_out: np.ndarray, quantile: float) -> MahalanobisDetector:
    """Mean and Ledoit-Wolf covariance of ``x_train``; threshold: the ``quantile`` of the
    distances of ``x_held_out``, cells the covariance was not fitted on (a training cell's
    own distance is shrunk by having shaped the covariance)."""
    covariance = LedoitWolf().fit(np.asarray(x_train, dtype="float64"))
    detector = MahalanobisDetector(covariance.location_, covariance.precision_, float("inf"))
    threshold = float(np.quantile(detector.score(x_held_out), quantile))
    return MahalanobisDetector(detector.location, detector.precision, threshold)
