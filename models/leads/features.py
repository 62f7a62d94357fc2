"""Lost sales leads: the lost-lead table, labels and point-in-time features.

A *lost lead* is a lead with a ``lost_date`` (still lost, or lost and later won back). Every
feature of a lost lead is as of its loss date: the lead's own record at the loss, market
events and contacts dated strictly before it, and its consultant's history of losses whose
outcome was already known then. The label is "bought from us within ``window_days`` of the
loss" (``status == won`` and ``0 < status_date - lost_date <= window_days``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from features.contract import LOST_REASONS, MARKET_EVENT_TYPES, split_codes
from models.leads.config import LeadRules

logger = logging.getLogger(__name__)

INTENT_LEVEL = {"low": 0.0, "mid": 1.0, "high": 2.0}

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


def lead_feature_names(rules: LeadRules) -> list[str]:
    """The model's feature names with the rule set's event lookback filled in."""
    return [f.format(lookback=rules.event_lookback_days) for f in FEATURES]


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
        ``lead_id``, ``lost_date`` and :func:`lead_feature_names`, index as ``lost``.
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
    return f[["lead_id", "lost_date", *lead_feature_names(rules)]]


def _events_before(lost: pd.DataFrame, events: pd.DataFrame, lookback: int) -> np.ndarray:
    """Events of one type concerning each lead in ``[loss - lookback, loss)``."""
    out = np.zeros(len(lost))
    L = lost["lost_date"].to_numpy()
    for e in events.itertuples(index=False):
        hit = (e.event_date < L) & (e.event_date >= L - np.timedelta64(lookback, "D"))
        hit &= event_matches(lost, e)
        out += hit
    return out


def event_matches(lost: pd.DataFrame, e: Any) -> np.ndarray:
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
