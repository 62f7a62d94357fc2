"""Lost sales leads: point-in-time features, the playbook grading, routing, triggers, diagnostics.

A *lost lead* is a lead with a ``lost_date`` (still lost, or lost and later won back). Every
feature of a lost lead is as of its loss date: the lead's own record at the loss, market
events and contacts dated strictly before it, and its consultant's history of losses whose
outcome was already known then. The label is "bought from us within ``window_days`` of the
loss" (``status == won`` and ``0 < status_date - lost_date <= window_days``).

The playbook's grading (high / mid / low), the reason-specific routing and the market-event
triggers are rules whose parameters come from the ``leads:`` block of params.yaml; their
wording is in :data:`GRADE_RULES` so reports print what was applied.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from features.config import config_from_params
from features.contract import LOST_REASONS, MARKET_EVENT_TYPES, do_not_contact, split_codes

logger = logging.getLogger(__name__)

GRADES = ("high", "mid", "low")
GRADE_SCORE = {"high": 2.0, "mid": 1.0, "low": 0.0}
INTENT_LEVEL = {"low": 0.0, "mid": 1.0, "high": 2.0}
UNRECORDED = "unrecorded"  # a lost lead without any reason code
BOUGHT_COMPETITOR = "bought_competitor"

#: The lead model's features, in order (all computed by :func:`lead_features`).
CATEGORICAL = ("model_interest", "region", "dealer_id", "primary_reason")
FEATURES = (
    *[f"reason_{r}" for r in LOST_REASONS],
    "n_reasons",
    "has_reason",
    "primary_reason",
    "intent_level",
    "bought_competitor",
    "days_to_expected_purchase",
    "in_buying_window",
    "days_in_funnel",
    "follow_ups",
    "competitor_known",
    "competitor_price",
    "has_note",
    "model_interest",
    "region",
    "dealer_id",
    "loss_month",
    *[f"events_{t}_{{lookback}}d" for t in MARKET_EVENT_TYPES],
    "contacts_before_loss",
    "consultant_prior_losses",
    "consultant_incomplete_share",
    "consultant_recovery_rate",
)

DEFAULT_ROUTES: dict[str, dict[str, Any]] = {
    "service_experience": {"action": "manager_apology_call", "owner": "sales_manager",
                           "due_hours": 24, "wait_for": []},
    BOUGHT_COMPETITOR: {"action": "long_nurture", "owner": "consultant", "due_hours": 2160,
                        "wait_for": []},
    "price": {"action": "offer_alert", "owner": "consultant", "due_hours": None,
              "wait_for": ["price_change", "finance_offer"]},
    "finance_or_tradein": {"action": "finance_alert", "owner": "consultant", "due_hours": None,
                           "wait_for": ["finance_offer"]},
    "delivery_time": {"action": "stock_alert", "owner": "consultant", "due_hours": None,
                      "wait_for": ["stock_arrival"]},
    "configuration_mismatch": {"action": "stock_alert", "owner": "consultant", "due_hours": None,
                               "wait_for": ["stock_arrival"]},
    "competitor": {"action": "long_nurture", "owner": "consultant", "due_hours": 720,
                   "wait_for": ["competitor_complaints"]},
    "influenced_by_others": {"action": "family_test_drive_invite", "owner": "consultant",
                             "due_hours": 168, "wait_for": []},
    "brand_or_aftersales_concern": {"action": "aftersales_showcase", "owner": "service_advisor",
                                    "due_hours": 168, "wait_for": []},
    "other": {"action": "complete_loss_record", "owner": "sales_manager", "due_hours": 48,
              "wait_for": []},
    UNRECORDED: {"action": "complete_loss_record", "owner": "sales_manager", "due_hours": 48,
                 "wait_for": []},
}  # fmt: skip
DEFAULT_ROUTE_PRIORITY = ("service_experience", BOUGHT_COMPETITOR, *LOST_REASONS[:4],
                          *LOST_REASONS[5:])  # fmt: skip
DEFAULT_TRIGGER_REASONS: dict[str, tuple[str, ...]] = {
    "finance_offer": ("finance_or_tradein", "price"),
    "price_change": ("price",),
    "stock_arrival": ("configuration_mismatch", "delivery_time"),
    "competitor_complaints": ("competitor",),
}


@dataclass(frozen=True)
class LeadRules:
    """The grading, routing and trigger rules (``leads.rules`` in params.yaml).

    Attributes:
        window_days: Label window and default buying window: "buys within this many days of
            the loss"; a lead without an expected purchase date counts as in its buying window
            for this long after the loss (triggers only; the grading needs the date).
        variable_reasons: Reasons a store can fix (grade high when still in the window).
        affinity_reasons: Reasons that leave room when the lead likes the brand (grade mid).
        affinity_intents: Intents read as brand affinity.
        bad_service_reasons: Reasons that, recorded as the primary one, grade low.
        event_lookback_days: Market events in this many days before the loss are features.
        routes: Reason (or ``bought_competitor`` / ``unrecorded``) -> action, owner,
            due_hours (None: wait for an event), wait_for (event types).
        route_priority: Which of a lead's reasons picks its route, first match wins.
        trigger_reasons: Market event type -> the reasons it can fix.
    """

    window_days: int = 90
    variable_reasons: tuple[str, ...] = ("price", "finance_or_tradein", "delivery_time")
    affinity_reasons: tuple[str, ...] = ("configuration_mismatch", "competitor")
    affinity_intents: tuple[str, ...] = ("high", "mid")
    bad_service_reasons: tuple[str, ...] = ("service_experience",)
    event_lookback_days: int = 30
    routes: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    route_priority: tuple[str, ...] = DEFAULT_ROUTE_PRIORITY
    trigger_reasons: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_TRIGGER_REASONS)
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> LeadRules:
        """Build from ``leads.rules``; unknown keys, reasons or event types are errors."""
        rules = config_from_params(cls, params, "leads.rules")
        known = set(LOST_REASONS)
        for name in ("variable_reasons", "affinity_reasons", "bad_service_reasons"):
            bad = set(getattr(rules, name)) - known
            if bad:
                raise ValueError(f"leads.rules.{name}: unknown reason(s) {sorted(bad)}")
        keys = known | {BOUGHT_COMPETITOR, UNRECORDED}
        if set(rules.route_priority) - keys or keys - set(rules.routes):
            raise ValueError(
                "leads.rules: route_priority must name reasons, bought_competitor or "
                f"unrecorded, and routes must cover all of {sorted(keys)}"
            )
        bad_types = set(rules.trigger_reasons) - set(MARKET_EVENT_TYPES)
        if bad_types:
            raise ValueError(f"leads.rules.trigger_reasons: unknown event type(s) {bad_types}")
        return rules

    def feature_names(self) -> list[str]:
        """The model's feature names with this rule set's lookback filled in."""
        return [f.format(lookback=self.event_lookback_days) for f in FEATURES]


#: The grading rule in words (``{...}`` filled from :class:`LeadRules`), first match wins.
GRADE_RULES = (
    ("low", "bought a competitor and has no expected purchase date ahead (no plan to buy "
            "again), or a bad-service reason ({bad_service}) is the primary reason"),
    ("high", "lost on a variable factor ({variable}) and still in the buying window "
             "(expected purchase date on or after the loss date)"),
    ("mid", "lost on configuration or competitor appeal ({affinity}) with brand affinity "
            "(intent {intents})"),
    ("low", "everything else (including loss records without a reason)"),
)  # fmt: skip


def grade_rule_text(rules: LeadRules) -> list[str]:
    """The grading rule as numbered sentences, with the configured reasons filled in."""
    fill = {
        "bad_service": ", ".join(rules.bad_service_reasons),
        "variable": ", ".join(rules.variable_reasons),
        "affinity": ", ".join(rules.affinity_reasons),
        "intents": " or ".join(rules.affinity_intents),
    }
    return [f"{i + 1}. {g}: {text.format(**fill)}" for i, (g, text) in enumerate(GRADE_RULES)]


# --- the lost-lead table ---------------------------------------------------------------------


def lost_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """The leads that were ever lost (``lost_date`` set), one row each, sorted by date and id.

    Adds ``reasons`` (the list of codes, primary first; empty when unrecorded).
    """
    out = leads.loc[leads["lost_date"].notna()].copy()
    out["reasons"] = [split_codes(v) for v in out["lost_reasons"]]
    return out.sort_values(["lost_date", "lead_id"], kind="stable").reset_index(drop=True)


def data_end(leads: pd.DataFrame, as_of: str | pd.Timestamp | None = None) -> pd.Timestamp:
    """The export date: ``as_of`` when given, else the latest date in the leads table."""
    if as_of is not None:
        return pd.Timestamp(as_of).normalize()
    dates = pd.concat([leads[c] for c in ("first_visit_date", "status_date", "lost_date")])
    return pd.Timestamp(dates.max()).normalize()


def lead_labels(lost: pd.DataFrame, end: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """``labelled`` (the whole window is observed by ``end``) and ``bought`` (0/1).

    Args:
        lost: :func:`lost_leads`.
        end: The export date (:func:`data_end`).
        window_days: The label window.
    """
    delay = (lost["status_date"] - lost["lost_date"]).dt.days
    bought = lost["status"].eq("won") & (delay > 0) & (delay <= window_days)
    labelled = lost["lost_date"] + pd.Timedelta(days=window_days) <= end
    return pd.DataFrame(
        {"labelled": labelled.to_numpy(), "bought": bought.astype("int64").to_numpy()},
        index=lost.index,
    )


def lead_features(
    lost: pd.DataFrame,
    rules: LeadRules,
    events: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Point-in-time features of each lost lead as of its loss date.

    Uses only the lead's own record at the loss, market events and contacts dated strictly
    before the loss date, and other leads' losses whose label window had closed before it
    (their outcome was known then). Events and contacts dated on or after the loss date, and
    later leads, change nothing.

    Args:
        lost: :func:`lost_leads` (needs ``reasons``).
        rules: Lookback and window settings.
        events: The market_events table, or None when not collected (event counts missing).
        contacts: The lead_contacts table, or None (contact counts missing).

    Returns:
        ``lead_id``, ``lost_date`` and :meth:`LeadRules.feature_names`, index as ``lost``.
    """
    L = lost["lost_date"]
    f = pd.DataFrame(index=lost.index)
    f["lead_id"] = lost["lead_id"]
    f["lost_date"] = L
    reasons = lost["reasons"]
    for r in LOST_REASONS:
        f[f"reason_{r}"] = reasons.map(lambda rs, r=r: float(r in rs))
    f["n_reasons"] = reasons.map(len).astype("float64")
    f["has_reason"] = (f["n_reasons"] > 0).astype("float64")
    f["primary_reason"] = reasons.map(lambda rs: rs[0] if rs else None).astype("str")
    f["intent_level"] = lost["intent"].map(INTENT_LEVEL).astype("float64")
    f["bought_competitor"] = lost["bought_competitor"].map({"yes": 1.0, "no": 0.0})
    f["bought_competitor"] = f["bought_competitor"].astype("float64")
    f["days_to_expected_purchase"] = (lost["expected_purchase_date"] - L).dt.days.astype("float64")
    f["in_buying_window"] = (lost["expected_purchase_date"] >= L).astype("float64")
    f["days_in_funnel"] = (L - lost["first_visit_date"]).dt.days.astype("float64")
    f["follow_ups"] = lost["follow_ups"].astype("float64")
    f["competitor_known"] = lost["competitor_model"].notna().astype("float64")
    f["competitor_price"] = lost["competitor_price"].astype("float64")
    f["has_note"] = lost["reason_note"].notna().astype("float64")
    for c in ("model_interest", "region", "dealer_id"):
        f[c] = lost[c].astype("str")
    f["loss_month"] = L.dt.month.astype("float64")
    lb = rules.event_lookback_days
    for t in MARKET_EVENT_TYPES:
        f[f"events_{t}_{lb}d"] = (
            np.nan
            if events is None
            else _events_before(lost, events[events["event_type"] == t], lb)
        )
    f["contacts_before_loss"] = np.nan if contacts is None else _contacts_before(lost, contacts)
    f = f.join(_consultant_history(lost, rules.window_days))
    return f[["lead_id", "lost_date", *rules.feature_names()]]


