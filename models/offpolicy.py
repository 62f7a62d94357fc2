"""Off-policy estimate of a win-back policy's net value from the randomized outreach log.

On a store's own data there is no truth to value a policy with; there is the campaign log,
whose arms were randomized with a known (or estimated) propensity ``e_i`` = P(arm | picked)
(the recovery table's ``propensity``, :mod:`features.propensity`). For every logged contact
i, every arm a (``none`` included) and outcome ``y_i`` (returned within the response window):

* **doubly-robust pseudo-outcome** ``Γ_a,i = μ_a(x_i) + 1[a_i = a] / e_i · (y_i − μ_a(x_i))``,
  where ``μ_a(x_i)`` is a model's P(return | a) (the uplift model's ``p_<a>``); with no model
  (``μ = 0``) it is the inverse-propensity (IPS) score ``1[a_i = a] / e_i · y_i``. Under
  randomization within the campaign (``e_i`` right) its expectation is the true P(return | a)
  for every μ; a good μ only lowers the variance.
* **net value** of a policy π on the logged rows, the policy's own money model
  (:mod:`models.policy`): ``Σ_{π_i ≠ none} (Γ_π_i,i − Γ_none,i) · V_i − cost(π_i)``, with
  ``cost(a)`` = contact cost + coupon value × ``Γ_a,i`` for coupon actions
  (:func:`models.policy.action_cost`).

The interval is a seeded percentile bootstrap over customers (or campaigns): the same draws
value the IPS and the DR estimate. docs/policy.md ("Off-policy estimate") states the
assumptions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.config import config_from_params
from features.propensity import PROPENSITY, arms, campaigns
from features.vocabulary import NO_ACTION
from models.policy import action_cost
from models.segments import ScoreConfig

logger = logging.getLogger(__name__)

TARGET = "recovered"
IPS, DR = "ips", "dr"
RESAMPLE_UNITS = ("customer", "campaign")
ESTIMATE_COLUMNS = (
    "estimator",
    "net_value",
    "incremental_value",
    "cost",
    "standard_error",
    "low",
    "high",
)


@dataclass(frozen=True)
class OffPolicyConfig:
    """The ``offpolicy:`` block of params.yaml.

    Attributes:
        bootstrap_draws: Bootstrap resamples of the interval (0 = no interval).
        level: Coverage of the percentile interval.
        resample: The bootstrap unit: ``customer`` (all contacts of a customer together) or
            ``campaign`` (all contacts of a campaign, :func:`features.propensity.campaigns`).
        seed: Seed of the bootstrap draws.
    """

    bootstrap_draws: int = 1000
    level: float = 0.95
    resample: str = "customer"
    seed: int = 42

    def __post_init__(self) -> None:
        if self.bootstrap_draws < 0:
            raise ValueError(f"offpolicy.bootstrap_draws must be >= 0, got {self.bootstrap_draws}")
        if not 0 < self.level < 1:
            raise ValueError(f"offpolicy.level must be in (0, 1), got {self.level}")
        if self.resample not in RESAMPLE_UNITS:
            raise ValueError(
                f"offpolicy.resample must be one of {RESAMPLE_UNITS}, not {self.resample!r}"
            )

    @classmethod
    def from_params(cls, block: dict[str, Any] | None) -> OffPolicyConfig:
        """Build from the ``offpolicy:`` block (unknown keys are an error)."""
        return config_from_params(cls, block, "offpolicy")


@dataclass(frozen=True)
class Estimate:
    """One estimator's value of a policy on the logged rows (CNY).

    Attributes:
        net_value: Incremental value − cost.
        incremental_value: ``Σ (Γ_π − Γ_none) · V`` over the contacted rows.
        cost: Expected contact and coupon cost over the contacted rows.
        standard_error: Of ``net_value``, from the spread of the resampling units' sums.
        low: Lower end of the bootstrap interval (NaN without draws).
        high: Upper end.
    """

    net_value: float
    incremental_value: float
    cost: float
    standard_error: float
    low: float
    high: float


@dataclass(frozen=True, eq=False)
class PolicyValue:
    """The off-policy value of one policy on a campaign log.

    Attributes:
        ips: The inverse-propensity estimate.
        dr: The doubly-robust estimate; None when no outcome model was given.
        rows: Logged rows valued (every row of the log).
        contacts: Rows the policy contacts (``π_i ≠ none``).
        matched: Contacted rows whose logged arm is the policy's action (with the contacted
            rows logged as control, the only rows IPS learns from).
        arms: Per arm (index): ``policy`` (rows the policy gives it), ``logged`` (rows logged
            with it), ``matched`` (both).
        level: Coverage of the intervals.
        draws: Bootstrap resamples.
        resample: The bootstrap unit.
        units: Resampling units in the log.
    """

    ips: Estimate
    dr: Estimate | None
    rows: int
    contacts: int
    matched: int
    arms: pd.DataFrame
    level: float
    draws: int
    resample: str
    units: int

    def table(self) -> pd.DataFrame:
        """One row per estimator: :data:`ESTIMATE_COLUMNS`."""
        found = [(IPS, self.ips)] + ([(DR, self.dr)] if self.dr is not None else [])
        rows = [{"estimator": name, **e.__dict__} for name, e in found]
        return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


def _checked_log(log: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The logged arm, outcome and propensity per row, after the input checks."""
    missing = [c for c in ("action", "group", TARGET, PROPENSITY) if c not in log.columns]
    if missing:
        raise ValueError(
            f"the campaign log lacks column(s) {missing}: it needs action, group, {TARGET} and "
            f"{PROPENSITY} (the featurize stage's recovery table, labelled rows)"
        )
    y = pd.to_numeric(log[TARGET], errors="coerce").to_numpy(dtype="float64")
    bad_y = ~np.isfinite(y) | (y < 0) | (y > 1)
    if bad_y.any():
        raise ValueError(
            f"{int(bad_y.sum())} logged row(s) have no observed outcome {TARGET!r} in [0, 1]: "
            "value only rows whose response window is observed (models.recovery.labelled_rows)"
        )
    e = pd.to_numeric(log[PROPENSITY], errors="coerce").to_numpy(dtype="float64")
    bad_e = ~np.isfinite(e) | (e <= 0) | (e > 1)
    if bad_e.any():
        raise ValueError(
            f"{int(bad_e.sum())} logged row(s) have a {PROPENSITY!r} outside (0, 1] or missing"
        )
    return arms(log).to_numpy(dtype=object), y, e


