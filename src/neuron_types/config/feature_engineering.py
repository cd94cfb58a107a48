"""``parameters_feature_engineering.yml``: cohort, labels, features and the evaluation protocol's folds."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from neuron_types.config.base import DISTINCT, Fraction, Names, Section, did_you_mean


class CreLine(Section):
    neurotransmitter: str
    subclass: str


class Cohort(Section):
    cell_classes: dict[str, Literal["excitatory", "inhibitory"]]
    class_neurotransmitter: dict[Literal["excitatory", "inhibitory"], str]
    cre_lines: dict[str, CreLine]


class ExtendedFeatures(Section):
    """What the subclass task's ``_extended`` entries read beside the model features:
    precomputed ACTD features a cell may lack, and differences of two spike-time columns of
    the precomputed table (``name: [later, earlier]``, seconds)."""

    precomputed: Annotated[list[str], DISTINCT]
    differences: dict[str, Annotated[list[str], Field(min_length=2, max_length=2), DISTINCT]]

    @property
    def names(self) -> list[str]:
        return [*self.precomputed, *self.differences]

    @property
    def source_columns(self) -> list[str]:
        """The precomputed table's columns the extended features are read or computed from."""
        return list(dict.fromkeys([*self.precomputed, *(c for pair in self.differences.values() for c in pair)]))


class Features(Section):
    noise_spike: Names
    precomputed: Names
    extended: ExtendedFeatures

    @property
    def names(self) -> list[str]:
        """The model's input columns, in a fixed order: noise-sweep features then precomputed."""
        return [*self.noise_spike, *self.precomputed]

    @property
    def extended_names(self) -> list[str]:
        """The ``_extended`` entries' input columns: the model features, then the extended ones."""
        return [*self.names, *self.extended.names]

    @model_validator(mode="after")
    def _extended_are_new(self):
        clashing = sorted(set(self.extended.names) & set(self.names))
        if clashing:
            raise ValueError(f"extended: {clashing} are model features already; expected features of their own")
        if len(set(self.extended.names)) != len(self.extended.names):
            raise ValueError("extended: a name is both in precomputed and in differences; expected each once")
        return self


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


Task = Literal["ei", "subclass"]


class SensitivityVariant(Section):
    """A cohort or protocol beside the primary one: the primary model input filtered as
    stated, split like the primary splits (same folds, seeds and strata) unless ``protocol``
    names another. A filter left out keeps every cell (the one kind of default here)."""

    description: str
    tasks: Annotated[list[Task], Field(min_length=1), DISTINCT]
    protocol: SplitProtocol | None = None
    # mouse cells recorded at this rate only (human cells all kept)
    mouse_sampling_rate_khz: Annotated[int, Field(gt=0)] | None = None
    exclude_transgenic_lines: Annotated[list[str], DISTINCT] = []
    reporter_status: Literal["positive", "negative"] | None = None

    @model_validator(mode="after")
    def _changes_something(self):
        if (self.protocol is None and self.mouse_sampling_rate_khz is None
                and not self.exclude_transgenic_lines and self.reporter_status is None):
            raise ValueError("expected a protocol or at least one filter (mouse_sampling_rate_khz, "
                             "exclude_transgenic_lines, reporter_status); got none, the primary cohort")
        if (self.exclude_transgenic_lines or self.reporter_status) and self.tasks != ["subclass"]:
            raise ValueError(f"tasks: got {self.tasks}; exclude_transgenic_lines and reporter_status "
                             "filter by Cre line, which only the subclass task's cells carry: expected [subclass]")
        return self


class FeatureEngineeringParams(Section):
    key: ClassVar[str] = "feature_engineering"
    conf_file: ClassVar[str] = "parameters_feature_engineering.yml"

    cohort: Cohort
    subclass_names: Annotated[list[str], Field(min_length=2), DISTINCT]
    features: Features
    splits: Splits
    sensitivity_variants: dict[str, SensitivityVariant]

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
        for name, variant in self.sensitivity_variants.items():
            unknown = [line for line in variant.exclude_transgenic_lines if line not in self.cohort.cre_lines]
            if unknown:
                raise ValueError(f"sensitivity_variants.{name}.exclude_transgenic_lines: {unknown} "
                                 f"{did_you_mean(unknown[0], self.cohort.cre_lines)}; expected lines of "
                                 "cohort.cre_lines")
        return self
