"""The lost-lead recovery model: LightGBM P(buys from us within 90 days of the loss).

Trained on lost leads whose label window is fully observed, split out of time by loss month
with :func:`models.split.time_split` (early loss months train; a holdout of leads in the last
pre-gap months early-stops and calibrates; a gap of one label window; the last months are the
test). On the test months the model and the playbook's rule grading (high > mid > low) are
scored on exactly the same rows. :func:`run_leads` is the whole computation of the
``leads`` stage: grade, route, model and diagnose the lost leads of a data set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.contract import PII_COLUMNS, DataSet
from models.churn import ModelConfig, categories_of, fit_booster
from models.leads.config import LeadsConfig
from models.leads.diagnostics import competitor_destinations, incomplete_records, reasons_by
from models.leads.features import (
    CATEGORICAL,
    data_end,
    lead_feature_names,
    lead_features,
    lead_labels,
    lost_leads,
)
from models.leads.rules import GRADE_SCORE, grade_leads, route_leads
from models.lgbm import CalibratedBooster, fit_isotonic
from models.metrics import classification_report, ranking_report, rounded_roc_auc
from models.split import TimeSplit, time_split

logger = logging.getLogger(__name__)

TARGET = "bought"
DATE_COL = "lost_date"
REGISTERED_NAME = "winback-leads"
OUTPUT = "p_buy_90d"


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


@dataclass
class LeadsResult:
    """What :func:`run_leads` computed (frames carry no names or phones).

    Attributes:
        graded: Every lost lead: ids, reasons, grade, route, ``p_buy_90d``, label, slice.
        metrics: Counts, grades, routes and the test-month comparison with the rules.
        model: The calibrated booster.
        train_info: Rows, positive rates, valid/calib ROC-AUC, best iteration, split.
        diagnostics: Loss-reason tables, competitor destinations, incomplete records.
        test: The test rows with the model's probability ``p``.
    """

    graded: pd.DataFrame
    metrics: dict[str, Any]
    model: CalibratedBooster
    train_info: dict[str, Any]
    diagnostics: dict[str, pd.DataFrame]
    test: pd.DataFrame


def _drop_pii(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in PII_COLUMNS if c in df.columns])


def run_leads(data: DataSet, config: LeadsConfig, truth: pd.DataFrame | None = None) -> LeadsResult:
    """Grade, route, model and diagnose the lost leads of a validated data set.

    Args:
        data: A validated data set with a ``leads`` table.
        config: The ``leads`` settings.
        truth: The simulator's ``truth/leads.parquet`` (for the oracle reference), if any.

    Returns:
        The graded table, metrics, model, training info, diagnostics and test rows.

    Raises:
        ValueError: No leads table, or no lost leads.
    """
    if not data.has("leads"):
        raise ValueError(
            f"{data.source}: no leads table (leads.parquet or leads.csv); the leads stage "
            "needs one (see docs/data_contract.md)"
        )
    rules = config.rules
    leads = _drop_pii(data.tables["leads"])
    lost = lost_leads(leads)
    if lost.empty:
        raise ValueError(f"{data.source}: the leads table has no lost leads (no lost_date)")
    end = data_end(leads, config.as_of)
    feats = lead_features(lost, rules, data.table("market_events"), data.table("lead_contacts"))
    labels = lead_labels(lost, end, rules.window_days)
    grade = grade_leads(lost, rules)
    routes = route_leads(lost, rules)
    table = feats.join(labels)
    labelled = table[table["labelled"]]
    features = [f for f in lead_feature_names(rules) if f not in set(config.model.exclude)]
    model, info, split = train_lead_model(labelled, features, config.model)
    p_all = model.predict_proba(feats)
    p_test = model.predict_proba(split.test)
    p_true = None
    if truth is not None and "p_buy_90d" in truth.columns:
        p_true = lost["lead_id"].map(truth.set_index("lead_id")["p_buy_90d"])
    evaluation = evaluate_vs_rules(split.test, p_test, grade, p_true)
    graded = lost[
        ["lead_id", "dealer_id", "region", "consultant_id", "model_interest", "lost_date"]
    ].copy()
    graded["lost_reasons"] = lost["lost_reasons"]
    graded["grade"] = grade
    graded = graded.join(routes)
    graded[OUTPUT] = p_all
    graded["labelled"] = labels["labelled"]
    graded[TARGET] = labels[TARGET].where(labels["labelled"])
    graded["slice"] = "unlabelled"
    for name in ("train", "valid", "calib", "test"):
        graded.loc[split[name].index, "slice"] = name
    graded.loc[graded["labelled"] & graded["slice"].eq("unlabelled"), "slice"] = "gap"
    metrics = {
        "data_end": end.strftime("%Y-%m-%d"),
        "lost_leads": int(len(lost)),
        "labelled": int(labels["labelled"].sum()),
        "lost_share_of_decided": float(
            leads["status"].eq("lost").sum() / max(int(leads["status"].ne("open").sum()), 1)
        ),
        "grades": grade.value_counts().reindex(["high", "mid", "low"], fill_value=0).to_dict(),
        "routes": routes["route"].value_counts().sort_index().to_dict(),
        "test": {
            "start": info["split"]["test_start"],
            "end": info["split"]["test_end"],
            **evaluation,
        },
    }
    diagnostics = {
        "reasons_by_model": reasons_by(lost, "model_interest"),
        "reasons_by_consultant": reasons_by(lost, "consultant_id"),
        "reasons_by_month": reasons_by(lost, "month"),
        "reasons_by_region": reasons_by(lost, "region"),
        "competitor_destinations": competitor_destinations(lost),
        "incomplete_records": incomplete_records(
            lost, config.min_leads, config.max_incomplete_share
        ),
    }
    return LeadsResult(graded, metrics, model, info, diagnostics, split.test.assign(p=p_test))
