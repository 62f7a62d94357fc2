"""The meta-learners of the win-back (uplift) model: how each one's boosters are fitted.

:mod:`models.recovery` holds the model (:class:`~models.recovery.UpliftModel`), its training
entry points and its record; this module holds the fitting of each learner (see the module
doc of :mod:`models.recovery` for what each learner is) and the pieces they share: the
outreach log's column names, the empirical propensities and the pseudo-outcomes.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.vocabulary import NO_ACTION, TIER_BOUNDS, value_tier_index
from models.churn import (
    ModelConfig,
    categories_of,
    fit_booster,
    train_early_stopped,
    train_rounds,
)
from models.lgbm import CalibratedBooster, predict_threads
from models.split import TimeSplit

TARGET = "recovered"
ACTION = "action"
CONTROL = NO_ACTION  # the outreach log's control arm
LEARNERS = ("s", "t", "tb", "tp", "to", "dr")
BASE = "base"
TREATED = "treated"
TAU = "tau_"
# Value tiers of the outreach randomisation (trailing-12-month spend), used to estimate the
# empirical propensities of the transformed-outcome and doubly-robust learners.
TIER_COL = "spend_365d"
#: Cross-fitting folds of the doubly-robust learner's outcome models.
DR_FOLDS = 2


class OutreachDataError(ValueError):
    """The outreach log cannot train an uplift model (no labelled, control or treated rows)."""


def raw_score(model: CalibratedBooster, frame: pd.DataFrame) -> np.ndarray:
    """A booster's raw score (log-odds of a binary booster, value of a regression one)."""
    return model.booster.predict(model.frame(frame), raw_score=True, num_threads=predict_threads())


def value_tiers(frame: pd.DataFrame) -> np.ndarray:
    """Value tier 0/1/2 of each row from trailing-12-month spend (all 0 without the column)."""
    if TIER_COL not in frame.columns:
        return np.zeros(len(frame), dtype="int64")
    return value_tier_index(frame[TIER_COL].astype("float64").to_numpy(), TIER_BOUNDS)


def arm_propensity(train: pd.DataFrame, action: str) -> dict[int, float]:
    """Share of ``action`` among the ``action``/control rows of ``train``, per value tier."""
    rows = train.loc[train[ACTION].isin([action, CONTROL])]
    tiers = value_tiers(rows)
    is_a = (rows[ACTION] == action).to_numpy()
    overall = float(is_a.mean())
    out = {}
    for tier in range(len(TIER_BOUNDS) + 1):
        mask = tiers == tier
        # Sparse tiers fall back to the overall share (and keep e away from 0 and 1).
        e = float(is_a[mask].mean()) if mask.sum() >= 50 else overall
        out[tier] = round(min(max(e, 0.05), 0.95), 6)
    return out


def transformed_outcome(frame: pd.DataFrame, action: str, propensity: dict[int, float]):
    """``Z = Y·(T/e − (1 − T)/(1 − e))`` for the ``action``/control rows of ``frame``."""
    e = pd.Series(value_tiers(frame)).map(propensity).to_numpy(dtype="float64")
    t = (frame[ACTION] == action).to_numpy(dtype="float64")
    y = frame[TARGET].to_numpy(dtype="float64")
    return y * (t / e - (1.0 - t) / (1.0 - e))


def _fit_custom(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: list[str],
    config: ModelConfig,
    label: tuple[np.ndarray, np.ndarray],
    init: tuple[np.ndarray, np.ndarray] | None = None,
    regression: bool = False,
    rounds: int | None = None,
) -> CalibratedBooster:
    """Fit a booster on explicit labels (and optional init scores), early-stopped on valid.

    With ``rounds`` (a refit) exactly that many rounds are fitted and ``valid`` is unused.
    """
    model = CalibratedBooster(
        booster=None,  # type: ignore[arg-type]
        features=features,
        categories=categories_of(train, features),
    )
    params = config.lgbm_params()
    if regression:
        params.update(objective="regression", metric="l2")
    dtrain = lgb.Dataset(
        model.frame(train),
        label=label[0],
        init_score=None if init is None else init[0],
        free_raw_data=False,
    )
    if rounds is not None:
        model.booster = train_rounds(params, dtrain, rounds)
        return model
    dvalid = lgb.Dataset(
        model.frame(valid),
        label=label[1],
        init_score=None if init is None else init[1],
        reference=dtrain,
    )
    model.booster = train_early_stopped(params, dtrain, dvalid, config)
    return model


