"""The observable ceiling: the best a policy can do from the features the win-back model sees.

The oracle of :mod:`models.policy` is fed the simulator's true response probabilities, which
depend on hidden states (an owner who sold the car, the reason and date of a defection, price
sensitivity) that no history shows. Its gap to the model policy therefore mixes two things:
what the features cannot tell apart, and what the uplift model estimates badly. The ceiling
separates them. Per arm, a LightGBM regression is fitted to the **true** P(return | arm) from
exactly the features the uplift model reads, cross-fitted over customers (a customer's own
truth never fits the model that predicts it), and :func:`models.policy.recommend` is fed those
fitted probabilities with the same money model, caps and budget.

So the ceiling is the policy of a model that had noise-free labels for every customer and
every arm, which no store has: a reference read from the truth, like the oracle, never a model
input. Model policy / ceiling is the share of what the features allow that the model reaches;
ceiling / oracle is what the features allow at all.

Settings: the ``policy.ceiling`` block of params.yaml (:class:`CeilingConfig`); LightGBM
params pass straight through.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import config_from_params
from models.churn import categories_of

logger = logging.getLogger(__name__)

#: The policy name of the ceiling in the comparison tables.
CEILING = "ceiling"


def _default_lgbm() -> dict[str, Any]:
    return {
        "objective": "regression",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "verbosity": -1,
        "num_threads": 2,
        "deterministic": True,
        "force_row_wise": True,
        "seed": 42,
    }


@dataclass(frozen=True)
class CeilingConfig:
    """The ``policy.ceiling`` block of params.yaml.

    Attributes:
        enabled: Compute the ceiling when the policy stage has the truth.
        folds: Customer folds of the cross-fitting (at least 2).
        num_boost_round: Boosting rounds of each fold's regression (no early stopping: the
            labels are noise-free probabilities, so more rounds only fit them closer).
        lgbm: LightGBM parameters, passed straight through.
    """

    enabled: bool = True
    folds: int = 2
    num_boost_round: int = 300
    lgbm: Mapping[str, Any] = field(default_factory=_default_lgbm)

    def __post_init__(self) -> None:
        if int(self.folds) < 2:
            raise ValueError(f"policy.ceiling.folds must be at least 2, got {self.folds}")
        if int(self.num_boost_round) < 1:
            raise ValueError(
                f"policy.ceiling.num_boost_round must be at least 1, got {self.num_boost_round}"
            )

    @classmethod
    def from_params(cls, block: Mapping[str, Any] | None) -> CeilingConfig:
        """Build from the ``policy.ceiling`` block (unknown keys fail loudly)."""
        block = dict(block or {})
        if "lgbm" in block:
            block["lgbm"] = {**_default_lgbm(), **dict(block["lgbm"] or {})}
        return config_from_params(cls, block, "policy.ceiling")


def _design(features: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The feature columns typed for LightGBM: text and categorical columns as categories."""
    missing = [n for n in names if n not in features.columns]
    if missing:
        raise ValueError(f"the features have no column(s) {missing[:10]}")
    x = features.loc[:, names].copy()
    for col, levels in categories_of(x, names).items():
        values = x[col].astype("str").where(x[col].notna())
        x[col] = pd.Categorical(values, categories=levels)
    for col in names:
        if isinstance(x[col].dtype, pd.CategoricalDtype):
            continue
        x[col] = pd.to_numeric(x[col], errors="coerce").astype("float64")
    return x


def customer_fold(ids: pd.Series, folds: int) -> np.ndarray:
    """Fold 0..folds-1 of each customer by a fixed hash of the id (deterministic)."""
    hashed = pd.util.hash_pandas_object(ids.astype("str"), index=False).to_numpy()
    return (hashed % folds).astype("int64")


def observable_ceiling(
    features: pd.DataFrame,
    truth_probs: pd.DataFrame,
    feature_names: list[str],
    config: CeilingConfig | None = None,
) -> pd.DataFrame:
    """Cross-fitted LightGBM fits of the true arm probabilities from the model's features.

    Args:
        features: One row per customer, with ``customer_id`` and ``feature_names``.
        truth_probs: :func:`models.policy.truth_probabilities` (``p_none``, ``p_<action>``),
            index as ``features``.
        feature_names: The features the uplift model reads (``UpliftModel.features``).
        config: The settings (defaults when None).

    Returns:
        Index and columns as ``truth_probs``: each customer's fitted P(return | arm) from
        the models of the folds it is not in, clipped to [0, 1].

    Raises:
        ValueError: A feature column is absent, or there are fewer customers than folds.
    """
    import lightgbm as lgb

    cfg = config or CeilingConfig()
    if len(features) < cfg.folds:
        raise ValueError(f"the ceiling needs at least {cfg.folds} customers, got {len(features)}")
    x = _design(features, list(feature_names))
    fold = customer_fold(features["customer_id"], int(cfg.folds))
    params = dict(cfg.lgbm)
    out = pd.DataFrame(index=truth_probs.index)
    for col in truth_probs.columns:
        y = truth_probs[col].to_numpy(dtype="float64")
        fitted = np.full(len(y), np.nan)
        for k in range(int(cfg.folds)):
            test = fold == k
            train = ~test & np.isfinite(y)
            if not test.any():
                continue
            if not train.any():
                fitted[test] = float(np.nanmean(y))
                continue
            data = lgb.Dataset(x.loc[train], y[train], params={"verbosity": -1})
            booster = lgb.train(params, data, num_boost_round=int(cfg.num_boost_round))
            fitted[test] = booster.predict(x.loc[test])
        out[col] = np.clip(fitted, 0.0, 1.0)
    logger.info(
        "observable ceiling: %d arms fitted on %d features, %d customer folds",
        truth_probs.shape[1],
        len(feature_names),
        cfg.folds,
    )
    return out
