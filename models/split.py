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

A store's history decides how strong the evaluation can be. :func:`choose_split` takes the
strongest scheme that fits the table and leaves usable slices (:class:`MinRows`), in order:

1. ``out_of_time`` — the configured periods, as above;
2. ``out_of_time_short`` — the same rules with fewer test and holdout periods;
3. ``held_out_customers`` — a share ``test_share`` of customers (by hash) kept out of every
   fitted slice and tested at the latest ``test_periods`` periods. The test period overlaps
   the training period, so this is weaker than an out-of-time test (a change that hits every
   customer at once is not seen as "later"); it is what a short history allows.

The boundaries record the scheme and a plain-words ``scheme_text`` for reports and MLflow.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SLICES = ("train", "valid", "calib", "test")

#: Evaluation schemes, strongest first (see the module doc).
SCHEMES = ("out_of_time", "out_of_time_short", "held_out_customers")


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
        fallback: Let :func:`choose_split` try fewer periods, then held-out customers, when
            the configured out-of-time split does not fit the history.
        test_share: Share of customers (by hash) tested in the ``held_out_customers`` scheme.
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
    fallback: bool = True
    test_share: float = 0.25

    def __post_init__(self) -> None:
        if self.test_periods < 1 or self.holdout_periods < 1 or self.min_train_periods < 1:
            raise ValueError("test_periods, holdout_periods and min_train_periods must be >= 1")
        if self.gap_days < 0:
            raise ValueError("gap_days must be >= 0")
        if not 0.0 < self.calib_share < 1.0 or not 0.0 < self.holdout_share < 1.0:
            raise ValueError("holdout_share and calib_share must be in (0, 1)")
        if not 0.0 < self.test_share < 1.0 or self.holdout_share + self.test_share > 1.0:
            raise ValueError("test_share must be in (0, 1) with holdout_share + test_share <= 1")

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


def _calendar(
    table: pd.DataFrame, date_col: str, config: SplitConfig
) -> tuple[pd.Series, pd.Series, pd.DatetimeIndex, str]:
    """Each row's date and period, the sorted distinct periods and their name for messages."""
    if date_col not in table.columns or "customer_id" not in table.columns:
        raise SplitError(f"the table needs columns customer_id and {date_col}")
    dates = pd.to_datetime(table[date_col]).dt.normalize()
    period = _periods(dates, config.freq)
    uniq = pd.DatetimeIndex(period.drop_duplicates().sort_values())
    what = "snapshot dates" if config.freq is None else f"periods ({config.freq})"
    return dates, period, uniq, what


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
    dates, period, uniq, what = _calendar(table, date_col, config)
    n = len(uniq)
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
    boundaries = _boundaries(
        "out_of_time",
        table,
        dates,
        period,
        masks,
        config,
        date_col,
        fit_end,
        gap_periods,
        dropped=int((~fit_mask & ~test_mask).sum()),
    )
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


def customer_split(table: pd.DataFrame, date_col: str, config: SplitConfig) -> TimeSplit:
    """The ``held_out_customers`` scheme: test on customers never fitted, at the latest dates.

    A share ``config.test_share`` of customers (the top of the customer hash) forms the test
    slice at the last ``config.test_periods`` periods; none of their rows is fitted. The other
    customers are cut as in :func:`time_split` without a gap: ``valid`` / ``calib`` are the
    hash-held-out customers at the last ``config.holdout_periods`` periods, ``train`` the rest.

    Raises:
        SplitError: Fewer periods than ``test_periods`` + ``min_train_periods``, or an empty
            slice.
    """
    dates, period, uniq, what = _calendar(table, date_col, config)
    n = len(uniq)
    need = config.min_train_periods + 1
    if n < need:
        raise SplitError(
            f"the data have {n} {what}, too few even for held-out customers, which needs "
            f"{need}: at least {config.min_train_periods} to fit and 1 to test"
        )
    n_test = min(config.test_periods, n - config.min_train_periods)
    test_start_period = uniq[n - n_test]
    n_hold = min(config.holdout_periods, n)
    holdout_start = uniq[n - n_hold]
    bucket = pd.Series(customer_bucket(table["customer_id"], config.seed), index=table.index)
    tested = bucket >= 1.0 - config.test_share
    held = bucket < config.holdout_share
    test_mask = tested & (period >= test_start_period)
    hold_mask = ~tested & held & (period >= holdout_start)
    train_mask = ~tested & (~held if config.exclude_holdout_customers else ~hold_mask)
    calib_mask = hold_mask & (bucket < config.holdout_share * config.calib_share)
    valid_mask = hold_mask & ~calib_mask
    masks = {"train": train_mask, "valid": valid_mask, "calib": calib_mask, "test": test_mask}
    for name, mask in masks.items():
        if not mask.any():
            raise SplitError(f"held-out customers: the {name} slice is empty")
    slices = {k: table.loc[m.to_numpy()].copy() for k, m in masks.items()}
    boundaries = _boundaries(
        "held_out_customers",
        table,
        dates,
        period,
        masks,
        config,
        date_col,
        dates[train_mask | hold_mask].max(),
        0,
        dropped=int((tested & ~test_mask).sum()),  # the tested customers' earlier rows
        n_test=n_test,
    )
    logger.info("split on %s: %s", date_col, boundaries["scheme_text"])
    return TimeSplit(**slices, boundaries=boundaries)


