"""The monitor's effect statistics: win-back rates of contacted vs control customers.

For each customer, the first outreach row on or after a score file's as-of date is "what was
done"; a customer *returned within w days* if they have a service visit in
``(contact_date, contact_date + w]``. :func:`effect_table` compares contacted and control
customers per window and per segment × action, segment, action and overall: rates, the
incremental rate with an Agresti–Caffo interval and its verdict, costs, and the score's
expected uplift. Windows that end after the data's last day are censored. ``winback monitor``
(:mod:`pipeline.monitor`) reads the files and writes the table; :mod:`models.reporting.monitor`
shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from features.config import config_from_params
from features.contract import TABLES

#: Verdicts on an incremental-rate interval.
IMPROVED, WORSE, NO_EVIDENCE, TOO_FEW = "improved", "worse", "no evidence", "too few"
#: Whether a window is observed for the contacts (``partial (k of n observed)`` in between).
OBSERVED, CENSORED = "observed", "censored"
#: The effect table's levels, finest first.
LEVELS = ("segment × action", "segment", "action", "all")

TREATMENT, CONTROL = "treatment", "control"
ALL = "all"
UNSCORED = "unscored"
#: Columns read from the score file (never name or phone).
SCORE_COLUMNS = ("customer_id", "as_of", "segment", "recommended_action", "uplift")
EFFECT_COLUMNS = [
    "window_days",
    "level",
    "segment",
    "action",
    "window_status",
    "n_treated",
    "n_control",
    "returned_treated",
    "returned_control",
    "rate_treated",
    "rate_control",
    "incremental",
    "ci_low",
    "ci_high",
    "verdict",
    "cost",
    "cost_per_recovered",
    "incremental_recoveries",
    "cost_per_incremental",
    "expected_uplift",
    "n_expected",
    "vs_expected",
]


@dataclass(frozen=True)
class MonitorConfig:
    """The ``monitor:`` block of params.yaml.

    Attributes:
        windows_days: Follow-up windows after the contact (days).
        confidence: Confidence level of the incremental-rate interval.
        min_group_size: Fewer contacted or control customers than this → verdict ``too few``.
    """

    windows_days: tuple[int, ...] = (30, 60, 90)
    confidence: float = 0.95
    min_group_size: int = 20

    def __post_init__(self) -> None:
        if not self.windows_days or any(int(w) <= 0 for w in self.windows_days):
            raise ValueError(f"monitor.windows_days must be positive days, got {self.windows_days}")
        if list(self.windows_days) != sorted(set(self.windows_days)):
            raise ValueError(f"monitor.windows_days must be increasing, got {self.windows_days}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"monitor.confidence must be in [0.5, 1), got {self.confidence}")
        if self.min_group_size < 1:
            raise ValueError("monitor.min_group_size must be >= 1")

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> MonitorConfig:
        """Build from the ``monitor:`` block (unknown keys fail loudly)."""
        return config_from_params(cls, params, "monitor")


def score_as_of(score: pd.DataFrame) -> pd.Timestamp:
    """The one as-of date of a score file.

    Raises:
        ValueError: The file has no ``as_of`` column, or several dates.
    """
    if "as_of" not in score.columns:
        raise ValueError("the score file has no 'as_of' column: is it a `winback score` file?")
    dates = pd.to_datetime(score["as_of"].dropna()).dt.normalize().unique()
    if len(dates) != 1:
        raise ValueError(f"the score file must have exactly one as_of date, found {len(dates)}")
    return pd.Timestamp(dates[0])


def contacts_since(score: pd.DataFrame, outreach: pd.DataFrame, as_of: pd.Timestamp):
    """Each customer's first outreach row on or after ``as_of``, with the score's columns.

    Args:
        score: The score file (``customer_id``, ``segment``, ``recommended_action``,
            ``uplift``).
        outreach: The contract outreach table.
        as_of: The score's as-of date.

    Returns:
        One row per contacted or control customer: customer_id, contact_date, action, group,
        cost, segment (``unscored`` for customers not in the score file),
        recommended_action, expected_uplift.
    """
    rows = outreach.loc[outreach["contact_date"].dt.normalize() >= as_of].copy()
    rows["_order"] = np.arange(len(rows))
    rows = rows.sort_values(["customer_id", "contact_date", "_order"], kind="stable")
    first = rows.drop_duplicates("customer_id", keep="first").drop(columns="_order")
    keep = [c for c in SCORE_COLUMNS if c in score.columns and c != "as_of"]
    info = score[keep].drop_duplicates("customer_id").set_index("customer_id")
    out = first[["customer_id", "contact_date", "action", "group", "cost"]].copy()
    out["segment"] = out["customer_id"].map(info.get("segment", pd.Series(dtype="str")))
    out["segment"] = out["segment"].fillna(UNSCORED).astype("str")
    rec = info.get("recommended_action", pd.Series(dtype="str"))
    out["recommended_action"] = out["customer_id"].map(rec)
    up = info.get("uplift", pd.Series(dtype="float64"))
    out["expected_uplift"] = out["customer_id"].map(up).astype("float64")
    return out.sort_values(["contact_date", "customer_id"], kind="stable").reset_index(drop=True)


def returned_within(
    contacts: pd.DataFrame, visits: pd.DataFrame, windows: tuple[int, ...]
) -> pd.DataFrame:
    """``returned_<w>d``: a service visit in ``(contact, contact + w]`` (days), per contact."""
    days = contacts[["customer_id", "contact_date"]].reset_index()
    v = visits[["customer_id", "visit_date"]]
    pairs = days.merge(v, on="customer_id", how="inner")
    delta = (pairs["visit_date"].dt.normalize() - pairs["contact_date"].dt.normalize()).dt.days
    out = pd.DataFrame(index=contacts.index)
    for w in windows:
        hit = pairs.loc[(delta > 0) & (delta <= w), "index"].unique()
        out[f"returned_{w}d"] = contacts.index.isin(hit)
    return out


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def incremental_interval(
    x1: int, n1: int, x0: int, n0: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Agresti–Caffo interval of ``x1/n1 − x0/n0`` (NaN when a group is empty)."""
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan
    p1, p0 = (x1 + 1) / (n1 + 2), (x0 + 1) / (n0 + 2)
    se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p0 * (1 - p0) / (n0 + 2))
    z = _z(confidence)
    return p1 - p0 - z * se, p1 - p0 + z * se


