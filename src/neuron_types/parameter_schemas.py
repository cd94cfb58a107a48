"""The project's parameter constraints beyond "same kind as the conf/base default".

:func:`neuron_types.params_validation.check_parameters` infers a schema from each
top-level key of conf/base (same names, numbers for numbers, lists of the same kind) and
lays these over it: integer and range limits, choices, open mappings (names the user may
add, such as models or Cre lines), and references (a model named in one place must be
defined in another). Keys conf/base does not define are ignored here, so a constraint
never demands a key: the conf/base files stay the one list of parameter names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from neuron_types.params_validation import (
    anything,
    boolean,
    integer,
    list_of,
    mapping_of,
    number,
    one_of,
    reference,
    text,
)

# lspin.lspin.training and lspin.mlp.training (specs are immutable: one dict serves both)
_NETWORK_TRAINING = {
    "epochs": integer(min=1),
    "batch_size": integer(min=1),
    "learning_rate": number(min=0, min_open=True),
    "optimizer": one_of("sgd", "adam"),
    "weight_decay": number(min=0),
    "check_every": integer(min=1),
    "patience": integer(min=1),
    "monitor": one_of("val_cross_entropy", "val_accuracy"),
    "balance_classes": boolean(),
}


_UNITS = list_of(integer(min=1), min_length=1)
_GRID = anything()  # a classifier's own hyperparameter names and values

_SPECIES = list_of(one_of("mouse", "human"), min_length=1, unique=True, optional=True)
# one neural model of the dann comparison: every option may be left out
DANN_MODEL = {
    "domain_head": boolean(),
    "train_species": _SPECIES,
    "labelled_species": _SPECIES,
    "species_feature": boolean(optional=True),
    "balance_label_species": boolean(optional=True),
    "conditioning": one_of("none", "cdan", optional=True),
    "reweighting": one_of("none", "em", "bbse", optional=True),
    "prior_adjusted": boolean(optional=True),
}

# by top-level parameter key
EXPLICIT_SCHEMAS: dict[str, Mapping] = {
    "dann": {
        "seed": integer(min=0),
        "class_names": list_of(text(), min_length=2, unique=True),
        "network": {
            "hidden_units": _UNITS,
            "activation": text(),
            "dropout": number(0, 1, max_open=True),
            "l2": number(min=0),
            "domain_hidden_units": list_of(integer(min=1)),
            "domain_input_norm": boolean(),
        },
        "training": {
            "batch_size": integer(min=1),
            "max_epochs": integer(min=1),
            "patience": integer(min=1),
            "min_epochs": integer(min=1),
            "learning_rate": number(min=0, min_open=True),
            "lambda_max": number(min=0),
            "lambda_schedule": one_of("constant", "ganin"),
            "schedule_epochs": integer(min=1),
            "domain_loss_weight": number(min=0),
        },
        "models": mapping_of(DANN_MODEL, min_length=1),
        "export": {"split": integer(min=0)},
        "logistic_regression": {"c_grid": list_of(number(min=0, min_open=True), min_length=1)},
        "shap": {
            "split": integer(min=0),
            "background_cells": integer(min=1),
            "samples": integer(min=1),
            "top_features": integer(min=1),
        },
    },
    "lspin": {
        "seed": integer(min=0),
        "lspin": {
            "model": {
                "gating_units": _UNITS,
                "prediction_units": _UNITS,
                "sigma": number(min=0, min_open=True),
                "lambda1": number(min=0),
                "lambda2": number(min=0),
                "similarity_kernel": one_of("label", "rbf"),
                "rbf_bandwidth": number(min=0, min_open=True),
            },
            "training": _NETWORK_TRAINING,
            "ensemble_members": integer(min=1),
        },
        "mlp": {
            "model": {"prediction_units": _UNITS},
            "training": _NETWORK_TRAINING,
            "ensemble_members": integer(min=1),
        },
        "baselines": {
            "cv_folds": integer(min=2),
            "n_jobs": integer(),
            "grids": {name: _GRID for name in ("logistic_regression", "svc", "random_forest", "xgboost")},
        },
        "interpretation": {
            "top_features": integer(min=1),
            "open_gate_threshold": number(0, 1),
        },
    },
    "ingestion": {
        "species_names": anything(),
        "ephys_boolean_columns": list_of(text()),
    },
    "cohort": {
        "cell_classes": anything(),
        "class_neurotransmitter": anything(),
        "cre_lines": anything(),
    },
    "subclass_names": list_of(text(), min_length=2, unique=True),
    "features": {
        "noise_spike": list_of(text(), min_length=1, unique=True),
        "precomputed": list_of(text(), min_length=1, unique=True),
    },
    "reporting": {
        # names of metrics, models and published results: open sets, extended freely
        "metric_labels": anything(),
        "model_labels": anything(),
        "reference": anything(),
    },
    "splits": {
        "seeds": list_of(integer(), min_length=1, unique=True),
        "test_fraction": number(0, 1, min_open=True, max_open=True),
        "validation_fraction": number(0, 1, min_open=True, max_open=True),
        "ei_strata": list_of(text(), min_length=1),
        "subclass_strata": list_of(text(), min_length=1),
    },
}


# top-level key -> {dotted path of a name: its check}
REFERENCES: dict[str, Mapping[str, Callable]] = {
    "dann": {
        "dann.target_prior_model": reference("dann.models"),
        "dann.export.supervised": reference("dann.models"),
        "dann.export.unsupervised": reference("dann.models"),
    },
}
