"""Measured base rates of a simulated store (``truth/base_rates.json``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.contract import CARE_TABLES, LEAD_TABLES
from features.vocabulary import CHURN_STAGES, NO_ACTION, SIMULATOR_ACTIONS
from pipeline.simulator.names import ARMS
from pipeline.simulator.showroom import summarize_leads


def summarize(tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Measure the base rates that downstream models will face.

    Args:
        tables: Contract tables from ``simulate``.
        truth: Truth tables from ``simulate``.

    Returns:
        A JSON-serialisable dict: monthly churn rate (mean, min, max, per month), win-back
        rates per stage x action (treatment and control, counts and rates, uncensored contacts
        only), mean best-action true return probability per stage, value-tier shares among
        active customers, events per table and per customer; with the showroom tables,
        their base rates under ``leads``.
    """
    visits = tables["service_visits"]
    n_cust = len(tables["customers"])
    end = visits["visit_date"].max() if len(visits) else pd.Timestamp("1970-01-01")
    start = visits["visit_date"].min() if len(visits) else end
    if "snapshots" in truth and len(truth["snapshots"]):
        end = max(end, truth["snapshots"]["snapshot_date"].max())
    codes, uniques = pd.factorize(visits["customer_id"])
    vday = (visits["visit_date"] - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    churn = _churn_by_month(truth, codes, vday, start, end)
    rates = np.array(list(churn.values()))
    events = {
        name: int(len(df))
        for name, df in tables.items()
        # the care log is the store's messages, not the owners' behaviour
        if name != "customers" and name not in LEAD_TABLES and name not in CARE_TABLES
    }
    summary = {
        "customers": n_cust,
        "churn_rate_180d": {
            # None when the window is too short for a 365-day look-back plus 180 days ahead.
            "mean": float(rates.mean()) if rates.size else None,
            "min": float(rates.min()) if rates.size else None,
            "max": float(rates.max()) if rates.size else None,
            "by_month": churn,
        },
        "winback": _winback(truth["outreach"]),
        "value_tiers": _value_tiers(visits, codes, len(uniques), vday, end),
        "events": events,
        "events_per_customer": float(sum(events.values()) / max(n_cust, 1)),
        "final_state_shares": truth["customers"]["final_state"]
        .value_counts(normalize=True)
        .sort_index()
        .to_dict(),
    }
    if "leads" in tables:
        summary["leads"] = summarize_leads(tables, truth)
    return summary


def _churn_by_month(
    truth: dict[str, pd.DataFrame],
    codes: np.ndarray,
    vday: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict[str, float]:
    """180-day churn rate per month end: active in the year before, no visit in 180 days after.

    Only month ends with a full 365-day look-back and 180-day look-ahead count.
    """
    churn: dict[str, float] = {}
    snap_dates = (
        sorted(truth["snapshots"]["snapshot_date"].unique()) if "snapshots" in truth else []
    )
    for t_ in snap_dates:
        t_ = pd.Timestamp(t_)
        if t_ + pd.Timedelta(days=180) > end or t_ - pd.Timedelta(days=365) < start:
            continue
        td = (t_ - pd.Timestamp("1970-01-01")).days
        active = np.unique(codes[(vday > td - 365) & (vday <= td)])
        future = np.unique(codes[(vday > td) & (vday <= td + 180)])
        if active.size:
            churn[str(t_.date())] = float(1 - np.isin(active, future).mean())
    return churn


def _winback(outreach: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Realised and true return rates per stage and arm, uncensored contacts only."""
    o = outreach[~outreach["censored"]]
    winback: dict[str, dict[str, Any]] = {}
    for stage in CHURN_STAGES:
        os_ = o[o["stage"] == stage]
        row: dict[str, Any] = {}
        for arm in ARMS:
            oa = os_[os_["action"] == (NO_ACTION if arm == "control" else arm)]
            row[arm] = {
                "n": int(len(oa)),
                "returned": int(oa["returned"].sum()),
                "rate": float(oa["returned"].mean()) if len(oa) else None,
            }
        treat = os_[os_["group"] == "treatment"]
        row["treatment_all"] = {
            "n": int(len(treat)),
            "rate": float(treat["returned"].mean()) if len(treat) else None,
        }
        pcols = [f"p_return_{a}" for a in SIMULATOR_ACTIONS]
        row["true_best_action_rate"] = float(os_[pcols].max(axis=1).mean()) if len(os_) else None
        row["true_control_rate"] = float(os_["p_return_control"].mean()) if len(os_) else None
        best = os_[pcols].to_numpy().argmax(axis=1) if len(os_) else np.array([], int)
        got = os_["action"].to_numpy() == np.array(SIMULATOR_ACTIONS)[best]
        row["realised_rate_when_assigned_best"] = (
            float(os_.loc[got, "returned"].mean()) if got.any() else None
        )
        winback[stage] = row
    return winback


def _value_tiers(
    visits: pd.DataFrame, codes: np.ndarray, n_codes: int, vday: np.ndarray, end: pd.Timestamp
) -> dict[str, Any]:
    """Value-tier shares among customers active in the last 365 days before the end."""
    endd = (end - pd.Timestamp("1970-01-01")).days
    last_year = (vday > endd - 365) & (vday <= endd)
    spend = np.bincount(
        codes[last_year],
        weights=visits["amount"].to_numpy()[last_year],
        minlength=n_codes,
    )
    active = np.bincount(codes[last_year], minlength=n_codes) > 0
    sp = spend[active]
    return {
        "high": float((sp > 5000).mean()) if sp.size else None,
        "mid": float(((sp >= 2000) & (sp <= 5000)).mean()) if sp.size else None,
        "low": float((sp < 2000).mean()) if sp.size else None,
        "n_active": int(sp.size),
    }
