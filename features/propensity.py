"""The propensity of each outreach row: P(its arm | the customer was picked for the campaign).

A randomizing campaign tool knows it and may write it into the outreach log (the optional
``propensity`` column, docs/data_contract.md). Where it is absent or blank it is estimated
from the log itself by one documented rule (:func:`estimate_propensity`):

* the **arm** of a row is ``none`` for a control row, else its ``action``;
* the **campaign** of a row is its contact day when the log's contacts come in campaign
  days (at least half of the rows fall on days with at least ``min_rows`` rows), else the
  calendar month of the contact day (a campaign worked over several days);
* the **cell** of a row is campaign × value tier (trailing-365-day spend before the contact
  day, :func:`features.vocabulary.value_tier_index`): stores randomize within tiers;
* the estimate is the arm's share among the cell's rows when the cell has at least
  ``min_rows`` rows, else the arm's share in the whole log.

The estimate is never 0 (the row's own arm is in its cell) and at most 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.vocabulary import NO_ACTION, TIER_BOUNDS, value_tier_index

PROPENSITY = "propensity"
ESTIMATED = "propensity_estimated"
#: Fewest rows of a campaign day (and of a campaign × tier cell) the rule relies on.
MIN_ROWS = 30


def arms(outreach: pd.DataFrame) -> pd.Series:
    """The arm of each outreach row: ``none`` for a control row, else its ``action``.

    Args:
        outreach: Rows with ``action`` and ``group`` (``treatment`` / ``control``).

    Returns:
        String series, index as ``outreach``.
    """
    control = outreach["group"].astype("str").eq("control").to_numpy()
    action = outreach["action"].astype("str").to_numpy(dtype=object)
    return pd.Series(np.where(control, NO_ACTION, action), index=outreach.index, dtype="str")


def campaigns(contact_date: pd.Series, min_rows: int = MIN_ROWS) -> pd.Series:
    """The campaign of each row: its contact day, or its month when the days are spread.

    Args:
        contact_date: Contact date per row.
        min_rows: A day with at least this many rows is a campaign day; when at least half
            of the rows fall on campaign days, each day is a campaign, else each month is.

    Returns:
        ``datetime64[ns]`` series (the day, or the first day of the month), index as
        ``contact_date``.
    """
    day = pd.to_datetime(contact_date).dt.normalize().astype("datetime64[ns]")
    if day.empty:
        return day
    on_campaign_days = day.map(day.value_counts()).to_numpy() >= min_rows
    if on_campaign_days.mean() >= 0.5:
        return day
    return day.dt.to_period("M").dt.start_time.astype("datetime64[ns]")


def estimate_propensity(
    outreach: pd.DataFrame,
    spend_365d: pd.Series | np.ndarray,
    min_rows: int = MIN_ROWS,
    tier_bounds: Sequence[float] = TIER_BOUNDS,
) -> pd.Series:
    """Estimated P(arm | picked) per row: the arm's share in its campaign × value-tier cell.

    Args:
        outreach: Rows with ``contact_date``, ``action`` and ``group``.
        spend_365d: Trailing-365-day spend before each row's contact day (aligned by
            position); missing counts as 0.
        min_rows: Fewest rows of a campaign day and of a cell (see the module doc); a
            smaller cell gets the arm's share in the whole log.
        tier_bounds: Increasing bounds of the value tiers (CNY).

    Returns:
        Float series in ``(0, 1]``, index as ``outreach``.
    """
    if outreach.empty:
        return pd.Series(dtype="float64", index=outreach.index, name=PROPENSITY)
    arm = arms(outreach).to_numpy(dtype=object)
    cells = pd.DataFrame(
        {
            "campaign": campaigns(outreach["contact_date"], min_rows).to_numpy(),
            "tier": value_tier_index(np.asarray(spend_365d, dtype="float64"), tier_bounds),
            "arm": arm,
        }
    )
    n_cell = cells.groupby(["campaign", "tier"])["arm"].transform("size").to_numpy()
    n_arm = cells.groupby(["campaign", "tier", "arm"])["arm"].transform("size").to_numpy()
    overall = pd.Series(arm).map(pd.Series(arm).value_counts(normalize=True)).to_numpy()
    share = np.where(n_cell >= min_rows, n_arm / n_cell, overall).astype("float64")
    return pd.Series(share, index=outreach.index, name=PROPENSITY)


def with_propensity(
    outreach: pd.DataFrame,
    spend_365d: pd.Series | np.ndarray,
    min_rows: int = MIN_ROWS,
    tier_bounds: Sequence[float] = TIER_BOUNDS,
) -> pd.DataFrame:
    """The logged propensity where the log has a valid one, the estimate elsewhere.

    Args:
        outreach: Validated outreach rows; ``propensity`` optional (missing where absent or
            set to missing by validation).
        spend_365d, min_rows, tier_bounds: As :func:`estimate_propensity`.

    Returns:
        Index as ``outreach``: ``propensity`` (float in ``(0, 1]``) and
        ``propensity_estimated`` (bool: the value is the estimate).
    """
    given = (
        pd.to_numeric(outreach[PROPENSITY], errors="coerce").astype("float64")
        if PROPENSITY in outreach.columns
        else pd.Series(np.nan, index=outreach.index, dtype="float64")
    )
    # Validation already sets values outside (0, 1] to missing; a frame that skipped it too.
    given = given.where((given > 0) & (given <= 1))
    missing = given.isna()
    out = pd.DataFrame({PROPENSITY: given, ESTIMATED: missing.astype(bool)}, index=outreach.index)
    if missing.any():
        estimate = estimate_propensity(outreach, spend_365d, min_rows, tier_bounds)
        out.loc[missing, PROPENSITY] = estimate[missing]
    return out
