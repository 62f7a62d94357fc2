"""The event index: every event table sorted by (customer, day), ready for point-in-time queries.

Every event table is indexed once (:func:`prepare`, a :class:`FeatureIndex`): rows are sorted by
(customer, day) and turned into integer day numbers, cumulative sums and a few running
statistics. The events of customer *c* before day *t* are then the contiguous block
``[start[c], pos(c, t))`` found by one binary search, a window ``[t - w, t)`` is
``[pos(c, t - w), pos(c, t))``, and counts and sums are differences of cumulative sums
(:mod:`features.build` computes the features from it, :mod:`features.labels` the labels).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.config import FeaturizeConfig
from features.contract import DataSet
from features.dictionary import CATEGORICAL_FEATURES

logger = logging.getLogger(__name__)

_OFFSET = 1_000_000  # added to day numbers so that they are positive
_STRIDE = 4_000_000  # > any shifted day number: key = customer * stride + shifted day


def to_days(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Dates to int64 day numbers since 1970-01-01 (floored to the day; NaT → int64 min)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    out = arr.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(arr), np.iinfo(np.int64).min, out)


def day_number(when: str | pd.Timestamp) -> int:
    """The day number (see :func:`to_days`) of one date; its time of day is ignored."""
    return int(to_days(np.array([pd.Timestamp(when).to_datetime64()]))[0])


class _Events:
    """One event stream sorted by (customer, day), with prefix sums for O(log n) queries."""

    def __init__(
        self,
        codes: np.ndarray,
        days: np.ndarray,
        n_customers: int,
        values: dict[str, np.ndarray] | None = None,
    ) -> None:
        # One stable sort of the (customer, day) key: the same order as lexsort((days, codes)),
        # and fast on input that is already sorted by customer and date (a contract export).
        key = np.asarray(codes, dtype=np.int64) * _STRIDE + (np.asarray(days) + _OFFSET)
        order = np.argsort(key, kind="stable")
        self.codes = codes[order]
        self.days = days[order]
        self.key = key[order]
        counts = np.bincount(self.codes, minlength=n_customers)[:n_customers]
        self.start = np.concatenate([[0], np.cumsum(counts)])
        self.values = {k: np.asarray(v, dtype="float64")[order] for k, v in (values or {}).items()}
        self._cum: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._sparse: dict[str, list[np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.days)

    def pos(self, codes: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        """Index of the first event of each customer on or after day t (end of "before t")."""
        t = np.asarray(t)
        if len(codes) * 8 > len(self) and t.size and (t.ndim == 0 or (t == t.flat[0]).all()):
            # One date for many customers (a snapshot): count each customer's events before it
            # in one sequential pass. A binary search per customer misses the CPU cache on
            # tens of millions of events and made this step grow faster than the data.
            day = int(t.flat[0])
            before = np.bincount(self.codes[self.days < day], minlength=len(self.start) - 1)
            return self.start[codes] + before[codes]
        return np.searchsorted(self.key, codes * _STRIDE + (t + _OFFSET), "left")

    def first(self, codes: np.ndarray) -> np.ndarray:
        """Index of each customer's first event."""
        return self.start[codes]

    def _cumsums(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._cum:
            v = self.values[name] if name != "_one" else np.ones(len(self))
            ok = ~np.isnan(v)
            # Running sums restart at every customer, so a window's sum is computed from that
            # customer's own values only: the same bits whatever other customers the data set
            # (or a partition of it, pipeline.engine) holds, and no rounding error growing with
            # the size of the data set. Counts are integers: one global running count is exact.
            s = (
                pd.Series(np.where(ok, v, 0.0))
                .groupby(self.codes, sort=False)
                .cumsum()
                .to_numpy(dtype="float64")
            )
            n = np.concatenate([[0], np.cumsum(ok)])
            self._cum[name] = (s, n)
        return self._cum[name]

    def count(self, lo: np.ndarray, hi: np.ndarray, name: str = "_one") -> np.ndarray:
        """Number of events (with a non-missing ``name``) in index range [lo, hi)."""
        _, n = self._cumsums(name)
        return (n[hi] - n[lo]).astype("float64")

    def sum(self, lo: np.ndarray, hi: np.ndarray, name: str) -> np.ndarray:
        """Sum of the non-missing ``name`` over index range [lo, hi) (one customer's events)."""
        s, _ = self._cumsums(name)
        some = hi > lo
        if not some.any():
            return np.zeros(len(lo))
        last = np.where(some, hi - 1, 0)
        first = np.where(some, lo, 0)
        # the running sum before lo counts only if lo is not the customer's first event
        before = some & (first > 0)
        before &= self.codes[np.where(before, first - 1, 0)] == self.codes[first]
        prior = np.where(before, s[np.where(before, first - 1, 0)], 0.0)
        return np.where(some, s[last] - prior, 0.0)

    def mean(self, lo: np.ndarray, hi: np.ndarray, name: str) -> np.ndarray:
        """Mean of the non-missing ``name`` over [lo, hi); NaN where there is none."""
        n = self.count(lo, hi, name)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.sum(lo, hi, name) / n, np.nan)

    def at(self, idx: np.ndarray, valid: np.ndarray, name: str | None = None) -> np.ndarray:
        """Value (or day when ``name`` is None) at ``idx`` where ``valid``, else NaN."""
        src = self.days if name is None else self.values[name]
        safe = np.where(valid, idx, 0)
        if len(src) == 0:
            return np.full(len(idx), np.nan)
        return np.where(valid, src[safe].astype("float64"), np.nan)

    def min(self, lo: np.ndarray, hi: np.ndarray, name: str) -> np.ndarray:
        """Minimum of ``name`` over [lo, hi) (sparse table, O(1) a query); NaN if empty."""
        if name not in self._sparse:
            levels = [self.values[name]]
            k = 1
            while (1 << k) <= len(self):
                prev, half = levels[-1], 1 << (k - 1)
                levels.append(np.fmin(prev[:-half], prev[half:]))
                k += 1
            self._sparse[name] = levels
        levels = self._sparse[name]
        length = hi - lo
        out = np.full(len(lo), np.nan)
        ok = length > 0
        if not ok.any():
            return out
        lvl = np.zeros(len(lo), dtype=np.int64)
        lvl[ok] = np.floor(np.log2(length[ok])).astype(np.int64)
        for k in np.unique(lvl[ok]):
            m = ok & (lvl == k)
            tab = levels[k]
            out[m] = np.fmin(tab[lo[m]], tab[hi[m] - (1 << k)])
        return out


