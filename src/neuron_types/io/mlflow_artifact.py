"""kedro-mlflow's ``MlflowArtifactDataset`` for a versioned dataset, saved under the run's
version like every other versioned dataset.

Why not ``MlflowArtifactDataset`` itself: kedro-mlflow 2.0.3 builds the wrapped dataset
with ``parse_dataset_definition(config=dataset)``, which gives a ``versioned: true``
dataset a save version of its own (a fresh timestamp), not the catalog's. Kedro 1.7's
catalog requires one save version for all datasets and stops the run when it materialises
the entry (``VersionAlreadyExistsError: Cannot add a dataset `ei_model_comparison_plot`
with `...` save version. Save version set for the catalog is `...```). Even where that
check is absent, the figure would land in a folder other than ``<run id>/`` and escape the
failed-run clean-up of :mod:`neuron_types.hooks`.

Here ``versioned: true`` goes on the outer entry, Kedro hands the catalog's
``Version(load, save)`` over as for any versioned dataset, and it becomes the wrapped
dataset's version:

.. code-block:: yaml

    "{task}_model_comparison_plot":
      type: neuron_types.io.mlflow_artifact.VersionedMlflowArtifactDataset
      versioned: true
      artifact_path: figures
      dataset:
        type: matplotlib.MatplotlibDataset
        filepath: data/08_reporting/{task}_model_comparison.png
"""

from __future__ import annotations

from typing import Any

from kedro.io import Version
from kedro_mlflow.io.artifacts import MlflowArtifactDataset


class VersionedMlflowArtifactDataset(MlflowArtifactDataset):
    """``MlflowArtifactDataset`` whose wrapped dataset is versioned with the catalog's version."""

    def __new__(cls, dataset: str | dict, version: Version | None = None, **kwargs: Any):
        if version is None:
            raise ValueError(
                f"{cls.__name__}: expected `versioned: true` on the catalog entry (the "
                f"wrapped dataset then saves under the run's version); got no version"
            )
        if not isinstance(dataset, dict):
            dataset = {"type": dataset}
        if "versioned" in dataset:
            raise ValueError(
                f"{cls.__name__}: put `versioned: true` on the entry, not on the wrapped "
                f"dataset {dataset.get('type')!r}; its version is the catalog's"
            )
        wrapped = super().__new__(cls, dataset={**dataset, "versioned": True}, **kwargs)
        # the version parse_dataset_definition gave it, replaced by the run's
        wrapped._version = version
        return wrapped