def _boundaries(
    scheme: str,
    table: pd.DataFrame,
    dates: pd.Series,
    period: pd.Series,
    masks: dict[str, pd.Series],
    config: SplitConfig,
    date_col: str,
    fit_end: pd.Timestamp,
    gap_periods: int,
    dropped: int,
    n_test: int | None = None,
) -> dict[str, Any]:
    """The JSON-able record of a split (what :func:`apply_boundaries` needs), with its text."""
    held_out = scheme == "held_out_customers"
    train, test = masks["train"], masks["test"]
    hold = masks["valid"] | masks["calib"]
    out = {
        "scheme": scheme,
        "date_col": date_col,
        "freq": config.freq,
        "gap_days": 0 if held_out else config.gap_days,
        "holdout_share": config.holdout_share,
        "calib_share": config.calib_share,
        **({"test_share": config.test_share} if held_out else {}),
        "exclude_holdout_customers": config.exclude_holdout_customers,
        "seed": config.seed,
        "train_start": _day(dates[train].min()),
        "train_end": _day(dates[train].max()),
        "holdout_start": _day(dates[hold].min()),
        "holdout_end": _day(dates[hold].max()),
        "fit_end": _day(fit_end),
        "test_start": _day(dates[test].min()),
        "test_end": _day(dates[test].max()),
        "rows": {k: int(m.sum()) for k, m in masks.items()},
        "periods": {
            "train": int(period[train].nunique()),
            "train_customers": int(table.loc[train.to_numpy(), "customer_id"].nunique()),
            "holdout": int(period[hold].nunique()),
            "gap": gap_periods,
            "test": config.test_periods if n_test is None else n_test,
        },
        "dropped_in_gap": dropped,
    }
    out["scheme_text"] = scheme_text(out)
    return out


@dataclass(frozen=True)
class MinRows:
    """The fewest rows a split's slices must have to be worth fitting and testing.

    Attributes:
        train_rows: Rows to fit on.
        train_positives: Positive (and negative) labels among them.
        valid_rows: Early-stopping rows (a handful makes early stopping a coin toss).
        valid_positives: Positive (and negative) labels among them.
        test_rows: Test rows.
        test_positives: Positive (and negative) labels among them.
    """

    train_rows: int = 0
    train_positives: int = 0
    valid_rows: int = 0
    valid_positives: int = 0
    test_rows: int = 0
    test_positives: int = 0

    def shortfalls(self, split: TimeSplit, target: str, params_key: str) -> list[str]:
        """What ``split`` lacks, one phrase per minimum it misses (empty = enough)."""
        out = []
        for name in ("train", "valid", "test"):
            frame = split[name]
            y = frame[target].astype("float64") if len(frame) else pd.Series(dtype="float64")
            rows_min = getattr(self, f"{name}_rows")
            pos_min = getattr(self, f"{name}_positives")
            if len(frame) < rows_min:
                out.append(
                    f"{len(frame)} {name} rows (minimum {rows_min}, {params_key}.{name}_rows)"
                )
            fewer = int(min((y == 1).sum(), (y == 0).sum()))
            if fewer < pos_min:
                out.append(
                    f"{fewer} {name} rows of the rarer class (minimum {pos_min}, "
                    f"{params_key}.{name}_positives)"
                )
        return out


