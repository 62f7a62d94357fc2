"""The playbook's rules for lost leads: grades, routes and market-event triggers.

The grading (high / mid / low), the reason-specific routing and the market-event triggers
are rules whose parameters come from ``leads.rules`` in params.yaml
(:class:`models.leads.config.LeadRules`); their wording is in :data:`GRADE_RULES` so reports
print what was applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from features.contract import MARKET_EVENT_TYPES, do_not_contact
from models.leads.config import BOUGHT_COMPETITOR, UNRECORDED, LeadRules
from models.leads.features import event_matches

GRADES = ("high", "mid", "low")
GRADE_SCORE = {"high": 2.0, "mid": 1.0, "low": 0.0}
#: The CRM task file's columns (name and phone only there, never in logs or reports).
TASK_COLUMNS = [
    "priority", "event_id", "event_type", "event_date", "lead_id", "name", "phone", "dealer_id",
    "region", "consultant_id", "owner", "action", "due_date", "model_interest", "lost_date",
    "lost_reasons", "matched_reasons", "grade", "p_buy", "expected_purchase_date",
]  # fmt: skip

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


# --- grading and routing -------------------------------------------------------------------


def grade_leads(lost: pd.DataFrame, rules: LeadRules) -> pd.Series:
    """The playbook grade (high / mid / low) of each lost lead; see :data:`GRADE_RULES`.

    Args:
        lost: :func:`models.leads.features.lost_leads` (needs ``reasons``, ``intent``, ``bought_competitor``,
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
        lost: :func:`models.leads.features.lost_leads`.
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
    hit = event_matches(lost, e)
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


def task_file(concerned: pd.DataFrame, event: Mapping[str, Any]) -> pd.DataFrame:
    """The CRM task rows for one event: one per concerned lead, in priority order.

    Args:
        concerned: :func:`concerned_leads` for the event.
        event: The market event (``event_date``, ``event_type``, optional ``event_id``).

    Returns:
        :data:`TASK_COLUMNS`, one row per concerned lead.
    """
    t = pd.Timestamp(event["event_date"])
    df = concerned.copy()
    df["event_id"] = str(event.get("event_id") or "")
    df["event_type"] = str(event["event_type"])
    df["event_date"] = t
    # Alert routes act on the event: within a day of it; others keep their own due time.
    hours = df["due_hours"].fillna(24.0).clip(upper=24.0)
    df["due_date"] = t + pd.to_timedelta(hours, unit="h")
    for c in TASK_COLUMNS:
        if c not in df.columns:
            df[c] = pd.NA
    return df[TASK_COLUMNS]


def event_from_frame(df: pd.DataFrame, source: str) -> dict[str, Any]:
    """One market event from a frame with the market_events columns (a one-row event file).

    Args:
        df: The file's rows, as read (any header case).
        source: The file, for messages.

    Returns:
        The event: stripped text fields, a ``Timestamp`` ``event_date``, a lower-case type.

    Raises:
        ValueError: Not exactly one row, a missing column, a bad date or an unknown type,
            with a message naming the file, column and rule.
    """
    df = df.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    if len(df) != 1:
        raise ValueError(f"{source}: expected exactly one event row, found {len(df)}")
    for col in ("event_date", "event_type"):
        if col not in df.columns:
            raise ValueError(f"{source}, column '{col}': required column missing")
    row = {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].to_dict().items()}
    for k in ("model", "region", "competitor_model", "event_type"):
        if isinstance(row.get(k), str):
            row[k] = row[k].strip() or None
    try:
        row["event_date"] = pd.Timestamp(row["event_date"])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{source}, column 'event_date': not a date ({row['event_date']!r})"
        ) from exc
    etype = str(row["event_type"]).lower()
    if etype not in MARKET_EVENT_TYPES:
        raise ValueError(
            f"{source}, column 'event_type': not in allowed values ({row['event_type']!r}; "
            f"allowed: {', '.join(MARKET_EVENT_TYPES)})"
        )
    row["event_type"] = etype
    return row


def find_event(events: pd.DataFrame | None, event_id: str, source: str) -> dict[str, Any]:
    """The market event ``event_id`` of a data set's market_events table.

    Raises:
        ValueError: No market_events table, or no event with that id (``source`` names the
            data directory).
    """
    if events is None:
        raise ValueError(f"{source}: no market_events table; use --event-file")
    row = events[events["event_id"] == event_id]
    if row.empty:
        raise ValueError(f"{source}: no market event with event_id {event_id!r}")
    return row.iloc[0].to_dict()
