"""The names under which the stages hand tables and models to each other.

One definition each, below every module that reads or writes them:

* the featurize stage's tables (:data:`TRAINING_FILE`, :data:`RECOVERY_FILE`);
* a train directory: the model folders :data:`CHURN_DIR` / :data:`RECOVERY_DIR` and
  :data:`RUN_FILE`, the :class:`RunRecord` of the MLflow run and its registered versions;
* the registry: the model names :data:`CHURN_NAME` / :data:`RECOVERY_NAME`, the
  :data:`CHAMPION` alias and the tracking URI (:func:`tracking_uri`).

Nothing here imports MLflow: the model store (:mod:`models.store`) and the tracking code
(:mod:`models.tracking`) both build on these names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

#: The featurize stage's tables: snapshots with the churn label, outreach rows with features.
TRAINING_FILE = "training.parquet"
RECOVERY_FILE = "recovery.parquet"

#: Customer partitions of the Dask engine (:mod:`models.engine`) unless told otherwise; here,
#: not there, so a command's ``--partitions`` default needs no Dask at ``--help``.
DEFAULT_PARTITIONS = 8

#: The model folders of a train directory, and the default train directory.
CHURN_DIR, RECOVERY_DIR = "churn", "recovery"
DEFAULT_TRAIN_DIR = Path("out/train")
#: The training run's record in a train directory (:class:`RunRecord`).
RUN_FILE = "run.json"

#: Registered model names and the alias of the version to score with.
CHURN_NAME = "winback-churn"
RECOVERY_NAME = "winback-recovery"
CHAMPION = "champion"

DEFAULT_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///mlflow.db`` (working directory)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


@dataclass
class RunRecord:
    """What later stages need to log into the training run (``out/train/run.json``)."""

    run_id: str
    experiment: str
    experiment_id: str
    tracking_uri: str
    versions: dict[str, str]

    def save(self, path: str | Path) -> Path:
        """Write as JSON (``path`` may be the file or its directory)."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / RUN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunRecord:
        """Read ``run.json`` (``path`` may be the file or its directory)."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / RUN_FILE
        return cls(**json.loads(path.read_text()))


class ModelStoreError(RuntimeError):
    """A model cannot be found, or its files are missing, damaged or not the registered ones."""
