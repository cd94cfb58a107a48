"""Two test-only shortcuts through MLflow's tracking-store start-up, which every Kedro
session of this project pays (kedro-mlflow opens the SQLite store in data/09_tracking):

- opening a store verifies its schema against the head revision, which MLflow finds by
  parsing its ~130 alembic migration scripts every time (about 2 s); the head is fixed
  for the installed MLflow, so :func:`cache_schema_head` computes it once per process;
- a new database runs every migration (about 2 s more); :func:`migrated_database` gives
  one database migrated once per test session, which each throwaway project copies.

Measured on the malformed-input corpus: a failing in-process run of ingestion takes
about 4.5 s, 3-4 s of it here. The code path is still MLflow's own: each store is
opened and its schema checked against the same head; only repeated work is skipped.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_database: Path | None = None


def cache_schema_head() -> None:
    import mlflow.store.db.utils as db_utils

    if not hasattr(db_utils._get_latest_schema_revision, "cache_info"):
        db_utils._get_latest_schema_revision = functools.cache(db_utils._get_latest_schema_revision)


def migrated_database() -> Path:
    """An empty MLflow tracking database at the installed MLflow's latest schema."""
    global _database
    with _lock:
        if _database is None:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            folder = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
            store = SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"))
            store.engine.dispose()
            _database = folder / "mlflow.db"
        return _database


def copy_migrated_database(project: Path) -> None:
    """``project``'s data/09_tracking/mlflow.db, already migrated (see the module docstring)."""
    target = project / "data" / "09_tracking" / "mlflow.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_database(), target)