def dr_scores(
    log: pd.DataFrame, mu: pd.DataFrame | None, actions: list[str] | tuple[str, ...]
) -> pd.DataFrame:
    """Doubly-robust pseudo-outcomes ``Γ_a,i`` of every arm for every logged row.

    Args:
        log: Logged rows with ``action``, ``group``, ``recovered`` (0/1, or a probability)
            and ``propensity`` (P(the row's arm | picked), in ``(0, 1]``).
        mu: Predicted P(return | arm) per row, index as ``log``: ``p_none`` and ``p_<a>``
            for each action (as :meth:`models.recovery.UpliftModel.predict` returns); None
            = ``μ = 0``, the inverse-propensity (IPS) scores.
        actions: The treated arms to score (``none`` is always scored).

    Returns:
        Index as ``log``: ``gamma_none`` and ``gamma_<a>`` for each action.

    Raises:
        ValueError: A column is missing, an outcome is unobserved, a propensity is outside
            ``(0, 1]``, or ``mu`` lacks an arm or is not aligned with ``log``.
    """
    arm, y, e = _checked_log(log)
    scored = [NO_ACTION, *[a for a in actions if a != NO_ACTION]]
    if mu is not None:
        if not mu.index.equals(log.index):
            raise ValueError("mu must have the log's index (one prediction row per logged row)")
        lacking = [f"p_{a}" for a in scored if f"p_{a}" not in mu.columns]
        if lacking:
            raise ValueError(f"mu lacks column(s) {lacking}: the outcome model has no such arm")
    out = pd.DataFrame(index=log.index)
    for a in scored:
        m = np.zeros(len(log)) if mu is None else mu[f"p_{a}"].to_numpy(dtype="float64")
        out[f"gamma_{a}"] = m + (arm == a) / e * (y - m)
    return out


