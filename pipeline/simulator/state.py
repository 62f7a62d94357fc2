"""The simulator's hidden state: latent traits, the world, and the forces acting on owners."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.names import (
    ATTACHED,
    DEFECTED,
    MOVED,
    PRICE,
    SERVICE,
    SHOCK,
    SOLD,
    VEHICLE_MODELS,
    region_weights,
    sigmoid,
)


class SimState:
    """Mutable simulation state: one numpy array per attribute, indexed by customer.

    Customer ids follow purchase order, so the customers who have joined by day ``t`` are
    the first ``n_joined_by_day[t]``. Every draw comes from the one generator ``rng``
    (``PCG64(seed)``), in the order the day loop (:mod:`pipeline.simulator.engine`) calls
    the event handlers; the handlers append their rows to ``events`` through :meth:`emit`.
    """

    def __init__(self, cfg: SimulationConfig) -> None:
        self.cfg = cfg
        self.rng = np.random.Generator(np.random.PCG64(cfg.seed))
        end = pd.Timestamp(cfg.end_date).normalize()
        start = end - pd.DateOffset(years=cfg.years) + pd.Timedelta(days=1)
        day0 = start - pd.Timedelta(days=365 * cfg.burn_in_years)
        self.day0 = np.datetime64(day0.date(), "D")
        self.start = int((start - day0).days)  # first emitted day index
        self.end = int((end - day0).days)  # last emitted day index
        self.n_days = self.end + 1
        self.events: dict[str, list[tuple[np.ndarray, ...]]] = {
            k: []
            for k in (
                "visits",
                "appointments",
                "app_sessions",
                "surveys",
                "consultations",
                "complaints",
                "outreach",
                "snapshots",
            )
        }
        self._init_customers()
        self._init_world()
        # Upper bound of the daily app-session probability (engagement.app_sessions).
        self.app_bound = cfg.app_session_rate * self.app_affinity * 2

    # --- initial population ------------------------------------------------------------------
    def _init_customers(self) -> None:
        cfg, rng = self.cfg, self.rng
        n = cfg.customers
        n_new = int(round(n * cfg.new_customer_share))
        oldest = int(cfg.max_vehicle_age_years * 365)
        window_len = self.end - self.start + 1
        purchase = np.concatenate(
            [
                self.start - rng.integers(1, oldest, n - n_new),
                self.start + rng.integers(0, window_len, n_new),
            ]
        )
        # Customer ids follow purchase order, as a DMS assigns them.
        purchase = np.sort(purchase, kind="stable").astype(np.int32)
        self.n = n
        self.purchase = purchase
        self.join = np.maximum(purchase, 0)
        self.n_joined_by_day = np.searchsorted(self.join, np.arange(self.n_days), side="right")

        shares = np.array([m[3] for m in VEHICLE_MODELS])
        self.model = rng.choice(len(VEHICLE_MODELS), n, p=shares / shares.sum()).astype(np.int8)
        self.price_class = np.array([m[1] for m in VEHICLE_MODELS], dtype=np.int8)[self.model]
        interval_km = np.array([m[2] for m in VEHICLE_MODELS], dtype=float)[self.model]
        self.region = rng.choice(cfg.n_regions, n, p=region_weights(cfg.n_regions)).astype(np.int16)
        # Each region is served by one home store; some owners buy across town.
        home = self.region % cfg.n_dealers
        self.dealer = np.where(
            rng.random(n) < 0.85, home, rng.integers(0, cfg.n_dealers, n)
        ).astype(np.int16)

        # Latent traits.
        self.km_per_day = np.exp(
            np.log(cfg.km_per_day_median) + cfg.km_per_day_sigma * rng.standard_normal(n)
        ).clip(3, 250)
        self.interval_days = np.minimum(interval_km / self.km_per_day, 365.0)
        self.price_sens = rng.beta(2.0, 3.0, n)
        self.patience = np.exp(np.log(75.0) + 0.4 * rng.standard_normal(n))  # minutes
        self.loyalty = rng.beta(4.0, 2.5, n)
        # A third of owners never install the app.
        self.app_affinity = np.where(rng.random(n) < 0.3, 0.0, rng.beta(1.6, 2.2, n))
        self.sat_base = rng.beta(8.0, 2.5, n)
        self.sat = self.sat_base.copy()

        # Life events are scheduled up front: constant hazards, selling more likely once the
        # car is five years old.
        self.move_day = (self.join + rng.exponential(365.0 / cfg.move_rate_per_year, n)).astype(
            np.int64
        )
        sell_age = np.where(
            rng.random(n) < 0.5,
            rng.exponential(365.0 / cfg.sell_rate_per_year, n),
            5 * 365 + rng.exponential(365.0 / (3 * cfg.sell_rate_per_year), n),
        )
        self.sell_day = (purchase + sell_age).astype(np.int64)
        self.move_day = np.maximum(self.move_day, self.join + 30)
        self.sell_day = np.maximum(self.sell_day, self.join + 30)

        big = np.int32(2**30)
        self.state = np.full(n, ATTACHED, np.int8)
        self.reason = np.zeros(n, np.int8)
        self.last_reason = np.zeros(n, np.int8)  # reason of the latest defection, kept
        self.defect_day = np.full(n, -big, np.int32)
        self.first_defect_day = np.full(n, -big, np.int32)
        self.n_defections = np.zeros(n, np.int16)
        self.moved_on = np.full(n, -big, np.int32)
        self.sold_on = np.full(n, -big, np.int32)
        self.commit = np.full(n, 0.85)
        self.last_visit = self.join.copy()
        self.hold_until = np.full(n, -1, np.int32)
        self.forced_day = np.full(n, -1, np.int32)
        self.forced_arm = np.zeros(n, np.int8)
        self.last_contact = np.full(n, -big, np.int32)
        self.spend_buckets = np.zeros((n, 13), np.float32)  # ~monthly spend ring buffer
        self.last_repair = np.full(n, -big, np.int32)

        # First maintenance of a new car is free-ish and due after ~3 months.
        self.next_due = (self.join + np.minimum(self.interval_days, 120)).astype(np.int32)
        self.next_unplanned = (
            self.join + rng.exponential(365.0 / cfg.unplanned_visits_per_year, n)
        ).astype(np.int32)
        anniv = purchase + 365 * np.maximum(1, np.ceil(-purchase / 365.0) + 0)
        self.next_insurance = np.where(purchase >= 0, purchase + 365, anniv).astype(np.int32)

        self._init_history()

    def _init_history(self) -> None:
        """Cars bought before the simulation starts enter with a history drawn from their age."""
        cfg, rng = self.cfg, self.rng
        purchase = self.purchase
        old = np.flatnonzero(purchase < 0)
        age = -purchase[old] / 365.0
        u = rng.random(old.size)
        p_sold = 1 - np.exp(-0.6 * cfg.sell_rate_per_year * age)
        p_moved = 1 - np.exp(-cfg.move_rate_per_year * age)
        p_def = 1 - np.exp(-0.09 * age)
        sold = u < p_sold
        moved = (u >= p_sold) & (u < p_sold + p_moved)
        defd = (u >= p_sold + p_moved) & (u < p_sold + p_moved + p_def)
        event_day = (-rng.random(old.size) * np.minimum(age * 365, 3 * 365)).astype(np.int32)
        self.state[old[sold]] = SOLD
        self.sold_on[old[sold]] = event_day[sold]
        self.sell_day[old[sold]] = event_day[sold]
        self.state[old[moved]] = MOVED
        self.moved_on[old[moved]] = event_day[moved]
        self.move_day[old[moved]] = event_day[moved]
        self.state[old[defd]] = DEFECTED
        self.last_reason[old[defd]] = self.reason[old[defd]] = rng.choice(
            [PRICE, SERVICE, SHOCK], defd.sum(), p=[0.6, 0.3, 0.1]
        )
        self.defect_day[old[defd]] = event_day[defd]
        self.first_defect_day[old[defd]] = event_day[defd]
        self.n_defections[old[defd]] = 1
        gone = ~(u >= p_sold + p_moved + p_def)
        interval = self.interval_days[old]
        self.last_visit[old] = np.where(
            gone,
            event_day - rng.random(old.size) * interval,
            -rng.random(old.size) * interval,
        ).astype(np.int32)
        self.next_due[old] = self.last_visit[old] + interval * rng.uniform(0.9, 1.15, old.size)
        self.commit[old[defd]] = 0.2

    def _init_world(self) -> None:
        cfg, rng = self.cfg, self.rng
        # A rival independent workshop opens in some regions during (or just before) the window.
        shocked = rng.random(cfg.n_regions) < cfg.competitor_shock_share
        open_day = rng.integers(self.start - 180, self.end - 180, cfg.n_regions)
        self.shock_open = np.where(shocked, open_day, 2**30).astype(np.int64)
        # Store promotion periods (e.g. summer check-up, pre-Spring-Festival service month).
        self.promo = np.zeros((cfg.n_dealers, self.n_days + 1), bool)
        n_years = self.n_days // 365 + 1
        for d in range(cfg.n_dealers):
            starts = rng.integers(0, self.n_days, n_years * cfg.promo_periods_per_year)
            for s in starts:
                self.promo[d, s : s + cfg.promo_days] = True
        # Store quality: mean wait (minutes) and repair-fix reliability differ by dealer.
        self.dealer_wait = rng.uniform(45, 85, cfg.n_dealers)
        self.dealer_fix_fail = cfg.repeat_repair_prob * rng.uniform(0.6, 1.5, cfg.n_dealers)

    # --- latent dynamics ---------------------------------------------------------------------
    def pulls(self, idx: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forces pulling owners toward a competitor: price, bad service, a new rival."""
        out_of_warranty = (t - self.purchase[idx]) > 3 * 365
        ps = self.price_sens[idx]
        pull_price = 1.6 * ps * (1.0 + 0.8 * out_of_warranty)
        pull_service = 3.5 * np.clip(0.9 - self.sat[idx], 0, None)
        since = t - self.shock_open[self.region[idx]]
        shock = np.where(since >= 0, 0.5 + 0.5 * np.exp(-np.clip(since, 0, None) / 365.0), 0.0)
        pull_shock = 2.2 * ps * shock
        return pull_price, pull_service, pull_shock

    def leak(self, idx: np.ndarray, t: int) -> np.ndarray:
        """P(an attached owner has a due service done elsewhere, staying attached)."""
        out_of_warranty = (t - self.purchase[idx]) > 3 * 365
        return self.cfg.leak_base + self.cfg.leak_price * self.price_sens[idx] * out_of_warranty

    def update_commitment(self, k: int, t: int, step: int) -> None:
        """Commitment drifts (time constant ~45 days) toward what pulls and loyalty imply."""
        idx = np.arange(k)
        pp, psv, psh = self.pulls(idx, t)
        promo = self.promo[self.dealer[idx], t]
        logit = -2.3 + pp + psv + psh - 1.8 * self.loyalty[idx] - 0.8 * promo
        target = 1.0 - sigmoid(logit)
        self.commit[:k] += (target - self.commit[:k]) * (step / 45.0)
        # Satisfaction recovers slowly toward the owner's baseline (~8 months).
        self.sat[:k] += (self.sat_base[:k] - self.sat[:k]) * (step / 240.0)

    def defect(self, idx: np.ndarray, t: int, reason: np.ndarray | None = None) -> None:
        """Owners ``idx`` defect on day ``t``; without ``reason`` it is drawn from the pulls."""
        if idx.size == 0:
            return
        if reason is None:
            pp, psv, psh = self.pulls(idx, t)
            w = np.stack([pp, psv, psh], axis=1) + 1e-6
            cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
            reason = (1 + (self.rng.random(idx.size)[:, None] > cum).sum(axis=1)).astype(np.int8)
            reason = np.minimum(reason, SHOCK)
        self.state[idx] = DEFECTED
        self.reason[idx] = reason
        self.last_reason[idx] = reason
        self.defect_day[idx] = t
        first = self.first_defect_day[idx] < -(2**29)
        self.first_defect_day[idx[first]] = t
        self.n_defections[idx] += 1

    # --- emission ----------------------------------------------------------------------------
    def emit(self, table: str, *cols: np.ndarray) -> None:
        """Append one day's rows (one array per column) to an event table; empty days skip."""
        if cols[0].size:
            self.events[table].append(cols)

    def channel(self, idx: np.ndarray) -> np.ndarray:
        """Channel code per owner (``names.CHANNELS``: 0 app, 1 phone, 2 wechat)."""
        u = self.rng.random(idx.size)
        return np.where(u < self.app_affinity[idx], 0, np.where(u < 0.75, 2, 1)).astype(np.int8)
