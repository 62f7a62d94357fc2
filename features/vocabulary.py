"""The domain's names and rules, defined once for every layer.

Stages, value tiers and the control arm mean the same thing in the simulator, the features,
the models, the evaluation and the CRM file; they are declared here and imported everywhere.

* **Stages** a customer passes through as they drift away: ``active`` (a visit within
  ``stage_bounds[0]`` days), ``pre_churn`` (active but with a high churn risk), ``early``
  (3–6 months without a visit), ``deep`` (6–12 months), ``lost`` (12+ months) and
  ``no_history`` (no visit before the scoring date).
* **Value tiers** ``low`` / ``mid`` / ``high`` by a yearly-value figure and increasing
  bounds, default ``(2000, 5000)`` CNY. :func:`value_tier` is the one rule: a value *above* a
  bound moves up a tier, so with the default bounds 2000 is ``low``, 5000 is ``mid`` and
  5000.01 is ``high`` (the playbook's "> 5000 high").
* **Arms**: the control arm of an outreach log is :data:`NO_ACTION`. The contact actions are
  the store's own (the outreach log's names, :mod:`models.actions`);
  :data:`SIMULATOR_ACTIONS` is only the simulator's default naming and the default strategy
  matrix's — no code relies on it being a store's list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ACTIVE, PRE_CHURN, EARLY, DEEP, LOST, NO_HISTORY = (
    "active",
    "pre_churn",
    "early",
    "deep",
    "lost",
    "no_history",
)
#: Every stage, in the order a customer drifts through them (``no_history`` last).
STAGES = (ACTIVE, PRE_CHURN, EARLY, DEEP, LOST, NO_HISTORY)
#: The win-back stages of the playbook (pre-churn, early, deep, lost).
CHURN_STAGES = (PRE_CHURN, EARLY, DEEP, LOST)
#: Lapsed customers: no visit for at least ``stage_bounds[0]`` days.
LAPSED = (EARLY, DEEP, LOST)
#: Days without a visit that start ``early``, ``deep`` and ``lost``.
STAGE_BOUNDS_DAYS = (90, 180, 365)

#: Default tier names, lowest first, and the CNY bounds between them.
TIERS = ("low", "mid", "high")
TIER_BOUNDS = (2000.0, 5000.0)
#: Tier of a row whose value is missing (evaluation tables only).
UNKNOWN_TIER = "unknown"
MAX_TIERS = 5

#: The control arm of an outreach log: no contact.
NO_ACTION = "none"
#: The simulator's default contact actions, cheapest first.
SIMULATOR_ACTIONS = ("sms_coupon", "advisor_call", "manager_call", "home_visit")


def value_tier_index(
    values: Sequence[float] | np.ndarray | pd.Series, bounds=TIER_BOUNDS
) -> np.ndarray:
    """Tier number per value, 0 = lowest: a value above a bound moves up one tier.

    Args:
        values: Yearly value per row (CNY). Missing values count as 0.
        bounds: Increasing bounds between tiers.

    Returns:
        ``int64`` array, ``len(bounds) + 1`` possible tiers.
    """
    v = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    return np.searchsorted(np.asarray(bounds, dtype="float64"), v, side="left").astype("int64")


def value_tier(
    values: pd.Series,
    bounds: Sequence[float] = TIER_BOUNDS,
    names: Sequence[str] = TIERS,
    missing: str | None = None,
) -> pd.Series:
    """Tier name per value by the one tier rule (:func:`value_tier_index`).

    Args:
        values: Yearly value per row (CNY).
        bounds: Increasing bounds between tiers.
        names: One name per tier, lowest first (``len(bounds) + 1``).
        missing: Name for a missing value; None counts a missing value as 0.

    Returns:
        String series aligned with ``values``.

    Raises:
        ValueError: ``names`` does not have one more entry than ``bounds``.
    """
    if len(names) != len(bounds) + 1:
        raise ValueError(
            f"{len(bounds)} tier bounds need {len(bounds) + 1} names, got {list(names)}"
        )
    numbers = pd.to_numeric(values, errors="coerce")
    idx = value_tier_index(numbers.to_numpy(dtype="float64", na_value=np.nan), bounds)
    out = np.asarray(names, dtype=object)[idx]
    if missing is not None:
        out = np.where(numbers.isna().to_numpy(), missing, out)
    return pd.Series(out, index=values.index, dtype="str", name="value_tier")
