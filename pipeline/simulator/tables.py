"""The table writers: the simulation's event logs as contract tables and truth tables.

Each event log becomes a table sorted by (customer_id, date) with exact duplicates set
aside, as a real export holds them; the truth tables (customers' latent traits and history,
the outreach with every arm's true return probability, month-end snapshots, the response at
the end date) are for evaluation code only. Labels and ids are taken from Arrow
vocabularies, so no Python string is built per event row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.vocabulary import CHURN_STAGES, STAGE_BOUNDS_DAYS, TIERS
from pipeline.simulator.names import (
    APPOINTMENT_STATUSES,
    ARM_ACTIONS,
    ARM_CHANNELS,
    ARMS,
    CHANNELS,
    COMPLAINT_CATEGORIES,
    DEFECTED,
    NO_REASON,
    REASON_NAMES,
    STATE_NAMES,
    VEHICLE_MODELS,
    VISIT_TYPES,
    day_dates,
    fake_people,
)
from pipeline.simulator.response import response_probs
from pipeline.simulator.state import SimState

Tables = dict[str, pd.DataFrame]
#: Day numbers below this mean "never" (the state's sentinel is -2**30).
NEVER = -(2**29)


class _Columns:
    """Column makers bound to one simulation: customer ids, dates, ordered event columns."""

    def __init__(self, sim: SimState) -> None:
        self.sim = sim
        width = max(6, len(str(sim.n)))
        ids = np.char.add("C", np.char.zfill(np.arange(1, sim.n + 1).astype(str), width))
        # Arrow take from the id vocabulary: no Python string object per event row.
        self.cid_arrow = pa.array(ids.astype(object), type=pa.large_string())
        self.cid = pd.Series(pd.array(self.cid_arrow, dtype="str"))

    def dates(self, day: np.ndarray) -> pd.Series:
        return day_dates(self.sim.day0, day)

    def opt_dates(self, day: np.ndarray) -> pd.Series:
        """Dates of days that may be "never" (missing)."""
        out = self.dates(np.where(day < NEVER, 0, day))
        return out.where(day >= NEVER, pd.NaT)

    def cust(self, idx: np.ndarray) -> pd.Series:
        return pd.Series(pd.array(self.cid_arrow.take(pa.array(idx.astype(np.int64))), dtype="str"))

    def events(
        self,
        name: str,
        n_cols: int,
        date_col: int = 1,
        key_only: bool = False,
        last_day: int | None = None,
    ) -> list[np.ndarray]:
        """The emitted columns of ``name`` in output row order (see :func:`_event_order`).

        Rows dated after ``last_day`` are dropped. The per-day pieces are released as soon
        as they are joined (pop), and each unordered column once its ordered copy exists: at
        a million customers the snapshot log alone is over a gigabyte.
        """
        cols = _concat(self.sim.events.pop(name), n_cols)
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


def build_tables(sim: SimState) -> tuple[Tables, Tables]:
    """Contract tables and truth tables of a finished simulation.

    Args:
        sim: The state after the day loop; its event logs are consumed.

    Returns:
        ``(tables, truth)`` as :func:`pipeline.simulator.simulate` returns them (without the
        outreach outcomes and the showroom tables).
    """
    col = _Columns(sim)
    tables: Tables = {"customers": _customers(sim, col)}
    v_raw = _concat(sim.events.pop("visits"), 6)
    tables.update(_event_tables(sim, col, v_raw))
    truth: Tables = {}
    tables["outreach"], truth["outreach"] = _outreach(sim, col, v_raw)
    truth["customers"] = _truth_customers(sim, col)
    truth["snapshots"] = _truth_snapshots(col)
    truth["response"] = _truth_response(sim, col)
    return tables, truth


def _customers(sim: SimState, col: _Columns) -> pd.DataFrame:
    n = sim.n
    names, phones = fake_people(sim.rng, n)
    return pd.DataFrame(
        {
            "customer_id": col.cid,
            "dealer_id": pd.Series(np.char.add("D", (sim.dealer + 1).astype(str)), dtype="str"),
            "region": pd.Series(np.char.add("R", (sim.region + 1).astype(str)), dtype="str"),
            "vehicle_model": _labels([m[0] for m in VEHICLE_MODELS], sim.model),
            "vehicle_purchase_date": col.dates(sim.purchase),
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


def _event_tables(sim: SimState, col: _Columns, v_raw: list[np.ndarray]) -> Tables:
    """Visits, appointments, app sessions, surveys, consultations and complaints."""
    cust, dates = col.cust, col.dates
    v = [c[_event_order(v_raw[0], v_raw[1], v_raw[2:])] for c in v_raw]
    out: Tables = {}
    out["service_visits"] = pd.DataFrame(
        {
            "customer_id": cust(v[0]),
            "visit_date": dates(v[1]),
            "amount": v[2].astype(float),
            "visit_type": _labels(VISIT_TYPES, v[3]),
            "wait_minutes": v[4].astype(float),
            "mileage_km": v[5].astype(float),
        }
    )
    a = col.events("appointments", 5, date_col=2)
    out["appointments"] = pd.DataFrame(
        {
            "customer_id": cust(a[0]),
            "booked_date": dates(a[1]),
            "scheduled_date": dates(a[2]),
            "status": _labels(APPOINTMENT_STATUSES, a[3]),
            "channel": _labels(CHANNELS, a[4]),
        }
    )
    s = col.events("app_sessions", 3)
    out["app_sessions"] = pd.DataFrame(
        {
            "customer_id": cust(s[0]),
            "session_date": dates(s[1]),
            "sessions": s[2].astype(np.int64),
        }
    )
    # Surveys / complaints dated after the window end are not yet collected.
    sv = col.events("surveys", 3, key_only=True, last_day=sim.end)
    out["surveys"] = pd.DataFrame(
        {
            "customer_id": cust(sv[0]),
            "survey_date": dates(sv[1]),
            "score": sv[2].astype(np.int64),
        }
    )
    co = col.events("consultations", 3)
    out["consultations"] = pd.DataFrame(
        {
            "customer_id": cust(co[0]),
            "contact_date": dates(co[1]),
            "channel": _labels(CHANNELS, co[2]),
        }
    )
    cp = col.events("complaints", 3, last_day=sim.end)
    out["complaints"] = pd.DataFrame(
        {
            "customer_id": cust(cp[0]),
            "complaint_date": dates(cp[1]),
            "category": _labels(COMPLAINT_CATEGORIES, cp[2]),
        }
    )
    return out


def _outreach(
    sim: SimState, col: _Columns, v_raw: list[np.ndarray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The outreach log (with each arm's propensity) and its truth: P(return) per arm, return."""
    cust, dates = col.cust, col.dates
    o = _concat(sim.events.pop("outreach"), 9)
    o_idx, o_day, arm = o[0], o[1], o[2].astype(int)
    outreach = pd.DataFrame(
        {
            "customer_id": cust(o_idx),
            "contact_date": dates(o_day),
            "action": _labels(ARM_ACTIONS, arm),
            "cost": sim.cfg.action_costs[arm],
            "group": _labels(("control", "treatment"), arm != 0),
            "channel": _labels(ARM_CHANNELS, arm),
            # What the campaign tool knows: P(this arm | picked, tier) (contract extension).
            "propensity": o[3].astype(float),
        }
    )
    order = np.lexsort((o_day, o_idx))
    # Realised return: any emitted visit in (contact, contact + window], as evaluators read it.
    returned, censored = _realised_returns(sim, v_raw[0], v_raw[1], o_idx, o_day)
    p = o[8].reshape(-1, len(ARMS)) if o[8].ndim == 2 else np.zeros((0, len(ARMS)))
    truth = pd.DataFrame(
        {
            "customer_id": cust(o_idx),
            "contact_date": dates(o_day),
            "action": _labels(ARM_ACTIONS, arm),
            "group": _labels(("control", "treatment"), arm != 0),
            "propensity": o[3].astype(float),
            "stage": _labels(CHURN_STAGES, o[4]),
            "value_tier": _labels(TIERS, o[5]),
            "state": _labels(STATE_NAMES, o[6]),
            "defection_reason": _labels(REASON_NAMES, o[7]),
        }
    )
    for j, name in enumerate(ARMS):
        truth[f"p_return_{name}"] = p[:, j]
    truth["p_return_assigned"] = p[np.arange(arm.size), arm] if arm.size else []
    truth["returned"] = returned
    truth["censored"] = censored
    return (
        outreach.iloc[order].reset_index(drop=True),
        truth.iloc[order].reset_index(drop=True),
    )


