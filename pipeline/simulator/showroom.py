"""The simulator's showroom side: sales leads, their losses, follow-ups and market events.

The leads part of the simulator (see the "Leads" section of docs/simulator.md). It draws from
its own random stream, derived from the simulate seed, so switching it on or off leaves every
after-sales table byte-identical. In short: each lead carries latent brand affinity, price
sensitivity and a buying window; a consultant of some skill and record-keeping diligence
serves it; most leads are lost for a reason that follows from those traits; after the loss a
daily buy-from-us hazard runs until the buying window closes, raised by market events that
fix the lead's reason (a finance offer for finance_or_tradein, a price cut for price, stock
for configuration_mismatch / delivery_time, a complaint wave about the competitor model for
competitor) and by follow-up contacts (a manager's call for poor service).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.contract import LOST_REASONS
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.names import day_dates, fake_people, region_weights, sigmoid

logger = logging.getLogger(__name__)

#: Spawn key of the leads stream: SeedSequence([seed, LEADS_STREAM]) never meets the
#: after-sales generator (PCG64(seed)), so the after-sales tables do not move.
LEADS_STREAM = 0x1EAD5

# name, list price (CNY), share of showroom leads, competitor models with weights
LEAD_MODELS = (
    ("Corolla", 119_800, 0.22, (("BYD Qin PLUS DM-i", 0.4), ("Geely Emgrand", 0.25),
                                ("Nissan Sylphy", 0.2), ("Honda Civic", 0.15))),
    ("Levin", 115_800, 0.16, (("BYD Qin PLUS DM-i", 0.4), ("Volkswagen Lavida", 0.3),
                              ("Nissan Sylphy", 0.2), ("Geely Emgrand", 0.1))),
    ("RAV4", 185_800, 0.22, (("Honda CR-V", 0.35), ("BYD Song PLUS DM-i", 0.35),
                             ("Haval H6", 0.15), ("Volkswagen Tiguan L", 0.15))),
    ("Camry", 199_800, 0.18, (("Honda Accord", 0.35), ("BYD Han DM-i", 0.3),
                              ("Volkswagen Passat", 0.2), ("Nissan Teana", 0.15))),
    ("Highlander", 279_800, 0.12, (("BYD Tang DM-i", 0.3), ("Li Auto L7", 0.3),
                                   ("AITO M7", 0.2), ("Volkswagen Teramont", 0.2))),
    ("Crown", 329_800, 0.10, (("Li Auto L9", 0.35), ("AITO M9", 0.25),
                              ("BMW 5 Series Li", 0.2), ("Mercedes-Benz E-Class L", 0.2))),
)  # fmt: skip

R = {name: i for i, name in enumerate(LOST_REASONS)}
# Base probability (per 90 days of open buying window) that a lost lead buys from us anyway,
# by true primary reason, for an average-affinity lead without help from events or calls.
BASE_RECOVERY = np.array([0.10, 0.08, 0.10, 0.04, 0.03, 0.09, 0.07, 0.04, 0.05])
# P(already bought a competitor when the loss is recorded), by true primary reason.
BOUGHT_AT_LOSS = np.array([0.20, 0.15, 0.20, 0.45, 0.25, 0.10, 0.20, 0.30, 0.15])
# Hazard multipliers while a market event is active: event type -> {reason: factor}.
EVENT_EFFECT = {
    "finance_offer": {R["finance_or_tradein"]: 6.0, R["price"]: 2.5},
    "price_change": {R["price"]: 5.0, R["finance_or_tradein"]: 1.5},
    "stock_arrival": {R["configuration_mismatch"]: 6.0, R["delivery_time"]: 6.0},
    "competitor_complaints": {R["competitor"]: 5.0},
}
# Days an event keeps working, and its mean gap in days (per model / model x region / rival).
EVENT_DAYS = {"finance_offer": 30, "price_change": 45, "stock_arrival": 30,
              "competitor_complaints": 30}  # fmt: skip
EVENT_EVERY = {"finance_offer": 120, "price_change": 200, "stock_arrival": 100,
               "competitor_complaints": 365}  # fmt: skip
REASON_NOTES = {
    "price": "报价比竞品高", "configuration_mismatch": "想要的配置没有", "delivery_time": "等车太久",
    "competitor": "更喜欢竞品", "service_experience": "对接待不满意", "finance_or_tradein": "贷款/置换方案不合适",
    "influenced_by_others": "家人意见不同", "brand_or_aftersales_concern": "担心品牌和售后", "other": "其他",
}  # fmt: skip
HORIZON_DAYS = 180  # days after the loss the recovery process runs
MODEL_NAMES = np.array([m[0] for m in LEAD_MODELS])


def leads_rng(seed: int) -> np.random.Generator:
    """The leads' own generator, independent of the after-sales stream of the same seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, LEADS_STREAM])))


