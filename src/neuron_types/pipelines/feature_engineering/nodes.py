"""Feature engineering: the cohort and its labels, the 41 features, and the splits.

Labels follow Ophir, Shefi & Lindenbaum (2023) and live in conf/base as data: dendrite
type gives excitatory/inhibitory; a mouse cell's Cre line gives its neurotransmitter
class and one of five subclasses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from neuron_types.cells import CELL_CLASSES, EI_LABEL, HUMAN, MOUSE, SPECIES, SUBCLASS_LABEL
from neuron_types.config import FeatureEngineeringParams
from neuron_types.errors import InputError
from neuron_types.splits import make_splits

logger = logging.getLogger(__name__)

LABEL_COLUMNS = ["specimen_id", "species", "donor_id", "dendrite_type", "cell_class",
                 "transgenic_line", "reporter_status", "neurotransmitter", "subclass"]
# donor_id and these reach the model inputs when cell_features has them (the ACTD path always
# has the donor; the sampling rate needs short_square_spikes.npz, and is nullable), so that
# a table of one's own cells without them still runs (docs/bring_your_own_cells.md).
RECORDING_COLUMNS = ["sampling_rate_khz"]


def build_cohort(
    raw_cells: pd.DataFrame,
    raw_noise_spike_features: pd.DataFrame,
    feature_engineering: FeatureEngineeringParams,
) -> pd.DataFrame:
    """Cells that enter either task, with their labels.

    ``feature_engineering.cohort`` holds ``cell_classes`` (dendrite type -> excitatory or
    inhibitory; types not listed, such as sparsely spiny, are excluded),
    ``class_neurotransmitter`` (cell class -> the neurotransmitter its Cre line must
    carry) and ``cre_lines`` (mouse Cre line -> neurotransmitter and subclass). A mouse
    cell is excluded when its line is unmapped or contradicts its dendrite type. Each
    exclusion is counted in the log. A cell without noise-sweep spike features stays (it is
    labelled): the model inputs keep only cells with every feature, the every-labelled-cell
    pool keeps it (:func:`.every_cell.build_ei_every_cell_model_input`).
    """
    cohort = feature_engineering.cohort
    cells = raw_cells.copy()
    cells["cell_class"] = cells["dendrite_type"].map(cohort.cell_classes)
    lines = pd.DataFrame({name: line.model_dump() for name, line in cohort.cre_lines.items()},
                         index=["neurotransmitter", "subclass"]).T
    is_mouse = cells["species"] == MOUSE
    cells["neurotransmitter"] = cells["transgenic_line"].map(lines["neurotransmitter"]).where(is_mouse)
    cells["subclass"] = cells["transgenic_line"].map(lines["subclass"]).where(is_mouse)

    has_noise_features = cells["specimen_id"].isin(raw_noise_spike_features["specimen_id"])
    expected_transmitter = cells["cell_class"].map(cohort.class_neurotransmitter)
    reasons = {
        "dendrite type not in cohort.cell_classes": cells["cell_class"].isna(),
        "mouse Cre line not in cohort.cre_lines": is_mouse & cells["neurotransmitter"].isna(),
        "mouse Cre line contradicts dendrite type": is_mouse
        & cells["neurotransmitter"].notna()
        & (cells["neurotransmitter"] != expected_transmitter),
    }
    excluded = pd.Series(False, index=cells.index)
    for reason, mask in reasons.items():
        newly = mask & ~excluded
        if newly.any():
            logger.info(
                "cohort: excluded %d cells (%s): %s",
                int(newly.sum()), reason, cells.loc[newly, "species"].value_counts().to_dict(),
            )
        excluded |= mask
    _report_unmapped_lines(cells[is_mouse & has_noise_features & cells["neurotransmitter"].isna()])
    without_noise = ~excluded & ~has_noise_features
    if without_noise.any():
        logger.info("cohort: %d cells have no noise-sweep spike features %s (kept for the every-labelled-cell "
                    "entries; the model inputs need every feature)", int(without_noise.sum()),
                    cells.loc[without_noise, "species"].value_counts().to_dict())

    kept = cells.loc[~excluded, LABEL_COLUMNS + _present(RECORDING_COLUMNS, cells)].reset_index(drop=True)
    mouse_candidates = is_mouse & cells["cell_class"].notna()
    if mouse_candidates.any() and not (kept["species"] == MOUSE).any():
        lines = cells.loc[mouse_candidates, "transgenic_line"].fillna("<no line>").value_counts()
        raise InputError(
            f"cohort: no cell is left for the subclass task: none of the "
            f"{int(mouse_candidates.sum())} mouse cells with a mapped dendrite type has a Cre line in "
            f"cohort.cre_lines that agrees with its dendrite type (lines: {lines.head(8).to_dict()}); "
            "expected mouse Cre lines mapped in conf/base/parameters_feature_engineering.yml."
        )
    if kept.empty:
        raise InputError(
            f"cohort: no cell is left out of {len(cells)} (exclusions: "
            f"{ {r: int(m.sum()) for r, m in reasons.items()} }); expected cells with a mapped "
            "dendrite type and (mouse) a mapped Cre line."
        )
    for species, group in kept.groupby("species"):
        logger.info(
            "cohort: %d %s cells %s%s", len(group), species,
            group["cell_class"].value_counts().to_dict(),
            f" {group['subclass'].value_counts().to_dict()}" if species == MOUSE else "",
        )
    return kept


def assemble_features(
    cohort: pd.DataFrame,
    raw_ephys_features: pd.DataFrame,
    raw_noise_spike_features: pd.DataFrame,
    feature_engineering: FeatureEngineeringParams,
) -> pd.DataFrame:
    """The cohort's labels joined with the model features (NaN where a cell lacks one).

    ``feature_engineering.features`` names ``noise_spike`` columns, taken from the
    noise-sweep table, and ``precomputed`` columns, from the ACTD's precomputed table; its
    ``extended`` features (precomputed ones and spike-time differences) join too, and may be
    missing (NaN): only the subclass task's ``_extended`` entries read them, imputing inside
    each fold.
    """
    features = feature_engineering.features
    table = _joined_features(cohort, raw_ephys_features, raw_noise_spike_features, features)
    feature_columns = features.names
    incomplete = table[feature_columns].isna().any(axis=1)
    if incomplete.any():
        lacking = table.loc[incomplete, feature_columns].isna().sum()
        logger.info(
            "features: %d cells lack some of them %s (only the every-labelled-cell entries use them); "
            "most often missing: %s", int(incomplete.sum()),
            table.loc[incomplete, "species"].value_counts().to_dict(),
            lacking[lacking > 0].sort_values(ascending=False).head(5).to_dict(),
        )
    if incomplete.all():
        absent_everywhere = [c for c in feature_columns if table[c].isna().all()]
        raise InputError(
            f"features: every one of {len(table)} cohort cells lacks at least one of the "
            f"{len(feature_columns)} features (missing for every cell: "
            f"{absent_everywhere or 'none; each cell lacks a different one'}); expected complete rows."
        )
    return table.reset_index(drop=True)


def _joined_features(cohort: pd.DataFrame, raw_ephys_features: pd.DataFrame,
                     raw_noise_spike_features: pd.DataFrame, features) -> pd.DataFrame:
    """The cohort with every model and extended feature column (NaN where a cell lacks one)."""
    sources = {
        "noise_spike": (raw_noise_spike_features, "raw_noise_spike_features (noise_spike_features.csv)"),
        "precomputed": (raw_ephys_features, "raw_ephys_features (ephys_features.csv)"),
    }
    table = cohort
    for group, (source, source_name) in sources.items():
        columns = list(getattr(features, group))
        missing = [c for c in columns if c not in source.columns]
        if missing:
            raise InputError(
                f"{source_name}: feature columns {missing} (listed in features.{group}) are "
                f"missing; the table has {len(source.columns)} columns."
            )
        table = table.merge(source[["specimen_id", *columns]], on="specimen_id", how="left")
    return _with_extended_features(table, raw_ephys_features, features.extended)


def _with_extended_features(table: pd.DataFrame, raw_ephys_features: pd.DataFrame, extended) -> pd.DataFrame:
    """``table`` with the extended features: ``extended.precomputed`` columns of the
    precomputed table, and each difference ``later - earlier`` of two of its columns."""
    missing = [c for c in extended.source_columns if c not in raw_ephys_features.columns]
    if missing:
        raise InputError(
            f"raw_ephys_features (ephys_features.csv): columns {missing} (read by features.extended) are "
            f"missing; the table has {len(raw_ephys_features.columns)} columns."
        )
    sources = raw_ephys_features[["specimen_id", *extended.source_columns]].set_index("specimen_id")
    sources = sources.reindex(table["specimen_id"])
    extra = {name: sources[name].to_numpy(dtype=float) for name in extended.precomputed}
    for name, (later, earlier) in extended.differences.items():
        extra[name] = (sources[later] - sources[earlier]).to_numpy(dtype=float)
    return table.assign(**extra)


def describe_model_inputs(
    feature_engineering: FeatureEngineeringParams,
) -> tuple[list[str], list[str], list[str]]:
    """The model features, in input-column order, the subclass names, in class order, and
    the ``_extended`` entries' features (the model features, then the extended ones): the
    lists the model pipelines read (as datasets, not as this pipeline's parameters)."""
    features = feature_engineering.features
    return features.names, list(feature_engineering.subclass_names), features.extended_names


def build_ei_model_input(cell_features: pd.DataFrame, feature_engineering: FeatureEngineeringParams) -> pd.DataFrame:
    """Excitatory/inhibitory task, both species: labels, donor (when known), domain (0 mouse,
    1 human), sampling rate (when known), features; the cells with every feature."""
    return _complete(ei_cells_table(cell_features, feature_engineering), feature_engineering, "ei_model_input")


def _complete(table: pd.DataFrame, feature_engineering: FeatureEngineeringParams, name: str) -> pd.DataFrame:
    features = feature_engineering.features.names
    incomplete = table[features].isna().any(axis=1)
    if incomplete.all():
        raise InputError(f"cell_features: none of its {len(table)} cells for {name} has every feature of "
                         "feature_engineering.features; expected complete rows")
    if incomplete.any():
        logger.info("%s: %d cells lacking a feature left out %s", name, int(incomplete.sum()),
                    table.loc[incomplete, "species"].value_counts().to_dict())
    return table.loc[~incomplete].reset_index(drop=True)


def ei_cells_table(cell_features: pd.DataFrame, feature_engineering: FeatureEngineeringParams) -> pd.DataFrame:
    """The excitatory/inhibitory task's columns of ``cell_features``, every labelled cell (NaN
    where a feature is missing): what both EI model inputs are cut from."""
    features = feature_engineering.features.names
    _check_cell_table(cell_features, ["specimen_id", "species", "cell_class", *features])
    _check_values(cell_features, "cell_class", CELL_CLASSES)
    table = cell_features.assign(
        domain=(cell_features["species"] == HUMAN).astype("int64"),
        **{EI_LABEL: (cell_features["cell_class"] == "excitatory").astype("int64")},
    )
    return table[["specimen_id", "species", *_present(["donor_id"], table), "domain", "cell_class",
                  EI_LABEL, *_present(RECORDING_COLUMNS, table), *features]]


def build_subclass_model_input(
    cell_features: pd.DataFrame, feature_engineering: FeatureEngineeringParams
) -> pd.DataFrame:
    """Five-subclass task: mouse cells with their donor (when known), subclass, sampling rate
    (when known) and features; those with every feature."""
    return _complete(subclass_cells_table(cell_features, feature_engineering), feature_engineering,
                     "subclass_model_input")


def subclass_cells_table(cell_features: pd.DataFrame, feature_engineering: FeatureEngineeringParams
                         ) -> pd.DataFrame:
    """The subclass task's columns of ``cell_features``, every mouse cell (NaN where a
    feature is missing): what both subclass model inputs are cut from."""
    features = feature_engineering.features
    columns = ["specimen_id", "species", *_present(["donor_id"], cell_features), "transgenic_line",
               *_present(["reporter_status"], cell_features),
               SUBCLASS_LABEL, *_present(RECORDING_COLUMNS, cell_features), *features.names]
    _check_cell_table(cell_features, columns)
    mouse = cell_features[cell_features["species"] == MOUSE]
    if mouse.empty:
        raise InputError(
            f"cell_features: no mouse cell among {len(cell_features)}; the subclass task "
            "classifies mouse cells (species 'mouse')."
        )
    absent = [name for name in features.extended.names if name not in mouse.columns]
    if absent:
        # a table of one's own cells may lack them: the _extended entries then impute them as missing
        logger.warning("cell_features: no extended features %s; the subclass task's _extended entries see "
                       "them as missing for every cell", absent)
    extended = mouse.reindex(columns=features.extended.names).astype(float)
    return pd.concat([mouse[columns], extended], axis=1).reset_index(drop=True)


def split_ei_cells(ei_model_input: pd.DataFrame, feature_engineering: FeatureEngineeringParams) -> pd.DataFrame:
    """The excitatory/inhibitory task's splits, stratified by ``splits.ei_strata``."""
    return _assign_roles(ei_model_input, "ei_model_input", feature_engineering,
                         feature_engineering.splits.ei_strata)


def split_subclass_cells(
    subclass_model_input: pd.DataFrame, feature_engineering: FeatureEngineeringParams
) -> pd.DataFrame:
    """The subclass task's splits, stratified by ``splits.subclass_strata``."""
    return _assign_roles(subclass_model_input, "subclass_model_input", feature_engineering,
                         feature_engineering.splits.subclass_strata)


def _assign_roles(
    model_input: pd.DataFrame, source: str, feature_engineering: FeatureEngineeringParams,
    strata: Sequence[str],
) -> pd.DataFrame:
    """The splits of ``feature_engineering.splits.protocol`` as a table (columns ``split,
    seed, repeat, fold, specimen_id, role``; ``random_splits`` has no ``repeat`` and
    ``fold``): see :func:`neuron_types.splits.make_splits`."""
    splits = feature_engineering.splits
    label = strata[0]
    classes = model_input[label].value_counts()
    if len(classes) < 2:
        raise InputError(
            f"splits: the task labelled by {label} has a single class {classes.to_dict()} among "
            f"{len(model_input)} cells; expected at least two classes to classify."
        )
    if splits.protocol == "donor_grouped_cv" and "donor_id" not in model_input.columns:
        raise InputError(
            f"{source}: no donor_id column, which feature_engineering.splits.protocol "
            "donor_grouped_cv groups the folds by; expected a donor_id per cell (cell_features "
            "without donors: set splits.protocol to cell_level_cv)"
        )
    table = make_splits(
        model_input, splits.protocol, strata=strata, seeds=list(splits.seeds),
        validation_fraction=splits.validation_fraction, n_folds=splits.n_folds,
        test_fraction=splits.test_fraction,
    )
    sizes = table.groupby(["split", "role"]).size().unstack("role")
    logger.info(
        "splits (%s, stratified by %s): %d splits; cells per split %s",
        splits.protocol, list(strata), len(sizes),
        {role: f"{sizes[role].min()}-{sizes[role].max()}" for role in sizes.columns},
    )
    return table


def _check_cell_table(table: pd.DataFrame, columns: Sequence[str]) -> None:
    """A features table (``cell_features``, possibly a user's own) has what the tasks need."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise InputError(
            f"cell_features: columns {missing} are missing (the table has {len(table.columns)} "
            "columns); expected specimen_id, species, cell_class (and transgenic_line, subclass "
            "for the subclass task) and every feature of feature_engineering.features."
        )
    _check_values(table, "species", SPECIES)


def _present(columns: Sequence[str], table: pd.DataFrame) -> list[str]:
    return [column for column in columns if column in table.columns]


def _check_values(table: pd.DataFrame, column: str, allowed: Sequence[str]) -> None:
    unexpected = table.loc[~table[column].isin(allowed), column].fillna("<missing>").value_counts()
    if not unexpected.empty:
        raise InputError(
            f"cell_features, column {column}: unexpected values {unexpected.to_dict()} (cell "
            f"counts); expected one of {list(allowed)}."
        )


def _report_unmapped_lines(cells: pd.DataFrame) -> None:
    if cells.empty:
        return
    counts = cells["transgenic_line"].fillna("<no line>").value_counts().to_dict()
    logger.warning(
        "cohort: %d mouse cells with features have Cre lines not in cohort.cre_lines and "
        "were excluded: %s", len(cells), counts,
    )
