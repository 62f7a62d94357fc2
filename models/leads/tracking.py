"""The lead model in MLflow: the stage's run, the ``winback-leads`` pyfunc and its registry
version (with the hash record the model loader checks, :mod:`models.store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from models import tracking
from models.evaluate import jsonable
from models.leads.config import LeadsConfig
from models.leads.model import OUTPUT, REGISTERED_NAME, LeadsResult
from models.lgbm import CalibratedBooster
from models.store import record_model_dir


class LeadPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of the lead model directory: returns ``p_buy_90d``."""

    def load_context(self, context) -> None:
        """Load the booster directory logged as the ``model_dir`` artifact."""
        self.model = CalibratedBooster.load(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """Calibrated P(buys from us within the window) per row."""
        return pd.DataFrame(
            {OUTPUT: self.model.predict_proba(model_input)}, index=model_input.index
        )


def log_run(
    result: LeadsResult, config: LeadsConfig, block: dict[str, Any], model_dir: Path, report: Path
) -> tuple[str, str | None]:
    """Log the leads run to MLflow and register the model as ``winback-leads``.

    Args:
        result: :func:`models.leads.model.run_leads`.
        config: The settings (experiment, ``register``).
        block: The ``leads`` params block as read (logged as the run's params).
        model_dir: The saved booster directory (logged as the pyfunc's artifact).
        report: The Markdown report (logged as an artifact).

    Returns:
        The run id and the registered version (None when ``register`` is off).
    """
    tracking.setup(experiment=config.experiment)
    with mlflow.start_run(run_name="leads") as run:
        mlflow.log_params(tracking.flatten({"leads": block}))
        mlflow.log_metrics(tracking.numeric_metrics({"leads": result.metrics["test"]}))
        mlflow.log_dict(jsonable(result.train_info), "leads/train_info.json")
        mlflow.log_dict(jsonable(result.metrics), "leads/metrics.json")
        mlflow.log_artifact(str(report), artifact_path="leads")
        example = tracking.input_example(result.test, result.model.features)
        output = pd.DataFrame({OUTPUT: result.model.predict_proba(example)})
        info = mlflow.pyfunc.log_model(
            name="leads",
            python_model=LeadPyfunc(),
            artifacts={"model_dir": str(model_dir)},
            signature=mlflow.models.infer_signature(example, output),
            input_example=example,
            registered_model_name=REGISTERED_NAME if config.register else None,
            pip_requirements=_requirements(),
        )
        version = info.registered_model_version
        if version is not None:  # what the hash-checked loader (models.store) checks
            record_model_dir(
                REGISTERED_NAME,
                str(version),
                model_dir,
                info.flavors["python_function"]["artifacts"]["model_dir"]["path"],
                mlflow.get_tracking_uri(),
            )
        return run.info.run_id, None if version is None else str(version)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "lightgbm", "scikit-learn", "pandas")]
