"""Win-back (recovery) model: P(return within the response window | features, action) and uplift.

Fitted on the labelled rows of the featurize stage's ``recovery.parquet`` (one row per outreach
contact, features as of the contact day). The control group (``group == "control"``, action
``none``) was randomized, so the difference between an action's predicted return probability
and the predicted return probability without contact is that action's **uplift**: what the
store buys with the action, beyond the customers who would come back anyway.

Two meta-learners on LightGBM (chosen with ``learner`` in params):

* ``"s"`` (S-learner): one booster over the features plus ``action`` (a categorical with level
  ``none`` for control); ``p_a`` = prediction with the row's action set to ``a``.
* ``"t"`` (T-learner): one booster per arm (``none`` and each action), each on its own rows.
* ``"tb"`` (T-learner on a shared base): a ``base`` booster over all rows (no ``action``),
  then one booster per arm boosted from the base's log-odds (``init_score``) on that arm's
  rows; ``p_a = sigmoid(base + arm_a)``. The arms only learn departures from a common base,
  so the noise of the base cancels in the uplift.
* ``"tp"`` (pooled treatment on a shared base): as ``"tb"``, but one ``treated`` booster
  learns the departure of *any* contact from the base on all treated rows (four times the rows
  of one arm), and each action's booster only the action's departure from base + treated;
  ``p_a = sigmoid(base + treated + arm_a)``, ``p_none = sigmoid(base + none)``.
* ``"to"`` (transformed outcome / class transformation): for each action ``a`` a regression
  booster ``tau_a`` on the rows with action ``a`` or ``none`` with target
  ``Z = Y·(T/e − (1 − T)/(1 − e))``, where ``e`` is the empirical share of ``a`` among those
  rows within the value tier (the randomisation was stratified by tier), so
  ``E[Z | x] = uplift_a(x)``; ``p_none`` comes from a booster on the control rows and
  ``p_a = clip(p_none + tau_a, 0, 1)``.

* ``"dr"`` (doubly-robust learner): outcome models P(return | arm, x), one per arm, are
  cross-fitted over customers (:func:`models.learners.crossfit_outcome`); for each action a
  regression booster ``tau_a`` learns the pseudo-outcome
  ``φ = μ_a − μ_0 + T·(Y − μ_a)/e − (1 − T)·(Y − μ_0)/(1 − e)`` of the ``a``/control rows
  (``e`` as for ``"to"``), so the uplift is learned on the probability scale, where a contact
  adds a chance of return, rather than as a shift of log-odds, which shrinks the uplift of
  customers whose return is already unlikely; ``p_none`` from a booster on the control rows
  and ``p_a = clip(p_none + tau_a, 0, 1)``.

Probabilities are the boosters' own (not isotonic-calibrated): an isotonic step function maps
nearby probabilities to the same value, which would zero out small uplifts and tie the ranking.
The info dict reports the calibration error on the held-out ``calib`` slice instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.actions import log_facts
from models.churn import (
    ModelConfig,
    config_record,
    select_features,
)
from models.learners import (
    ACTION,
    BASE,
    CONTROL,
    LEARNERS,
    TARGET,
    TAU,
    TREATED,
    OutreachDataError,
    fit_learner,
    raw_score,
)
from models.lgbm import CalibratedBooster
from models.metrics import expected_calibration_error, qini_coefficient
from models.split import TimeSplit, choose_split

logger = logging.getLogger(__name__)


DATE_COL = "contact_date"
UPLIFT_FILE = "uplift.json"


@dataclass
class UpliftModel:
    """Return probability per action and uplift over no contact.

    Attributes:
        learner: One of :data:`models.learners.LEARNERS` (see the module doc).
        actions: Treatment actions (without ``none``), in a fixed order.
        boosters: ``{"s": model}`` for the S-learner; ``{arm: model}`` per arm (``none`` and
            each action) for the T-learner, plus ``"base"`` for ``"tb"`` (and ``"treated"``
            for ``"tp"``); ``{"none": model,
            "tau_<action>": regression model}`` for ``"to"`` and ``"dr"``.
        action_shares: Share of each action among treated training rows (used to score
            control rows in a Qini evaluation).
        meta: JSON-able facts saved with the model.
    """

    learner: str
    actions: list[str]
    boosters: dict[str, CalibratedBooster]
    action_shares: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def action_facts(self) -> dict[str, dict[str, Any]]:
        """Contact cost, channel and contacts per action in the training log (may be empty).

        :func:`models.actions.log_facts` of the outreach log the model was trained on; empty
        for a model saved before the facts were recorded.
        """
        return {str(a): dict(f) for a, f in self.meta.get("action_facts", {}).items()}

    @property
    def no_effect_flags(self) -> list[str]:
        """0/1 columns that, when 1, set every action's uplift to 0 (see :func:`no_effect`)."""
        return list(self.meta.get("no_effect_flags", []))

    @property
    def features(self) -> list[str]:
        """The customer features the model needs (without ``action``), flags included."""
        first = next(iter(self.boosters.values()))
        used = [f for f in first.features if f != ACTION]
        return used + [f for f in self.no_effect_flags if f not in used]

    def _p(
        self, frame: pd.DataFrame, arm: str, raws: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        # raws: raw scores of shared boosters (base, treated) already computed for ``frame``,
        # so predicting every arm scores each booster once
        raws = {} if raws is None else raws

        def raw_of(key: str) -> np.ndarray:
            if key not in raws:
                raws[key] = raw_score(self.boosters[key], frame)
            return raws[key]

        if self.learner == "s":
            x = frame.loc[:, self.features].copy()
            x[ACTION] = arm
            return self.boosters["s"].predict_proba(x)
        if self.learner in ("tb", "tp"):
            raw = raw_of(BASE) + raw_score(self.boosters[arm], frame)
            if self.learner == "tp" and arm != CONTROL:
                raw = raw + raw_of(TREATED)
            return 1.0 / (1.0 + np.exp(-raw))
        if self.learner in ("to", "dr") and arm != CONTROL:
            p0 = self.boosters[CONTROL].predict_proba(frame)
            return np.clip(p0 + raw_score(self.boosters[TAU + arm], frame), 0.0, 1.0)
        return self.boosters[arm].predict_proba(frame)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return probability for every arm and uplift of every action, per row.

        Args:
            frame: Rows with the model's features (an ``action`` column is ignored).

        Returns:
            Index as ``frame``; ``p_none``, ``p_<action>`` and ``uplift_<action>``
            (= ``p_<action> - p_none``) for each action, and ``best_action`` (the action with
            the largest uplift, or ``none`` when no action's uplift is positive).
        """
        out = pd.DataFrame(index=frame.index)
        raws: dict[str, np.ndarray] = {}
        out[f"p_{CONTROL}"] = self._p(frame, CONTROL, raws)
        for a in self.actions:
            out[f"p_{a}"] = self._p(frame, a, raws)
        out = no_effect(out, frame, self.no_effect_flags, self.actions)
        for a in self.actions:
            out[f"uplift_{a}"] = out[f"p_{a}"] - out[f"p_{CONTROL}"]
        up = out[[f"uplift_{a}" for a in self.actions]].to_numpy()
        best = np.asarray(self.actions, dtype=object)[np.argmax(up, axis=1)]
        best = np.where(up.max(axis=1) > 0, best, CONTROL)
        out["best_action"] = pd.Series(best, index=frame.index, dtype="str")
        return out

    def received_uplift(self, frame: pd.DataFrame, predictions: pd.DataFrame | None = None):
        """The uplift score for a Qini evaluation of outreach rows.

        Treated rows get the predicted uplift of the action they received; control rows the
        mean predicted uplift over actions weighted by the training action shares (what a
        randomly drawn treatment would have done for them).

        Returns:
            Float array aligned with ``frame``.
        """
        pred = self.predict(frame) if predictions is None else predictions
        weights = np.array([self.action_shares.get(a, 0.0) for a in self.actions])
        weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1.0)
        ups = pred[[f"uplift_{a}" for a in self.actions]].to_numpy()
        mean_up = ups @ weights
        score = mean_up.copy()
        acts = frame[ACTION].astype("str").to_numpy()
        for j, a in enumerate(self.actions):
            score = np.where(acts == a, ups[:, j], score)
        return score

    def save(self, path: str | Path) -> Path:
        """Save to a directory: ``uplift.json`` and one model sub-directory per booster."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for key, booster in self.boosters.items():
            booster.save(path / key)
        meta = {
            "learner": self.learner,
            "actions": self.actions,
            "boosters": list(self.boosters),
            "action_shares": self.action_shares,
            "meta": self.meta,
        }
        (path / UPLIFT_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> UpliftModel:
        """Load a model saved with :meth:`save`."""
        path = Path(path)
        if not (path / UPLIFT_FILE).is_file():
            raise FileNotFoundError(f"no saved uplift model in {path} (need {UPLIFT_FILE})")
        meta = json.loads((path / UPLIFT_FILE).read_text())
        return cls(
            learner=meta["learner"],
            actions=list(meta["actions"]),
            boosters={k: CalibratedBooster.load(path / k) for k in meta["boosters"]},
            action_shares={k: float(v) for k, v in meta["action_shares"].items()},
            meta=meta.get("meta", {}),
        )


def no_effect(
    probs: pd.DataFrame, frame: pd.DataFrame, flags: list[str], actions: list[str]
) -> pd.DataFrame:
    """Set ``p_<action>`` to ``p_none`` (uplift 0) on rows where any of ``flags`` is 1.

    A domain rule, not a learned effect: a customer who said the car is sold or that they
    moved away (``reported_gone``) cannot be won back by any contact. A flag column missing
    from ``frame`` (or NaN) never triggers it.

    Args:
        probs: ``p_none`` and ``p_<action>`` per row (index of ``frame``).
        frame: The scored rows.
        flags: 0/1 feature names.
        actions: The model's actions.

    Returns:
        ``probs`` with the flagged rows' action probabilities replaced (a copy if changed).
    """
    present = [f for f in flags if f in frame.columns]
    if not present:
        return probs
    hit = (frame[present].astype("float64").fillna(0.0) > 0).any(axis=1).to_numpy()
    if not hit.any():
        return probs
    out = probs.copy()
    for a in actions:
        out[f"p_{a}"] = np.where(hit, out[f"p_{CONTROL}"], out[f"p_{a}"])
    return out


def labelled_rows(recovery: pd.DataFrame) -> pd.DataFrame:
    """Outreach rows whose response window is observed, with a 0/1 ``recovered``."""
    rows = recovery.loc[recovery["labelled"].astype(bool) & recovery[TARGET].notna()].copy()
    rows[TARGET] = rows[TARGET].astype("int64")
    rows[ACTION] = rows[ACTION].astype("str")
    return rows


def train_recovery(
    recovery: pd.DataFrame,
    config: ModelConfig | None = None,
    learner: str = "s",
    split: TimeSplit | None = None,
    no_effect_flags: list[str] | tuple[str, ...] = (),
    rounds: dict[str, int] | None = None,
) -> tuple[UpliftModel, dict[str, Any]]:
    """Train the win-back model on the labelled outreach rows, split by contact date.

    Args:
        recovery: The featurize stage's ``recovery.parquet``.
        config: Model settings (``split.gap_days`` should exceed the response window).
        learner: One of :data:`models.learners.LEARNERS` (see the module doc).
        split: A precomputed split of the labelled rows; computed from ``config.split`` when
            None.
        no_effect_flags: 0/1 features that, when 1, set every action's uplift to 0 at
            prediction (:func:`no_effect`); they need not be model features.
        rounds: A refit (:func:`refit_recovery`): each booster's number of rounds; boosters
            are then fitted on ``split.train`` without early stopping.

    Returns:
        The model and a JSON-able info dict (split, rows, best iterations, valid Qini and
        calib ECE).

    Raises:
        ValueError: Unknown learner or no_effect_flags not in the table.
        OutreachDataError: No labelled rows, no control / treated rows, or an empty arm.
        models.split.SplitError: Too few months of contacts for the split.
    """
    cfg = config or ModelConfig()
    rows, actions = _labelled_arms(recovery, learner, no_effect_flags)
    split = split or choose_split(
        rows, DATE_COL, cfg.split, TARGET, cfg.min_rows, "train.recovery.min_rows"
    )
    features = select_features(rows, cfg)
    treated = split.train.loc[split.train[ACTION] != CONTROL, ACTION]
    shares = {a: round(float((treated == a).mean()), 6) for a in actions}
    logger.info(
        "recovery model (%s-learner): %d features, %d train rows, actions %s",
        learner,
        len(features),
        len(split.train),
        ", ".join(actions),
    )
    boosters, propensities = fit_learner(learner, split, features, actions, cfg, rounds)
    model = UpliftModel(
        learner=learner,
        actions=actions,
        boosters=boosters,
        action_shares=shares,
        meta={
            "model": "recovery",
            "target": TARGET,
            "split": split.boundaries,
            "role": "evaluation" if rounds is None else "deployed",
            "trained_through": str(pd.Timestamp(split.train[DATE_COL].max()).date())
            if rounds is not None
            else split.boundaries["fit_end"],
            "config": config_record(cfg),
            "learner": learner,
        },
    )
    if no_effect_flags:
        model.meta["no_effect_flags"] = list(no_effect_flags)
    # the store's own contact cost and channel of each action, for scoring (models.actions)
    facts = {a: f for a, f in log_facts(recovery).items() if a in actions}
    model.meta["action_facts"] = facts
    info = _train_info(model, split, features, no_effect_flags, cfg)
    model.meta["best_iteration"] = info["best_iteration"]
    if propensities:
        model.meta["propensity"] = propensities
        info["propensity"] = propensities
    logger.log(
        logging.INFO if rounds is None else logging.DEBUG,  # a refit has no held-out rows
        "recovery model: valid Qini %.4f, calib Qini %.4f, calib ECE %.4f",
        info["valid_qini"],
        info["calib_qini"],
        info["calib_ece"],
    )
    return model, info


def _labelled_arms(
    recovery: pd.DataFrame, learner: str, no_effect_flags: list[str] | tuple[str, ...]
) -> tuple[pd.DataFrame, list[str]]:
    """The labelled outreach rows and the treated actions, after the input checks.

    Raises:
        ValueError: Unknown learner or no_effect_flags not in the table.
        OutreachDataError: No labelled rows, or no control or no treated rows.
    """
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}, not {learner!r}")
    rows = labelled_rows(recovery)
    if rows.empty:
        raise OutreachDataError(
            "the outreach log has no labelled rows (response windows not observed)"
        )
    actions = sorted(a for a in rows[ACTION].unique() if a != CONTROL)
    if not actions or not (rows[ACTION] == CONTROL).any():
        raise OutreachDataError(
            "uplift needs both control (action 'none') and treated outreach rows"
        )
    missing = [f for f in no_effect_flags if f not in rows.columns]
    if missing:
        raise ValueError(f"no_effect_flags not in the recovery table: {missing}")
    return rows, actions


def _train_info(
    model: UpliftModel,
    split: TimeSplit,
    features: list[str],
    no_effect_flags: list[str] | tuple[str, ...],
    cfg: ModelConfig,
) -> dict[str, Any]:
    """The JSON-able training record: split, rows, best iterations, held-out Qini and ECE."""
    return {
        "model": "recovery",
        "learner": model.learner,
        "actions": model.actions,
        "action_shares": model.action_shares,
        "best_iteration": {
            k: int(b.booster.best_iteration or b.booster.current_iteration())
            for k, b in model.boosters.items()
        },
        "n_features": len(features),
        "features": features,
        "no_effect_flags": list(no_effect_flags),
        "split": split.boundaries,
        **split.summary(TARGET),
        "control_rows": {
            k: int((split[k][ACTION] == CONTROL).sum()) for k in ("train", "valid", "calib", "test")
        },
        "valid_qini": _qini(model, split.valid),
        "calib_qini": _qini(model, split.calib),
        "calib_ece": _ece(model, split.calib),
        "lgbm_params": cfg.lgbm_params(),
    }


def refit_recovery(
    recovery: pd.DataFrame,
    evaluated: UpliftModel,
    config: ModelConfig,
    no_effect_flags: list[str] | tuple[str, ...] = (),
) -> tuple[UpliftModel, dict[str, Any]]:
    """Refit the evaluated uplift model on every labelled contact, for scoring.

    Each booster is refitted with the evaluated model's learner and its own early-stopped
    number of rounds (no early stopping, no held-out slice).

    Args:
        recovery: The recovery table.
        evaluated: The model :func:`train_recovery` returned.
        config: The settings it was trained with.
        no_effect_flags: As for :func:`train_recovery`.

    Returns:
        The refit model (``meta["role"] == "deployed"``, ``meta["trained_through"]`` = the
        latest contact it learned from) and a JSON-able info dict.
    """
    rows = labelled_rows(recovery)
    empty = rows.iloc[:0]
    everything = TimeSplit(
        train=rows,
        valid=empty,
        calib=empty,
        test=empty,
        boundaries=dict(evaluated.meta.get("split") or {}),
    )
    rounds = {k: int(v) for k, v in evaluated.meta["best_iteration"].items()}
    cfg = dataclasses.replace(config, features=list(evaluated.features))
    model, _ = train_recovery(
        recovery,
        cfg,
        evaluated.learner,
        split=everything,
        no_effect_flags=no_effect_flags,
        rounds=rounds,
    )
    # the recipe is the evaluated configuration (features "all", not the list it resolved to)
    model.meta["config"] = config_record(config)
    model.meta["trained_from"] = str(pd.Timestamp(rows[DATE_COL].min()).date())
    model.meta["best_iteration"] = rounds
    info = {
        "rounds": rounds,
        "rows": len(rows),
        "control_rows": int((rows[ACTION] == CONTROL).sum()),
        "trained_from": model.meta["trained_from"],
        "trained_through": model.meta["trained_through"],
    }
    logger.info(
        "recovery refit: %d labelled contacts %s..%s",
        len(rows),
        info["trained_from"],
        info["trained_through"],
    )
    return model, info


def treatment_indicator(frame: pd.DataFrame) -> np.ndarray:
    """1 for treated outreach rows, 0 for control rows."""
    return (frame[ACTION].astype("str") != CONTROL).astype("int64").to_numpy()


def _qini(model: UpliftModel, frame: pd.DataFrame) -> float:
    t = treatment_indicator(frame)
    if t.sum() == 0 or t.sum() == len(t):
        return float("nan")
    return round(qini_coefficient(frame[TARGET], t, model.received_uplift(frame)), 6)


def _ece(model: UpliftModel, frame: pd.DataFrame) -> float:
    if frame.empty:
        return float("nan")
    pred = model.predict(frame)
    acts = frame[ACTION].astype("str").to_numpy()
    p = pred[f"p_{CONTROL}"].to_numpy().copy()
    for a in model.actions:
        p = np.where(acts == a, pred[f"p_{a}"].to_numpy(), p)
    return round(expected_calibration_error(frame[TARGET], p), 6)