def choose_split(
    table: pd.DataFrame,
    date_col: str,
    config: SplitConfig,
    target: str,
    min_rows: MinRows | None = None,
    params_key: str = "min_rows",
) -> TimeSplit:
    """The strongest evaluation scheme the table allows (see the module doc).

    Tries the configured out-of-time split; then (when ``config.fallback``) the same with
    fewer test and holdout periods; then held-out customers. A scheme is taken when it fits
    the calendar and every slice meets ``min_rows``.

    Args:
        table: Rows with ``customer_id``, ``date_col`` and ``target``.
        date_col: The date that orders rows in time.
        config: The configured split.
        target: The 0/1 label column (for the class minimums).
        min_rows: Minimum slice sizes; none when None.
        params_key: Where ``min_rows`` comes from in params.yaml, for messages.

    Returns:
        The split; ``boundaries["scheme"]`` and ``boundaries["scheme_text"]`` say which one.

    Raises:
        SplitError: No scheme fits; the message names every scheme's shortfall and the
            params keys that change them.
    """
    mins = min_rows or MinRows()
    candidates = [("out_of_time", config)]
    if config.fallback:
        shorter = sorted(
            (
                (t, h)
                for t in range(config.test_periods, 0, -1)
                for h in range(config.holdout_periods, 0, -1)
                if (t, h) != (config.test_periods, config.holdout_periods)
            ),
            key=lambda th: (-(th[0] + th[1]), -th[0]),
        )
        candidates += [
            ("out_of_time_short", dataclasses.replace(config, test_periods=t, holdout_periods=h))
            for t, h in shorter
        ]
        candidates.append(("held_out_customers", config))
    failures: dict[str, str] = {}  # scheme -> why its last candidate was refused
    for scheme, cfg in candidates:
        try:
            split = (customer_split if scheme == "held_out_customers" else time_split)(
                table, date_col, cfg
            )
        except SplitError as exc:
            failures[scheme] = str(exc)
            continue
        lacking = mins.shortfalls(split, target, params_key)
        if lacking:
            failures[scheme] = "only " + "; ".join(lacking)
            continue
        if scheme != "out_of_time":
            split.boundaries["scheme"] = scheme
            split.boundaries["scheme_text"] = scheme_text(split.boundaries)
            logger.warning(
                "the configured out-of-time split does not fit; using: %s",
                split.boundaries["scheme_text"],
            )
        return split
    tried = [f"{k.replace('_', ' ')}: {v}" for k, v in failures.items()]
    raise SplitError(
        "no evaluation scheme fits these data. "
        + " | ".join(tried)
        + ". Use more history (or more customers), or change the split "
        "(test_periods, holdout_periods, holdout_share, test_share) or the minimums "
        f"({params_key}.*) in params.yaml."
    )


def scheme_text(b: dict[str, Any]) -> str:
    """A split's evaluation scheme in plain words, with its dates and test size."""
    unit = "snapshot(s)" if b.get("freq") is None else "month(s)"
    rows = b["rows"]
    fit = (
        f"fitted on {rows['train']:,} rows {b['train_start']}..{b['train_end']} "
        f"(early stopping and calibration on {rows['valid']:,} + {rows['calib']:,} rows of "
        "held-out customers)"
    )
    test = f"tested on {rows['test']:,} rows {b['test_start']}..{b['test_end']}"
    n_test = b["periods"]["test"]
    if b["scheme"] == "held_out_customers":
        return (
            f"held-out customers (weaker than out of time): {b['test_share']:.0%} of customers "
            f"never used in fitting, {test} (the latest {n_test} {unit}); {fit}. The test "
            "period overlaps the training period."
        )
    short = " with fewer periods than configured" if b["scheme"] == "out_of_time_short" else ""
    return (
        f"out of time{short}: {fit}; {test} (the latest {n_test} {unit}), after a gap of "
        f"{b['gap_days']} days so that no training label window reaches the test period."
    )


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
    test = dates >= test_start
    if boundaries.get("scheme") == "held_out_customers":
        tested = bucket >= 1.0 - boundaries["test_share"]
        fit = ~tested
        test = test & tested
    hold = fit & (dates >= ts["holdout_start"]) & held
    masks = {
        "train": fit
        & (dates >= ts["train_start"])
        & (~held if boundaries.get("exclude_holdout_customers", True) else ~hold),
        "valid": hold & ~calib,
        "calib": hold & calib,
        "test": test,
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
