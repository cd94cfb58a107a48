"""Progress bars for the long loops (training across splits, SHAP). Kedro-free.

Drawn on a terminal only: in CI logs and captured output they stay silent and the
per-split log lines carry the progress instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """``items`` with a progress bar labelled ``description`` (disabled when not a TTY)."""
    return iter(tqdm(items, desc=description, total=total, leave=False, disable=None, unit="fit"))
