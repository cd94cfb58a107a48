"""The studies of the Optuna-tuned networks as one versioned SQLite catalog entry."""

from __future__ import annotations

import optuna
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError

from neuron_types.io.optuna_studies import OptunaStudiesDataset


def _studies() -> dict:
    studies = {}
    for split in range(2):
        study = optuna.create_study(study_name=f"in_memory_{split}", direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=split))
        study.set_user_attr("split", split)
        study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
        studies[f"split{split}"] = study
    return studies


def test_studies_save_to_one_versioned_sqlite_file_and_load_back_by_name(tmp_path):
    config = {"studies": {"type": "neuron_types.io.optuna_studies.OptunaStudiesDataset",
                          "filepath": str(tmp_path / "studies.db"), "versioned": True}}
    studies = _studies()
    DataCatalog.from_config(config, save_version="2026-12-02T00.00.00.000Z").save("studies", studies)
    saved = tmp_path / "studies.db" / "2026-12-02T00.00.00.000Z" / "studies.db"
    assert saved.is_file()
    loaded = DataCatalog.from_config(config).load("studies")
    assert sorted(loaded) == ["split0", "split1"]
    for name, study in studies.items():
        assert [t.params for t in loaded[name].trials] == [t.params for t in study.trials]
        assert [t.value for t in loaded[name].trials] == [t.value for t in study.trials]
        assert loaded[name].user_attrs == study.user_attrs and loaded[name].best_trial.number == study.best_trial.number
    # an ordinary Optuna storage: a worker opens one split's study there and goes on
    study = optuna.load_study(study_name="split1", storage=f"sqlite:///{saved}")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=1)
    assert len(optuna.load_study(study_name="split1", storage=f"sqlite:///{saved}").trials) == 4


def test_a_saved_file_is_never_written_into_and_the_path_must_be_a_db_file(tmp_path):
    path = tmp_path / "studies.db"
    dataset = OptunaStudiesDataset(filepath=str(path))
    dataset.save(_studies())
    with pytest.raises(DatasetError, match="exists already"):
        dataset.save(_studies())
    with pytest.raises(DatasetError, match=r"expected a \.db file"):
        OptunaStudiesDataset(filepath=str(tmp_path / "studies.sqlite"))