def _truth_customers(sim: SimState, col: _Columns) -> pd.DataFrame:
    """Latent traits and the hidden history of every customer."""
    opt_dates = col.opt_dates
    out = pd.DataFrame(
        {
            "customer_id": col.cid,
            "join_date": col.dates(sim.purchase),
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
                REASON_NAMES, np.where(sim.defect_day < NEVER, NO_REASON, sim.last_reason)
            ),
            "n_defections": sim.n_defections.astype(np.int64),
            "moved_date": opt_dates(sim.moved_on),
            "sold_date": opt_dates(sim.sold_on),
            "final_state": _labels(STATE_NAMES, sim.state),
        }
    )
    # defection_reason above: the reason of the last defection, kept even after a win-back.
    last_reason = np.where(sim.state == DEFECTED, sim.reason, 0)
    out["current_defection_reason"] = _labels(REASON_NAMES, last_reason)
    return out


def _truth_snapshots(col: _Columns) -> pd.DataFrame:
    sn = col.events("snapshots", 8)
    return pd.DataFrame(
        {
            "customer_id": col.cust(sn[0]),
            "snapshot_date": col.dates(sn[1]),
            "state": _labels(STATE_NAMES, sn[2]),
            "defection_reason": _labels(REASON_NAMES, sn[3]),
            "p_defect_180d": sn[4].astype(float),
            "days_since_last_visit": sn[5].astype(np.int64),
            "commitment": sn[6].astype(float),
            "satisfaction": sn[7].astype(float),
        }
    )


def _truth_response(sim: SimState, col: _Columns) -> pd.DataFrame:
    """Response at end_date for every customer who has joined: the policy-evaluation truth."""
    idx = np.arange(int(sim.n_joined_by_day[sim.end]))
    pr = response_probs(sim, idx, sim.end)
    since = sim.end - sim.last_visit[idx]
    resp = pd.DataFrame(
        {
            "customer_id": col.cust(idx),
            "as_of": col.dates(np.full(idx.size, sim.end)),
            "state": _labels(STATE_NAMES, sim.state[idx]),
            "stage": _labels(CHURN_STAGES, np.digitize(since, STAGE_BOUNDS_DAYS)),
            "days_since_last_visit": since.astype(np.int64),
        }
    )
    for j, name in enumerate(ARMS):
        resp[f"p_return_{name}"] = pr[:, j]
    return resp


def _realised_returns(
    sim: SimState, v_idx: np.ndarray, v_day: np.ndarray, o_idx: np.ndarray, o_day: np.ndarray
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


def _concat(parts: list[tuple[np.ndarray, ...]], n_cols: int) -> list[np.ndarray]:
    if not parts:
        return [np.array([], dtype=np.int64) for _ in range(n_cols)]
    return [np.concatenate([p[i] for p in parts]) for i in range(n_cols)]


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
