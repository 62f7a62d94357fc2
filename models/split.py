"""Out-of-time splits of the snapshot table and the outreach (recovery) table.

Rows are never split at random. Dates are grouped into *periods* (the snapshot dates of the
training table; calendar months of contact dates for the recovery table) and, oldest to newest:

* ``train`` — the early periods, used to fit the booster;
* ``valid`` / ``calib`` — a share ``holdout_share`` of customers (chosen by a deterministic
  hash of ``customer_id``) at the last ``holdout_periods`` periods before the gap, divided
  between early stopping (``valid``) and probability calibration (``calib``) by the same hash.
  Those customers are **left out of train entirely**: consecutive snapshots of one customer
  have nearly the same features and overlapping label windows, so a booster validated on
  customers it was trained on memorises them and early stopping never stops;
* a **gap** of at least the label window: every row used for fitting, early stopping or
  calibration has ``date + gap_days <= test_start``, so no label window of a fitted row reaches
  into the test period (pass ``horizon_days`` for churn, whose window is ``[T, T + h)``, and
  ``response_window_days + 1`` for recovery, whose window is ``(c, c + w]``);
* ``test`` — the last ``test_periods`` periods: the out-of-time slice the evaluation uses.

Rows that fall inside the gap are dropped from every slice.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SLICES = ("train", "valid", "calib", "test")


class SplitError(ValueError):
    """The data are too short (or too sparse) for the configured split."""


@dataclass(frozen=True)
class SplitConfig:
    """How to cut a table by time.

    Attributes:
        test_periods: Number of latest periods in the test slice.
        holdout_periods: Number of latest pre-gap periods that form valid + calib.
        gap_days: Minimum days between a fitted row's date and the first test date.
        holdout_share: Share of customers (by hash) held out of train for valid + calib.
        calib_share: Share of the held-out customers that go to ``calib`` (rest: ``valid``).
        exclude_holdout_customers: Keep held-out customers out of train at every date (the
            churn table, where snapshots of one customer repeat); when False, only their rows
            in the holdout periods are held out (the outreach log, where they rarely repeat).
        min_train_periods: Fewest periods the train slice may have.
        freq: Pandas period alias to group dates into periods (``"M"`` = calendar month);
            None = each distinct date is a period (the snapshot calendar).
        seed: Salt of the customer hash (change it to draw another valid/calib division).
    """

    test_periods: int = 3
    holdout_periods: int = 2
    gap_days: int = 180
    holdout_share: float = 0.2
    calib_share: float = 0.5
    exclude_holdout_customers: bool = True
    min_train_periods: int = 1
    freq: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.test_periods < 1 or self.holdout_periods < 1 or self.min_train_periods < 1:
            raise ValueError("test_periods, holdout_periods and min_train_periods must be >= 1")
        if self.gap_days < 0:
            raise ValueError("gap_days must be >= 0")
        if not 0.0 < self.calib_share < 1.0 or not 0.0 < self.holdout_share < 1.0:
            raise ValueError("holdout_share and calib_share must be in (0, 1)")

    @classmethod
    def from_params(cls, params: dict[str, Any] | None, **defaults: Any) -> SplitConfig:
        """Build from a params block, over ``defaults``; unknown keys are an error."""
        merged = {**defaults, **dict(params or {})}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ValueError(f"unknown split params: {', '.join(unknown)}")
        return cls(**merged)


@dataclass
class TimeSplit:
    """The four slices and the dates that define them.

    ``split["test"]`` works like a dict; ``boundaries`` is JSON-able and is what
    :func:`apply_boundaries` needs to reproduce the assignment on the same table.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    calib: pd.DataFrame
    test: pd.DataFrame
    boundaries: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key not in SLICES:
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict[str, pd.DataFrame]:
        """The slices as ``{"train": ..., "valid": ..., "calib": ..., "test": ...}``."""
        return {k: getattr(self, k) for k in SLICES}

    def summary(self, target: str) -> dict[str, dict[str, Any]]:
        """Row count and positive rate of ``target`` per slice, for a model's training info.

        Returns:
            ``{"rows": {slice: n}, "positive_rate": {slice: rate rounded to 6 places}}``; the
            rate of an empty slice is NaN.
        """
        frames = self.as_dict()
        return {
            "rows": {k: len(f) for k, f in frames.items()},
            "positive_rate": {
                k: round(float(f[target].mean()), 6) if len(f) else float("nan")
                for k, f in frames.items()
            },
        }


