"""The lost-lead recovery model: LightGBM P(buys from us within 90 days of the loss).

Trained on lost leads whose label window is fully observed, split out of time by loss month
with :func:`models.split.time_split` (early loss months train; a holdout of leads in the last
pre-gap months early-stops and calibrates; a gap of one label window; the last months are the
test). On the test months the model and the playbook's rule grading (high > mid > low) are
scored on exactly the same rows.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.leads import CATEGORICAL, GRADE_SCORE
from models.churn import ModelConfig, categories_of, fit_booster
from models.lgbm import CalibratedBooster, fit_isotonic
from models.metrics import classification_report, ranking_report, rounded_roc_auc
from models.split import TimeSplit, time_split

logger = logging.getLogger(__name__)

TARGET = "bought"
DATE_COL = "lost_date"
REGISTERED_NAME = "winback-leads"
OUTPUT = "p_buy_90d"
LEAD_SPLIT = {
    "test_periods": 6,
    "holdout_periods": 3,
    "holdout_share": 0.3,
    "freq": "M",
    "exclude_holdout_customers": False,
}


def split_leads(table: pd.DataFrame, config: ModelConfig) -> TimeSplit:
    """Out-of-time split of the labelled lost leads by loss month (leads never repeat)."""
    # time_split hashes ``customer_id`` for the holdout; a lead is its own unit here.
    return time_split(table.assign(customer_id=table["lead_id"]), DATE_COL, config.split)


def train_lead_model(
    table: pd.DataFrame, features: list[str], config: ModelConfig, split: TimeSplit | None = None
) -> tuple[CalibratedBooster, dict[str, Any], TimeSplit]:
    """Fit the booster on the train months, early-stop on valid, calibrate on calib.

    Args:
        table: Labelled lost leads: ``lead_id``, ``lost_date``, features, ``bought``.
        features: The feature columns.
        config: Model settings (``leads.model`` in params.yaml).
        split: A precomputed split; computed when None.

    Returns:
        The model, an info dict (rows, positive rates, valid/calib ROC-AUC, best iteration,
        split boundaries) and the split.
    """
    split = split or split_leads(table, config)
    cats = {c: v for c, v in categories_of(split.train, features).items() if c in CATEGORICAL}
    model = CalibratedBooster(booster=None, features=features, categories=cats)  # type: ignore[arg-type]
    model.booster = fit_booster(model, split.train, split.valid, TARGET, config)
    best = int(model.booster.best_iteration or model.booster.current_iteration())
    raw_cal = model.predict_raw(split.calib)
    if config.calibrate:
        model.calibrator = fit_isotonic(raw_cal, split.calib[TARGET].to_numpy())
    info = {
        "model": "leads",
        "best_iteration": best,
        "n_features": len(features),
        "features": features,
        "split": split.boundaries,
        **split.summary(TARGET),
        "valid_auc": rounded_roc_auc(split.valid[TARGET], model.predict_raw(split.valid)),
        "calib_auc": rounded_roc_auc(split.calib[TARGET], raw_cal),
        "lgbm_params": config.lgbm_params(),
    }
    model.meta = {
        "model": "leads",
        "target": TARGET,
        "best_iteration": best,
        "split": split.boundaries,
    }
    logger.info(
        "lead model: %d features, %d train rows, best iteration %d, valid ROC-AUC %.4f",
        len(features),
        len(split.train),
        best,
        info["valid_auc"],
    )
    return model, info, split


def evaluate_vs_rules(
    test: pd.DataFrame, p_model: np.ndarray, grade: pd.Series, p_true: pd.Series | None = None
) -> dict[str, Any]:
    """The model and the rule grading on the same out-of-time rows.

    Args:
        test: Test rows with ``bought`` and ``lost_date``.
        p_model: Model probabilities, one per row.
        grade: Rule grade per row (high / mid / low), aligned with ``test``.
        p_true: The simulator's true probability, when known (an upper bound, for reference).

    Returns:
        ``model`` (classification report), ``rules`` (ranking report of the grade as a score
        2/1/0), ``oracle`` (when ``p_true``), ``delta_roc_auc`` and ``delta_pr_auc`` (model
        minus rules), ``model_beats_rules`` (ROC-AUC), ``by_grade`` (rows and observed rate
        per grade) and ``by_month`` (ROC-AUC of both per loss month with both classes).
    """
    y = test[TARGET].to_numpy()
    g = grade.reindex(test.index).map(GRADE_SCORE).to_numpy(dtype="float64")
    out: dict[str, Any] = {
        "model": classification_report(y, p_model),
        "rules": ranking_report(y, g),
    }
    if p_true is not None:
        out["oracle"] = ranking_report(y, p_true.reindex(test.index).to_numpy(dtype="float64"))
    out["delta_roc_auc"] = out["model"]["roc_auc"] - out["rules"]["roc_auc"]
    out["delta_pr_auc"] = out["model"]["pr_auc"] - out["rules"]["pr_auc"]
    out["model_beats_rules"] = bool(out["delta_roc_auc"] > 0)
    gr = grade.reindex(test.index)
    out["by_grade"] = {
        k: {"n": int((gr == k).sum()), "bought_rate": float(y[(gr == k).to_numpy()].mean())}
        for k in GRADE_SCORE
        if (gr == k).any()
    }
    months = test[DATE_COL].dt.strftime("%Y-%m").to_numpy()
    by_month = {}
    for m in sorted(set(months)):
        sel = months == m
        if 0 < y[sel].sum() < sel.sum():
            by_month[m] = {
                "n": int(sel.sum()),
                "model_roc_auc": rounded_roc_auc(y[sel], p_model[sel]),
                "rules_roc_auc": rounded_roc_auc(y[sel], g[sel]),
            }
    out["by_month"] = by_month
    return out


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