def _fit_one(
    rows: TimeSplit | dict[str, pd.DataFrame],
    features: list[str],
    config: ModelConfig,
    rounds: int | None = None,
) -> CalibratedBooster:
    model = CalibratedBooster(
        booster=None,  # type: ignore[arg-type]  # set right below, frame() does not need it
        features=features,
        categories=categories_of(rows["train"], features),
    )
    model.booster = fit_booster(model, rows["train"], rows["valid"], TARGET, config, rounds)
    return model


def fit_learner(
    learner: str,
    split: TimeSplit,
    features: list[str],
    actions: list[str],
    cfg: ModelConfig,
    rounds: dict[str, int] | None,
) -> tuple[dict[str, CalibratedBooster], dict[str, dict[str, float]]]:
    """Fit the boosters of one learner (see the module doc).

    Returns:
        The boosters by key (arm, base, treated or ``tau_<action>``) and, for the
        transformed-outcome and doubly-robust learners, each action's propensity by value tier.
    """

    def r(key: str) -> int | None:
        return None if rounds is None else int(rounds[key])

    boosters: dict[str, CalibratedBooster] = {}
    propensities: dict[str, dict[str, float]] = {}
    if learner == "s":
        boosters["s"] = _fit_one(split, [*features, ACTION], cfg, r("s"))
        # ``action`` levels must include every arm even if one is rare in the train slice.
        boosters["s"].categories[ACTION] = [CONTROL, *actions]
    elif learner == "t":
        for arm in [CONTROL, *actions]:
            boosters[arm] = _fit_one(_arm_rows(split, arm, rounds), features, cfg, r(arm))
    elif learner in ("tb", "tp"):
        boosters[BASE] = _fit_one(split, features, cfg, r(BASE))
        if learner == "tp":
            part = {k: split[k].loc[split[k][ACTION] != CONTROL] for k in ("train", "valid")}
            boosters[TREATED] = _fit_boosted(part, features, cfg, [boosters[BASE]], r(TREATED))
        for arm in [CONTROL, *actions]:
            below = [boosters[BASE]]
            if learner == "tp" and arm != CONTROL:
                below.append(boosters[TREATED])
            boosters[arm] = _fit_boosted(
                _arm_rows(split, arm, rounds), features, cfg, below, r(arm)
            )
    elif learner == "dr":
        boosters[CONTROL] = _fit_one(_arm_rows(split, CONTROL, rounds), features, cfg, r(CONTROL))
        for a, e, tau in _fit_dr(split, features, actions, cfg, rounds):
            propensities[a] = e
            boosters[TAU + a] = tau
    else:
        boosters[CONTROL] = _fit_one(_arm_rows(split, CONTROL, rounds), features, cfg, r(CONTROL))
        for a in actions:
            part = {
                k: split[k].loc[split[k][ACTION].isin([a, CONTROL])] for k in ("train", "valid")
            }
            e = arm_propensity(part["train"], a)
            propensities[a] = {str(k): v for k, v in e.items()}
            boosters[TAU + a] = _fit_custom(
                part["train"],
                part["valid"],
                features,
                cfg,
                label=(
                    transformed_outcome(part["train"], a, e),
                    transformed_outcome(part["valid"], a, e),
                ),
                regression=True,
                rounds=r(TAU + a),
            )
    return boosters, propensities


def _fit_boosted(
    part: dict[str, pd.DataFrame],
    features: list[str],
    config: ModelConfig,
    below: list[CalibratedBooster],
    rounds: int | None = None,
) -> CalibratedBooster:
    """A binary booster on ``part`` boosted from the summed log-odds of the ``below`` models."""

    def init(frame: pd.DataFrame) -> np.ndarray:
        return np.sum([raw_score(m, frame) for m in below], axis=0)

    return _fit_custom(
        part["train"],
        part["valid"],
        features,
        config,
        label=(_y(part["train"]), _y(part["valid"])),
        # a refit (rounds given) has no valid rows to score
        init=(init(part["train"]), init(part["valid"]) if len(part["valid"]) else None),
        rounds=rounds,
    )


def _arm_rows(
    split: TimeSplit, arm: str, rounds: dict[str, int] | None = None
) -> dict[str, pd.DataFrame]:
    part = {k: split[k].loc[split[k][ACTION] == arm] for k in ("train", "valid")}
    if part["train"].empty or (rounds is None and part["valid"].empty):
        raise OutreachDataError(f"the {arm!r} arm has no train/valid rows")
    return part


