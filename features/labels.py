"""Snapshot dates, churn labels, the recovery (win-back outcome) table and the training table.

Readings of the issue, at day granularity (see docs/baselines.md, "Labels"):

* Features as of T use events with day < T; so day T belongs to the future and the churn
  window "(T, T + horizon]" is read as the days ``[T, T + horizon)``: churn = 1 when the
  customer has no service visit in that window.
* A snapshot is labelled only when its window is observed: ``T + horizon <= data_end + 1``
  (``data_end`` = the data set's as-of date, else its latest event).
* Eligible at T: at least ``eligibility_min_visits`` visits in ``[T - eligibility_days, T)``.
* Recovery of an outreach row contacted on day c: a visit in ``(c, c + window]``, i.e. days
  ``[c + 1, c + window]``; labelled only when ``c + window <= data_end``. Its features are
  as of c (events strictly before the contact day).
* Each outreach row carries the propensity of its arm: the log's own where it has one, else
  the estimate of :mod:`features.propensity` (``propensity_estimated`` says which).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from features.build import KEYS, build_features, compute_features
from features.config import FeaturizeConfig
from features.contract import DataSet
from features.events import FeatureIndex, prepare, to_days
from features.propensity import PROPENSITY, with_propensity

logger = logging.getLogger(__name__)

OUTREACH_COLUMNS = ["contact_date", "action", "cost", "group", "channel"]


def _index(data: DataSet | FeatureIndex, config: FeaturizeConfig | None) -> FeatureIndex:
    return data if isinstance(data, FeatureIndex) else prepare(data, config)


def _day(when: pd.Timestamp) -> int:
    return int(to_days(np.array([pd.Timestamp(when).to_datetime64()]))[0])


def snapshot_dates(
    data: DataSet | FeatureIndex, config: FeaturizeConfig | None = None
) -> pd.DatetimeIndex:
    """Snapshot dates on the configured calendar whose churn horizon is observed.

    Args:
        data: The data set, or its :func:`features.events.prepare` index.
        config: Settings; defaults when None (or the index's own).

    Returns:
        The dates (datetime64[ns], at midnight); empty when the data are too short.
    """
    idx = _index(data, config)
    cfg = config or idx.config
    visits = idx.events["visits"]
    if len(visits) == 0:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    first = pd.Timestamp(int(visits.days.min()), unit="D")
    start = (
        pd.Timestamp(cfg.snapshot_start)
        if cfg.snapshot_start
        else first + pd.Timedelta(days=cfg.min_history_days)
    )
    last_labelled = idx.data_end + pd.Timedelta(days=1 - cfg.horizon_days)
    end = min(pd.Timestamp(cfg.snapshot_end), last_labelled) if cfg.snapshot_end else last_labelled
    dates = pd.date_range(start.normalize(), end.normalize(), freq=cfg.snapshot_freq)
    return pd.DatetimeIndex(dates.normalize()).astype("datetime64[ns]")


def churn_labels(
    data: DataSet | FeatureIndex, as_of: str | pd.Timestamp, config: FeaturizeConfig | None = None
) -> pd.DataFrame:
    """Churn label and eligibility of every customer at one snapshot date.

    Args:
        data: The data set, or its prepared index.
        as_of: Snapshot date T.
        config: Settings; defaults when None (or the index's own).

    Returns:
        ``customer_id``, ``as_of``, ``eligible`` (bool: visited in the eligibility window
        before T), ``labelled`` (bool: the horizon is observed) and ``churn`` (float 1/0 =
        no visit / a visit in ``[T, T + horizon)``; NaN when not labelled). Uses only events
        on or after T for ``churn``.
    """
    idx = _index(data, config)
    cfg = config or idx.config
    t = _day(pd.Timestamp(as_of).normalize())
    codes = np.arange(idx.n_customers)
    vis = idx.events["visits"]
    future = vis.count(vis.pos(codes, t), vis.pos(codes, t + cfg.horizon_days))
    past = vis.count(vis.pos(codes, t - cfg.eligibility_days), vis.pos(codes, t))
    labelled = t + cfg.horizon_days <= _day(idx.data_end) + 1
    return pd.DataFrame(
        {
            "customer_id": pd.Series(idx.customer_ids, dtype="str"),
            "as_of": pd.Series(
                np.full(idx.n_customers, pd.Timestamp(as_of).normalize().to_datetime64())
            ).astype("datetime64[ns]"),
            "eligible": past >= max(cfg.eligibility_min_visits, 0),
            "labelled": np.full(idx.n_customers, labelled),
            "churn": (future == 0).astype("float64") if labelled else np.nan,
        }
    )


def training_table(
    data: DataSet | FeatureIndex,
    config: FeaturizeConfig | None = None,
    dates: pd.DatetimeIndex | list | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Stack features and churn labels of eligible customers over the snapshot dates.

    Args:
        data: The data set, or its prepared index.
        config: Settings; defaults when None (or the index's own).
        dates: Snapshot dates; default :func:`snapshot_dates`.
        progress: Show a tqdm bar over snapshots (only when stderr is a terminal).

    Returns:
        ``customer_id``, ``as_of``, the features and ``churn`` (int 0/1) for eligible
        customers at labelled snapshots, sorted by (customer_id, as_of).
    """
    idx = _index(data, config)
    cfg = config or idx.config
    dates = snapshot_dates(idx, cfg) if dates is None else pd.DatetimeIndex(dates)
    parts = []
    for when in tqdm(dates, desc="snapshots", unit="snap", disable=None if progress else True):
        labels = churn_labels(idx, when, cfg)
        keep = (labels["eligible"] & labels["labelled"]).to_numpy()
        feats = build_features(None, when, cfg, index=idx)
        part = feats.loc[keep].copy()
        part["churn"] = labels.loc[keep, "churn"].astype("int64").to_numpy()
        parts.append(part)
    if not parts:
        empty = build_features(None, pd.Timestamp("2000-01-01"), cfg, index=idx).iloc[:0]
        return empty.assign(churn=pd.Series(dtype="int64"))
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(KEYS, kind="stable").reset_index(drop=True)
    logger.info(
        "training table: %d rows over %d snapshots, churn rate %.3f",
        len(out),
        len(dates),
        float(out["churn"].mean()) if len(out) else float("nan"),
    )
    return out


def recovery_table(data: DataSet, config: FeaturizeConfig | None = None) -> pd.DataFrame:
    """Each outreach row with its recovery label and features as of its contact date.

    Args:
        data: The data set (must hold ``outreach`` for a non-empty result).
        config: Settings; defaults when None.

    Returns:
        ``customer_id``, ``as_of`` (= contact date), the outreach columns (``contact_date``,
        ``action``, ``cost``, ``group``, ``channel``), ``propensity`` (P(arm | picked): the
        log's, or estimated from the log, :mod:`features.propensity`) and
        ``propensity_estimated``, the features, ``labelled`` and
        ``recovered`` (float 1/0: a visit within the response window after contact; NaN when
        the window passes the data end). Sorted by (customer_id, contact_date, action,
        group). Empty (same columns) without an outreach table.
    """
    idx = prepare(data, config)
    return recovery_from_index(data.tables.get("outreach"), idx, config)


def recovery_from_index(
    outreach: pd.DataFrame | None, idx: FeatureIndex, config: FeaturizeConfig | None = None
) -> pd.DataFrame:
    """:func:`recovery_table` on an already prepared index (see there)."""
    cfg = config or idx.config
    if outreach is None:
        outreach = pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="str"),
                "contact_date": pd.Series(dtype="datetime64[ns]"),
                "action": pd.Series(dtype="str"),
                "cost": pd.Series(dtype="float64"),
                "group": pd.Series(dtype="str"),
                "channel": pd.Series(dtype="str"),
            }
        )
    extra = [PROPENSITY] if PROPENSITY in outreach.columns else []
    o = outreach[["customer_id", *OUTREACH_COLUMNS, *extra]].copy()
    o["contact_date"] = o["contact_date"].dt.normalize().astype("datetime64[ns]")
    o = o.sort_values(
        ["customer_id", "contact_date", "action", "group"], kind="stable"
    ).reset_index(drop=True)
    codes = idx.codes_of(o["customer_id"])
    if (codes < 0).any():
        raise ValueError("outreach names customers missing from the customers table")
    c = to_days(o["contact_date"])
    vis = idx.events["visits"]
    window = cfg.response_window_days
    came = vis.count(vis.pos(codes, c + 1), vis.pos(codes, c + window + 1))
    labelled = c + window <= _day(idx.data_end)
    feats = compute_features(idx, codes, c)
    spend = feats["spend_365d"].to_numpy(dtype="float64")
    props = with_propensity(o, spend, cfg.propensity_min_rows, cfg.propensity_tier_bounds)
    out = pd.concat(
        [
            o[["customer_id"]],
            pd.DataFrame({"as_of": o["contact_date"].to_numpy()}).astype("datetime64[ns]"),
            o[OUTREACH_COLUMNS],
            props,
            feats,
        ],
        axis=1,
    )
    out["labelled"] = labelled
    out["recovered"] = np.where(labelled, (came > 0).astype("float64"), np.nan)
    logger.info(
        "recovery table: %d outreach rows, %d labelled, recovery rate %.3f",
        len(out),
        int(labelled.sum()),
        float(np.nanmean(out["recovered"])) if labelled.any() else float("nan"),
    )
    return out