def customer_bucket(customer_id: pd.Series, seed: int = 0) -> np.ndarray:
    """A stable pseudo-uniform number in [0, 1) per customer id (CRC32 of seed + id)."""
    salt = f"{seed}:".encode()
    values = customer_id.astype("str").to_numpy()
    return np.fromiter(
        (zlib.crc32(salt + v.encode("utf-8")) / 2**32 for v in values),
        dtype="float64",
        count=len(values),
    )


def _periods(dates: pd.Series, freq: str | None) -> pd.Series:
    dates = pd.to_datetime(dates).dt.normalize()
    if freq is None:
        return dates
    return dates.dt.to_period(freq).dt.start_time.astype("datetime64[ns]")


def _day(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def time_split(table: pd.DataFrame, date_col: str, config: SplitConfig) -> TimeSplit:
    """Cut ``table`` into train / valid / calib / test by ``date_col`` (see the module doc).

    Args:
        table: Rows with ``customer_id`` and ``date_col``.
        date_col: The date that orders rows in time (``as_of`` or ``contact_date``).
        config: Split sizes, gap and hash salt.

    Returns:
        The slices (copies, original index kept) and their boundary dates.

    Raises:
        SplitError: Too few periods for the configured split, or an empty slice.
    """
    if date_col not in table.columns or "customer_id" not in table.columns:
        raise SplitError(f"the table needs columns customer_id and {date_col}")
    dates = pd.to_datetime(table[date_col]).dt.normalize()
    period = _periods(dates, config.freq)
    uniq = pd.DatetimeIndex(period.drop_duplicates().sort_values())
    n = len(uniq)
    what = "snapshot dates" if config.freq is None else f"periods ({config.freq})"
    if n < config.test_periods + config.holdout_periods + config.min_train_periods:
        raise SplitError(_too_short(n, uniq, what, config, None))
    test_start_period = uniq[n - config.test_periods]
    test_start = dates[period >= test_start_period].min()
    # The last date whose label window ends before the test period starts.
    fit_end = test_start - pd.Timedelta(days=config.gap_days)
    fit_mask = dates <= fit_end
    fit_periods = pd.DatetimeIndex(period[fit_mask].drop_duplicates().sort_values())
    gap_periods = int(period[~fit_mask & (period < test_start_period)].nunique())
    if len(fit_periods) < config.holdout_periods + config.min_train_periods:
        raise SplitError(_too_short(n, uniq, what, config, gap_periods))
    holdout_start = fit_periods[len(fit_periods) - config.holdout_periods]
    test_mask = period >= test_start_period
    bucket = pd.Series(customer_bucket(table["customer_id"], config.seed), index=table.index)
    held = bucket < config.holdout_share
    hold_mask = fit_mask & (period >= holdout_start) & held
    if config.exclude_holdout_customers:
        train_mask = fit_mask & ~held
    else:
        train_mask = fit_mask & ~hold_mask
    calib_mask = hold_mask & (bucket < config.holdout_share * config.calib_share)
    valid_mask = hold_mask & ~calib_mask
    masks = {"train": train_mask, "valid": valid_mask, "calib": calib_mask, "test": test_mask}
    for name, mask in masks.items():
        if not mask.any():
            raise SplitError(
                f"the {name} slice is empty; {_too_short(n, uniq, what, config, gap_periods)}"
            )
    slices = {k: table.loc[m.to_numpy()].copy() for k, m in masks.items()}
    boundaries = {
        "date_col": date_col,
        "freq": config.freq,
        "gap_days": config.gap_days,
        "holdout_share": config.holdout_share,
        "calib_share": config.calib_share,
        "exclude_holdout_customers": config.exclude_holdout_customers,
        "seed": config.seed,
        "train_start": _day(dates[train_mask].min()),
        "train_end": _day(dates[train_mask].max()),
        "holdout_start": _day(dates[hold_mask].min()),
        "holdout_end": _day(dates[hold_mask].max()),
        "fit_end": _day(fit_end),
        "test_start": _day(test_start),
        "test_end": _day(dates[test_mask].max()),
        "rows": {k: int(m.sum()) for k, m in masks.items()},
        "periods": {
            "train": int(period[train_mask].nunique()),
            "train_customers": int(table.loc[train_mask.to_numpy(), "customer_id"].nunique()),
            "holdout": int(period[hold_mask].nunique()),
            "gap": gap_periods,
            "test": config.test_periods,
        },
        "dropped_in_gap": int((~fit_mask & ~test_mask).sum()),
    }
    logger.info(
        "time split on %s: train %s..%s (%d rows), holdout %s..%s (valid %d, calib %d), "
        "gap %d days, test %s..%s (%d rows)",
        date_col,
        boundaries["train_start"],
        boundaries["train_end"],
        boundaries["rows"]["train"],
        boundaries["holdout_start"],
        boundaries["holdout_end"],
        boundaries["rows"]["valid"],
        boundaries["rows"]["calib"],
        config.gap_days,
        boundaries["test_start"],
        boundaries["test_end"],
        boundaries["rows"]["test"],
    )
    return TimeSplit(**slices, boundaries=boundaries)


def apply_boundaries(table: pd.DataFrame, boundaries: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Reproduce a split from its saved ``boundaries`` (e.g. ``out/train/split.json``).

    Args:
        table: The same kind of table the split was made on (rows outside every slice, e.g.
            in the gap, are dropped).
        boundaries: :attr:`TimeSplit.boundaries`.

    Returns:
        ``{"train", "valid", "calib", "test"}`` → rows of ``table`` in that slice.
    """
    dates = pd.to_datetime(table[boundaries["date_col"]]).dt.normalize()
    ts = {k: pd.Timestamp(boundaries[k]) for k in ("train_start", "holdout_start", "fit_end")}
    test_start = pd.Timestamp(boundaries["test_start"])
    bucket = pd.Series(customer_bucket(table["customer_id"], boundaries["seed"]), index=table.index)
    held = bucket < boundaries["holdout_share"]
    calib = bucket < boundaries["holdout_share"] * boundaries["calib_share"]
    fit = dates <= ts["fit_end"]
    hold = fit & (dates >= ts["holdout_start"]) & held
    masks = {
        "train": fit
        & (dates >= ts["train_start"])
        & (~held if boundaries.get("exclude_holdout_customers", True) else ~hold),
        "valid": hold & ~calib,
        "calib": hold & calib,
        "test": dates >= test_start,
    }
    return {k: table.loc[m.to_numpy()].copy() for k, m in masks.items()}


def _too_short(
    n: int, uniq: pd.DatetimeIndex, what: str, config: SplitConfig, gap_periods: int | None
) -> str:
    span = f" ({_day(uniq[0])}..{_day(uniq[-1])})" if n else ""
    base = config.test_periods + config.holdout_periods + config.min_train_periods
    if gap_periods is None:
        need = f"at least {base} plus those inside a {config.gap_days}-day gap"
    else:
        need = f"{base + gap_periods} on this calendar"
    return (
        f"the data have {n} {what}{span}, too few for the configured split, which needs "
        f"{need}: {config.test_periods} test, then a gap of {config.gap_days} days before "
        f"the first test date (here {gap_periods if gap_periods is not None else '?'} "
        f"period(s)), {config.holdout_periods} holdout (valid/calib) and at least "
        f"{config.min_train_periods} train period(s). Use more history, or fewer "
        "test/holdout periods."
    )