def _verdict(lo: float, hi: float, n1: int, n0: int, min_n: int) -> str:
    if n1 < min_n or n0 < min_n or math.isnan(lo):
        return TOO_FEW
    if lo > 0:
        return IMPROVED
    if hi < 0:
        return WORSE
    return NO_EVIDENCE


def _group_row(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    w: int,
    config: MonitorConfig,
    coupon_value: float,
    coupon_actions: tuple[str, ...],
    expected_window: int,
) -> dict[str, Any]:
    col = f"returned_{w}d"
    obs_t, obs_c = treated[treated[f"observed_{w}d"]], control[control[f"observed_{w}d"]]
    n_all = len(treated) + len(control)
    n_obs = len(obs_t) + len(obs_c)
    if n_obs == 0:
        status = CENSORED
    elif n_obs == n_all:
        status = OBSERVED
    else:
        status = f"partial ({n_obs} of {n_all} observed)"
    n1, n0 = len(obs_t), len(obs_c)
    x1, x0 = int(obs_t[col].sum()), int(obs_c[col].sum())
    r1 = x1 / n1 if n1 else math.nan
    r0 = x0 / n0 if n0 else math.nan
    inc = r1 - r0
    lo, hi = incremental_interval(x1, n1, x0, n0, config.confidence)
    coupon = obs_t["action"].isin(coupon_actions) & obs_t[col]
    cost = float(obs_t["cost"].sum() + coupon_value * coupon.sum())
    inc_rec = inc * n1 if n1 else math.nan
    exp_rows = obs_t[obs_t["action"] == obs_t["recommended_action"]]["expected_uplift"].dropna()
    expected = float(exp_rows.mean()) if len(exp_rows) else math.nan
    vs = ""
    if w == expected_window and len(exp_rows) and not math.isnan(lo):
        vs = (
            "better than expected"
            if lo > expected
            else "worse than expected"
            if hi < expected
            else "as expected"
        )
    return {
        "window_days": w,
        "window_status": status,
        "n_treated": n1,
        "n_control": n0,
        "returned_treated": x1,
        "returned_control": x0,
        "rate_treated": r1,
        "rate_control": r0,
        "incremental": inc,
        "ci_low": lo,
        "ci_high": hi,
        "verdict": _verdict(lo, hi, n1, n0, config.min_group_size),
        "cost": cost,
        "cost_per_recovered": cost / x1 if x1 else math.nan,
        "incremental_recoveries": inc_rec,
        "cost_per_incremental": cost / inc_rec if inc_rec and inc_rec > 0 else math.nan,
        "expected_uplift": expected,
        "n_expected": len(exp_rows),
        "vs_expected": vs,
    }


