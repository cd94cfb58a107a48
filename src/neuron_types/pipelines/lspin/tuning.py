"""The Optuna-tuned LSPIN and MLP (models ``lspin_tuned`` and ``mlp_tuned``): per split, TPE
chooses the networks' hyperparameters on the split's non-test cells
(:mod:`neuron_types.models.lspin_tuning`); the test cells are scored by
:func:`~neuron_types.pipelines.lspin.nodes.network_test_outputs`, as for the untuned twins."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from neuron_types.config import LspinParams
from neuron_types.pipelines.lspin.nodes import HISTORY_COLUMNS, NETWORKS, _arrays, training_rows

logger = logging.getLogger(__name__)



def tune_network(
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
    kind: str,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """``kind`` ("lspin" or "mlp") tuned per split with ``lspin.tuning`` and scored by
    ``lspin.baselines.scoring``, the baselines' own rule. Returns ``{"split<k>": ensemble}``,
    the chosen members' training histories (model ``<kind>_tuned``), every trial (one row
    per split and trial: its hyperparameters, mean held-out score and whether it was
    chosen) and the Optuna studies, keyed ``split<k>``."""
    from neuron_types.models.lspin_tuning import tune_cross_fitted_ensembles
    from neuron_types.models.reproducibility import seed_everything

    if kind not in NETWORKS:
        raise ValueError(f"network kind: expected one of {NETWORKS}, got {kind!r}")
    cells = model_input.sort_values("specimen_id", ignore_index=True)
    x, y = _arrays(cells, feature_names, class_names)
    rows = training_rows(cells, splits)
    seed_everything(lspin.seed)
    started = time.perf_counter()
    tuned = tune_cross_fitted_ensembles(x, y, rows, len(class_names), getattr(lspin, kind), lspin.seed,
                                        lspin.tuning, lspin.baselines.scoring)
    name = f"{kind}_tuned"
    chosen = tuned.trials[tuned.trials["chosen"]]
    logger.info("%s: %d trials x %d splits in %.1f s; chosen trials' %s %s", name, lspin.tuning.trials, len(rows),
                time.perf_counter() - started, lspin.baselines.scoring, chosen["value"].round(3).tolist())
    trials = tuned.trials.assign(model=name)
    history = tuned.history.assign(model=name)[HISTORY_COLUMNS]
    return ({f"split{split}": model for split, model in tuned.ensembles.items()}, history,
            trials[["model", *[c for c in trials.columns if c != "model"]]], tuned.studies)
