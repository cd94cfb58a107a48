"""Kedro project settings."""

from pathlib import Path

from kedro.utils import find_kedro_project
from omegaconf.resolvers import oc


def project_path() -> str:
    """The project holding the working directory, as Kedro finds it: conf/base/mlflow.yml
    makes its sqlite URI absolute with it (MLflow resolves a relative one against the
    working directory and caches the store by URI, so two projects in one process would
    share the first one's database)."""
    return Path(find_kedro_project(Path.cwd()) or Path.cwd()).resolve().as_posix()


# `oc.env` is allowed in catalog and parameters so that the ACTD dump location can come
# from NEURON_TYPES_ACTD_DIR (see conf/base/catalog.yml) without editing YAML.
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"oc.env": oc.env, "project_path": project_path},
    # `--params dann.training.patience=5` then changes that one key instead of replacing
    # the whole `dann` section whenever conf/local holds parameters too.
    "merge_strategy": {"parameters": "soft"},
}

import warnings  # noqa: E402

# Kedro 1.7 calls OmegaConf's deprecated register_new_resolver itself; nothing for a user to act on.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)

from neuron_types.hooks import ProjectHooks  # noqa: E402
from neuron_types.mlflow_hooks import EndMlflowRun, TypedParamsMlflowHook  # noqa: E402

# kedro-mlflow's hook, with typed parameters logged as values (see neuron_types.mlflow_hooks)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)  # its distribution name
HOOKS = (ProjectHooks(), TypedParamsMlflowHook(), EndMlflowRun())