def _events_before(lost: pd.DataFrame, events: pd.DataFrame, lookback: int) -> np.ndarray:
    """Events of one type concerning each lead in ``[loss - lookback, loss)``."""
    out = np.zeros(len(lost))
    L = lost["lost_date"].to_numpy()
    for e in events.itertuples(index=False):
        hit = (e.event_date < L) & (e.event_date >= L - np.timedelta64(lookback, "D"))
        hit &= _matches(lost, e)
        out += hit
    return out


def _matches(lost: pd.DataFrame, e: Any) -> np.ndarray:
    """Leads an event is about: its model, region and competitor model (blank = any)."""
    hit = np.ones(len(lost), dtype=bool)
    if isinstance(e.model, str):
        hit &= (lost["model_interest"] == e.model).to_numpy()
    if isinstance(e.region, str):
        hit &= (lost["region"] == e.region).to_numpy()
    if isinstance(e.competitor_model, str):
        hit &= (lost["competitor_model"] == e.competitor_model).to_numpy()
    return hit


def _contacts_before(lost: pd.DataFrame, contacts: pd.DataFrame) -> np.ndarray:
    c = contacts.merge(lost[["lead_id", "lost_date"]], on="lead_id")
    n = c.loc[c["contact_date"] < c["lost_date"]].groupby("lead_id").size()
    return lost["lead_id"].map(n).fillna(0).to_numpy(dtype="float64")


