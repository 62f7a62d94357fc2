"""The contact cooldown: a customer picked for outreach recently is not recommended again.

One rule for every caller (the CRM export today, the policy stage later): a customer whose
latest outreach row (``outreach.contact_date``) lies fewer than ``days`` days before the
as-of date T — ``T - days < contact_date < T`` — is in cooldown. Rows on or after T are the
future and never count (point in time). Both groups count: a ``control`` row was picked for
the experiment, and picking them again within the cooldown would put a contact inside their
comparison window (the simulator's campaign tool does the same).

The score stage passes the flag to the policy as ``blocked``, together with do-not-contact
(:func:`models.policy.recommend`).
"""

from __future__ import annotations

import pandas as pd


def last_outreach_before(
    outreach: pd.DataFrame | None, customer_ids: pd.Series, as_of: str | pd.Timestamp
) -> pd.Series:
    """Each customer's latest outreach date strictly before ``as_of`` (NaT when none).

    Args:
        outreach: The contract's ``outreach`` rows (``customer_id``, ``contact_date``); None
            or empty = nobody was contacted.
        customer_ids: The customers to answer for (any index).
        as_of: The as-of date T; rows dated T or later are ignored.

    Returns:
        datetime64 Series aligned with ``customer_ids`` (day precision).
    """
    ids = customer_ids.astype("str")
    empty = pd.Series(pd.NaT, index=customer_ids.index, dtype="datetime64[ns]")
    if outreach is None or outreach.empty or "contact_date" not in outreach.columns:
        return empty
    t = pd.Timestamp(as_of).normalize()
    day = pd.to_datetime(outreach["contact_date"]).dt.normalize()
    rows = pd.DataFrame({"customer_id": outreach["customer_id"].astype("str"), "day": day})
    last = rows.loc[rows["day"] < t].groupby("customer_id")["day"].max()
    # reindex, not map: a map over an empty datetime series does not stay datetime
    values = last.reindex(ids.to_numpy()).to_numpy("datetime64[ns]")
    return pd.Series(values, index=customer_ids.index, name="last_outreach")


def in_cooldown(last_outreach: pd.Series, as_of: str | pd.Timestamp, days: int) -> pd.Series:
    """Whether a latest outreach date lies fewer than ``days`` days before ``as_of``.

    Args:
        last_outreach: :func:`last_outreach_before` output.
        as_of: The as-of date T.
        days: The cooldown in days; 0 = no cooldown.

    Returns:
        bool Series aligned with ``last_outreach``.
    """
    if days <= 0:
        return pd.Series(False, index=last_outreach.index, name="in_cooldown")
    t = pd.Timestamp(as_of).normalize()
    age = (t - last_outreach).dt.days
    return (age < days).fillna(False).astype(bool).rename("in_cooldown")


def recently_contacted(
    outreach: pd.DataFrame | None,
    customer_ids: pd.Series,
    as_of: str | pd.Timestamp,
    days: int,
) -> pd.Series:
    """The cooldown rule: picked for outreach fewer than ``days`` days before ``as_of``.

    Args:
        outreach: The contract's ``outreach`` rows (None = no log: nobody is in cooldown).
        customer_ids: The customers to answer for.
        as_of: The as-of date T; outreach on T or later is the future and does not count.
        days: ``crm.cooldown_days``; 0 switches the rule off.

    Returns:
        bool Series aligned with ``customer_ids``: True = do not recommend a contact now.
    """
    return in_cooldown(last_outreach_before(outreach, customer_ids, as_of), as_of, days)