def market_events(
    rng: np.random.Generator, n_days: int, n_regions: int
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Dated market events over days ``[-90, n_days)`` of the window (day 0 = first day).

    Returns:
        The events as rows (``day``, ``event_type``, ``model`` index or -1 for all,
        ``region`` index or -1, ``competitor`` name or None, ``days`` active, ``value``) and
        the same as dicts in date order.
    """
    rows = []
    lo = -90
    span = n_days - lo

    def arrivals(every: int) -> np.ndarray:
        k = rng.poisson(span / every)
        return np.sort(rng.integers(lo, n_days, k))

    for m, (_, price, _, rivals) in enumerate(LEAD_MODELS):
        for d in arrivals(EVENT_EVERY["finance_offer"]):
            regional = rng.random() < 0.5
            rows.append(("finance_offer", int(d), m, int(rng.integers(n_regions)) if regional
                         else -1, None, float(np.round(rng.uniform(3000, 8000), -2))))  # fmt: skip
        for d in arrivals(EVENT_EVERY["price_change"]):
            cut = -float(np.round(price * rng.uniform(0.02, 0.06), -2))
            rows.append(("price_change", int(d), m, -1, None, cut))
        for r in range(n_regions):
            for d in arrivals(EVENT_EVERY["stock_arrival"]):
                rows.append(("stock_arrival", int(d), m, r, None, float(rng.integers(3, 20))))
        for rival, _ in rivals:
            for d in arrivals(EVENT_EVERY["competitor_complaints"] * 2):
                rows.append(("competitor_complaints", int(d), -1, -1, rival, float("nan")))
    # A rival shared by two models gets its waves from both lists; keep one per day.
    df = pd.DataFrame(rows, columns=["event_type", "day", "model", "region", "competitor", "value"])
    df = df.drop_duplicates(["event_type", "day", "model", "region", "competitor"])
    df["days"] = df["event_type"].map(EVENT_DAYS).astype("int64")
    df = df.sort_values(["day", "event_type", "model", "region", "competitor"], kind="stable")
    return df.reset_index(drop=True), df.to_dict("records")


class _Showroom:
    """The showroom's draws, one attribute per array (one row per lead unless noted).

    The methods are called in order by :func:`simulate_leads`; they all draw from the leads
    generator, so the order of the calls is part of the output.
    """

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        self.rng = leads_rng(config.seed)
        end = pd.Timestamp(config.end_date).normalize()
        self.start = end - pd.DateOffset(years=config.years) + pd.Timedelta(days=1)
        self.day0 = np.datetime64(self.start.date(), "D")
        self.n_days = int((end - self.start).days) + 1
        self.n_reg, self.n_dlr = config.n_regions, config.n_dealers
        self.n = int(self.rng.poisson(config.leads_per_year * config.years))

    def dates(self, day: np.ndarray, keep: np.ndarray | None = None) -> pd.Series:
        return day_dates(self.day0, day, keep)

    def world(self) -> None:
        """Market events, the regions' climate and rivalry, the consultants."""
        rng, n_reg, n_dlr = self.rng, self.n_reg, self.n_dlr
        self.ev, _ = market_events(rng, self.n_days, n_reg)
        self.region_lift = 0.35 * rng.standard_normal(n_reg)  # regional conversion / recovery
        self.region_rivalry = rng.uniform(0.0, 0.8, n_reg)  # how present the rivals are locally
        k = self.k = self.cfg.lead_consultants_per_dealer
        self.skill = 0.5 * rng.standard_normal(n_dlr * k)
        sloppy = rng.random(n_dlr * k) < 0.25
        self.diligence = np.where(
            sloppy, rng.beta(2.0, 4.0, n_dlr * k), rng.beta(7.0, 2.0, n_dlr * k)
        )

    def leads(self) -> None:
        """Each lead's arrival, store, consultant, model, traits and decision."""
        rng, n, n_days = self.rng, self.n, self.n_days
        season = 1.0 + 0.25 * np.cos(
            2 * np.pi * (np.arange(n_days) + self.start.day_of_year - 270) / 365
        )
        self.day_in = np.sort(rng.choice(n_days, n, p=season / season.sum()))
        self.region = region = rng.choice(self.n_reg, n, p=region_weights(self.n_reg))
        n_dlr, k = self.n_dlr, self.k
        self.dealer = np.where(rng.random(n) < 0.85, region % n_dlr, rng.integers(0, n_dlr, n))
        self.cons = cons = self.dealer * k + rng.integers(0, k, n)
        shares = np.array([m[2] for m in LEAD_MODELS])
        self.model = rng.choice(len(LEAD_MODELS), n, p=shares / shares.sum())
        self.affinity = affinity = rng.beta(2.5, 2.5, n)
        self.price_sens = price_sens = rng.beta(2.0, 3.0, n)
        self.horizon = np.exp(np.log(75.0) + 0.6 * rng.standard_normal(n))  # days to buying
        self.decide = self.day_in + np.minimum(
            rng.integers(5, 60, n), np.maximum(self.horizon, 5)
        ).astype(int)
        p_win = sigmoid(
            -2.9 + 2.4 * (affinity - 0.5) + 0.6 * self.skill[cons] + self.region_lift[region]
            - 1.2 * (price_sens - 0.4)
        )  # fmt: skip
        self.won_direct = rng.random(n) < p_win
        self.decided = self.decide <= n_days - 1
        self.lost = self.decided & ~self.won_direct

    def reasons(self) -> None:
        """The true reasons of a loss, the rival model and price, the buying window."""
        rng, n = self.rng, self.n
        affinity, price_sens = self.affinity, self.price_sens
        # Primary (true) reason from the lead's traits and the consultant.
        w = np.column_stack(
            [
                1.0 + 3.0 * price_sens,
                np.full(n, 0.8),
                np.full(n, 0.6),
                0.6 + 1.5 * (1 - affinity) + self.region_rivalry[self.region],
                0.25 + 1.0 * np.maximum(0.0, -self.skill[self.cons]),
                0.5 + 1.0 * price_sens,
                np.full(n, 0.4),
                0.25 + 1.0 * (1 - affinity),
                np.full(n, 0.3),
            ]
        )
        self.reason = reason = _draw_rows(rng, w)
        w2 = w.copy()
        w2[np.arange(n), reason] = 0.0
        self.second = np.where(rng.random(n) < 0.3, _draw_rows(rng, w2), -1)
        rivals = [[r for r, _ in m[3]] for m in LEAD_MODELS]
        rival_w = [np.array([p for _, p in m[3]]) for m in LEAD_MODELS]
        rival_idx = np.array([rng.choice(4, p=rival_w[m]) for m in self.model])
        self.rival = np.array(
            [rivals[m][j] for m, j in zip(self.model, rival_idx, strict=True)], dtype=object
        )
        list_price = np.array([m[1] for m in LEAD_MODELS], dtype=float)[self.model]
        gap = np.where(
            reason == R["price"], rng.uniform(0.04, 0.15, n), rng.uniform(-0.06, 0.08, n)
        )
        self.rival_price = np.round(list_price * (1 - gap), -2)

        self.elapsed = self.decide - self.day_in
        remaining = self.horizon - self.elapsed
        # Shopping past one's own deadline: either bought elsewhere already or postponed.
        urgent = remaining < 30
        p_bought = BOUGHT_AT_LOSS[reason] * np.where(urgent, 1.5, 0.8) * (1.3 - 0.6 * affinity)
        self.bought = self.lost & (rng.random(n) < np.clip(p_bought, 0, 0.95))
        # Days the lead stays in the market.
        self.window = np.maximum(remaining, 10 + rng.exponential(25.0, n))

    def follow_ups(self) -> None:
        """Post-loss follow-up contacts (business as usual, before any playbook)."""
        rng, n, lost, decide = self.rng, self.n, self.lost, self.decide
        self.dil = dil = self.diligence[self.cons]
        c_days, c_lead, c_role, c_reached = [], [], [], []
        for offset, base in ((7, 0.9), (30, 0.6)):
            call = lost & (rng.random(n) < base * dil)
            d = decide + offset + rng.integers(-3, 4, n)
            c_lead.append(np.flatnonzero(call))
            c_days.append(d[call])
            c_role.append(np.zeros(call.sum(), dtype=int))
            c_reached.append(rng.random(call.sum()) < 0.6)
        mgr = lost & (self.reason == R["service_experience"]) & (rng.random(n) < 0.25)
        c_lead.append(np.flatnonzero(mgr))
        c_days.append((decide + rng.integers(1, 3, n))[mgr])
        c_role.append(np.ones(mgr.sum(), dtype=int))
        c_reached.append(rng.random(mgr.sum()) < 0.75)
        self.contacts = pd.DataFrame(
            {
                "lead": np.concatenate(c_lead),
                "day": np.concatenate(c_days),
                "role": np.concatenate(c_role),
                "reached": np.concatenate(c_reached),
            }
        )

    def recovery(self) -> None:
        """The buy-from-us hazard over the days after each loss, and who buys."""
        rng, n, reason = self.rng, self.n, self.reason
        idx = self.lost_idx = np.flatnonzero(self.lost)
        h = HORIZON_DAYS
        t_rel = np.arange(1, h + 1)
        base = (
            BASE_RECOVERY[reason[idx]]
            * (0.4 + 1.2 * self.affinity[idx])
            * np.exp(self.region_lift[self.region[idx]])
            / 90.0
        )
        base = np.where(self.bought[idx], base * 0.05, base)
        mult = self._event_multipliers(t_rel)
        pos = np.full(n, -1)
        pos[idx] = np.arange(idx.size)
        reached = self.contacts[self.contacts["reached"].to_numpy()]
        for c in reached.itertuples():
            r_ = pos[c.lead]
            lo = c.day - self.decide[c.lead]
            same_consultant_bad = reason[c.lead] == R["service_experience"] and c.role == 0
            f = 4.0 if c.role == 1 else (0.8 if same_consultant_bad else 1.8)
            sl = slice(max(lo, 1) - 1, min(lo + 14, h))
            mult[r_, sl] *= f
        open_window = t_rel[None, :] <= self.window[idx][:, None]
        hazard = base[:, None] * mult * open_window
        cum = np.cumsum(hazard, axis=1)
        self.p90 = 1.0 - np.exp(-cum[:, 89])
        u = -np.log(rng.random(idx.size))  # buy on the first day the cumulative hazard passes u
        buy_rel = np.where(cum[:, -1] > u, np.argmax(cum > u[:, None], axis=1) + 1, -1)
        buy_day = np.where(buy_rel > 0, self.decide[idx] + buy_rel, -1)
        self.recovered = np.zeros(n, dtype=bool)
        self.rec_day = np.full(n, -1)
        seen = (buy_day >= 0) & (buy_day <= self.n_days - 1)
        self.recovered[idx[seen]] = True
        self.rec_day[idx[seen]] = buy_day[seen]

    def _event_multipliers(self, t_rel: np.ndarray) -> np.ndarray:
        """Hazard factor per lost lead and day after the loss from the active market events."""
        idx, reason = self.lost_idx, self.reason
        h = t_rel.size
        mult = np.ones((idx.size, h))
        loss_day = self.decide[idx]
        for e in self.ev.itertuples():
            eff = EVENT_EFFECT[e.event_type]
            hit = np.zeros(idx.size, dtype=bool)
            for r_, _ in eff.items():
                hit |= reason[idx] == r_
            if e.model >= 0:
                hit &= self.model[idx] == e.model
            if e.region >= 0:
                hit &= self.region[idx] == e.region
            if isinstance(e.competitor, str) and e.event_type == "competitor_complaints":
                hit &= self.rival[idx] == e.competitor
            hit &= (e.day + e.days > loss_day) & (e.day <= loss_day + h)
            if not hit.any():
                continue
            rows = np.flatnonzero(hit)
            lo = e.day - loss_day[rows]
            active = (t_rel[None, :] >= lo[:, None]) & (t_rel[None, :] < lo[:, None] + e.days)
            factor = np.array([eff.get(reason[idx][r_], 1.0) for r_ in rows])
            mult[rows] = np.where(active, mult[rows] * factor[:, None], mult[rows])
        return mult

    def crm_leads(self) -> pd.DataFrame:
        """The ``leads`` table: what the CRM records, gaps and all."""
        rng, n, n_days, lost, dil = self.rng, self.n, self.n_days, self.lost, self.dil
        reason, bought, decided, day_in = self.reason, self.bought, self.decided, self.day_in
        self.status = status = np.where(
            ~decided, "open", np.where(self.won_direct | self.recovered, "won", "lost")
        )
        status_day = np.where(
            ~decided,
            day_in + ((n_days - 1 - day_in) * rng.uniform(0.3, 1.0, n)).astype(int),
            np.where(self.recovered, self.rec_day, self.decide),
        )
        lost_day = np.where(lost, self.decide, -1)
        complete = rng.random(n) < 0.35 + 0.63 * dil  # the consultant fills the loss record in
        reasons_txt = np.array(
            [
                ";".join([LOST_REASONS[a]] + ([LOST_REASONS[b]] if b >= 0 else []))
                for a, b in zip(reason, self.second, strict=True)
            ],
            dtype=object,
        )
        # An incomplete record: no reason at all, or "other" without a note.
        vague = lost & ~complete
        blank = vague & (rng.random(n) < 0.6)
        reasons_txt = np.where(lost, reasons_txt, None)
        reasons_txt = np.where(blank, None, np.where(vague, "other", reasons_txt))
        note = np.array([REASON_NOTES[LOST_REASONS[a]] for a in reason], dtype=object)
        note = np.where(lost & complete & (rng.random(n) < 0.7), note, None)
        rival_known = lost & complete & (
            (reason == R["competitor"]) | (reason == R["price"]) | bought
        ) & (rng.random(n) < 0.85)  # fmt: skip
        z = self.affinity + 0.15 * rng.standard_normal(n)
        intent = np.where(z > 0.62, "high", np.where(z < 0.38, "low", "mid")).astype(object)
        intent = np.where(rng.random(n) < 0.1 + 0.4 * (1 - dil), None, intent)
        exp_days = np.where(lost, self.decide + self.window, day_in + self.horizon)
        exp_days = exp_days + 15 * rng.standard_normal(n)
        has_exp = (rng.random(n) < 0.3 + 0.65 * dil) & ~(bought & (rng.random(n) < 0.7))
        follow_ups = rng.poisson(0.5 + 3.0 * dil * np.minimum(self.elapsed, 60) / 30.0)
        names, phones = fake_people(rng, n)

        width = max(6, len(str(n)))
        self.lead_id = np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), width))
        k = self.k
        cons_id = np.array([f"S{d + 1}{j + 1:02d}" for d in range(self.n_dlr) for j in range(k)])
        dates = self.dates
        return pd.DataFrame(
            {
                "lead_id": pd.Series(self.lead_id, dtype="str"),
                "dealer_id": pd.Series(
                    np.char.add("D", (self.dealer + 1).astype(str)), dtype="str"
                ),
                "region": pd.Series(np.char.add("R", (self.region + 1).astype(str)), dtype="str"),
                "consultant_id": pd.Series(cons_id[self.cons], dtype="str"),
                "model_interest": pd.Series(MODEL_NAMES[self.model], dtype="str"),
                "first_visit_date": dates(day_in),
                "follow_ups": follow_ups.astype("int64"),
                "status": pd.Series(status, dtype="str"),
                "status_date": dates(np.minimum(status_day, n_days - 1)),
                "lost_date": dates(np.maximum(lost_day, 0), lost),
                "lost_reasons": pd.Series(reasons_txt, dtype="str"),
                "reason_note": pd.Series(note, dtype="str"),
                "competitor_model": pd.Series(np.where(rival_known, self.rival, None), dtype="str"),
                "competitor_price": np.where(
                    rival_known & (rng.random(n) < 0.8), self.rival_price, np.nan
                ),
                "bought_competitor": pd.Series(
                    np.where(lost & complete, np.where(bought, "yes", "no"), None), dtype="str"
                ),
                "expected_purchase_date": dates(np.round(exp_days).astype(int), has_exp),
                "intent": pd.Series(intent, dtype="str"),
                "name": pd.Series(names, dtype="str"),
                "phone": pd.Series(phones, dtype="str"),
            }
        )

    def lead_contacts(self) -> pd.DataFrame:
        """The ``lead_contacts`` table: the follow-ups inside the window, one per lead and day."""
        c = self.contacts[self.contacts["day"] <= self.n_days - 1].copy()
        c = c.assign(lead_id=self.lead_id[c["lead"].to_numpy()])
        c = c.sort_values(["lead_id", "day", "role"], kind="stable").drop_duplicates(
            ["lead", "day"]
        )
        lead, day = c["lead"].to_numpy(), c["day"].to_numpy()
        # A recovered lead's contact within a week of the purchase is recorded as its visit.
        to_buy = self.rec_day[lead] - day
        visit = np.isin(lead, np.flatnonzero(self.recovered)) & (to_buy >= 0) & (to_buy <= 7)
        outcome = np.where(
            visit, "visit", np.where(c["reached"].to_numpy(), "reached", "no_answer")
        )
        channel = np.where(self.rng.random(len(c)) < 0.6, "phone", "wechat")
        return pd.DataFrame(
            {
                "lead_id": pd.Series(c["lead_id"].to_numpy(), dtype="str"),
                "contact_date": self.dates(day),
                "channel": pd.Series(channel, dtype="str"),
                "role": pd.Series(
                    np.where(c["role"].to_numpy() == 1, "manager", "consultant"), dtype="str"
                ),
                "outcome": pd.Series(outcome, dtype="str"),
            }
        )

    def market_events_table(self) -> pd.DataFrame:
        """The ``market_events`` table: the events that start inside the window."""
        ev = self.ev
        ev_in = ev[(ev["day"] >= 0) & (ev["day"] <= self.n_days - 1)].reset_index(drop=True)
        region = np.where(
            ev_in["region"] >= 0, np.char.add("R", (ev_in["region"] + 1).astype(str)), None
        )
        return pd.DataFrame(
            {
                "event_id": pd.Series([f"EV{i + 1:04d}" for i in range(len(ev_in))], dtype="str"),
                "event_date": self.dates(ev_in["day"].to_numpy()),
                "event_type": pd.Series(ev_in["event_type"].to_numpy(), dtype="str"),
                "model": pd.Series(
                    np.where(ev_in["model"] >= 0, MODEL_NAMES[ev_in["model"].clip(0)], None),
                    dtype="str",
                ),
                "region": pd.Series(region, dtype="str"),
                "competitor_model": pd.Series(ev_in["competitor"].to_numpy(), dtype="str"),
                "end_date": self.dates((ev_in["day"] + ev_in["days"] - 1).to_numpy()),
                "value": ev_in["value"].to_numpy(dtype=float),
                "note": pd.Series(ev_in["event_type"].map(_EVENT_NOTES).to_numpy(), dtype="str"),
            }
        )

    def truth(self, lead_id: pd.Series) -> pd.DataFrame:
        """The truth table ``leads``: latent traits, the true reason, the true P(buy)."""
        p_true = np.full(self.n, np.nan)
        p_true[self.lost_idx] = self.p90
        lost, decide = self.lost, self.decide
        return pd.DataFrame(
            {
                "lead_id": lead_id,
                "true_reason": pd.Series(np.array(LOST_REASONS)[self.reason], dtype="str"),
                "affinity": self.affinity,
                "price_sensitivity": self.price_sens,
                "consultant_skill": self.skill[self.cons],
                "consultant_diligence": self.dil,
                "bought_competitor": self.bought,
                "true_competitor_model": pd.Series(self.rival, dtype="str"),
                "window_end_date": self.dates(np.round(decide + self.window).astype(int)),
                "p_buy_90d": p_true,
                "recovered_90d": lost & self.recovered & (self.rec_day - decide <= 90),
            }
        )