def row_values(
    scores: pd.DataFrame,
    decisions: pd.Series,
    value: pd.Series,
    config: ScoreConfig,
) -> pd.DataFrame:
    """Each logged row's contribution to a policy's net value, from its pseudo-outcomes.

    Args:
        scores: :func:`dr_scores` of the log (the policy's arms and ``none``).
        decisions: The policy's action per row (``none`` = no contact), index as ``scores``.
        value: Value of a return V per row (CNY, :func:`models.policy.return_value`).
        config: The money model, resolved for the actions
            (:func:`models.actions.resolve_actions`): contact costs and coupons.

    Returns:
        Index as ``scores``: ``incremental_value`` (``(Γ_π − Γ_none) · V``), ``cost``
        (contact cost + coupon value × ``Γ_π`` for a coupon) and ``net_value``; 0 on rows
        the policy does not contact.

    Raises:
        ValueError: Misaligned inputs, a decided action without scores or without a cost.
    """
    if not (decisions.index.equals(scores.index) and value.index.equals(scores.index)):
        raise ValueError("decisions and value must have the log's index")
    pi = decisions.astype("str").to_numpy(dtype=object)
    v = pd.to_numeric(value, errors="coerce").to_numpy(dtype="float64")
    g0 = scores[f"gamma_{NO_ACTION}"].to_numpy(dtype="float64")
    incr, cost = np.zeros(len(pi)), np.zeros(len(pi))
    for a in sorted(set(pi) - {NO_ACTION}):
        if f"gamma_{a}" not in scores.columns:
            raise ValueError(f"no pseudo-outcomes for action {a!r}: score it in dr_scores")
        m = pi == a
        if not np.isfinite(v[m]).all():
            raise ValueError(f"value of a return missing on rows the policy gives {a!r}")
        ga = scores[f"gamma_{a}"].to_numpy(dtype="float64")[m]
        incr[m] = (ga - g0[m]) * v[m]
        cost[m] = action_cost(a, ga, config)
    return pd.DataFrame(
        {"incremental_value": incr, "cost": cost, "net_value": incr - cost}, index=scores.index
    )


def _units(log: pd.DataFrame, resample: str) -> np.ndarray:
    """Resampling unit code per row: its customer, or its campaign."""
    col = "customer_id" if resample == "customer" else "contact_date"
    if col not in log.columns:
        raise ValueError(f"resampling by {resample} needs a {col!r} column in the log")
    keys = log[col].astype("str") if resample == "customer" else campaigns(log[col])
    return pd.factorize(keys, sort=True)[0]


def _estimate(
    values: pd.DataFrame, units: np.ndarray, draws: np.ndarray | None, level: float
) -> Estimate:
    net = values["net_value"].to_numpy(dtype="float64")
    sums = np.bincount(units, weights=net, minlength=int(units.max()) + 1 if len(units) else 0)
    n = len(sums)
    se = float(np.sqrt(n) * sums.std(ddof=1)) if n > 1 else float("nan")
    low = high = float("nan")
    if draws is not None and n:
        totals = np.concatenate([sums[chunk].sum(axis=1) for chunk in draws])
        low, high = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2]).tolist()
    return Estimate(
        net_value=float(net.sum()),
        incremental_value=float(values["incremental_value"].sum()),
        cost=float(values["cost"].sum()),
        standard_error=se,
        low=float(low),
        high=float(high),
    )