def effect_table(
    contacts: pd.DataFrame,
    visits: pd.DataFrame,
    data_end: pd.Timestamp,
    config: MonitorConfig | None = None,
    coupon_value: float = 0.0,
    coupon_actions: tuple[str, ...] = (),
    expected_window_days: int = 60,
) -> pd.DataFrame:
    """Win-back rates of contacted vs control customers by segment and action, per window.

    Args:
        contacts: :func:`contacts_since` output.
        visits: The service_visits table.
        data_end: Last day of observation (windows ending after it are censored).
        config: Windows, confidence, minimum group size.
        coupon_value: Coupon face value counted for every returned coupon customer.
        coupon_actions: Actions carrying the coupon.
        expected_window_days: The window the score's uplift refers to (the recovery label's
            response window, ``featurize.response_window_days``); the measured interval is
            compared with the expected uplift at this window only.

    Returns:
        :data:`EFFECT_COLUMNS`, one row per window × (segment × action | segment | action |
        all); control customers are compared with the treated of the same segment(s).
    """
    cfg = config or MonitorConfig()
    c = pd.concat([contacts, returned_within(contacts, visits, cfg.windows_days)], axis=1)
    end = pd.Timestamp(data_end).normalize()
    for w in cfg.windows_days:
        c[f"observed_{w}d"] = c["contact_date"].dt.normalize() + pd.Timedelta(days=w) <= end
    treated_all = c[c["group"] == TREATMENT]
    control_all = c[c["group"] == CONTROL]
    rows = []
    segments = sorted(c["segment"].unique())
    actions = sorted(treated_all["action"].unique())
    groups: list[tuple[str, str, str, pd.DataFrame, pd.DataFrame]] = []
    for seg in segments:
        t_seg = treated_all[treated_all["segment"] == seg]
        c_seg = control_all[control_all["segment"] == seg]
        for a in sorted(t_seg["action"].unique()):
            groups.append((LEVELS[0], seg, a, t_seg[t_seg["action"] == a], c_seg))
        groups.append((LEVELS[1], seg, ALL, t_seg, c_seg))
    for a in actions:
        groups.append((LEVELS[2], ALL, a, treated_all[treated_all["action"] == a], control_all))
    groups.append((LEVELS[3], ALL, ALL, treated_all, control_all))
    for w in cfg.windows_days:
        for level, seg, a, t, ctl in groups:
            row = {"level": level, "segment": seg, "action": a}
            row.update(
                _group_row(t, ctl, w, cfg, coupon_value, coupon_actions, expected_window_days)
            )
            rows.append(row)
    out = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    return out


def data_end_of(data) -> pd.Timestamp:
    """The latest after-sales event date in a data set (the observation end).

    Lead tables (showroom sales) are not after-sales events and do not extend it.
    """
    ends = []
    for name, df in data.tables.items():
        if name not in TABLES:
            continue
        col = TABLES[name].date_column
        if col and len(df):
            ends.append(df[col].max())
    if not ends:
        raise ValueError("the data directory has no dated events")
    return pd.Timestamp(max(ends)).normalize()
