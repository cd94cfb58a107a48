"""A Kedro dataset for Keras 3 models in the native ``.keras`` format (no pickle).

Loading uses ``safe_mode=True``: a ``.keras`` file that carries Python lambdas is refused.
The project's custom layers are registered by importing their modules, which this dataset
does before loading (``custom_modules``), so a saved network loads in a fresh process.

Example catalog entry::

    dann_model:
      type: neuron_types.io.keras_model.KerasModelDataset
      filepath: data/06_models/dann_model.keras
      versioned: true
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)


def _project_model_modules() -> list[str]:
    import neuron_types.models as models

    return [f"neuron_types.models.{info.name}" for info in pkgutil.iter_modules(models.__path__)]


class KerasModelDataset(AbstractVersionedDataset[Any, Any]):
    """Saves and loads a ``keras.Model`` as one ``.keras`` file, local or any fsspec path.

    Args:
        filepath: where the ``.keras`` file goes (must end in ``.keras``).
        version: Kedro versioning (``versioned: true`` in the catalog).
        custom_modules: modules to import before loading, so that their
            ``register_keras_serializable`` classes are known; by default every module of
            ``neuron_types.models``.
        load_args: passed to ``keras.saving.load_model`` (``compile``; ``safe_mode`` is
            always True).
        credentials, fs_args: passed to fsspec.
    """

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        custom_modules: list[str] | None = None,
        load_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if not str(filepath).endswith(".keras"):
            raise DatasetError(f"KerasModelDataset: filepath must end in '.keras', got {filepath!r}")
        self._load_args = dict(load_args or {})
        if self._load_args.pop("safe_mode", True) is not True:
            raise DatasetError("KerasModelDataset: safe_mode cannot be turned off (it refuses arbitrary code)")
        self._custom_modules = custom_modules
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **(fs_args or {}))
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "version": self._version,
            "load_args": self._load_args,
        }

    def load(self) -> Any:
        import keras

        for module in self._custom_modules or _project_model_modules():
            importlib.import_module(module)
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.keras"
            self._fs.get(load_path, str(local))
            return keras.saving.load_model(local, safe_mode=True, **self._load_args)

    def save(self, data: Any) -> None:
        import keras

        if not isinstance(data, keras.Model):
            raise DatasetError(f"KerasModelDataset: expected a keras.Model to save, got {type(data).__name__}")
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.keras"
            data.save(local)
            parent = str(PurePosixPath(save_path).parent)
            self._fs.makedirs(parent, exist_ok=True)
            self._fs.put(str(local), save_path)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _invalidate_cache(self) -> None:
        filepath = get_filepath_str(self._filepath, self._protocol)
        self._fs.invalidate_cache(filepath)