def _draws(n_units: int, config: OffPolicyConfig) -> list[np.ndarray] | None:
    """Bootstrap draws of unit positions, in chunks (one generator: the same for every call)."""
    if config.bootstrap_draws == 0 or n_units == 0:
        return None
    rng = np.random.default_rng(config.seed)
    chunk = max(1, min(config.bootstrap_draws, 2_000_000 // max(n_units, 1)))
    out, left = [], config.bootstrap_draws
    while left > 0:
        k = min(chunk, left)
        out.append(rng.integers(0, n_units, size=(k, n_units)))
        left -= k
    return out


def policy_value(
    log: pd.DataFrame,
    decisions: pd.Series,
    value: pd.Series,
    config: ScoreConfig,
    mu: pd.DataFrame | None = None,
    settings: OffPolicyConfig | None = None,
) -> PolicyValue:
    """Estimated net value of a policy on the logged customers: IPS, and DR when ``mu`` is given.

    Each logged row i gets the policy's action ``π_i`` (``decisions``); its contribution is
    ``(Γ_π_i,i − Γ_none,i) · V_i − cost(π_i)`` when ``π_i ≠ none``, else 0
    (:func:`row_values`). A row whose logged arm is not ``π_i`` contributes through μ only
    (DR) or not at all (IPS).

    Args:
        log: Labelled outreach rows (the recovery table's, :func:`models.recovery.labelled_rows`)
            with ``action``, ``group``, ``recovered``, ``propensity``, and ``customer_id`` /
            ``contact_date`` for the bootstrap unit.
        decisions: The policy's action per logged row (``none`` = no contact), index as ``log``.
        value: Value of a return V per row (CNY), index as ``log``.
        config: The money model resolved for the actions (contact costs, coupons).
        mu: Predicted P(return | arm) per row (``p_none``, ``p_<a>``) for the DR estimate;
            None gives the IPS estimate only.
        settings: Bootstrap settings; defaults when None.

    Returns:
        The :class:`PolicyValue`: both estimates with their standard error and bootstrap
        interval (the same draws for both), rows, contacts, matched rows and per-arm counts.

    Raises:
        ValueError: Bad or misaligned inputs (see :func:`dr_scores`, :func:`row_values`).
    """
    cfg = settings or OffPolicyConfig()
    if not decisions.index.equals(log.index):
        raise ValueError("decisions must have the log's index (one action per logged row)")
    pi = decisions.astype("str")
    policy_arms = sorted(set(pi) - {NO_ACTION})
    logged = arms(log)
    units = _units(log, cfg.resample)
    draws = _draws(int(units.max()) + 1 if len(units) else 0, cfg)
    never = [a for a in policy_arms if not (logged == a).any()]
    if never:
        logger.warning("the policy uses action(s) never logged: %s (IPS counts them 0)", never)
    found = {}
    for name, m in ((IPS, None), (DR, mu)):
        if name == DR and mu is None:
            continue
        values = row_values(dr_scores(log, m, policy_arms), pi, value, config)
        found[name] = _estimate(values, units, draws, cfg.level)
    names = sorted(set(pi) | set(logged), key=lambda a: (a != NO_ACTION, a))
    matched = (pi.to_numpy() == logged.to_numpy()) & (pi.to_numpy() != NO_ACTION)
    arm_table = pd.DataFrame(
        {
            "policy": [int((pi == a).sum()) for a in names],
            "logged": [int((logged == a).sum()) for a in names],
            "matched": [int(((pi == a) & (logged == a)).sum()) for a in names],
        },
        index=pd.Index(names, name="arm"),
    )
    return PolicyValue(
        ips=found[IPS],
        dr=found.get(DR),
        rows=len(log),
        contacts=int((pi != NO_ACTION).sum()),
        matched=int(matched.sum()),
        arms=arm_table,
        level=cfg.level,
        draws=cfg.bootstrap_draws,
        resample=cfg.resample,
        units=int(units.max()) + 1 if len(units) else 0,
    )
