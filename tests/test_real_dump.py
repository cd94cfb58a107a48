"""The real ACTD dump (../shared/actd or NEURON_TYPES_ACTD_DIR): the cohort of the reference study."""

import pandas as pd
import pytest

from tests.actd_fixture import latest_version

pytestmark = pytest.mark.real_data


def test_ingestion_and_feature_engineering_reproduce_the_reference_cohort(kedro_project, real_actd):
    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=real_actd)
    data = kedro_project.root / "data"
    labelled = pd.read_parquet(latest_version(data / "03_primary/cohort.parquet"))
    # every labelled cell: 1,617 mouse and 400 human; the reference's cohort has noise-sweep features
    assert labelled["species"].value_counts().to_dict() == {"mouse": 1617, "human": 400}
    noise = pd.read_parquet(latest_version(data / "02_intermediate/raw_noise_spike_features.parquet"))
    cohort = labelled[labelled["specimen_id"].isin(noise["specimen_id"])]
    mouse = cohort[cohort["species"] == "mouse"]
    human = cohort[cohort["species"] == "human"]
    assert len(mouse) == 1424 and len(human) == 299
    assert mouse["subclass"].value_counts().to_dict() == {
        "Glutamatergic": 700, "Pvalb+": 231, "Htr3a+|Vip-": 199, "Sst+": 173, "Vip+": 121
    }
    assert mouse["dendrite_type"].value_counts().to_dict() == {"aspiny": 724, "spiny": 700}
    assert human["dendrite_type"].value_counts().to_dict() == {"spiny": 231, "aspiny": 68}
    assert human["donor_id"].nunique() == 41 and mouse["donor_id"].nunique() == 809

    ei = pd.read_parquet(latest_version(data / "05_model_input/ei_model_input.parquet"))
    # 42 mouse cells lack ramp features and leave the model inputs
    assert ei["species"].value_counts().to_dict() == {"mouse": 1382, "human": 299}
    # ids, species, donor_id, domain, cell_class, excitatory, sampling_rate_khz + 41 features
    assert ei.shape[1] == 7 + 41
    subclass = pd.read_parquet(latest_version(data / "05_model_input/subclass_model_input.parquet"))
    assert len(subclass) == 1382
    splits = pd.read_parquet(latest_version(data / "05_model_input/ei_splits.parquet"))
    # the default protocol: 3 repeats of 5-fold cross-validation grouped by donor
    assert splits["split"].nunique() == 15 and (splits["protocol"] == "donor_grouped_cv").all()