def simulate_leads(
    config: SimulationConfig,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Simulate the showroom: leads, post-loss contacts and market events.

    Args:
        config: The simulation settings (seed, end_date, years, n_dealers, n_regions,
            leads_per_year, lead_consultants_per_dealer).

    Returns:
        ``(tables, truth)``: contract tables ``leads``, ``lead_contacts``, ``market_events``
        and the truth table ``leads`` (latent traits, the true reason, whether the lead had
        bought a competitor, and the true P(buys from us within 90 days of the loss) given the
        events and contacts that happened).
    """
    s = _Showroom(config)
    s.world()
    s.leads()
    s.reasons()
    s.follow_ups()
    s.recovery()
    leads = s.crm_leads()
    lead_contacts = s.lead_contacts()
    events = s.market_events_table()
    truth = s.truth(leads["lead_id"])
    lost = s.lost
    logger.info(
        "simulated %d leads: %.1f%% lost, %.1f%% won directly, %.1f%% of lost won back "
        "(in the window), %d market events",
        s.n,
        100 * (s.status == "lost").mean(),
        100 * (s.decided & s.won_direct).mean(),
        100 * s.recovered[lost].mean() if lost.any() else 0.0,
        len(events),
    )
    return (
        {"leads": leads, "lead_contacts": lead_contacts, "market_events": events},
        {"leads": truth},
    )


_EVENT_NOTES = {
    "finance_offer": "finance / trade-in subsidy",
    "price_change": "official price cut",
    "stock_arrival": "configuration in stock",
    "competitor_complaints": "complaint wave about the competitor model",
}


def _draw_rows(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """One category per row, with probabilities proportional to that row's weights."""
    cum = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * cum[:, -1]
    return (u[:, None] > cum).sum(axis=1)


def summarize_leads(tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> dict:
    """Base rates of the leads add-on (for ``truth/base_rates.json``)."""
    leads = tables["leads"]
    lost = leads["lost_date"].notna()
    t = truth["leads"]
    return {
        "leads": int(len(leads)),
        "status_shares": leads["status"].value_counts(normalize=True).sort_index().to_dict(),
        "lost_share_of_decided": float(
            (leads["status"] == "lost").sum() / max((leads["status"] != "open").sum(), 1)
        ),
        "recovered_90d_of_lost": float(t.loc[lost.to_numpy(), "recovered_90d"].mean())
        if lost.any()
        else None,
        "mean_true_p_buy_90d": float(t["p_buy_90d"].mean()) if lost.any() else None,
        "incomplete_loss_records": float(
            (lost & leads["lost_reasons"].isna()).sum() / max(int(lost.sum()), 1)
        ),
        "market_events": tables["market_events"]["event_type"].value_counts().to_dict(),
        "lead_contacts": int(len(tables["lead_contacts"])),
    }