def _y(frame: pd.DataFrame) -> np.ndarray:
    return frame[TARGET].astype("float64").to_numpy()


def customer_folds(frame: pd.DataFrame, folds: int = DR_FOLDS) -> np.ndarray:
    """Fold 0..folds-1 of each row by a fixed hash of its ``customer_id`` (deterministic).

    All contacts of one customer fall in one fold, so a customer's own outcomes never fit the
    outcome model that scores them.
    """
    ids = frame["customer_id"].astype("str")
    return (pd.util.hash_pandas_object(ids, index=False).to_numpy() % folds).astype("int64")


def crossfit_outcome(
    rows: pd.DataFrame, arm: str, features: list[str], cfg: ModelConfig, score: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(return | ``arm``, x) for ``rows`` and the fold models' mean for ``score``.

    Fold k's model is fitted on the ``arm`` rows of the other folds and early-stopped on the
    ``arm`` rows of fold k (the held-out fold only chooses the number of rounds), then
    predicts every row of fold k.

    Raises:
        OutreachDataError: A fold has no ``arm`` rows.
    """
    fold = customer_folds(rows)
    out = np.full(len(rows), np.nan)
    other = np.zeros(len(score))
    is_arm = (rows[ACTION] == arm).to_numpy()
    for k in range(DR_FOLDS):
        fit, stop = rows.loc[is_arm & (fold != k)], rows.loc[is_arm & (fold == k)]
        if fit.empty or stop.empty:
            raise OutreachDataError(f"the {arm!r} arm has too few customers to cross-fit")
        model = _fit_one({"train": fit, "valid": stop}, features, cfg)
        out[fold == k] = model.predict_proba(rows.loc[fold == k])
        if len(score):
            other += model.predict_proba(score) / DR_FOLDS
    return out, other


def dr_pseudo_outcome(
    frame: pd.DataFrame,
    action: str,
    propensity: dict[int, float],
    mu_action: np.ndarray,
    mu_control: np.ndarray,
) -> np.ndarray:
    """Doubly-robust pseudo-outcome of ``action`` vs control for its ``action``/control rows.

    ``φ = μ_a − μ_0 + T·(Y − μ_a)/e − (1 − T)·(Y − μ_0)/(1 − e)`` with ``e`` the share of
    ``action`` among the ``action``/control rows of the row's value tier; ``E[φ | x]`` is the
    uplift of ``action`` if either the outcome models or the propensities are right.
    """
    e = pd.Series(value_tiers(frame)).map(propensity).to_numpy(dtype="float64")
    t = (frame[ACTION] == action).to_numpy(dtype="float64")
    y = frame[TARGET].to_numpy(dtype="float64")
    return mu_action - mu_control + t * (y - mu_action) / e - (1.0 - t) * (y - mu_control) / (1 - e)


def _fit_dr(
    split: TimeSplit,
    features: list[str],
    actions: list[str],
    cfg: ModelConfig,
    rounds: dict[str, int] | None,
) -> list[tuple[str, dict[str, float], CalibratedBooster]]:
    """The doubly-robust learner's uplift regressions, one per action.

    Outcome models per arm are cross-fitted over customers of the train slice
    (:func:`crossfit_outcome`); each action's booster regresses the pseudo-outcomes
    (:func:`dr_pseudo_outcome`) of its ``action``/control rows, on the probability scale.
    """
    train, valid = split["train"], split["valid"]
    mu0, mu0_valid = crossfit_outcome(train, CONTROL, features, cfg, valid)
    fitted = []
    for a in actions:
        mu_a, mu_a_valid = crossfit_outcome(train, a, features, cfg, valid)
        keep = train[ACTION].isin([a, CONTROL]).to_numpy()
        keep_valid = valid[ACTION].isin([a, CONTROL]).to_numpy()
        part = {"train": train.loc[keep], "valid": valid.loc[keep_valid]}
        e = arm_propensity(part["train"], a)
        label_train = dr_pseudo_outcome(part["train"], a, e, mu_a[keep], mu0[keep])
        label_valid = dr_pseudo_outcome(
            part["valid"], a, e, mu_a_valid[keep_valid], mu0_valid[keep_valid]
        )
        tau = _fit_custom(
            part["train"],
            part["valid"],
            features,
            cfg,
            label=(label_train, label_valid),
            regression=True,
            rounds=None if rounds is None else int(rounds[TAU + a]),
        )
        fitted.append((a, {str(k): v for k, v in e.items()}, tau))
    return fitted
