"""The budgeted win-back policy, the two policies stores run today, and their evaluation.

All three policies share one money model (docs/policy.md):

* **Value of a return** ``V = annual value × margin × return_value_years`` (``score.economics``):
  the margin a customer who comes back within the response window is worth.
* **Expected cost** of contacting a customer with action ``a`` = contact cost of ``a`` +
  (for coupon actions) coupon face value × P(return | a): the coupon comes off the return
  invoice of *every* returner, including those who would have come anyway.
* **Expected incremental value** of ``a`` = uplift(a) × V − expected cost(a).

Policies (each returns one row per customer, index as the features):

* :func:`recommend` (the model policy): among the allowed actions of an eligible customer,
  the one with the largest positive expected value whose expected cost is within the
  customer's cost cap; then the budget is filled greedily by value per unit of cost
  (``expected_value / expected_cost``, ties by ``customer_id``), skipping a customer whose cost
  no longer fits and going on with cheaper ones.
* :func:`same_coupon`: the same coupon (``policy.coupon_action``; by default the store's one
  coupon action, else its cheapest action) to every lapsed customer (stage early, deep or lost),
  most recently lapsed first (days since last visit ascending, then ``customer_id``) until the
  budget ends.
* :func:`playbook_matrix`: each worth-winning-back cell's primary action, cells in the
  matrix's priority order, within a cell the higher annual value first (then
  ``customer_id``), until the budget ends. No model, no cap: what the playbook prescribes.

Consent: a customer whose ``customers.do_not_contact`` is ``yes``
(:func:`features.contract.do_not_contact`) is never proposed a contact by :func:`recommend` or
:func:`same_coupon` when the caller passes the flag as ``blocked``; the customer keeps a row
with action ``none`` and no budget.

Actions are the win-back model's own (the store's outreach log): the config must be resolved
for them first (:func:`models.actions.resolve_actions`), which gives every action its contact
cost and the model policy its allowed actions.

Budgets are in expected cost, planned with the same P(return | a) estimate for all policies
(the uplift model's ``p_<action>``); :func:`evaluate_on_truth` then values every allocation
with the true response probabilities. The budget used is in ``result.attrs["budget_used"]``
(and the budget in ``attrs["budget"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.vocabulary import ACTIVE, LAPSED, NO_ACTION, PRE_CHURN
from models.actions import default_coupon_action, is_coupon
from models.segments import ScoreConfig, matrix_lookup

logger = logging.getLogger(__name__)

MODEL, SAME_COUPON, PLAYBOOK = "model", "same_coupon", "playbook_matrix"
POLICIES = (MODEL, SAME_COUPON, PLAYBOOK)
#: The reference no store can pass: :func:`recommend` fed the simulator's true response
#: probabilities (:func:`truth_probabilities`) instead of the uplift model's.
ORACLE = "oracle"
POLICY_COLUMNS = (
    "customer_id",
    "recommended_action",
    "p_return",
    "uplift",
    "expected_cost",
    "expected_value",
    "value_per_cost",
    "return_value",
    "selected",
    "priority_rank",
)
EVALUATION_COLUMNS = (
    "policy",
    "budget",
    "planned_cost",
    "contacts",
    "expected_returns",
    "returns_without_contact",
    "incremental_returns",
    "incremental_value",
    "contact_cost",
    "coupon_cost",
    "cost",
    "net_value",
    "roi",
    "value_per_cost",
)
#: The status reason of a customer left out for consent (the export's ``status_reason``).
DO_NOT_CONTACT_REASON = "do not contact (customers.do_not_contact)"


def _allowed(index: pd.Index, blocked: pd.Series | None) -> np.ndarray:
    """Positions that may be contacted: not flagged in ``blocked`` (aligned with ``index``)."""
    if blocked is None:
        return np.ones(len(index), dtype=bool)
    return ~blocked.reindex(index).fillna(False).astype(bool).to_numpy()


def return_value(segments: pd.DataFrame, config: ScoreConfig | None = None) -> pd.Series:
    """Value (CNY of margin) of one return of each customer: annual value × margin × years."""
    eco = (config or ScoreConfig()).economics
    v = segments["annual_value"].astype("float64") * eco.margin * eco.return_value_years
    return v.rename("return_value")


def contact_cost(action: str, config: ScoreConfig) -> float:
    """Contact cost (CNY) of one contact with ``action``.

    Raises:
        ValueError: The config has no cost for the action (not resolved for the model).
    """
    costs = config.economics.action_costs
    if action not in costs:
        raise ValueError(
            f"no contact cost for action {action!r} (actions with a cost: {sorted(costs)}); "
            "resolve the score config for the win-back model first "
            "(models.actions.resolve_actions)"
        )
    return float(costs[action])


def action_cost(action: str, p_return: np.ndarray | pd.Series, config: ScoreConfig) -> np.ndarray:
    """Expected cost of one contact: contact cost + coupon value × P(return) for coupon actions."""
    eco = config.economics
    p = np.asarray(p_return, dtype="float64")
    coupon = eco.coupon_value * p if is_coupon(action, eco.coupon_actions) else np.zeros_like(p)
    return contact_cost(action, config) + coupon


def _check(features: pd.DataFrame, segments: pd.DataFrame, uplift: pd.DataFrame, actions) -> None:
    if not (features.index.equals(segments.index) and features.index.equals(uplift.index)):
        raise ValueError("features, segments and uplift must share one index (one row a customer)")
    need = [f"p_{NO_ACTION}"] + [f"p_{a}" for a in actions]
    missing = [c for c in need if c not in uplift.columns]
    if missing:
        raise ValueError(
            f"uplift predictions lack column(s) {missing}: the uplift model has no such action"
        )
    if "customer_id" not in features.columns:
        raise ValueError("features need a customer_id column (tie breaks and allocations)")


def _frame(features: pd.DataFrame, segments: pd.DataFrame, config: ScoreConfig) -> pd.DataFrame:
    out = pd.DataFrame(index=features.index)
    out["customer_id"] = features["customer_id"].astype("str")
    out["recommended_action"] = pd.Series(NO_ACTION, index=features.index, dtype="str")
    for c in ("p_return", "uplift", "expected_cost", "expected_value", "value_per_cost"):
        out[c] = np.nan
    out["return_value"] = return_value(segments, config)
    out["selected"] = False
    out["priority_rank"] = pd.Series(pd.NA, index=features.index, dtype="Int64")
    return out


def _fill_action(
    out: pd.DataFrame, rows: np.ndarray, actions: np.ndarray, uplift: pd.DataFrame, config
) -> None:
    """Write p_return, uplift, expected cost and value of ``actions`` at positions ``rows``."""
    p_none = uplift[f"p_{NO_ACTION}"].to_numpy(dtype="float64")
    v = out["return_value"].to_numpy(dtype="float64")
    p = np.full(len(out), np.nan)
    cost = np.full(len(out), np.nan)
    for a in np.unique(actions):
        if a == NO_ACTION:
            continue
        m = rows[actions == a]
        pa = uplift[f"p_{a}"].to_numpy(dtype="float64")[m]
        p[m] = pa
        cost[m] = action_cost(a, pa, config)
    has = ~np.isnan(p)
    out.iloc[rows, out.columns.get_loc("recommended_action")] = actions
    col = out.columns.get_loc
    up = p - p_none
    ev = up * v - cost
    out.iloc[np.flatnonzero(has), col("p_return")] = p[has]
    out.iloc[np.flatnonzero(has), col("uplift")] = up[has]
    out.iloc[np.flatnonzero(has), col("expected_cost")] = cost[has]
    out.iloc[np.flatnonzero(has), col("expected_value")] = ev[has]
    with np.errstate(divide="ignore", invalid="ignore"):
        vpc = np.where(cost > 0, ev / np.where(cost > 0, cost, 1.0), np.inf)
    out.iloc[np.flatnonzero(has), col("value_per_cost")] = vpc[has]


def _select(out: pd.DataFrame, order: np.ndarray, budget: float | None) -> pd.DataFrame:
    """Take candidates in ``order`` (positions) while their expected cost fits the budget."""
    cost = out["expected_cost"].to_numpy(dtype="float64")
    selected = np.zeros(len(out), dtype=bool)
    rank = np.full(len(out), -1, dtype="int64")
    used, n = 0.0, 0
    for pos in order:
        c = cost[pos]
        if budget is not None and used + c > budget + 1e-9:
            continue  # too expensive for what is left; a cheaper customer may still fit
        used += c
        n += 1
        selected[pos] = True
        rank[pos] = n
    out["selected"] = selected
    out["priority_rank"] = pd.array(np.where(rank > 0, rank, 0), dtype="Int64")
    out.loc[~selected, "priority_rank"] = pd.NA
    out.attrs["budget"] = None if budget is None else float(budget)
    out.attrs["budget_used"] = float(used)
    out.attrs["contacts"] = int(n)
    return out


def recommend(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    uplift: pd.DataFrame,
    config: ScoreConfig | None = None,
    budget: float | None = None,
    blocked: pd.Series | None = None,
) -> pd.DataFrame:
    """The model policy: best positive-value action under the cap, budget by value per cost.

    Args:
        features: Feature rows with ``customer_id`` (one per customer).
        segments: :func:`models.segments.segment` output (same index).
        uplift: :meth:`models.recovery.UpliftModel.predict` output (same index).
        config: Settings; defaults when None.
        budget: Total expected cost allowed (CNY); None = no limit (every customer with a
            positive-value action under their cap is selected).
        blocked: True for customers who must not be contacted
            (:func:`features.contract.do_not_contact`); index as ``features``. None = nobody
            is blocked.

    Returns:
        Index as ``features``: :data:`POLICY_COLUMNS`. ``recommended_action`` is the best
        action even when the budget leaves the customer out (``selected`` False,
        ``priority_rank`` missing); ``none`` when no action has positive value within the
        cap, the customer's stage is not eligible or the customer is ``blocked``.
        ``attrs``: ``budget``, ``budget_used``, ``contacts``.

    Raises:
        ValueError: Misaligned inputs, or an allowed action the uplift model lacks.
    """
    cfg = config or ScoreConfig()
    if cfg.policy.allowed_actions is None:
        raise ValueError(
            "score.policy.allowed_actions is null (every action of the win-back model): "
            "resolve the score config for the model first (models.actions.resolve_actions)"
        )
    actions = list(cfg.policy.allowed_actions)
    _check(features, segments, uplift, actions)
    if budget is not None and budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    out = _frame(features, segments, cfg)
    n = len(out)
    v = out["return_value"].to_numpy(dtype="float64")
    cap = segments["cost_cap"].to_numpy(dtype="float64")
    eligible = segments["stage"].isin(cfg.policy.eligible_stages).to_numpy()
    eligible = eligible & _allowed(features.index, blocked)
    p_none = uplift[f"p_{NO_ACTION}"].to_numpy(dtype="float64")
    values = np.full((n, len(actions)), -np.inf)
    for j, a in enumerate(actions):
        pa = uplift[f"p_{a}"].to_numpy(dtype="float64")
        cost = action_cost(a, pa, cfg)
        ev = (pa - p_none) * v - cost
        ok = eligible & (ev > 0) & (cost <= cap + 1e-9) & np.isfinite(ev)
        values[:, j] = np.where(ok, ev, -np.inf)
    # argmax takes the first maximum: ties go to the earlier action in allowed_actions
    best = np.argmax(values, axis=1)
    has = np.isfinite(values[np.arange(n), best])
    rows = np.flatnonzero(has)
    _fill_action(out, rows, np.asarray(actions, dtype=object)[best[has]], uplift, cfg)
    ratio = out["value_per_cost"].to_numpy(dtype="float64")[rows]
    ids = out["customer_id"].to_numpy(dtype=object)[rows]
    order = rows[np.lexsort((ids, -ratio))]
    return _select(out, order, budget)


def same_coupon(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    uplift: pd.DataFrame,
    config: ScoreConfig | None = None,
    budget: float | None = None,
    action: str | None = None,
    blocked: pd.Series | None = None,
) -> pd.DataFrame:
    """What many stores do today: the same coupon to every lapsed customer.

    Lapsed = stage early, deep or lost; ``blocked`` customers (as :func:`recommend`) are left
    out. Order: most recently lapsed first (days since last visit ascending), then
    ``customer_id``; customers are taken until the budget ends.
    ``action`` None = :func:`models.actions.default_coupon_action` (the store's one coupon
    action, else its cheapest action).

    Returns:
        As :func:`recommend`.
    """
    cfg = config or ScoreConfig()
    action = default_coupon_action(cfg, action)
    _check(features, segments, uplift, [action])
    out = _frame(features, segments, cfg)
    lapsed = segments["stage"].isin(LAPSED).to_numpy()
    rows = np.flatnonzero(lapsed & _allowed(features.index, blocked))
    _fill_action(out, rows, np.full(len(rows), action, dtype=object), uplift, cfg)
    days = features["days_since_last_visit"].to_numpy(dtype="float64")[rows]
    ids = out["customer_id"].to_numpy(dtype=object)[rows]
    return _select(out, rows[np.lexsort((ids, days))], budget)


def same_coupon_cost(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    uplift: pd.DataFrame,
    config: ScoreConfig | None = None,
    action: str | None = None,
    blocked: pd.Series | None = None,
) -> float:
    """Expected cost of the same coupon to every lapsed, contactable customer (default budget)."""
    alloc = same_coupon(features, segments, uplift, config, None, action, blocked)
    return float(alloc.attrs["budget_used"])


def playbook_matrix(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    uplift: pd.DataFrame,
    config: ScoreConfig | None = None,
    budget: float | None = None,
    pre_churn: pd.Series | None = None,
) -> pd.DataFrame:
    """What the playbook prescribes: each worth-winning-back cell's primary action.

    Args:
        features, segments, uplift, config, budget: As :func:`recommend` (``uplift`` only
            prices the coupon for the budget).
        pre_churn: The playbook's own pre-churn flag per row (e.g. the formula's risk band at
            or above ``pre_churn``). When given, it replaces the model-based ``pre_churn``
            stage: an active customer it flags is worked as pre-churn, a model-flagged one it
            does not flag is left alone.

    Returns:
        As :func:`recommend`; order: cell priority, then annual value descending, then
        ``customer_id``.
    """

    cfg = config or ScoreConfig()
    segs = segments
    if pre_churn is not None:
        flag = pd.Series(pre_churn, index=segments.index).fillna(False).astype(bool)
        stage = segments["stage"].where(~segments["stage"].isin([ACTIVE, PRE_CHURN]), ACTIVE)
        stage = stage.where(~(flag & (stage == ACTIVE)), PRE_CHURN)
        cells = matrix_lookup(segments["value_tier"], stage, cfg)
        segs = segments.copy()
        segs["stage"] = stage
        changed = stage != segments["stage"]
        for c in ("matrix_action", "matrix_priority"):
            segs.loc[changed, c] = cells.loc[changed, c]
        segs.loc[changed, "worth_winning_back"] = cells.loc[changed, "cell_worth"]
    acts = segs["matrix_action"].astype("str").to_numpy()
    _check(features, segs, uplift, sorted(set(acts) - {NO_ACTION}))
    out = _frame(features, segs, cfg)
    take = segs["worth_winning_back"].astype(bool).to_numpy() & (acts != NO_ACTION)
    rows = np.flatnonzero(take)
    _fill_action(out, rows, acts[rows], uplift, cfg)
    prio = segs["matrix_priority"].to_numpy(dtype="float64")[rows]
    value = segs["annual_value"].to_numpy(dtype="float64")[rows]
    ids = out["customer_id"].to_numpy(dtype=object)[rows]
    return _select(out, rows[np.lexsort((ids, -value, prio))], budget)


def evaluate_on_truth(
    allocations: dict[str, pd.DataFrame], truth: pd.DataFrame, config: ScoreConfig | None = None
) -> pd.DataFrame:
    """Value each policy's selected contacts with the true response probabilities.

    Args:
        allocations: ``{policy name: policy frame}`` (``customer_id``,
            ``recommended_action``, ``selected``, ``return_value``; ``attrs`` budget).
        truth: One row per customer: ``customer_id``, ``p_return_control`` and
            ``p_return_<action>`` (the simulator's ``truth/response.parquet``).
        config: Settings (action costs, coupon); defaults when None.

    Returns:
        One row per policy: :data:`EVALUATION_COLUMNS`. ``expected_returns`` = Σ P(return |
        action), ``returns_without_contact`` = Σ P(return | control) of the same customers,
        ``incremental_returns`` their difference, ``incremental_value`` = Σ true uplift × value
        of a return, ``cost`` = contact costs + coupon value × true P(return | coupon),
        ``net_value`` = incremental value − cost, ``roi`` = net value / cost,
        ``value_per_cost`` = incremental value / cost.

    Raises:
        ValueError: A selected customer has no truth row, or an action no truth column.
    """
    cfg = config or ScoreConfig()
    if "p_return_control" not in truth.columns or "customer_id" not in truth.columns:
        raise ValueError("truth needs customer_id and p_return_control columns")
    t = truth.assign(customer_id=truth["customer_id"].astype("str")).set_index("customer_id")
    if not t.index.is_unique:
        raise ValueError("truth has duplicate customer_id rows")
    rows = []
    for name, alloc in allocations.items():
        sel = alloc.loc[alloc["selected"].astype(bool)]
        ids = sel["customer_id"].astype("str")
        missing = ids[~ids.isin(t.index)]
        if len(missing):
            raise ValueError(
                f"policy {name}: {len(missing)} selected customer(s) have no truth row, "
                f"e.g. {list(missing[:5])}"
            )
        tt = t.loc[ids.to_numpy()]
        acts = sel["recommended_action"].astype("str").to_numpy()
        p = np.zeros(len(sel))
        contact = np.zeros(len(sel))
        coupon = np.zeros(len(sel))
        for a in np.unique(acts):
            col = f"p_return_{a}"
            if col not in tt.columns:
                raise ValueError(f"policy {name}: truth has no column {col} for action {a!r}")
            m = acts == a
            p[m] = tt[col].to_numpy(dtype="float64")[m]
            contact[m] = contact_cost(a, cfg)
            if is_coupon(a, cfg.economics.coupon_actions):
                coupon[m] = cfg.economics.coupon_value * p[m]
        p0 = tt["p_return_control"].to_numpy(dtype="float64")
        v = sel["return_value"].to_numpy(dtype="float64")
        incr_value = float(np.sum((p - p0) * v))
        cost = float(contact.sum() + coupon.sum())
        rows.append(
            {
                "policy": name,
                "budget": alloc.attrs.get("budget"),
                "planned_cost": float(alloc.attrs.get("budget_used", np.nan)),
                "contacts": len(sel),
                "expected_returns": float(p.sum()),
                "returns_without_contact": float(p0.sum()),
                "incremental_returns": float((p - p0).sum()),
                "incremental_value": incr_value,
                "contact_cost": float(contact.sum()),
                "coupon_cost": float(coupon.sum()),
                "cost": cost,
                "net_value": incr_value - cost,
                "roi": (incr_value - cost) / cost if cost > 0 else np.nan,
                "value_per_cost": incr_value / cost if cost > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))


def truth_probabilities(
    truth: pd.DataFrame, features: pd.DataFrame, actions: list[str] | tuple[str, ...]
) -> pd.DataFrame:
    """The true P(return | arm) per customer, laid out as the uplift model's predictions.

    The oracle's input (a reference only, never a model input): ``p_none`` from the truth's
    ``p_return_control`` and ``p_<action>`` from ``p_return_<action>``, index as ``features``.

    Raises:
        ValueError: A customer has no truth row, or an action no truth column.
    """
    t = truth.assign(customer_id=truth["customer_id"].astype("str")).set_index("customer_id")
    ids = features["customer_id"].astype("str")
    missing = ids[~ids.isin(t.index)]
    if len(missing):
        raise ValueError(
            f"the truth has no row for {len(missing)} customer(s), e.g. {list(missing[:5])}"
        )
    cols = {f"p_{NO_ACTION}": "p_return_control", **{f"p_{a}": f"p_return_{a}" for a in actions}}
    absent = sorted(c for c in cols.values() if c not in t.columns)
    if absent:
        raise ValueError(f"the truth has no column(s) {absent}")
    rows = t.loc[ids.to_numpy()]
    return pd.DataFrame(
        {k: rows[v].to_numpy(dtype="float64") for k, v in cols.items()}, index=features.index
    )


def run_policies(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    uplift: pd.DataFrame,
    config: ScoreConfig | None,
    budget: float,
    pre_churn: pd.Series | None = None,
    coupon_action: str | None = None,
    references: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """The policies at one budget: ``{model, same_coupon, playbook_matrix[, references]}``.

    ``references`` adds reference policies: :func:`recommend` with the same money model,
    caps and budget, fed other response probabilities — ``{"oracle": truth_probabilities(...)}``
    (the true ones) and the observable ceiling (:mod:`models.ceiling`).
    """
    runs = {
        MODEL: recommend(features, segments, uplift, config, budget),
        SAME_COUPON: same_coupon(features, segments, uplift, config, budget, coupon_action),
        PLAYBOOK: playbook_matrix(features, segments, uplift, config, budget, pre_churn),
    }
    for name, probs in (references or {}).items():
        runs[name] = recommend(features, segments, probs, config, budget)
    return runs