@dataclass
class FeatureIndex:
    """The data set prepared once for fast feature and label queries.

    Attributes:
        customer_ids: Customer ids, sorted; a customer's code is its position here.
        customers: The customers table in the same order.
        events: Event streams by name (see :func:`prepare`).
        signals: Which optional tables are present.
        data_end: Last day with data (the data set's as-of date, else the latest event).
        config: The settings used.
        categories: Category levels of the categorical features (fixed for all snapshots).
        data_start_day: Day number of the first service visit in the data (None without).
        columns_present: Contract columns each table's file had (from the data set).
    """

    customer_ids: np.ndarray
    customers: pd.DataFrame
    events: dict[str, _Events]
    signals: dict[str, bool]
    data_end: pd.Timestamp
    config: FeaturizeConfig
    categories: dict[str, list[str]] = field(default_factory=dict)
    #: Day number (see :func:`to_days`) of the store's first day of history
    #: (``config.history_start``, else the first service visit); None without visits.
    data_start_day: int | None = None
    columns_present: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.customer_ids)

    def codes_of(self, customer_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Customer codes of the given ids (-1 for unknown ids)."""
        return pd.Index(self.customer_ids).get_indexer(np.asarray(customer_ids, dtype=object))


def _codes(index: pd.Index, ids: pd.Series) -> np.ndarray:
    # Arrow hashing: pd.Categorical on Arrow strings is several times slower at scale.
    codes = (
        pc.index_in(pa.array(ids.astype("str")), value_set=pa.array(index.astype("str")))
        .fill_null(-1)
        .to_numpy(zero_copy_only=False)
    )
    if (codes < 0).any():
        raise ValueError(f"{int((codes < 0).sum())} event row(s) name an unknown customer_id")
    return codes.astype(np.int64)


def _in_categories(series: pd.Series, keywords: tuple[str, ...]) -> np.ndarray:
    low = series.astype("str").str.casefold()
    hit = np.zeros(len(series), dtype=bool)
    for kw in keywords:
        hit |= low.str.contains(kw.casefold(), regex=False).fillna(False).to_numpy(dtype=bool)
    return np.where(series.isna().to_numpy(), np.nan, hit.astype("float64"))


def _running_median_gap(ev: _Events) -> _Events:
    """Gaps between a customer's distinct visit days, with the running median of the gaps."""
    distinct = np.ones(len(ev), dtype=bool)
    distinct[1:] = (ev.codes[1:] != ev.codes[:-1]) | (ev.days[1:] != ev.days[:-1])
    codes, days = ev.codes[distinct], ev.days[distinct]
    has_prev = np.zeros(len(codes), dtype=bool)
    has_prev[1:] = codes[1:] == codes[:-1]
    gap = np.zeros(len(codes), dtype="float64")
    gap[1:] = days[1:] - days[:-1]
    codes, days, gap = codes[has_prev], days[has_prev], gap[has_prev]
    med = _expanding_median(gap, codes)
    return _Events(codes, days, len(ev.start) - 1, {"gap": gap, "median_gap": med})


def _expanding_median(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Median of each group's values so far (pandas' ``groupby().expanding().median()``).

    ``codes`` must be sorted so that each group is contiguous. Instead of one Python-level
    window per group, step j handles the j-th value of every group that has one at once:
    each such group keeps its first j values as a sorted row, the new value is inserted at
    its rank and the middle of the row read off. Groups are ordered longest first so the
    groups still running at step j are a prefix. Time is O(sum of squared group sizes) in
    vectorised numpy (groups are a customer's visits: short), memory O(len(values)).
    """
    n = len(values)
    out = np.empty(n, dtype="float64")
    if n == 0:
        return out
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lengths = np.diff(np.r_[starts, n])
    by_length = np.argsort(-lengths, kind="stable")
    g_start, g_len = starts[by_length], lengths[by_length]
    # n_running[j]: groups with more than j values
    n_running = np.searchsorted(-g_len, -np.arange(1, g_len[0] + 1), side="right")
    srt = np.empty((len(g_start), 0), dtype="float64")
    for j in range(int(g_len[0])):
        na = int(n_running[j])
        srt = srt[:na]
        x = values[g_start[:na] + j][:, None]
        rank = (srt < x).sum(axis=1, keepdims=True)
        col = np.arange(j + 1)[None, :]
        pad = np.zeros((na, 1))
        # insert x at its rank: the sorted row shifts right from there
        srt = np.where(
            col < rank,
            np.concatenate([srt, pad], axis=1),
            np.where(col == rank, x, np.concatenate([pad, srt], axis=1)),
        )
        m = j + 1
        mid = srt[:, m // 2] if m % 2 else (srt[:, m // 2 - 1] + srt[:, m // 2]) / 2
        out[g_start[:na] + j] = mid
    return out


def prepare(data: DataSet, config: FeaturizeConfig | None = None) -> FeatureIndex:
    """Index a validated data set once for features and labels at any dates.

    Args:
        data: The validated data set.
        config: Settings; defaults when None.

    Returns:
        The :class:`FeatureIndex`.
    """
    cfg = config or FeaturizeConfig()
    cust = data.customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    ids = pd.Index(cust["customer_id"])
    n = len(ids)
    ev, visits_end = _visit_events(data.service_visits, ids, n, cfg)
    signal_events, signal_ends = _signal_events(data, ids, n, cfg, visits_end)
    ev.update(signal_events)
    ends = [visits_end, *signal_ends]

    if data.as_of is not None:
        data_end = pd.Timestamp(data.as_of).normalize()
    else:
        data_end = pd.Timestamp(max(ends), unit="D")
    categories = {
        col: sorted(cust[col].dropna().astype("str").unique().tolist())
        for col in CATEGORICAL_FEATURES
    }
    logger.debug("indexed %d customers, data end %s", n, data_end.date())
    return FeatureIndex(
        customer_ids=ids.to_numpy(),
        customers=cust,
        events=ev,
        signals=dict(data.signals),
        data_end=data_end,
        config=cfg,
        categories=categories,
        columns_present=dict(data.columns_present),
        data_start_day=day_number(cfg.history_start)
        if cfg.history_start
        else (int(ev["visits"].days.min()) if len(ev["visits"].days) else None),
    )


def _last_day(days: np.ndarray, empty: int) -> int:
    """The latest day of a table's events, ``empty`` for a table without rows."""
    return int(days.max()) if len(days) else empty


def _visit_events(
    v: pd.DataFrame, ids: pd.Index, n: int, cfg: FeaturizeConfig
) -> tuple[dict[str, _Events], int]:
    """The service-visit event lists (visits, paid, waits, mileage, gaps, maintenance).

    The visits carry, besides the amount, each invoice's recurring and one-off parts
    (:func:`_recurring_part`) and the customer's largest invoice so far.

    Returns:
        The events by name and the last visit day (the smallest int64 without visits).
    """
    ev: dict[str, _Events] = {}
    vc, vd = _codes(ids, v["customer_id"]), to_days(v["visit_date"])
    end = _last_day(vd, np.iinfo(np.int64).min)
    vtype = v["visit_type"]
    typed = vtype.notna().to_numpy()
    ev["visits"] = _Events(
        vc,
        vd,
        n,
        {
            "amount": v["amount"].to_numpy(dtype="float64"),
            "maintenance": np.where(typed, (vtype == "maintenance").to_numpy(dtype=bool), np.nan),
            "repair": np.where(typed, (vtype == "repair").to_numpy(dtype=bool), np.nan),
            "typed": np.where(typed, 1.0, np.nan),
            # untyped visits are judged by the outlier rule like the one-off kinds
            "cappable": np.where(typed, vtype.isin(cfg.one_off_types).to_numpy(), True),
        },
    )
    _recurring_part(ev["visits"], cfg)
    paid = (v["amount"] > 0).to_numpy()
    ev["paid_visits"] = _Events(vc[paid], vd[paid], n)
    wait = v["wait_minutes"].notna().to_numpy()
    ev["waits"] = _Events(vc[wait], vd[wait], n, {"wait": v["wait_minutes"].to_numpy()[wait]})
    km = v["mileage_km"].notna().to_numpy()
    ev["mileage"] = _Events(vc[km], vd[km], n, {"km": v["mileage_km"].to_numpy()[km]})
    ev["gaps"] = _running_median_gap(ev["visits"])
    # Maintenance visits alone: the service schedule (a repair does not reset it).
    maint = np.where(typed, (vtype == "maintenance").to_numpy(dtype=bool), False)
    ev["maintenance"] = _Events(vc[maint], vd[maint], n)
    ev["maintenance_gaps"] = _running_median_gap(ev["maintenance"])
    return ev, end


def _recurring_part(vis: _Events, cfg: FeaturizeConfig) -> None:
    """Add each visit's ``recurring`` and ``one_off`` invoice parts and the running ``max_amount``.

    A visit of a recurring type (not in ``cfg.one_off_types``) counts in full. A visit of a
    one-off type, or without a type, counts up to ``max(k × the customer's median invoice on
    earlier days, floor)`` (k = ``one_off_own_multiple``, floor = ``one_off_floor_cny``; with
    fewer than ``one_off_min_invoices`` earlier invoices, the floor alone); the rest is
    one-off spend. The cap of a visit uses only that visit and earlier days, so a feature as
    of T that sums the parts of the visits before T sees nothing on or after T.
    """
    amount = vis.values["amount"]
    codes, days = vis.codes, vis.days
    vis.values["max_amount"] = (
        pd.Series(amount).groupby(codes, sort=False).cummax().to_numpy(dtype="float64")
    )
    capped = amount.copy()
    candidate = (vis.values["cappable"] > 0) & (amount > cfg.one_off_floor_cny)
    if candidate.any():
        # The customer's own median only matters for customers with an invoice above the floor.
        rows = np.flatnonzero(np.isin(codes, np.unique(codes[candidate])))
        c, d, a = codes[rows], days[rows], amount[rows]
        med = _expanding_median(a, c)
        # the median as of the customer's previous visit day: same-day invoices never judge
        # each other, whatever their order in the file
        run = np.ones(len(rows), dtype=bool)
        run[1:] = (c[1:] != c[:-1]) | (d[1:] != d[:-1])
        run_start = np.maximum.accumulate(np.where(run, np.arange(len(rows)), 0))
        prev = run_start - 1
        earlier = prev >= 0
        earlier[earlier] = c[prev[earlier]] == c[earlier]
        # a median of one or two invoices is not yet what the customer usually pays
        cust_start = np.maximum.accumulate(
            np.where(np.r_[True, c[1:] != c[:-1]], np.arange(len(rows)), 0)
        )
        earlier &= run_start - cust_start >= cfg.one_off_min_invoices
        own = np.where(earlier, med[np.where(earlier, prev, 0)], 0.0)
        threshold = np.maximum(cfg.one_off_own_multiple * own, cfg.one_off_floor_cny)
        cand = candidate[rows]
        capped[rows[cand]] = np.minimum(a[cand], threshold[cand])
    vis.values["recurring"] = capped
    vis.values["one_off"] = amount - capped


def _signal_events(
    data: DataSet, ids: pd.Index, n: int, cfg: FeaturizeConfig, visits_end: int
) -> tuple[dict[str, _Events], list[int]]:
    """The event lists of the optional tables that were supplied, in contract order.

    Returns:
        The events by name and each supplied table's last event day (``visits_end`` for an
        empty table).
    """
    ev: dict[str, _Events] = {}
    ends: list[int] = []
    if data.has("app_sessions"):
        a = data.tables["app_sessions"]
        ad = to_days(a["session_date"])
        ends.append(_last_day(ad, visits_end))
        ev["app"] = _Events(
            _codes(ids, a["customer_id"]),
            ad,
            n,
            {"sessions": a["sessions"].fillna(1).to_numpy(dtype="float64")},
        )
    if data.has("appointments"):
        p = data.tables["appointments"]
        pc, booked, sched = (
            _codes(ids, p["customer_id"]),
            to_days(p["booked_date"]),
            to_days(p["scheduled_date"]),
        )
        ends.append(_last_day(booked, visits_end))
        status = p["status"]
        ev["bookings"] = _Events(pc, booked, n)
        ev["appointments"] = _Events(
            pc,
            np.maximum(booked, sched),
            n,
            {
                "cancelled": (status == "cancelled").to_numpy(dtype="float64"),
                "no_show": (status == "no_show").to_numpy(dtype="float64"),
            },
        )
    if data.has("surveys"):
        s = data.tables["surveys"]
        sd = to_days(s["survey_date"])
        ends.append(_last_day(sd, visits_end))
        ev["surveys"] = _Events(
            _codes(ids, s["customer_id"]), sd, n, {"score": s["score"].to_numpy(dtype="float64")}
        )
    if data.has("complaints"):
        c = data.tables["complaints"]
        cd = to_days(c["complaint_date"])
        ends.append(_last_day(cd, visits_end))
        ev["complaints"] = _Events(
            _codes(ids, c["customer_id"]),
            cd,
            n,
            {"price": _in_categories(c["category"], cfg.price_complaint_keywords)},
        )
    if data.has("consultations"):
        q = data.tables["consultations"]
        qd = to_days(q["contact_date"])
        ends.append(_last_day(qd, visits_end))
        ev["consultations"] = _Events(_codes(ids, q["customer_id"]), qd, n)
    if data.has("outreach"):
        o = data.tables["outreach"]
        od = to_days(o["contact_date"])
        ends.append(_last_day(od, visits_end))
        with_outcomes = "outcome" in data.columns_present.get("outreach", ())
        ev.update(_outreach_events(o, od, ids, n, with_outcomes))
    return ev, ends


def _outreach_events(
    o: pd.DataFrame, od: np.ndarray, ids: pd.Index, n: int, with_outcomes: bool
) -> dict[str, _Events]:
    """Treatment contacts and, where the outcome column was supplied, their outcomes.

    Args:
        o: The outreach table.
        od: Its contact days (:func:`to_days`).
        ids: The customer ids, in index order.
        n: The number of customers.
        with_outcomes: The file had an ``outcome`` column.
    """
    ev: dict[str, _Events] = {}
    treated = (o["group"] == "treatment").to_numpy(dtype=bool)
    ev["contacts"] = _Events(_codes(ids, o["customer_id"])[treated], od[treated], n)
    if with_outcomes:
        # Contacts with a recorded outcome only: a blank outcome says nothing either way.
        out = o["outcome"]
        rec = treated & out.notna().to_numpy(dtype=bool)
        oc = out[rec]

        def is_(*codes: str) -> np.ndarray:
            return oc.isin(codes).to_numpy(dtype="float64")

        ev["outcomes"] = _Events(
            _codes(ids, o["customer_id"])[rec],
            od[rec],
            n,
            {
                "gone": is_("car_sold", "moved"),
                "dead": is_("wrong_number"),
                "unreachable": is_("no_answer", "wrong_number"),
                "declined": is_("declined"),
                "reached": is_("reached"),
            },
        )
    return ev
