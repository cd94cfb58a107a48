"""A saved Keras model loaded together with the version it was loaded from, so that a
table of predictions can name the models that made it. Read-only: the pipelines that
train the models save them through their own catalog entries (same files)."""

from __future__ import annotations

from typing import Any

from kedro_datasets.tensorflow import TensorFlowModelDataset

from neuron_types.errors import InputError


class VersionedKerasModelDataset(TensorFlowModelDataset):
    """Loads ``{"model": keras.Model, "version": "<version or 'unversioned'>", "path": str}``;
    the latest version by default, the one named by ``--load-versions`` otherwise."""

    def load(self) -> dict[str, Any]:
        import neuron_types.models  # noqa: F401  (registers the custom Keras layers)

        try:
            version = self.resolve_load_version() if self._version else None
        except Exception as error:  # Kedro's VersionNotFoundError: no trained model yet
            raise InputError(
                f"{self._filepath}: no saved model ({error}); train it first (docs/classify_your_own_cells.md)"
            ) from None
        path = str(self._get_load_path())
        return {"model": super().load(), "version": version or "unversioned", "path": path}

    def save(self, data: Any) -> None:
        raise InputError(f"{self._filepath}: read-only here; the model's own pipeline saves it")