def _consultant_history(lost: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Per lead: its consultant's earlier losses, incomplete-record share and recovery rate.

    Losses count when dated strictly before the lead's loss; the recovery rate only uses
    earlier losses whose label window had closed before it (``lost_date + window < L``).
    """
    out = pd.DataFrame(
        np.nan,
        index=lost.index,
        columns=[
            "consultant_prior_losses",
            "consultant_incomplete_share",
            "consultant_recovery_rate",
        ],
    )
    if "consultant_id" not in lost.columns:
        return out
    delay = (lost["status_date"] - lost["lost_date"]).dt.days
    won = (lost["status"].eq("won") & (delay > 0) & (delay <= window_days)).to_numpy(float)
    incomplete = lost["reasons"].map(len).eq(0).to_numpy(float)
    closes = (lost["lost_date"] + pd.Timedelta(days=window_days)).to_numpy()
    for _, grp in lost.groupby("consultant_id", sort=False):
        i = grp.index.to_numpy()
        L = grp["lost_date"].to_numpy()
        order = np.argsort(L, kind="stable")
        Ls = L[order]
        before = np.searchsorted(Ls, L, side="left")  # losses strictly before each loss
        cum_inc = np.concatenate([[0.0], np.cumsum(incomplete[i][order])])
        out.loc[i, "consultant_prior_losses"] = before.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.loc[i, "consultant_incomplete_share"] = np.where(
                before > 0, cum_inc[before] / np.maximum(before, 1), np.nan
            )
        c_order = np.argsort(closes[i], kind="stable")
        cs = closes[i][c_order]
        cum_won = np.concatenate([[0.0], np.cumsum(won[i][c_order])])
        known = np.searchsorted(cs, L, side="left")  # windows closed strictly before the loss
        out.loc[i, "consultant_recovery_rate"] = np.where(
            known > 0, cum_won[known] / np.maximum(known, 1), np.nan
        )
    return out


# --- grading and routing -------------------------------------------------------------------


def grade_leads(lost: pd.DataFrame, rules: LeadRules) -> pd.Series:
    """The playbook grade (high / mid / low) of each lost lead; see :data:`GRADE_RULES`.

    Args:
        lost: :func:`lost_leads` (needs ``reasons``, ``intent``, ``bought_competitor``,
            ``expected_purchase_date``, ``lost_date``).
        rules: The rule settings.

    Returns:
        One grade per row, index as ``lost``.
    """
    reasons = lost["reasons"]
    primary = reasons.map(lambda rs: rs[0] if rs else None)
    in_window = (lost["expected_purchase_date"] >= lost["lost_date"]).to_numpy()
    bought = lost["bought_competitor"].eq("yes").to_numpy()
    bad_service = primary.isin(rules.bad_service_reasons).to_numpy()
    variable = reasons.map(lambda rs: any(r in rules.variable_reasons for r in rs)).to_numpy(bool)
    affinity = reasons.map(lambda rs: any(r in rules.affinity_reasons for r in rs)).to_numpy(bool)
    likes_brand = lost["intent"].isin(rules.affinity_intents).to_numpy()
    grade = np.select(
        [(bought & ~in_window) | bad_service, variable & in_window, affinity & likes_brand],
        ["low", "high", "mid"],
        default="low",
    )
    return pd.Series(grade, index=lost.index, dtype="str", name="grade")


def route_leads(lost: pd.DataFrame, rules: LeadRules) -> pd.DataFrame:
    """The follow-up route of each lost lead: the first of its reasons in ``route_priority``.

    ``bought_competitor`` counts as a reason when the lead bought a competitor; a lead without
    any reason takes the ``unrecorded`` route.

    Returns:
        ``route`` (the reason that picked it), ``action``, ``owner``, ``due_hours`` and
        ``wait_for`` (event types, ``;``-separated), index as ``lost``.
    """
    rank = {r: i for i, r in enumerate(rules.route_priority)}
    keys = []
    for rs, bought in zip(lost["reasons"], lost["bought_competitor"].eq("yes"), strict=True):
        cands = [*rs, BOUGHT_COMPETITOR] if bought else list(rs)
        cands = [c for c in cands if c in rank]
        keys.append(min(cands, key=rank.__getitem__) if cands else UNRECORDED)
    routes = rules.routes
    return pd.DataFrame(
        {
            "route": keys,
            "action": [routes[k]["action"] for k in keys],
            "owner": [routes[k]["owner"] for k in keys],
            "due_hours": [routes[k].get("due_hours") for k in keys],
            "wait_for": [";".join(routes[k].get("wait_for") or []) for k in keys],
        },
        index=lost.index,
    ).astype({"due_hours": "float64"})


# --- triggers ---------------------------------------------------------------------------


def concerned_leads(
    event: Mapping[str, Any],
    lost: pd.DataFrame,
    rules: LeadRules,
    score: pd.Series | None = None,
) -> pd.DataFrame:
    """The lost leads a market event concerns, most promising first.

    A lead is concerned when it was lost before the event and not won back by then, did not
    buy a competitor, matches the event's model, region and competitor model (a blank event
    field matches any), has a reason the event can fix (``trigger_reasons``), and is still in
    its buying window on the event date (expected purchase date on or after it; without a
    date, lost at most ``window_days`` before it). A lead whose ``do_not_contact`` is ``yes``
    is never listed; how many such leads the event would otherwise concern is in
    ``attrs["do_not_contact"]``.

    Args:
        event: One market_events row (``event_date``, ``event_type``, ``model``, ``region``,
            ``competitor_model``).
        lost: :func:`lost_leads`.
        rules: Rules (trigger reasons, window).
        score: Optional P(buy) per lead (index as ``lost``) used to order within a grade.

    Returns:
        The concerned rows of ``lost`` with ``grade``, the route columns, ``matched_reasons``,
        ``p_buy`` (when ``score`` is given) and ``priority`` (1 = call first). Order: grade,
        then ``p_buy`` (high first), then the nearest expected purchase date, then lead id.
        ``attrs["do_not_contact"]``: concerned leads left out for consent.
    """
    t = pd.Timestamp(event["event_date"])
    fixes = set(rules.trigger_reasons.get(str(event["event_type"]), ()))
    e = SimpleNamespace(**{k: event.get(k) for k in ("model", "region", "competitor_model")})
    hit = _matches(lost, e)
    not_won = ~lost["status"].eq("won") | (lost["status_date"] > t)
    window = lost["expected_purchase_date"].ge(t) | (
        lost["expected_purchase_date"].isna()
        & (t - lost["lost_date"] <= pd.Timedelta(days=rules.window_days))
    )
    matched = lost["reasons"].map(lambda rs: [r for r in rs if r in fixes])
    mask = (
        hit
        & (lost["lost_date"] < t).to_numpy()
        & not_won.to_numpy()
        & ~lost["bought_competitor"].eq("yes").to_numpy()
        & window.to_numpy()
        & matched.map(bool).to_numpy()
    )
    blocked = do_not_contact(lost).to_numpy()
    n_blocked = int((mask & blocked).sum())
    out = lost.loc[mask & ~blocked].copy()
    out["matched_reasons"] = matched[mask].map(";".join)
    out["grade"] = grade_leads(out, rules)
    out = out.join(route_leads(out, rules))
    keys = ["_g"]
    out["_g"] = out["grade"].map({g: i for i, g in enumerate(GRADES)})
    if score is not None:
        out["p_buy"] = score.reindex(out.index).astype("float64")
        out["_p"] = -out["p_buy"].fillna(-1.0)
        keys.append("_p")
    # Only the date may be missing, so na_position applies to it alone (undated leads last).
    out = out.sort_values(
        [*keys, "expected_purchase_date", "lead_id"], kind="stable", na_position="last"
    )
    out = out.drop(columns=["_g", "_p"], errors="ignore").reset_index(drop=True)
    out.insert(0, "priority", np.arange(1, len(out) + 1))
    out.attrs["do_not_contact"] = n_blocked
    return out


# --- diagnostics -------------------------------------------------------------------------------


def reasons_long(lost: pd.DataFrame) -> pd.DataFrame:
    """One row per (lost lead, reason), ``unrecorded`` for leads without any reason."""
    r = lost[["lead_id", "reasons"]].copy()
    r["reason"] = r["reasons"].map(lambda rs: rs or [UNRECORDED])
    r = r.explode("reason").drop(columns="reasons")
    return r.merge(lost.drop(columns=["reasons"]), on="lead_id", how="left")


def reasons_by(lost: pd.DataFrame, by: str) -> pd.DataFrame:
    """Loss reasons counted by ``by`` (``model_interest``, ``consultant_id``, ``region``, or
    ``month``): a table with one column per reason, rows ``by`` values, plus ``lost_leads``.

    A lead with two reasons counts once under each, so rows may sum to more than lost_leads.
    """
    r = reasons_long(lost)
    if by == "month":
        r["month"] = r["lost_date"].dt.strftime("%Y-%m")
        n = lost["lost_date"].dt.strftime("%Y-%m").value_counts()
    else:
        n = lost[by].fillna("(blank)").value_counts()
        r[by] = r[by].fillna("(blank)")
    table = pd.crosstab(r[by], r["reason"])
    cols = [c for c in (*LOST_REASONS, UNRECORDED) if c in table.columns]
    table = table[cols]
    table.insert(0, "lost_leads", n.reindex(table.index).astype("int64"))
    return table.sort_index()


def competitor_destinations(lost: pd.DataFrame) -> pd.DataFrame:
    """Where lost leads went: per (our model, competitor model) the leads, how many bought
    it, and the median and quartiles of the competitor price recorded."""
    c = lost.loc[lost["competitor_model"].notna()]
    if c.empty:
        return pd.DataFrame(
            columns=["model_interest", "competitor_model", "leads", "bought", "median_price"]
        )
    g = c.groupby(["model_interest", "competitor_model"])
    out = pd.DataFrame(
        {
            "leads": g.size(),
            "bought": g["bought_competitor"].apply(lambda s: int(s.eq("yes").sum())),
            "median_price": g["competitor_price"].median(),
            "price_q25": g["competitor_price"].quantile(0.25),
            "price_q75": g["competitor_price"].quantile(0.75),
        }
    ).reset_index()
    return out.sort_values(["model_interest", "leads"], ascending=[True, False], kind="stable")


def incomplete_records(
    lost: pd.DataFrame, min_leads: int = 20, max_incomplete_share: float = 0.2
) -> pd.DataFrame:
    """Loss-record completeness per consultant.

    A loss record is incomplete when it has no reason, only ``other`` without a note, or a
    ``competitor`` reason without the competitor model. A consultant is ``flagged`` with at
    least ``min_leads`` losses and an incomplete share above ``max_incomplete_share``.
    """
    rs = lost["reasons"]
    no_reason = rs.map(len).eq(0)
    vague = rs.map(lambda x: x == ["other"]) & lost["reason_note"].isna()
    no_rival = rs.map(lambda x: "competitor" in x) & lost["competitor_model"].isna()
    df = pd.DataFrame(
        {
            "consultant_id": lost["consultant_id"].fillna("(blank)"),
            "dealer_id": lost["dealer_id"],
            "no_reason": no_reason,
            "other_without_note": vague,
            "competitor_without_model": no_rival,
            "incomplete": no_reason | vague | no_rival,
            "no_intent": lost["intent"].isna(),
            "no_expected_date": lost["expected_purchase_date"].isna(),
        }
    )
    g = df.groupby(["consultant_id", "dealer_id"])
    out = g.size().rename("lost_leads").to_frame()
    for c in df.columns[2:]:
        out[f"{c}_share"] = g[c].mean().round(4)
    out["flagged"] = (out["lost_leads"] >= min_leads) & (
        out["incomplete_share"] > max_incomplete_share
    )
    return out.reset_index().sort_values(
        ["flagged", "incomplete_share"], ascending=[False, False], kind="stable"
    )
