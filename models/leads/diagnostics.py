"""Why leads are lost: loss reasons by model, consultant, month and region; where lost leads
went; which consultants leave loss records incomplete."""

from __future__ import annotations

import pandas as pd

from features.contract import LOST_REASONS
from models.leads.config import UNRECORDED


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
