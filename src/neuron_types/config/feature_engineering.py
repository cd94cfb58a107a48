"""``parameters_feature_engineering.yml``: cohort, labels, features and the evaluation protocol's folds."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from neuron_types.config.base import DISTINCT, Fraction, Names, Section


class CreLine(Section):
    neurotransmitter: str
    subclass: str


class Cohort(Section):
    cell_classes: dict[str, Literal["excitatory", "inhibitory"]]
    class_neurotransmitter: dict[Literal["excitatory", "inhibitory"], str]
    cre_lines: dict[str, CreLine]


class Features(Section):
    noise_spike: Names
    precomputed: Names

    @property
    def names(self) -> list[str]:
        """The model's input columns, in a fixed order: noise-sweep features then precomputed."""
        return [*self.noise_spike, *self.precomputed]


# the protocols of neuron_types.splits.make_splits (not imported: it loads scikit-learn)
SplitProtocol = Literal["donor_grouped_cv", "cell_level_cv", "random_splits"]


class Splits(Section):
    """``donor_grouped_cv`` / ``cell_level_cv``: ``len(seeds)`` repeats of ``n_folds``-fold
    cross-validation, by donor / by cell; ``random_splits``: one random split per seed with
    ``test_fraction`` of the cells as test cells (the only protocol that reads it)."""

    protocol: SplitProtocol
    n_folds: Annotated[int, Field(ge=2)]
    seeds: Annotated[list[int], Field(min_length=1), DISTINCT]
    test_fraction: Fraction
    validation_fraction: Fraction
    ei_strata: Names
    subclass_strata: Names

    @model_validator(mode="after")
    def _room_for_training(self):
        if self.protocol == "random_splits" and self.validation_fraction >= 1 - self.test_fraction:
            raise ValueError(
                f"validation_fraction: got {self.validation_fraction}; expected less than 1 - "
                f"test_fraction ({1 - self.test_fraction:g}) with protocol random_splits, so that "
                "training cells remain"
            )
        if self.protocol == "random_splits" and len(self.seeds) < 2:
            raise ValueError(f"seeds: got {self.seeds}; expected at least 2 with protocol random_splits "
                             "(an interval needs two splits)")
        if self.protocol != "random_splits" and self.validation_fraction >= 1 - 1 / self.n_folds:
            raise ValueError(
                f"validation_fraction: got {self.validation_fraction}; expected less than 1 - "
                f"1/n_folds ({1 - 1 / self.n_folds:.3g}) with protocol {self.protocol}, so that "
                "training cells remain (test_fraction is read by random_splits only)"
            )
        return self


class FeatureEngineeringParams(Section):
    key: ClassVar[str] = "feature_engineering"
    conf_file: ClassVar[str] = "parameters_feature_engineering.yml"

    cohort: Cohort
    subclass_names: Annotated[list[str], Field(min_length=2), DISTINCT]
    features: Features
    splits: Splits

    @model_validator(mode="after")
    def _subclasses_named(self):
        named = {line.subclass for line in self.cohort.cre_lines.values()}
        unknown = sorted(named - set(self.subclass_names))
        if unknown:
            raise ValueError(
                f"cohort.cre_lines: subclasses {unknown} are not in subclass_names; expected "
                f"one of {self.subclass_names}"
            )
        overlap = sorted(set(self.features.noise_spike) & set(self.features.precomputed))
        if overlap:
            raise ValueError(f"features: {overlap} listed both as noise_spike and precomputed; "
                             "expected each feature once")
        return self
