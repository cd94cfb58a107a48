"""One tiny run of the models that never see a human label, shared by the label-hiding,
prior and export contracts (training a stack is the slow part of these tests)."""

from __future__ import annotations

import pytest

from tests.contracts.cells import ei_cells, ei_splits, unsupervised_outputs


@pytest.fixture(scope="session")
def unsupervised_run() -> dict:
    cells = ei_cells()
    splits = ei_splits(cells)
    return {"cells": cells, "splits": splits, **unsupervised_outputs(cells, splits)}
