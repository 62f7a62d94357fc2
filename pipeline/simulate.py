"""Stage ``simulate``: a behavioural simulator of a 4S dealership's after-sales customer base.

The simulator writes the input data contract (``docs/data_contract.md``) plus hidden truth
tables that only evaluation code may read. The generative story is documented in
``docs/simulator.md``; in short, every customer carries latent traits (mileage, price
sensitivity, patience, loyalty, app affinity) and a hidden state (attached, defected, moved,
sold). All observable tables (visits, appointments, app sessions, surveys, consultations,
complaints, win-back outreach) are emitted from that same latent state, day by day, with numpy
arrays over customers so that the loop is over days only.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import typer
from tqdm import tqdm

from features.config import config_from_params
from features.contract import LEAD_TABLES
from features.files import write_data_dir
from pipeline.common import load_params, setup_logging

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Fixed vocabularies
# ---------------------------------------------------------------------------------------------

ATTACHED, DEFECTED, MOVED, SOLD = 0, 1, 2, 3
STATE_NAMES = np.array(["attached", "defected", "moved", "sold"])
NO_REASON, PRICE, SERVICE, SHOCK = 0, 1, 2, 3
REASON_NAMES = np.array(["none", "price", "service", "competitor_shock"])

VISIT_TYPES = np.array(["maintenance", "repair", "warranty", "insurance", "accident", "other"])
V_MAINT, V_REPAIR, V_WARRANTY, V_INSURANCE, V_ACCIDENT, V_OTHER = range(6)

ACTIONS = ("sms_coupon", "advisor_call", "manager_call", "home_visit")
ARMS = ("control", *ACTIONS)  # column order of every response-probability matrix
STAGES = ("pre_churn", "early", "deep", "lost")
TIERS = ("low", "mid", "high")

# name, price class (0 economy .. 2 premium), maintenance interval km, share of buyers
VEHICLE_MODELS = (
    ("Corolla", 0, 5000, 0.24),
    ("Levin", 0, 5000, 0.18),
    ("RAV4", 1, 7500, 0.20),
    ("Camry", 1, 7500, 0.18),
    ("Highlander", 2, 10000, 0.12),
    ("Crown", 2, 10000, 0.08),
)
PRICE_CLASS_MULT = np.array([1.0, 1.45, 2.1])  # spend multiplier by price class

# Uplift of each action on a customer who would not have come back anyway, by customer class:
# rows = attached (reminder effect), price / service / competitor_shock defectors.
ACTION_EFFECT = np.array(
    [
        # sms_coupon advisor_call manager_call home_visit
        [0.20, 0.32, 0.22, 0.26],  # attached: a reminder pulls a coming service forward
        [0.55, 0.22, 0.20, 0.26],  # price defector: the coupon is what matters
        [0.03, 0.14, 0.42, 0.55],  # service defector: an apology from the manager / home visit
        [0.45, 0.18, 0.22, 0.28],  # competitor shock: coupon to match the new rival
    ]
)
# Probability that a returning defector re-attaches (comes back for good) by arm.
REATTACH_PROB = np.array([0.5, 0.35, 0.55, 0.7, 0.8])

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂兰建华志鹏宇浩然欣怡子涵梓萱晨")
MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 157, 158, 159, 166, 176]
    + [177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 198, 199]
)


@dataclass(frozen=True)
class SimulationConfig:
    """Every knob of the simulator; defaults give a realistic mid-sized 4S store group.

    Attributes are grouped as: size and calendar, store structure, campaign design, action
    costs, and behaviour. ``from_params`` builds one from the ``simulate:`` block of params.yaml.
    """

    # size and calendar
    customers: int = 20000
    years: int = 3
    seed: int = 42
    end_date: str = "2026-09-30"
    burn_in_years: int = 2
    new_customer_share: float = 0.3  # buyers whose purchase falls inside the emitted window
    max_vehicle_age_years: float = 6.0  # oldest car of the existing base at window start
    # store structure
    n_dealers: int = 3
    n_regions: int = 6
    competitor_shock_share: float = 0.5  # share of regions where a rival workshop opens
    promo_periods_per_year: int = 2
    promo_days: int = 21
    # campaign design
    campaign_every_days: int = 30
    campaign_pick_share: float = 0.12  # share of eligible lapsed customers picked per campaign
    lapse_min_days: int = 60  # eligible once this many days passed since the last visit
    cooldown_days: int = 120  # a picked customer is not picked again for this long
    control_share: float = 0.2
    response_window_days: int = 60
    # action costs (CNY per contact; the coupon's face value is taken off the return invoice)
    cost_sms_coupon: float = 12.0
    cost_advisor_call: float = 20.0
    cost_manager_call: float = 80.0
    cost_home_visit: float = 350.0
    coupon_value: float = 100.0
    # behaviour
    km_per_day_median: float = 38.0
    km_per_day_sigma: float = 0.6
    defect_prob_at_due: float = 0.75  # P(defect at a due service) for a fully uncommitted owner
    leak_base: float = 0.12  # P(an attached owner gets one service elsewhere) at a due date
    leak_price: float = 0.45  # extra leak per unit of price sensitivity once out of warranty
    angry_switch_prob: float = 0.05  # P(defect right after a bad visit) per unit of severity
    unplanned_visits_per_year: float = 0.6  # repairs, accidents, odd jobs of an attached owner
    repeat_repair_prob: float = 0.10  # P(a repair fails and the car comes back within 30 days)
    natural_return_per_year: float = 0.35  # return hazard of a fresh defector, decays with time
    move_rate_per_year: float = 0.025
    sell_rate_per_year: float = 0.04
    app_session_rate: float = 0.3  # daily P(app use) of a fully engaged, app-loving owner
    consultation_rate: float = 0.01  # daily P(consultation) of a fully engaged owner
    survey_prob: float = 0.35
    # outcome of each outreach contact (docs/simulator.md): its own random stream, so every
    # other table is the same with or without it
    outreach_outcomes: bool = True
    outcome_dead_number_moved: float = 0.35  # a moved owner's number no longer works
    outcome_dead_number_other: float = 0.02  # number changed for any other reason
    outcome_reached_attached: float = 0.65  # call / visit: attached owner answers and talks
    outcome_declined_attached: float = 0.05
    outcome_reached_defected: float = 0.45  # defected owners answer less, decline more
    outcome_declined_defected: float = 0.20
    outcome_tells_gone: float = 0.55  # a sold / moved owner on the line says so
    outcome_declined_gone: float = 0.15
    # the showroom add-on (pipeline/simulate_leads.py): its own random stream
    leads: bool = True
    leads_per_year: int = 5000
    lead_consultants_per_dealer: int = 8

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> SimulationConfig:
        """Build a config from the ``simulate:`` block of params.yaml.

        Args:
            params: Mapping of field name to value; ``None`` or empty gives the defaults.

        Returns:
            The config.

        Raises:
            ValueError: If a key is not a field of ``SimulationConfig``.
        """
        return config_from_params(cls, params, "simulate")

    def __post_init__(self) -> None:
        if self.customers < 1 or self.years < 1:
            raise ValueError("customers and years must be >= 1")
        if not 0 < self.control_share < 1:
            raise ValueError("control_share must be in (0, 1)")
        if self.n_dealers < 1 or self.n_regions < 1:
            raise ValueError("n_dealers and n_regions must be >= 1")

    @property
    def action_costs(self) -> np.ndarray:
        """Cost per contact of each arm, in ``ARMS`` order (control costs nothing)."""
        return np.array(
            [
                0.0,
                self.cost_sms_coupon,
                self.cost_advisor_call,
                self.cost_manager_call,
                self.cost_home_visit,
            ]
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# Treatment arm propensities by value tier (low, mid, high); each >= 10% in every tier.
TIER_ACTION_PROBS = np.array(
    [
        [0.45, 0.25, 0.18, 0.12],
        [0.30, 0.30, 0.25, 0.15],
        [0.15, 0.25, 0.35, 0.25],
    ]
)


class _Sim:
    """Mutable simulation state: one numpy array per attribute, indexed by customer."""

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
        self.region = rng.choice(cfg.n_regions, n, p=_region_weights(cfg.n_regions)).astype(
            np.int16
        )
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

        # Cars bought before the simulation starts enter with a history drawn from their age.
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
    def _pulls(self, idx: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forces pulling owners toward a competitor: price, bad service, a new rival."""
        out_of_warranty = (t - self.purchase[idx]) > 3 * 365
        ps = self.price_sens[idx]
        pull_price = 1.6 * ps * (1.0 + 0.8 * out_of_warranty)
        pull_service = 3.5 * np.clip(0.9 - self.sat[idx], 0, None)
        since = t - self.shock_open[self.region[idx]]
        shock = np.where(since >= 0, 0.5 + 0.5 * np.exp(-np.clip(since, 0, None) / 365.0), 0.0)
        pull_shock = 2.2 * ps * shock
        return pull_price, pull_service, pull_shock

    def _leak(self, idx: np.ndarray, t: int) -> np.ndarray:
        """P(an attached owner has a due service done elsewhere, staying attached)."""
        out_of_warranty = (t - self.purchase[idx]) > 3 * 365
        return self.cfg.leak_base + self.cfg.leak_price * self.price_sens[idx] * out_of_warranty

    def _update_commitment(self, k: int, t: int, step: int) -> None:
        """Commitment drifts (time constant ~45 days) toward what pulls and loyalty imply."""
        idx = np.arange(k)
        pp, psv, psh = self._pulls(idx, t)
        promo = self.promo[self.dealer[idx], t]
        logit = -2.3 + pp + psv + psh - 1.8 * self.loyalty[idx] - 0.8 * promo
        target = 1.0 - _sigmoid(logit)
        self.commit[:k] += (target - self.commit[:k]) * (step / 45.0)
        # Satisfaction recovers slowly toward the owner's baseline (~8 months).
        self.sat[:k] += (self.sat_base[:k] - self.sat[:k]) * (step / 240.0)

    def _defect(self, idx: np.ndarray, t: int, reason: np.ndarray | None = None) -> None:
        if idx.size == 0:
            return
        if reason is None:
            pp, psv, psh = self._pulls(idx, t)
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
    def _emit(self, table: str, *cols: np.ndarray) -> None:
        if cols[0].size:
            self.events[table].append(cols)

    def _visit(self, idx: np.ndarray, vtype: np.ndarray, t: int, repeat: np.ndarray) -> None:
        """Book dealer visits on day ``t``: invoice, wait, experience and its side effects."""
        if idx.size == 0:
            return
        cfg, rng = self.cfg, self.rng
        m = idx.size
        mult = PRICE_CLASS_MULT[self.price_class[idx]]
        z = rng.standard_normal(m)
        amount = np.select(
            [
                vtype == V_MAINT,
                vtype == V_REPAIR,
                vtype == V_WARRANTY,
                vtype == V_INSURANCE,
                vtype == V_ACCIDENT,
            ],
            [
                np.exp(np.log(480.0) + 0.35 * z) * mult,
                np.exp(np.log(1100.0) + 0.9 * z) * mult,
                np.where(z > 1.0, 150.0 * np.exp(0.5 * z), 0.0),
                np.exp(np.log(1600.0) + 0.3 * z) * mult,
                np.exp(np.log(4000.0) + 0.85 * z) * mult,
            ],
            np.exp(np.log(260.0) + 0.6 * z),
        )
        coupon = (self.forced_day[idx] == t) & (self.forced_arm[idx] == 1)
        amount = np.where(coupon, np.maximum(amount - cfg.coupon_value, 0.0), amount)
        amount = np.round(amount, 2)
        wait_factor = np.array([1.0, 1.6, 1.4, 0.4, 2.0, 0.5])[vtype]
        wait = np.round(
            self.dealer_wait[self.dealer[idx]] * wait_factor * np.exp(0.5 * rng.standard_normal(m))
        )
        age_days = t - self.purchase[idx]
        # Odometers never run backwards: the reading is the owner's steady usage since purchase.
        mileage = np.round(np.maximum(self.km_per_day[idx] * age_days, 0.0))
        # Experience: waits beyond the owner's patience and repeat repairs hurt.
        severity = np.clip(wait / self.patience[idx] - 1.0, 0, 2) + 1.0 * repeat
        self.sat[idx] = np.clip(self.sat[idx] - 0.15 * severity + 0.02 * (severity == 0), 0, 1)
        emit = t >= self.start
        if emit:
            self._emit(
                "visits", idx, np.full(m, t, np.int32), amount, vtype, wait, mileage.astype(float)
            )
            # Appointments: app lovers book ahead; accidents are never booked.
            p_appt = np.where(vtype == V_ACCIDENT, 0.05, 0.3 + 0.45 * self.app_affinity[idx])
            booked = rng.random(m) < p_appt
            lead = rng.integers(1, 11, m)
            b = np.flatnonzero(booked & (t - lead >= self.start))
            self._emit(
                "appointments",
                idx[b],
                (t - lead[b]).astype(np.int32),
                np.full(b.size, t, np.int32),
                np.zeros(b.size, np.int8),  # kept
                self._channel(idx[b]),
            )
            # Survey a few days after the visit, driven by satisfaction and this experience.
            s = np.flatnonzero(rng.random(m) < cfg.survey_prob)
            score = 10 * (
                0.3 + 0.5 * self.sat[idx[s]] + 0.2 * (1 - np.minimum(severity[s], 1))
            ) + 1.1 * rng.standard_normal(s.size)
            self._emit(
                "surveys",
                idx[s],
                (t + rng.integers(1, 6, s.size)).astype(np.int32),
                np.clip(np.round(score), 0, 10).astype(np.int8),
            )
            # Complaints follow bad experiences (and a trickle of other gripes).
            p_c = 0.004 + 0.3 * np.minimum(severity, 1.5)
            c = np.flatnonzero(rng.random(m) < p_c)
            cat = np.where(
                repeat[c], 1, np.where(severity[c] > 0, 0, rng.integers(2, 4, c.size))
            ).astype(np.int8)
            self._emit("complaints", idx[c], (t + rng.integers(0, 4, c.size)).astype(np.int32), cat)
        # Bookkeeping.
        self.last_visit[idx] = t
        self.spend_buckets[idx, (t // 30) % 13] += amount.astype(np.float32)
        maint = idx[vtype == V_MAINT]
        self.next_due[maint] = (
            t + self.interval_days[maint] * rng.uniform(0.9, 1.15, maint.size)
        ).astype(np.int32)
        # A failed repair brings the car back within a month (the next "unplanned" visit).
        rep = (vtype == V_REPAIR) | (vtype == V_WARRANTY)
        fail = rep & (rng.random(m) < self.dealer_fix_fail[self.dealer[idx]])
        self.next_unplanned[idx[fail]] = t + rng.integers(3, 31, fail.sum())
        self.last_repair[idx[rep]] = t
        # A very bad visit can make an attached owner walk out for good.
        att = self.state[idx] == ATTACHED
        angry = att & (rng.random(m) < cfg.angry_switch_prob * severity)
        self._defect(idx[angry], t, np.full(angry.sum(), SERVICE, np.int8))

    def _channel(self, idx: np.ndarray) -> np.ndarray:
        # 0 app, 1 phone, 2 wechat
        u = self.rng.random(idx.size)
        return np.where(u < self.app_affinity[idx], 0, np.where(u < 0.75, 2, 1)).astype(np.int8)

    # --- win-back response -------------------------------------------------------------------
    def response_probs(self, idx: np.ndarray, t: int) -> np.ndarray:
        """True P(dealer visit within the response window) under each arm, shape (n, 5).

        Columns follow ``ARMS``. The realised outcome of a contact is drawn from exactly
        these probabilities, so they are the ground truth for uplift evaluation.
        """
        cfg = self.cfg
        w = cfg.response_window_days
        st = self.state[idx]
        p = np.zeros((idx.size, len(ARMS)))
        unpl_rate = cfg.unplanned_visits_per_year / 365.0

        # Attached: the natural rate (service due soon, unplanned visits) plus a reminder lift
        # that fades with how far beyond the window the next service is due.
        a = st == ATTACHED
        ia = idx[a]
        gap = self.next_due[ia] - t
        p_due = _sigmoid((w - gap) / 12.0)
        keep = (1 - cfg.defect_prob_at_due * (1 - self.commit[ia])) * (1 - self._leak(ia, t))
        p0 = 1 - (1 - p_due * keep) * np.exp(-w * unpl_rate)
        reach = np.exp(-np.clip(gap - w, 0, None) / 30.0) * (0.55 + 0.6 * self.loyalty[ia])
        eff = np.clip(ACTION_EFFECT[0][None, :] * reach[:, None], 0, 0.95)
        p[a, 0] = p0
        p[a, 1:] = 1 - (1 - p0)[:, None] * (1 - eff)

        # Defected: a natural return hazard that fades with time away, plus reason-specific
        # action effects that fade the same way (habits form at the competitor).
        d = st == DEFECTED
        idf = idx[d]
        tau = np.maximum(t - self.defect_day[idf], 0)
        r = self.reason[idf]
        promo = self.promo[self.dealer[idf], t]
        lam = (
            cfg.natural_return_per_year
            / 365.0
            * np.exp(-tau / 240.0)
            * np.where(r == SERVICE, 0.6, 1.0)
            * np.where(promo & (r != SERVICE), 2.5, 1.0)
        )
        # Warranty work and insurance-directed accident repairs still reach the dealer.
        warranty = (t - self.purchase[idf]) < 3 * 365
        lam = lam + unpl_rate * (0.1 + 0.35 * warranty)
        p0 = 1 - np.exp(-lam * w)
        fade = 0.2 + 0.8 * np.exp(-tau / 80.0)
        eff = ACTION_EFFECT[r][:, :] * fade[:, None]
        coupon_mod = np.clip(self.price_sens[idf] / 0.4, 0.25, 1.5)
        apology_mod = 0.6 + 0.6 * self.loyalty[idf]
        eff[:, 0] *= coupon_mod
        eff[:, 2] *= apology_mod
        eff[:, 3] *= apology_mod
        eff = np.clip(eff, 0, 0.95)
        p[d, 0] = p0
        p[d, 1:] = 1 - (1 - p0)[:, None] * (1 - eff)
        # Moved and sold owners: zero under every arm.
        return p

    def _campaign(self, k: int, t: int) -> None:
        cfg, rng = self.cfg, self.rng
        idx = np.arange(k)
        since = t - self.last_visit[:k]
        eligible = (
            (since >= cfg.lapse_min_days)
            & (t - self.last_contact[:k] >= cfg.cooldown_days)
            & (self.hold_until[:k] < t)
        )
        cand = idx[eligible]
        picked = cand[rng.random(cand.size) < cfg.campaign_pick_share]
        m = picked.size
        if m == 0:
            return
        spend = self.spend_buckets[picked].sum(axis=1) - self.spend_buckets[picked, (t // 30) % 13]
        tier = np.digitize(spend, [2000.0, 5000.0]).astype(np.int8)
        control = rng.random(m) < cfg.control_share
        probs = TIER_ACTION_PROBS[tier]
        cum = np.cumsum(probs, axis=1)
        action = (rng.random(m)[:, None] > cum).sum(axis=1).clip(0, 3) + 1
        arm = np.where(control, 0, action).astype(np.int8)
        propensity = np.where(
            control,
            cfg.control_share,
            (1 - cfg.control_share) * probs[np.arange(m), np.clip(action - 1, 0, 3)],
        )
        p = self.response_probs(picked, t)
        p_arm = p[np.arange(m), arm]
        ret = rng.random(m) < p_arm
        w = cfg.response_window_days
        # Return day: near the due date when service is due within the window, else spread.
        gap = self.next_due[picked] - t
        jitter = rng.integers(-5, 6, m)
        spread = 1 + np.floor(w * rng.beta(1.3, 2.0, m)).astype(np.int64)
        day = np.where(
            (self.state[picked] == ATTACHED) & (gap >= 1) & (gap <= w), gap + jitter, spread
        )
        day = t + np.clip(day, 1, w)
        self.hold_until[picked] = t + w
        self.forced_day[picked] = np.where(ret, day, -1)
        self.forced_arm[picked] = arm
        self.last_contact[picked] = t
        stage = np.digitize(t - self.last_visit[picked], [90, 180, 365]).astype(np.int8)
        self._emit(
            "outreach",
            picked,
            np.full(m, t, np.int32),
            arm,
            propensity,
            stage,
            tier,
            self.state[picked].copy(),
            self.reason[picked].copy(),
            p,
        )

    # --- main loop ---------------------------------------------------------------------------
    def run(self) -> None:
        cfg, rng = self.cfg, self.rng
        unpl_mean = 365.0 / cfg.unplanned_visits_per_year
        return_bound = cfg.natural_return_per_year / 365.0 * 2.5
        # Upper bound of the daily app-session probability (see _daily_engagement).
        self._app_bound = cfg.app_session_rate * self.app_affinity * 2
        month_ends = {
            int((np.datetime64(d.date(), "D") - self.day0).astype(int))
            for d in pd.date_range(
                pd.Timestamp(str(self.day0 + self.start)), periods=cfg.years * 12 + 1, freq="ME"
            )
        }
        for t in tqdm(range(self.n_days), desc="simulate", unit="day", disable=None):
            k = int(self.n_joined_by_day[t])
            if k == 0:
                continue
            st = self.state[:k]
            alive = st <= DEFECTED
            if t % 7 == 0:
                self._update_commitment(k, t, 7)
            if t % 30 == 0:
                self.spend_buckets[:, (t // 30) % 13] = 0.0

            # Life events: owners move away or sell the car; both are final.
            mv = np.flatnonzero((self.move_day[:k] == t) & alive)
            self.state[mv] = MOVED
            self.moved_on[mv] = t
            sl = np.flatnonzero((self.sell_day[:k] == t) & (self.state[:k] <= DEFECTED))
            self.state[sl] = SOLD
            self.sold_on[sl] = t
            alive = self.state[:k] <= DEFECTED
            free = self.hold_until[:k] < t  # not inside a campaign response window

            v_idx, v_type, v_rep = [], [], []

            # Campaign outcomes: the drawn return visit.
            f = np.flatnonzero((self.forced_day[:k] == t) & alive)
            if f.size:
                arm = self.forced_arm[f]
                was_def = self.state[f] == DEFECTED
                back = was_def & (rng.random(f.size) < REATTACH_PROB[arm])
                self.state[f[back]] = ATTACHED
                self.commit[f[back]] = 0.6
                apology = (arm >= 3) & (self.reason[f] == SERVICE)
                self.sat[f[apology]] = np.minimum(self.sat[f[apology]] + 0.25, 1.0)
                self.reason[f[back]] = NO_REASON
                v_idx.append(f)
                v_type.append(np.full(f.size, V_MAINT, np.int8))
                v_rep.append(np.zeros(f.size, bool))

            # Maintenance due.
            due = np.flatnonzero(self.next_due[:k] == t)
            if due.size:
                held = ~free[due]
                hd = due[held]
                self.next_due[hd] = self.hold_until[hd] + rng.integers(1, 21, hd.size)
                due = due[~held]
                sd = self.state[due]
                # Defectors service elsewhere; attached owners decide now.
                dd = due[sd == DEFECTED]
                self.next_due[dd] = (t + self.interval_days[dd]).astype(np.int32)
                att = due[sd == ATTACHED]
                u = rng.random(att.size)
                drift = 1 - self.commit[att]
                q_def = cfg.defect_prob_at_due * drift
                q_post = 0.04 + 0.45 * drift
                defect = u < q_def
                postpone = ~defect & (u < q_def + q_post)
                # Some due services leak to a quick-lube shop without a real defection.
                leak = ~defect & ~postpone & (rng.random(att.size) < self._leak(att, t))
                visit = ~defect & ~postpone & ~leak
                li = att[leak]
                self.next_due[li] = (
                    t + self.interval_days[li] * rng.uniform(0.9, 1.15, li.size)
                ).astype(np.int32)
                # Drifting owners book then cancel or no-show: a leading signal.
                p_book = 0.3 + 0.45 * self.app_affinity[att]
                cancel = (defect | postpone) & (rng.random(att.size) < p_book)
                ci = att[cancel]
                if t >= self.start and ci.size:
                    lead = rng.integers(1, 11, ci.size)
                    status = np.where(rng.random(ci.size) < 0.6, 1, 2).astype(np.int8)
                    ok = t - lead >= self.start
                    self._emit(
                        "appointments",
                        ci[ok],
                        (t - lead[ok]).astype(np.int32),
                        np.full(ok.sum(), t, np.int32),
                        status[ok],
                        self._channel(ci[ok]),
                    )
                self._defect(att[defect], t)
                pi = att[postpone]
                self.next_due[att[defect]] = (t + self.interval_days[att[defect]]).astype(np.int32)
                self.next_due[pi] = t + rng.integers(10, 46, pi.size)
                vi = att[visit]
                v_idx.append(vi)
                v_type.append(np.full(vi.size, V_MAINT, np.int8))
                v_rep.append(np.zeros(vi.size, bool))

            # Unplanned visits: repairs, warranty work, accidents, odd jobs.
            un = np.flatnonzero((self.next_unplanned[:k] == t) & alive)
            if un.size:
                repeat = (t - self.last_repair[un]) <= 30
                held = ~free[un]
                self.next_unplanned[un[held]] = self.hold_until[un[held]] + rng.integers(
                    1, 31, held.sum()
                )
                un, repeat = un[~held], repeat[~held]
                self.next_unplanned[un] = (t + rng.exponential(unpl_mean, un.size)).astype(np.int32)
                warranty = (t - self.purchase[un]) < 3 * 365
                u = rng.random(un.size)
                vt = np.where(
                    u < 0.55,
                    np.where(warranty & (rng.random(un.size) < 0.7), V_WARRANTY, V_REPAIR),
                    np.where(u < 0.7, V_ACCIDENT, V_OTHER),
                ).astype(np.int8)
                vt = np.where(repeat, np.where(warranty, V_WARRANTY, V_REPAIR), vt).astype(np.int8)
                # Defectors still bring warranty work and insurer-directed accident repairs.
                at_dealer = (self.state[un] == ATTACHED) | (
                    ((vt == V_WARRANTY) & (rng.random(un.size) < 0.7))
                    | ((vt == V_ACCIDENT) & (rng.random(un.size) < 0.3))
                )
                v_idx.append(un[at_dealer])
                v_type.append(vt[at_dealer])
                v_rep.append(repeat[at_dealer])

            # Insurance renewal on the purchase anniversary, bought at the dealer or not.
            ins = np.flatnonzero(self.next_insurance[:k] == t)
            if ins.size:
                self.next_insurance[ins] += 365
                ins = ins[(self.state[ins] <= DEFECTED) & free[ins]]
                p_ins = np.where(self.state[ins] == ATTACHED, 0.25 + 0.45 * self.loyalty[ins], 0.05)
                bi = ins[rng.random(ins.size) < p_ins]
                v_idx.append(bi)
                v_type.append(np.full(bi.size, V_INSURANCE, np.int8))
                v_rep.append(np.zeros(bi.size, bool))

            # Spontaneous returns of defectors (fading with time away; promotions help).
            dfc = np.flatnonzero((self.state[:k] == DEFECTED) & free)
            if dfc.size:
                # The hazard is at most the base rate x 2.5 (time away only lowers it), so it
                # is computed only for defectors whose draw is below that bound.
                u = rng.random(dfc.size)
                cand = np.flatnonzero(u < return_bound)
                dc = dfc[cand]
                tau = t - self.defect_day[dc]
                r = self.reason[dc]
                promo = self.promo[self.dealer[dc], t]
                lam = (
                    cfg.natural_return_per_year
                    / 365.0
                    * np.exp(-tau / 240.0)
                    * np.where(r == SERVICE, 0.6, 1.0)
                    * np.where(promo & (r != SERVICE), 2.5, 1.0)
                )
                nr = dc[u[cand] < lam]
                back = nr[rng.random(nr.size) < REATTACH_PROB[0]]
                self.state[back] = ATTACHED
                self.reason[back] = NO_REASON
                self.commit[back] = 0.6
                v_idx.append(nr)
                v_type.append(np.full(nr.size, V_MAINT, np.int8))
                v_rep.append(np.zeros(nr.size, bool))

            if v_idx:
                vi = np.concatenate(v_idx)
                if vi.size:
                    # One visit per customer per day: the first source wins.
                    vi, first = np.unique(vi, return_index=True)
                    vt = np.concatenate(v_type)[first]
                    vr = np.concatenate(v_rep)[first]
                    self._visit(vi, vt, t, vr)

            if t >= self.start:
                self._daily_engagement(k, t)
                if (t - self.start) % cfg.campaign_every_days == 0:
                    self._campaign(k, t)
                if t in month_ends:
                    self._snapshot(k, t)

    def _daily_engagement(self, k: int, t: int) -> None:
        """App sessions and consultations: both fade as commitment fades.

        Every joined customer draws a uniform number each day, but the probabilities are only
        computed for the few whose draw falls below an upper bound of their probability
        (commitment and the state multiplier are at most 1): the same draws, the same
        floating-point products on those customers, the same events, a fraction of the work.
        """
        cfg, rng = self.cfg, self.rng
        c = self.commit[:k]
        # Commitment never leaves [0, 1] in exact arithmetic; allow for rounding anyway.
        c2_max = max(1.0, float(c.max()) ** 2) if k else 1.0
        u = rng.random(k)
        bound = self._app_bound[:k] if c2_max == 1.0 else self._app_bound[:k] * c2_max
        cand = np.flatnonzero(u < bound)
        st = self.state[cand]
        nd = self.next_due[cand]
        state_mult = np.array([1.0, 0.12, 0.03, 0.0])[st]
        soon = (nd - t >= 0) & (nd - t <= 14) & (st == ATTACHED)
        cc = c[cand]
        p_app = cfg.app_session_rate * self.app_affinity[cand] * (cc**2) * state_mult * (1 + soon)
        a = cand[u[cand] < p_app]
        self._emit(
            "app_sessions",
            a,
            np.full(a.size, t, np.int32),
            (1 + rng.poisson(0.4 + 1.2 * self.app_affinity[a])).astype(np.int16),
        )
        u = rng.random(k)
        cand = np.flatnonzero(u < cfg.consultation_rate * c2_max)
        cc = c[cand]
        p_con = cfg.consultation_rate * (cc**2) * np.array([1.0, 0.1, 0.0, 0.0])[self.state[cand]]
        ci = cand[u[cand] < p_con]
        self._emit("consultations", ci, np.full(ci.size, t, np.int32), self._channel(ci))

    def _snapshot(self, k: int, t: int) -> None:
        cfg = self.cfg
        idx = np.arange(k)
        st = self.state[:k]
        gap = np.maximum(self.next_due[:k] - t, 0)
        n_due = (gap <= 180) + np.clip(180 - gap, 0, None) / self.interval_days[:k]
        q = cfg.defect_prob_at_due * (1 - self.commit[:k])
        p_def = np.where(st == ATTACHED, 1 - (1 - q) ** n_due, np.nan)
        self._emit(
            "snapshots",
            idx,
            np.full(k, t, np.int32),
            st.copy(),
            self.reason[:k].copy(),
            p_def,
            (t - self.last_visit[:k]).astype(np.int32),
            self.commit[:k].copy(),
            self.sat[:k].copy(),
        )


def _region_weights(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** 0.6  # a few big cities, several smaller ones
    return w / w.sum()


def _concat(parts: list[tuple[np.ndarray, ...]], n_cols: int) -> list[np.ndarray]:
    if not parts:
        return [np.array([], dtype=np.int64) for _ in range(n_cols)]
    return [np.concatenate([p[i] for p in parts]) for i in range(n_cols)]


def _fake_people(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Plausible Chinese names and 11-digit mobile numbers (fake, deterministic)."""
    sur = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.where(rng.random(n) < 0.7, np.array(GIVEN)[rng.integers(0, len(GIVEN), n)], "")
    names = np.char.add(np.char.add(sur, g1), g2)
    prefix = MOBILE_PREFIXES[rng.integers(0, MOBILE_PREFIXES.size, n)]
    phones = np.char.add(
        prefix.astype(str), np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8)
    )
    return names.astype(object), phones.astype(object)


def simulate(config: SimulationConfig) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Run the behavioural simulation.

    Args:
        config: The simulation settings.

    Returns:
        ``(tables, truth)``: contract tables keyed by table name (customers, service_visits,
        appointments, app_sessions, surveys, consultations, complaints, outreach), each sorted
        by (customer_id, date); and truth tables (customers, outreach, snapshots, response)
        that only evaluation code may read.
    """
    sim = _Sim(config)
    sim.run()
    tables, truth = _build_tables(sim)
    if config.outreach_outcomes:  # own stream too: drawn after everything else is fixed
        states = truth["outreach"]["state"].to_numpy(dtype=object)
        tables["outreach"]["outcome"] = outreach_outcomes(
            config, tables["outreach"]["action"].to_numpy(dtype=object), states
        )
    if config.leads:  # the showroom add-on draws from its own stream: the tables above stay
        from pipeline.simulate_leads import simulate_leads

        lead_tables, lead_truth = simulate_leads(config, _fake_people)
        tables.update(lead_tables)
        truth.update(lead_truth)  # truth/leads.parquet
    return tables, truth


#: Spawn key of the contact-outcome stream (see ``LEADS_STREAM`` in pipeline/simulate_leads.py).
OUTCOME_STREAM = 0x0C0DE
PHONE_ACTIONS = ("advisor_call", "manager_call", "home_visit")  # a home visit is booked by phone


def outreach_outcomes(config: SimulationConfig, action: np.ndarray, state: np.ndarray) -> pd.Series:
    """What each outreach contact found, from the owner's hidden state on the contact day.

    A call (or the call that books a home visit) to a working number: an attached owner is
    reached or does not answer, rarely declines; a defected owner answers less and declines
    more; a sold / moved owner who answers says so (``car_sold`` / ``moved``) with probability
    ``outcome_tells_gone``, else declines or does not answer. An SMS shows only ``delivered``
    or, on a dead number, ``wrong_number``. Numbers die mostly after a move. Control rows are
    blank (nobody was contacted). Draws come from their own generator
    (``SeedSequence([seed, OUTCOME_STREAM])``), one uniform pair per row in table order, so
    no other table changes and the same seed gives the same outcomes.

    Args:
        config: The simulation settings (``outcome_*`` fields).
        action: The outreach table's ``action`` per row (``none`` for control).
        state: The truth state on the contact day per row (``STATE_NAMES``).

    Returns:
        The ``outcome`` column (``str``, missing for control rows).
    """
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([config.seed, OUTCOME_STREAM]))
    )
    n = len(action)
    u_dead, u = rng.random(n), rng.random(n)
    action = np.asarray(action, dtype=object)
    state = np.asarray(state, dtype=object)
    moved, sold = state == "moved", state == "sold"
    dead = u_dead < np.where(
        moved, config.outcome_dead_number_moved, config.outcome_dead_number_other
    )
    reached = np.select(
        [state == "attached", state == "defected"],
        [config.outcome_reached_attached, config.outcome_reached_defected],
        config.outcome_tells_gone,
    )
    declined = np.select(
        [state == "attached", state == "defected"],
        [config.outcome_declined_attached, config.outcome_declined_defected],
        config.outcome_declined_gone,
    )
    talk = np.where(
        u < reached,
        np.where(moved, "moved", np.where(sold, "car_sold", "reached")),
        np.where(u < reached + declined, "declined", "no_answer"),
    )
    phone = np.isin(action, PHONE_ACTIONS)
    out = np.where(dead, "wrong_number", np.where(phone, talk, "delivered")).astype(object)
    out[action == "none"] = None
    return pd.Series(pd.array(out, dtype="str"))


def _labels(names: np.ndarray | list[str] | tuple[str, ...], codes: np.ndarray) -> pd.Series:
    """A ``str`` column of ``names[codes]``, built in Arrow (no Python string per row)."""
    vocab = pa.array(np.asarray(names, dtype=object), type=pa.large_string())
    return pd.Series(pd.array(vocab.take(pa.array(np.asarray(codes, dtype=np.int64))), dtype="str"))


def _event_order(
    idx: np.ndarray, day: np.ndarray, cols: list[np.ndarray], key_only: bool = False
) -> np.ndarray:
    """Row order of an event table: duplicates dropped (first kept), then by (customer, day).

    Two events can collide on one day (e.g. surveys after visits days apart); a real export
    holds each once, and the contract sets exact duplicates aside. A row is a duplicate of an
    earlier one when all of ``idx``, ``day`` and ``cols`` agree (NaN equals NaN), or only
    ``idx`` and ``day`` when ``key_only``. The result equals pandas'
    ``drop_duplicates(keep="first")`` followed by a stable sort on (customer_id, date), since
    customer ids are zero-padded to one width and so sort like their index.
    """
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    d = day.astype(np.int64)
    lo = int(d.min())
    key = idx.astype(np.int64) * (int(d.max()) - lo + 1) + (d - lo)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = np.zeros(order.size, dtype=bool)
    same[1:] = ks[1:] == ks[:-1]  # same (customer, day) as the previous row in sorted order
    if not same.any():
        return order
    if key_only:
        return order[~same]
    # Only rows sharing a (customer, day) key with another row can be exact duplicates.
    in_group = same.copy()
    in_group[:-1] |= same[1:]
    pos = np.flatnonzero(in_group)  # positions in sorted order, groups contiguous, stable
    sub = [ks[pos]] + [np.asarray(c)[order[pos]] for c in cols]
    # Sort the group rows by all columns (stable: ties keep their original order) and flag a
    # row equal to its predecessor in every column.
    sub_order = np.lexsort(sub[::-1])
    dup = np.ones(pos.size, dtype=bool)
    dup[0] = False
    for c in sub:
        cs = c[sub_order]
        eq = cs[1:] == cs[:-1]
        if cs.dtype.kind == "f":
            eq |= np.isnan(cs[1:]) & np.isnan(cs[:-1])
        dup[1:] &= eq
    drop = np.zeros(order.size, dtype=bool)
    drop[pos[sub_order[dup]]] = True
    return order[~drop]


def _build_tables(sim: _Sim) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    cfg = sim.cfg
    n = sim.n
    width = max(6, len(str(n)))
    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)
    # Arrow take from the id vocabulary: no Python string object per event row.
    cid_arrow = pa.array(ids, type=pa.large_string())
    cid = pd.Series(pd.array(cid_arrow, dtype="str"))

    def dates(day: np.ndarray) -> pd.Series:
        return pd.Series((sim.day0 + day.astype("timedelta64[D]")).astype("datetime64[s]"))

    def cust(idx: np.ndarray) -> pd.Series:
        return pd.Series(pd.array(cid_arrow.take(pa.array(idx.astype(np.int64))), dtype="str"))

    def events(
        name: str,
        n_cols: int,
        date_col: int = 1,
        key_only: bool = False,
        last_day: int | None = None,
    ) -> list[np.ndarray]:
        # The emitted columns in output row order (see _event_order), optionally without
        # rows dated after ``last_day``. The per-day pieces are released as soon as they are
        # joined (pop), and each unordered column once its ordered copy exists: at a million
        # customers the snapshot log alone is over a gigabyte.
        cols = _concat(sim.events.pop(name), n_cols)
        if last_day is not None:
            keep = cols[1] <= last_day
            cols = [c[keep] for c in cols]
        rest = [c for j, c in enumerate(cols) if j not in (0, date_col)]
        order = _event_order(cols[0], cols[date_col], rest, key_only)
        del rest
        out = []
        for j in range(len(cols)):
            out.append(cols[j][order])
            cols[j] = None  # type: ignore[call-overload]
        return out

    names, phones = _fake_people(sim.rng, n)
    channel_names = ("app", "phone", "wechat")
    tables: dict[str, pd.DataFrame] = {}
    tables["customers"] = pd.DataFrame(
        {
            "customer_id": cid,
            "dealer_id": pd.Series(np.char.add("D", (sim.dealer + 1).astype(str)), dtype="str"),
            "region": pd.Series(np.char.add("R", (sim.region + 1).astype(str)), dtype="str"),
            "vehicle_model": _labels([m[0] for m in VEHICLE_MODELS], sim.model),
            "vehicle_purchase_date": dates(sim.purchase),
            "acquisition_cost": np.round(
                np.array([2500.0, 3500.0, 5000.0])[sim.price_class]
                * np.exp(0.25 * sim.rng.standard_normal(n)),
                0,
            ),
            "referrals": sim.rng.poisson(0.15 + 0.5 * sim.loyalty * sim.sat_base).astype(np.int64),
            "name": pd.Series(names, dtype="str"),
            "phone": pd.Series(phones, dtype="str"),
        }
    )

    v_raw = _concat(sim.events.pop("visits"), 6)
    v = [c[_event_order(v_raw[0], v_raw[1], v_raw[2:])] for c in v_raw]
    tables["service_visits"] = pd.DataFrame(
        {
            "customer_id": cust(v[0]),
            "visit_date": dates(v[1]),
            "amount": v[2].astype(float),
            "visit_type": _labels(VISIT_TYPES, v[3]),
            "wait_minutes": v[4].astype(float),
            "mileage_km": v[5].astype(float),
        }
    )
    a = events("appointments", 5, date_col=2)
    tables["appointments"] = pd.DataFrame(
        {
            "customer_id": cust(a[0]),
            "booked_date": dates(a[1]),
            "scheduled_date": dates(a[2]),
            "status": _labels(("kept", "cancelled", "no_show"), a[3]),
            "channel": _labels(channel_names, a[4]),
        }
    )
    s = events("app_sessions", 3)
    tables["app_sessions"] = pd.DataFrame(
        {
            "customer_id": cust(s[0]),
            "session_date": dates(s[1]),
            "sessions": s[2].astype(np.int64),
        }
    )
    # Surveys / complaints dated after the window end are not yet collected.
    sv = events("surveys", 3, key_only=True, last_day=sim.end)
    tables["surveys"] = pd.DataFrame(
        {
            "customer_id": cust(sv[0]),
            "survey_date": dates(sv[1]),
            "score": sv[2].astype(np.int64),
        }
    )
    co = events("consultations", 3)
    tables["consultations"] = pd.DataFrame(
        {
            "customer_id": cust(co[0]),
            "contact_date": dates(co[1]),
            "channel": _labels(channel_names, co[2]),
        }
    )
    cp = events("complaints", 3, last_day=sim.end)
    tables["complaints"] = pd.DataFrame(
        {
            "customer_id": cust(cp[0]),
            "complaint_date": dates(cp[1]),
            "category": _labels(("wait_time", "repair_quality", "price", "staff"), cp[2]),
        }
    )

    o = _concat(sim.events.pop("outreach"), 9)
    o_idx, o_day, arm = o[0], o[1], o[2].astype(int)
    outreach = pd.DataFrame(
        {
            "customer_id": cust(o_idx),
            "contact_date": dates(o_day),
            "action": _labels(("none", *ACTIONS), arm),
            "cost": cfg.action_costs[arm],
            "group": _labels(("control", "treatment"), arm != 0),
            "channel": _labels(("none", "sms", "phone", "phone", "in_person"), arm),
        }
    )
    order = np.lexsort((o_day, o_idx))
    tables["outreach"] = outreach.iloc[order].reset_index(drop=True)

    # Realised return: any emitted visit in (contact, contact + window], as evaluators read it.
    returned, censored = _realised_returns(sim, v_raw[0], v_raw[1], o_idx, o_day)
    p = o[8].reshape(-1, len(ARMS)) if o[8].ndim == 2 else np.zeros((0, len(ARMS)))
    truth_out = pd.DataFrame(
        {
            "customer_id": cust(o_idx),
            "contact_date": dates(o_day),
            "action": _labels(("none", *ACTIONS), arm),
            "group": _labels(("control", "treatment"), arm != 0),
            "propensity": o[3].astype(float),
            "stage": _labels(STAGES, o[4]),
            "value_tier": _labels(TIERS, o[5]),
            "state": _labels(STATE_NAMES, o[6]),
            "defection_reason": _labels(REASON_NAMES, o[7]),
        }
    )
    for j, name in enumerate(ARMS):
        truth_out[f"p_return_{name}"] = p[:, j]
    truth_out["p_return_assigned"] = p[np.arange(arm.size), arm] if arm.size else []
    truth_out["returned"] = returned
    truth_out["censored"] = censored
    truth: dict[str, pd.DataFrame] = {}
    truth["outreach"] = truth_out.iloc[order].reset_index(drop=True)

    never = -(2**29)

    def opt_dates(day: np.ndarray) -> pd.Series:
        out = dates(np.where(day < never, 0, day))
        return out.where(day >= never, pd.NaT)

    truth["customers"] = pd.DataFrame(
        {
            "customer_id": cid,
            "join_date": dates(sim.purchase),
            "km_per_day": sim.km_per_day,
            "service_interval_days": sim.interval_days,
            "price_sensitivity": sim.price_sens,
            "patience_minutes": sim.patience,
            "loyalty": sim.loyalty,
            "app_affinity": sim.app_affinity,
            "baseline_satisfaction": sim.sat_base,
            "first_defection_date": opt_dates(sim.first_defect_day),
            "defection_date": opt_dates(sim.defect_day),
            "defection_reason": _labels(
                REASON_NAMES, np.where(sim.defect_day < never, NO_REASON, sim.last_reason)
            ),
            "n_defections": sim.n_defections.astype(np.int64),
            "moved_date": opt_dates(sim.moved_on),
            "sold_date": opt_dates(sim.sold_on),
            "final_state": _labels(STATE_NAMES, sim.state),
        }
    )
    # defection_reason above: the reason of the last defection, kept even after a win-back.
    last_reason = np.where(sim.state == DEFECTED, sim.reason, 0)
    truth["customers"]["current_defection_reason"] = _labels(REASON_NAMES, last_reason)

    sn = events("snapshots", 8)
    truth["snapshots"] = pd.DataFrame(
        {
            "customer_id": cust(sn[0]),
            "snapshot_date": dates(sn[1]),
            "state": _labels(STATE_NAMES, sn[2]),
            "defection_reason": _labels(REASON_NAMES, sn[3]),
            "p_defect_180d": sn[4].astype(float),
            "days_since_last_visit": sn[5].astype(np.int64),
            "commitment": sn[6].astype(float),
            "satisfaction": sn[7].astype(float),
        }
    )

    # Response at end_date for every customer who has joined: the policy-evaluation truth.
    idx = np.arange(int(sim.n_joined_by_day[sim.end]))
    pr = sim.response_probs(idx, sim.end)
    resp = pd.DataFrame(
        {
            "customer_id": cust(idx),
            "as_of": dates(np.full(idx.size, sim.end)),
            "state": _labels(STATE_NAMES, sim.state[idx]),
            "stage": _labels(STAGES, np.digitize(sim.end - sim.last_visit[idx], [90, 180, 365])),
            "days_since_last_visit": (sim.end - sim.last_visit[idx]).astype(np.int64),
        }
    )
    for j, name in enumerate(ARMS):
        resp[f"p_return_{name}"] = pr[:, j]
    truth["response"] = resp
    return tables, truth


def _realised_returns(
    sim: _Sim, v_idx: np.ndarray, v_day: np.ndarray, o_idx: np.ndarray, o_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    w = sim.cfg.response_window_days
    key_v = v_idx.astype(np.int64) * 100000 + v_day.astype(np.int64)
    key_v = np.sort(key_v, kind="stable")
    lo = o_idx.astype(np.int64) * 100000 + o_day.astype(np.int64)
    first_after = np.searchsorted(key_v, lo, side="right")
    last_in = np.searchsorted(key_v, lo + w, side="right")
    returned = last_in > first_after
    censored = o_day.astype(np.int64) + w > sim.end
    return returned, censored


# ---------------------------------------------------------------------------------------------
# Measured base rates
# ---------------------------------------------------------------------------------------------


def summarize(tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Measure the base rates that downstream models will face.

    Args:
        tables: Contract tables from ``simulate``.
        truth: Truth tables from ``simulate``.

    Returns:
        A JSON-serialisable dict: monthly churn rate (mean, min, max, per month), win-back
        rates per stage x action (treatment and control, counts and rates, uncensored contacts
        only), mean best-action true return probability per stage, value-tier shares among
        active customers, events per table and per customer.
    """
    visits = tables["service_visits"]
    customers = tables["customers"]
    n_cust = len(customers)
    end = visits["visit_date"].max() if len(visits) else pd.Timestamp("1970-01-01")
    start = visits["visit_date"].min() if len(visits) else end
    if "snapshots" in truth and len(truth["snapshots"]):
        end = max(end, truth["snapshots"]["snapshot_date"].max())
    codes, uniques = pd.factorize(visits["customer_id"])
    vday = (visits["visit_date"] - pd.Timestamp("1970-01-01")).dt.days.to_numpy()

    churn: dict[str, float] = {}
    snap_dates = (
        sorted(truth["snapshots"]["snapshot_date"].unique()) if "snapshots" in truth else []
    )
    for t_ in snap_dates:
        t_ = pd.Timestamp(t_)
        if t_ + pd.Timedelta(days=180) > end or t_ - pd.Timedelta(days=365) < start:
            continue
        td = (t_ - pd.Timestamp("1970-01-01")).days
        active = np.unique(codes[(vday > td - 365) & (vday <= td)])
        future = np.unique(codes[(vday > td) & (vday <= td + 180)])
        if active.size:
            churn[str(t_.date())] = float(1 - np.isin(active, future).mean())
    rates = np.array(list(churn.values()))

    o = truth["outreach"]
    o = o[~o["censored"]]
    winback: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        os_ = o[o["stage"] == stage]
        row: dict[str, Any] = {}
        for arm in ARMS:
            oa = os_[os_["action"] == ("none" if arm == "control" else arm)]
            row[arm] = {
                "n": int(len(oa)),
                "returned": int(oa["returned"].sum()),
                "rate": float(oa["returned"].mean()) if len(oa) else None,
            }
        treat = os_[os_["group"] == "treatment"]
        row["treatment_all"] = {
            "n": int(len(treat)),
            "rate": float(treat["returned"].mean()) if len(treat) else None,
        }
        pcols = [f"p_return_{a}" for a in ACTIONS]
        row["true_best_action_rate"] = float(os_[pcols].max(axis=1).mean()) if len(os_) else None
        row["true_control_rate"] = float(os_["p_return_control"].mean()) if len(os_) else None
        best = os_[pcols].to_numpy().argmax(axis=1) if len(os_) else np.array([], int)
        got = os_["action"].to_numpy() == np.array(ACTIONS)[best]
        row["realised_rate_when_assigned_best"] = (
            float(os_.loc[got, "returned"].mean()) if got.any() else None
        )
        winback[stage] = row

    # Value tiers among customers active in the last 365 days before the end.
    endd = (end - pd.Timestamp("1970-01-01")).days
    last_year = (vday > endd - 365) & (vday <= endd)
    spend = np.bincount(
        codes[last_year],
        weights=visits["amount"].to_numpy()[last_year],
        minlength=len(uniques),
    )
    active = np.bincount(codes[last_year], minlength=len(uniques)) > 0
    sp = spend[active]
    tiers = {
        "high": float((sp > 5000).mean()) if sp.size else None,
        "mid": float(((sp >= 2000) & (sp <= 5000)).mean()) if sp.size else None,
        "low": float((sp < 2000).mean()) if sp.size else None,
        "n_active": int(sp.size),
    }
    events = {
        name: int(len(df))
        for name, df in tables.items()
        if name != "customers" and name not in LEAD_TABLES
    }
    return {
        "customers": n_cust,
        "churn_rate_180d": {
            # None when the window is too short for a 365-day look-back plus 180 days ahead.
            "mean": float(rates.mean()) if rates.size else None,
            "min": float(rates.min()) if rates.size else None,
            "max": float(rates.max()) if rates.size else None,
            "by_month": churn,
        },
        "winback": winback,
        "value_tiers": tiers,
        "events": events,
        "events_per_customer": float(sum(events.values()) / max(n_cust, 1)),
        "final_state_shares": truth["customers"]["final_state"]
        .value_counts(normalize=True)
        .sort_index()
        .to_dict(),
    }


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def main(
    customers: Annotated[
        int | None, typer.Option(help="Number of customers (default 20000).")
    ] = None,
    years: Annotated[int | None, typer.Option(help="Years of emitted history (default 3).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 42).")] = None,
    out: Annotated[Path, typer.Option(help="Output data directory.")] = Path("out/simulate"),
    fmt: Annotated[str, typer.Option(help="File format: parquet or csv.")] = "parquet",
    params: Annotated[
        Path | None,
        typer.Option(
            help="params.yaml whose `simulate:` block sets the config; flags override it."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Simulate a 4S dealership's after-sales customers and write them as contract tables.

    Writes OUT/<table>.<fmt> for every contract table, the hidden truth to
    OUT/truth/*.parquet (for evaluation code only) and the measured base rates to
    OUT/truth/base_rates.json.
    """
    setup_logging(verbose)
    block = load_params("simulate", params)
    for key, value in (("customers", customers), ("years", years), ("seed", seed)):
        if value is not None:
            block[key] = value
    config = SimulationConfig.from_params(block)
    t0 = time.perf_counter()
    tables, truth = simulate(config)
    runtime = time.perf_counter() - t0
    write_data_dir(tables, out, fmt)
    truth_dir = Path(out) / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    for name, df in sorted(truth.items()):
        df.to_parquet(truth_dir / f"{name}.parquet", index=False)
    summary = summarize(tables, truth)
    if "leads" in tables:
        from pipeline.simulate_leads import summarize_leads

        summary["leads"] = summarize_leads(tables, truth)
    (truth_dir / "base_rates.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    logger.info(
        "simulated %d customers, %d years in %.1fs: %.1f events/customer, churn %s",
        config.customers,
        config.years,
        runtime,
        summary["events_per_customer"],
        _fmt(summary["churn_rate_180d"]["mean"]),
    )
    for stage, row in summary["winback"].items():
        logger.info(
            "win-back %-9s control %s best-action(true) %s",
            stage,
            _fmt(row["control"]["rate"]),
            _fmt(row["true_best_action_rate"]),
        )
    logger.info("value tiers among active: %s", summary["value_tiers"])


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
