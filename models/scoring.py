"""Batch scoring: one CRM row per customer, the budgeted selection and the value × stage matrix.

The library under ``winback score`` (:mod:`pipeline.score`) and the Dask engine
(:mod:`models.engine`). For every customer in ``customers`` (exactly one row each, none
dropped): churn risk from the churn model, the playbook formula risk and band (the baseline),
value tier, annual value, CLV, stage and segment, the recommended win-back action with its
owner, channel, cost cap, P(return | action), uplift, expected cost and value and priority
rank inside the budget (:mod:`models.segments`, :mod:`models.policy`), the top three reasons
for the risk in English and Chinese (exact TreeSHAP, :mod:`models.treeshap`,
:func:`models.explain.top_reasons`), the model version, and a ``status`` with a
``status_reason``:

* ``scored`` — everything computed.
* ``churn_only`` — the model has no win-back (uplift) model (trained without an outreach log):
  churn, baseline and segment columns only; no action is recommended.
* ``no_history`` — no valid service visit before the as-of date (never visited, only visits on
  or after the as-of date, or every visit row set aside by validation): nothing to score; the
  reason says which. Such customers are never contacted by the policy.

A customer with ``customers.do_not_contact`` = ``yes`` keeps one row and is scored, but gets
action ``none``, no owner, channel or rank and no budget; the reason says
"do not contact (customers.do_not_contact)" and the budget goes to the next customers. A
customer picked for outreach fewer than ``crm.cooldown_days`` days before the as-of date
(:mod:`models.cooldown`) is blocked the same way, with a cooldown reason.

The CRM file agrees with itself (docs/crm_schema.md, :mod:`models.crm`): a randomized share
(``crm.holdout.share``) of the contacts the budget selects is held out as the ``control``
group; only the ``treatment`` contacts have a ``recommended_action`` other than ``none``, an
owner, a channel and a priority rank. ``candidate_action`` keeps the policy's best action
before the budget and the holdout, and the money columns describe it.

Scoring is split in two so that the per-customer part can run on partitions of customers:
:func:`score_each` (features, churn risk, reasons, segments, uplift) and
:func:`finish_scores` (baselines, the budgeted policy over all customers, statuses, columns
and row order); :func:`score_customers` runs both on one data set.

**Row order**: the treatment contacts first, by ``priority_rank`` (1 = contact first), then
everyone else by ``customer_id``. The same data, models, params and budget give
the same rows. ``name`` and ``phone`` (:data:`PII_COLUMNS`) are copied from ``customers``
into the export rows only; nothing here logs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from features.baseline import baseline_scores
from features.build import build_features
from features.config import FeaturizeConfig
from features.contract import ACTION_SET_ASIDE, DataSet, do_not_contact
from features.vocabulary import NO_ACTION, STAGES
from models.actions import resolve_for_model, row_roles
from models.artifacts import ModelStoreError, tracking_uri
from models.cooldown import in_cooldown, last_outreach_before
from models.crm import (
    CONTROL,
    CRM_SCHEMA_VERSION,
    K_REASONS,
    OUTPUT_COLUMNS,
    STATUS_CHURN_ONLY,
    STATUS_NO_HISTORY,
    STATUS_SCORED,
    TREATMENT,
    CrmConfig,
    assign_holdout,
    churn_band,
    control_reason,
    cooldown_reason,
    reason_zh,
    zh_labels,
)
from models.explain import top_reasons
from models.lgbm import CalibratedBooster
from models.policy import DO_NOT_CONTACT_REASON, recommend, same_coupon_cost
from models.segments import ScoreConfig, segment
from models.store import ScoringModels, load_scoring_models

#: The ``budget`` that means "what the same coupon to every lapsed customer would cost".
SAME_COUPON = "same_coupon"
# rows per contributions call (a progress-bar step; each call self-checks a few rows)
CHUNK_ROWS = 50_000

#: Columns that carry personal data: only ever written to the export file itself. The plate
#: and the birthday (customers, care data) are personal data the CRM file never carries: only
#: the care stage's task file names the plate.
PII_COLUMNS = ("name", "phone")
#: Columns rounded in the file (probabilities to 6 decimals, money to 2) after ranking. The
#: cost cap and expected cost stay exact, so the file's sums and caps are the policy's own.
PROB_COLUMNS = ("churn_risk", "p_return", "uplift")
MONEY_COLUMNS = ("annual_value", "clv", "expected_value")
SEGMENT_OUT = ("value_tier", "annual_value", "clv", "stage", "segment")


#: The models named by ``--model`` cannot be found or loaded (one message, exit status 1).
ModelLoadError = ModelStoreError


def load_models(model: str | Path | None = None) -> ScoringModels:
    """Load the models to score with (:func:`models.store.load_scoring_models`).

    Args:
        model: A train output directory, ``"champion"`` (the registry's champion versions at
            ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``), or None: the champions if
            the registry has them, else ``out/train``. Never unpickles anything.

    Raises:
        ModelLoadError: No model where ``model`` points, or its files are damaged or not the
            registered ones.
    """
    return load_scoring_models(model, tracking_uri())


def history_status(
    data: DataSet, features: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """Which customers can be scored, and why not.

    A customer is scorable when they have at least one valid service visit before ``as_of``.

    Args:
        data: The validated data set.
        features: :func:`features.build.build_features` output (``customer_id`` column).
        as_of: The as-of date.

    Returns:
        ``(scorable, reason)`` aligned with ``features``: a bool series, and for the others a
        text saying why (empty string for scorable customers).
    """
    t = pd.Timestamp(as_of).normalize()
    ids = features["customer_id"].astype("str")
    visits = data.service_visits
    day = visits["visit_date"].dt.normalize()
    before = visits.loc[day < t].groupby("customer_id").size()
    first_after = visits.loc[day >= t].groupby("customer_id")["visit_date"].min()
    rejects = data.rejects
    rejected = (
        rejects.loc[
            (rejects["table"] == "service_visits") & (rejects["action"] == ACTION_SET_ASIDE)
        ]
        .drop_duplicates(["row_number"])
        .groupby("customer_id")
        .size()
    )
    # reindex, not map: a map over an empty datetime series does not stay datetime
    n_before = pd.Series(before.reindex(ids).fillna(0).to_numpy("int64"), index=ids.index)
    scorable = n_before > 0
    first = pd.Series(first_after.reindex(ids).to_numpy("datetime64[ns]"), index=ids.index)
    n_rejected = pd.Series(rejected.reindex(ids).fillna(0).to_numpy("int64"), index=ids.index)
    when = f"{t:%Y-%m-%d}"
    reason = np.where(
        first.notna(),
        "no service visit before "
        + when
        + "; first visit on "
        + first.dt.strftime("%Y-%m-%d").fillna("")
        + " (on or after the as-of date)",
        np.where(
            n_rejected > 0,
            "no valid service visit before "
            + when
            + ": "
            + n_rejected.astype("str")
            + " visit row(s) set aside by validation (see the rejects)",
            "no service visit on record",
        ),
    )
    reason = pd.Series(np.where(scorable, "", reason), index=features.index, dtype="str")
    return pd.Series(scorable.to_numpy(), index=features.index), reason


@dataclass
class ScoreResult:
    """One scoring run.

    Attributes:
        scores: The export rows in :data:`OUTPUT_COLUMNS` order and the file's row order.
        budget: The budget the policy was given (None = no global budget).
        budget_used: Expected cost of the selected contacts.
        notes: What was skipped and why (no PII).
    """

    scores: pd.DataFrame
    budget: float | None
    budget_used: float
    notes: list[str]


def _contributions(model: CalibratedBooster, rows: pd.DataFrame, progress: bool) -> pd.DataFrame:
    """TreeSHAP values (the fast engine) in chunks (a progress bar helps on big files)."""
    starts = range(0, len(rows), CHUNK_ROWS)
    parts = [
        model.contributions(rows.iloc[i : i + CHUNK_ROWS])
        for i in tqdm(starts, desc="reasons", unit="chunk", disable=None if progress else True)
    ]
    return pd.concat(parts)


def _reason_columns(reasons: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame:
    cols = [f"reason_{j}_{lang}" for j in range(1, K_REASONS + 1) for lang in ("en", "zh")]
    out = pd.DataFrame({c: pd.Series(pd.NA, index=index, dtype="str") for c in cols})
    if reasons is not None and len(reasons):
        out.loc[reasons.index, cols] = reasons[cols].astype("str").where(reasons[cols].notna())
    return out


def _personal(customers: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """dealer_id, name, phone and do_not_contact for each id of ``ids`` (aligned with it)."""
    cust = customers.set_index("customer_id")
    out = pd.DataFrame(index=ids.index)
    for col in ("dealer_id", *PII_COLUMNS, "do_not_contact"):
        values = cust[col] if col in cust.columns else pd.Series(dtype="str")
        out[col] = ids.map(values).astype("str").where(ids.map(values).notna())
    return out


@dataclass
class CustomerScores:
    """The per-customer part of scoring: everything but the global budget and row order.

    Computed by :func:`score_each` on a whole data set, or on each partition of customers and
    glued by :func:`models.engine.combine_scores` (the Dask engine); :func:`finish_scores`
    turns it into the export. Every frame is indexed like ``features``; ``reasons`` and
    ``uplift`` only hold the scorable rows.
    """

    features: pd.DataFrame
    scorable: pd.Series
    why: pd.Series
    churn: pd.Series
    reasons: pd.DataFrame | None
    segments: pd.DataFrame
    uplift: pd.DataFrame | None
    personal: pd.DataFrame
    last_outreach: pd.Series


def score_each(
    data: DataSet,
    as_of: str | pd.Timestamp,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: Any,
    progress: bool = False,
) -> CustomerScores:
    """Features, churn risk, reasons, segments and uplift of every customer (no budget step).

    Args: as :func:`score_customers`.

    Raises:
        models.lgbm.FeatureMismatchError: The feature frame does not fit a model.
    """
    t = pd.Timestamp(as_of).normalize()
    feats = build_features(data, t, featurize)
    scorable, why = history_status(data, feats, t)
    churn = pd.Series(np.nan, index=feats.index, name="churn_risk")
    reasons = None
    rows = feats.loc[scorable]
    if len(rows):
        contrib = _contributions(models.churn, rows, progress)
        # the contributions sum to the raw score: no second pass over the trees
        churn.loc[rows.index] = models.churn.predict_proba_from_contributions(rows, contrib)
        reasons = top_reasons(models.churn, rows, k=K_REASONS, contributions=contrib)
    ids = feats["customer_id"].astype("str")
    acquisition = None
    if "acquisition_cost" in data.customers.columns:
        acq = data.customers.set_index("customer_id")["acquisition_cost"]
        acquisition = ids.map(acq).astype("float64")
    seg = segment(feats, churn, config, acquisition_cost=acquisition, featurize_config=featurize)
    uplift = None
    if models.recovery is not None and len(rows):
        uplift = models.recovery.predict(rows)
    last = last_outreach_before(data.table("outreach"), ids, t)
    return CustomerScores(
        feats, scorable, why, churn, reasons, seg, uplift, _personal(data.customers, ids), last
    )


def score_customers(
    data: DataSet,
    as_of: str | pd.Timestamp,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: ScoreConfig,
    budget: float | str | None = None,
    progress: bool = False,
    coupon_action: str | None = None,
    crm: CrmConfig | None = None,
) -> ScoreResult:
    """Score every customer of ``data`` as of ``as_of``: one export row each.

    Args:
        data: The validated data set (``customers`` defines the rows).
        as_of: The as-of date; features use events strictly before it.
        models: The churn and (optional) uplift models.
        featurize: Feature settings (must match the models' training).
        config: The ``score:`` params block as :class:`models.segments.ScoreConfig`.
        budget: Global win-back budget (CNY); ``"same_coupon"`` = what the same coupon to
            every lapsed customer would cost (today's spend, the ``policy`` stage's default
            budget); None = no global budget, only the per-customer cost caps.
        progress: Show a progress bar over the SHAP reasons (the slow part).
        coupon_action: The coupon of the ``"same_coupon"`` budget (``policy.coupon_action``;
            None = the store's one coupon action, else its cheapest).
        crm: The ``crm:`` params (cooldown, holdout, churn band); None = the defaults.

    Returns:
        The export rows and the budget used.

    Raises:
        models.lgbm.FeatureMismatchError: The feature frame does not fit a model.
        models.actions.ActionError: The params do not fit the win-back model's actions.
    """
    config = resolve_for_model(config, models.recovery, data.tables.get("outreach"))
    each = score_each(data, as_of, models, featurize, config, progress)
    return finish_scores(each, models, featurize, config, budget, coupon_action, crm)


def finish_scores(
    each: CustomerScores,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: ScoreConfig,
    budget: float | str | None = None,
    coupon_action: str | None = None,
    crm: CrmConfig | None = None,
) -> ScoreResult:
    """The global step: baselines, the budgeted policy, the holdout, statuses, rows and order.

    Args:
        each: :func:`score_each` output (for all customers).
        models, featurize, config, budget, coupon_action, crm: As :func:`score_customers`.

    Returns:
        The export rows and the budget used (by the treatment group).
    """
    crm = crm or CrmConfig()
    feats, scorable, seg = each.features, each.scorable, each.segments
    config = resolve_for_model(config, models.recovery)  # already resolved: the same config
    notes: list[str] = list(config.notes) if models.recovery is not None else []
    rows = feats.loc[scorable]
    ids = feats["customer_id"].astype("str")
    dnc = do_not_contact(each.personal)
    as_of = feats["as_of"].iloc[0] if len(feats) else pd.Timestamp(0)
    cooling = in_cooldown(each.last_outreach, as_of, crm.cooldown_days) & ~dnc & scorable
    blocked = dnc | cooling
    policy = pd.DataFrame(index=feats.index)
    if models.recovery is None:
        notes.append("no win-back (uplift) model: churn, baseline and segment columns only")
    elif len(rows):
        uplift = each.uplift
        if isinstance(budget, str):
            budget = same_coupon_cost(
                rows, seg.loc[rows.index], uplift, config, coupon_action, blocked[rows.index]
            )
        rec = recommend(rows, seg.loc[rows.index], uplift, config, budget, blocked[rows.index])
        policy = rec.reindex(feats.index)
    selected = _column(policy, "selected", False).fillna(False).astype(bool)
    groups = assign_holdout(ids, selected, _column(seg, "value_tier"), crm.holdout)
    treated = (groups["group"] == TREATMENT).to_numpy()
    held = int((groups["group"] == CONTROL).sum())
    if models.recovery is not None:
        notes.append(
            f"{int(cooling.sum())} customer(s) in the {crm.cooldown_days}-day contact cooldown "
            f"(crm.cooldown_days); {held} of {int(selected.sum())} selected contact(s) held out "
            f"as the randomized control group (crm.holdout.share {crm.holdout.share:g})"
        )
    status = pd.Series(
        np.where(
            ~scorable,
            STATUS_NO_HISTORY,
            STATUS_SCORED if models.recovery is not None else STATUS_CHURN_ONLY,
        ),
        index=feats.index,
        dtype="str",
    )
    reason = _status_reason(each, policy, config, crm, models.recovery is not None, dnc, cooling)
    reason = reason.where(~(groups["group"] == CONTROL), control_reason(crm.holdout.share))
    out = _crm_frame(each, featurize, crm, policy, groups, treated, models, config)
    out.loc[blocked, "cost_cap"] = np.nan  # no contact route at all
    out["status"] = status
    out["status_zh"] = zh_labels(status, "status")
    out["status_reason"] = reason.replace("", pd.NA)
    out["status_reason_zh"] = reason_zh(out["status_reason"])
    out["schema_version"] = CRM_SCHEMA_VERSION
    budget_used = float(out.loc[treated, "expected_cost"].sum())
    out = order_rows(out)
    for c in PROB_COLUMNS:
        out[c] = out[c].astype("float64").round(6)
    for c in (*MONEY_COLUMNS, "baseline_risk"):
        out[c] = out[c].astype("float64").round(2)
    if isinstance(budget, str):  # no uplift model: no policy, so no budget to resolve
        budget = None
    return ScoreResult(out[OUTPUT_COLUMNS], budget, budget_used, notes)


def _status_reason(
    each: CustomerScores,
    policy: pd.DataFrame,
    config: ScoreConfig,
    crm: CrmConfig,
    has_model: bool,
    dnc: pd.Series,
    cooling: pd.Series,
) -> pd.Series:
    """Why a scorable customer gets no action (empty for a contact); no_history: the history."""
    scorable, why, index = each.scorable, each.why, each.features.index
    if not has_model:
        return why.where(~scorable, "no win-back model: churn columns only")
    has_action = _column(policy, "recommended_action").fillna(NO_ACTION) != NO_ACTION
    chosen = _column(policy, "selected", False).fillna(False).astype(bool)
    stage = _column(each.segments, "stage").astype("str")
    eligible = stage.isin(config.policy.eligible_stages)
    text = np.select(
        [dnc, cooling, chosen, has_action, ~eligible],
        [
            DO_NOT_CONTACT_REASON,
            cooldown_reason(each.last_outreach, crm.cooldown_days),
            "",
            "recommended action does not fit in the budget",
            "stage " + stage + " is not a win-back target",
        ],
        "no action has a positive expected value within the cost cap",
    )
    return why.where(~scorable, pd.Series(text, index=index, dtype="object"))


def _crm_frame(
    each: CustomerScores,
    featurize: FeaturizeConfig,
    crm: CrmConfig,
    policy: pd.DataFrame,
    groups: pd.DataFrame,
    treated: np.ndarray,
    models: ScoringModels,
    config: ScoreConfig,
) -> pd.DataFrame:
    """The export's columns but the status ones: one row per customer, index as features.

    Only a treatment contact (selected inside the budget, not held out) has a recommended
    action, owner, channel and priority; every other scorable row shows action ``none``.
    """
    feats, seg, scorable = each.features, each.segments, each.scorable
    base = baseline_scores(feats, featurize)
    out = pd.concat(
        [
            pd.DataFrame({"customer_id": feats["customer_id"].astype("str")}),
            each.personal,
            pd.DataFrame(
                {
                    "as_of": feats["as_of"],
                    "churn_risk": each.churn,
                    "churn_band": churn_band(each.churn, crm.churn_band),
                    "baseline_risk": base["formula_risk"],
                    "baseline_band": base["risk_band"]
                    .astype("str")
                    .where(base["risk_band"].notna()),
                }
            ),
            pd.DataFrame({c: _column(seg, c) for c in SEGMENT_OUT}),
        ],
        axis=1,
    )
    out["stage_zh"] = zh_labels(out["stage"], "stage")
    none = NO_ACTION if models.recovery is not None else None
    candidate = _column(policy, "recommended_action")
    candidate = candidate.where(candidate.notna() & scorable, none)
    action = candidate.where(treated, none)
    out["recommended_action"] = action
    out["recommended_action_zh"] = zh_labels(action, "action")
    owner, channel = row_roles(
        _column(seg, "owner"),
        _column(seg, "channel"),
        action,
        config,
        _column(seg, "matrix_actions"),
    )
    out["owner"] = owner.where(treated)
    out["owner_zh"] = zh_labels(out["owner"], "owner")
    out["channel"] = channel.where(treated)
    out["channel_zh"] = zh_labels(out["channel"], "channel")
    # 1 = first to call, counted over the contacts themselves (the control rows hold no rank)
    rank = _column(policy, "priority_rank").astype("float64").where(treated)
    out["priority_rank"] = rank.rank(method="first").astype("Int64")
    out["group"] = groups["group"]
    out["group_zh"] = zh_labels(groups["group"], "group")
    out["propensity"] = groups["propensity"]
    out["candidate_action"] = candidate
    out["cost_cap"] = _column(seg, "cost_cap")
    for c in ("p_return", "uplift", "expected_cost", "expected_value"):
        out[c] = _column(policy, c).astype("float64")
    out = pd.concat([out, _reason_columns(each.reasons, feats.index)], axis=1)
    rules = _column(seg, "rule_explanation")
    out["rule_explanation"] = rules.where(rules.astype("str") != "")
    out["last_outreach"] = each.last_outreach
    out["model_version"] = models.version
    # the latest snapshot the scoring (churn) model learned from: how fresh the scores are
    out["model_data_through"] = models.churn.meta.get("trained_through")
    return out


def _column(frame: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    """``frame[name]``, or a column of ``default`` on the frame's index when it is absent."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index)


def order_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Selected contacts by priority rank, then everyone else by customer_id; fresh index."""
    key = scores["priority_rank"].astype("float64").fillna(np.inf)
    return (
        scores.assign(_key=key)
        .sort_values(["_key", "customer_id"], kind="stable")
        .drop(columns="_key")
        .reset_index(drop=True)
    )


def _tier_order(scores: pd.DataFrame) -> list[str]:
    # Highest value first: tier names come from params, their order from the values.
    tiers = scores.groupby("value_tier", dropna=True)["annual_value"].mean()
    return list(tiers.sort_values(ascending=False, kind="stable").index)


def value_stage_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """The value tier × stage matrix of a score frame (long format, one row per cell).

    Returns:
        Columns value_tier, stage, customers, contacted (selected inside the budget),
        expected_returns (sum of P(return | action) of the contacted), expected_incremental
        (sum of their uplift) and budget_used (sum of their expected cost); tiers from high
        to low value, stages in life-cycle order.
    """
    sel = scores["priority_rank"].notna()
    frame = pd.DataFrame(
        {
            "value_tier": scores["value_tier"].fillna("n/a").astype("str"),
            "stage": scores["stage"].fillna("n/a").astype("str"),
            "customers": 1,
            "contacted": sel.astype("int64"),
            "expected_returns": scores["p_return"].where(sel, 0.0).fillna(0.0),
            "expected_incremental": scores["uplift"].where(sel, 0.0).fillna(0.0),
            "budget_used": scores["expected_cost"].where(sel, 0.0).fillna(0.0),
        }
    )
    cells = frame.groupby(["value_tier", "stage"], sort=False).sum().reset_index()
    tiers = _tier_order(scores)
    tiers += sorted(set(cells["value_tier"]) - set(tiers))
    stages = [s for s in STAGES if s in set(cells["stage"])]
    stages += sorted(set(cells["stage"]) - set(stages))
    cells["_t"] = cells["value_tier"].map({t: i for i, t in enumerate(tiers)})
    cells["_s"] = cells["stage"].map({s: i for i, s in enumerate(stages)})
    cells = cells.sort_values(["_t", "_s"]).drop(columns=["_t", "_s"]).reset_index(drop=True)
    for c in ("expected_returns", "expected_incremental", "budget_used"):
        cells[c] = cells[c].round(2)
    return cells


def score_metrics(result: ScoreResult) -> dict[str, Any]:
    """Counts for DVC metrics: customers by status and stage, contacts, holdout, budget, returns.

    ``contacted`` counts the treatment contacts (the rows with a priority rank);
    ``held_out_control`` the selected customers held out as the control group.
    """
    s = result.scores
    sel = s["priority_rank"].notna()
    return {
        "customers": len(s),
        "as_of": None if s.empty else pd.Timestamp(s["as_of"].iloc[0]).strftime("%Y-%m-%d"),
        "by_status": {k: int(v) for k, v in s["status"].value_counts().sort_index().items()},
        "by_stage": {
            k: int(v) for k, v in s["stage"].fillna("n/a").value_counts().sort_index().items()
        },
        "contacted": int(sel.sum()),
        "held_out_control": int((s["group"] == CONTROL).sum()),
        "in_cooldown": int(s["status_reason"].astype("str").str.startswith("in cooldown").sum()),
        "by_action": {
            k: int(v)
            for k, v in s.loc[sel, "recommended_action"].value_counts().sort_index().items()
        },
        "model_data_through": None if s.empty else s["model_data_through"].iloc[0],
        "schema_version": CRM_SCHEMA_VERSION,
        "budget": None if result.budget is None else round(float(result.budget), 2),
        "budget_used": round(result.budget_used, 2),
        "expected_returns": round(float(s.loc[sel, "p_return"].sum()), 2),
        "expected_incremental_returns": round(float(s.loc[sel, "uplift"].sum()), 2),
        "expected_value": round(float(s.loc[sel, "expected_value"].sum()), 2),
    }
