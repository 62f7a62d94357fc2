"""Dealer visits: where each day's visits come from, and what a visit sets off.

A visit has several sources on one day (a campaign's drawn return, a due maintenance, an
unplanned repair, an insurance renewal, a defector's spontaneous return); each source is a
handler that returns the owners it brings in, and :func:`book_visits` books them all at once
with the invoice, the wait, the experience, and the appointment, survey and complaint it
leaves behind. The handlers are called in a fixed order (:func:`pipeline.simulator.engine.run`)
because they all draw from the one generator.
"""

from __future__ import annotations

import numpy as np

from pipeline.simulator.names import (
    ATTACHED,
    DEFECTED,
    NO_REASON,
    PRICE_CLASS_MULT,
    REATTACH_PROB,
    SERVICE,
    V_ACCIDENT,
    V_INSURANCE,
    V_MAINT,
    V_OTHER,
    V_REPAIR,
    V_WARRANTY,
)
from pipeline.simulator.response import natural_return_rate
from pipeline.simulator.state import SimState

#: Owners brought in by one source: ``(customer index, visit type, repeat repair)``.
Arrivals = tuple[np.ndarray, np.ndarray, np.ndarray]


def _maintenance(idx: np.ndarray) -> Arrivals:
    return idx, np.full(idx.size, V_MAINT, np.int8), np.zeros(idx.size, bool)


def campaign_returns(sim: SimState, k: int, t: int, alive: np.ndarray) -> Arrivals | None:
    """The return visits a campaign drew for day ``t``; defectors may re-attach."""
    rng = sim.rng
    f = np.flatnonzero((sim.forced_day[:k] == t) & alive)
    if not f.size:
        return None
    arm = sim.forced_arm[f]
    was_def = sim.state[f] == DEFECTED
    back = was_def & (rng.random(f.size) < REATTACH_PROB[arm])
    sim.state[f[back]] = ATTACHED
    sim.commit[f[back]] = 0.6
    apology = (arm >= 3) & (sim.reason[f] == SERVICE)
    sim.sat[f[apology]] = np.minimum(sim.sat[f[apology]] + 0.25, 1.0)
    sim.reason[f[back]] = NO_REASON
    return _maintenance(f)


def maintenance_due(sim: SimState, k: int, t: int, free: np.ndarray) -> Arrivals | None:
    """Owners whose maintenance is due on day ``t`` visit, postpone, leak or defect.

    Drifting owners often book and then cancel or do not show: those appointments are the
    leading signal of a defection.
    """
    cfg, rng = sim.cfg, sim.rng
    due = np.flatnonzero(sim.next_due[:k] == t)
    if not due.size:
        return None
    held = ~free[due]
    hd = due[held]
    sim.next_due[hd] = sim.hold_until[hd] + rng.integers(1, 21, hd.size)
    due = due[~held]
    sd = sim.state[due]
    # Defectors service elsewhere; attached owners decide now.
    dd = due[sd == DEFECTED]
    sim.next_due[dd] = (t + sim.interval_days[dd]).astype(np.int32)
    att = due[sd == ATTACHED]
    u = rng.random(att.size)
    drift = 1 - sim.commit[att]
    q_def = cfg.defect_prob_at_due * drift
    q_post = 0.04 + 0.45 * drift
    defect = u < q_def
    postpone = ~defect & (u < q_def + q_post)
    # Some due services leak to a quick-lube shop without a real defection.
    leak = ~defect & ~postpone & (rng.random(att.size) < sim.leak(att, t))
    visit = ~defect & ~postpone & ~leak
    li = att[leak]
    sim.next_due[li] = (t + sim.interval_days[li] * rng.uniform(0.9, 1.15, li.size)).astype(
        np.int32
    )
    p_book = 0.3 + 0.45 * sim.app_affinity[att]
    cancel = (defect | postpone) & (rng.random(att.size) < p_book)
    _broken_appointments(sim, att[cancel], t)
    sim.defect(att[defect], t)
    pi = att[postpone]
    sim.next_due[att[defect]] = (t + sim.interval_days[att[defect]]).astype(np.int32)
    sim.next_due[pi] = t + rng.integers(10, 46, pi.size)
    return _maintenance(att[visit])


def _broken_appointments(sim: SimState, ci: np.ndarray, t: int) -> None:
    """Appointments for day ``t`` that owners ``ci`` cancel or do not show up to."""
    rng = sim.rng
    if t < sim.start or not ci.size:
        return
    lead = rng.integers(1, 11, ci.size)
    status = np.where(rng.random(ci.size) < 0.6, 1, 2).astype(np.int8)
    ok = t - lead >= sim.start
    sim.emit(
        "appointments",
        ci[ok],
        (t - lead[ok]).astype(np.int32),
        np.full(ok.sum(), t, np.int32),
        status[ok],
        sim.channel(ci[ok]),
    )


def unplanned_visits(
    sim: SimState, k: int, t: int, alive: np.ndarray, free: np.ndarray
) -> Arrivals | None:
    """Repairs, warranty work, accidents and odd jobs due on day ``t``.

    A repair the dealer did not fix brings the car back as a repeat repair; defectors still
    bring warranty work and insurer-directed accident repairs.
    """
    rng = sim.rng
    un = np.flatnonzero((sim.next_unplanned[:k] == t) & alive)
    if not un.size:
        return None
    unpl_mean = 365.0 / sim.cfg.unplanned_visits_per_year
    repeat = (t - sim.last_repair[un]) <= 30
    held = ~free[un]
    sim.next_unplanned[un[held]] = sim.hold_until[un[held]] + rng.integers(1, 31, held.sum())
    un, repeat = un[~held], repeat[~held]
    sim.next_unplanned[un] = (t + rng.exponential(unpl_mean, un.size)).astype(np.int32)
    warranty = (t - sim.purchase[un]) < 3 * 365
    u = rng.random(un.size)
    vt = np.where(
        u < 0.55,
        np.where(warranty & (rng.random(un.size) < 0.7), V_WARRANTY, V_REPAIR),
        np.where(u < 0.7, V_ACCIDENT, V_OTHER),
    ).astype(np.int8)
    vt = np.where(repeat, np.where(warranty, V_WARRANTY, V_REPAIR), vt).astype(np.int8)
    at_dealer = (sim.state[un] == ATTACHED) | (
        ((vt == V_WARRANTY) & (rng.random(un.size) < 0.7))
        | ((vt == V_ACCIDENT) & (rng.random(un.size) < 0.3))
    )
    return un[at_dealer], vt[at_dealer], repeat[at_dealer]


def insurance_renewals(sim: SimState, k: int, t: int, free: np.ndarray) -> Arrivals | None:
    """Insurance renewal on the purchase anniversary, bought at the dealer or not."""
    ins = np.flatnonzero(sim.next_insurance[:k] == t)
    if not ins.size:
        return None
    sim.next_insurance[ins] += 365
    ins = ins[(sim.state[ins] <= DEFECTED) & free[ins]]
    p_ins = np.where(sim.state[ins] == ATTACHED, 0.25 + 0.45 * sim.loyalty[ins], 0.05)
    bi = ins[sim.rng.random(ins.size) < p_ins]
    return bi, np.full(bi.size, V_INSURANCE, np.int8), np.zeros(bi.size, bool)


def spontaneous_returns(sim: SimState, k: int, t: int, free: np.ndarray) -> Arrivals | None:
    """Defectors who come back on their own (fading with time away; promotions help)."""
    rng = sim.rng
    dfc = np.flatnonzero((sim.state[:k] == DEFECTED) & free)
    if not dfc.size:
        return None
    # The hazard is at most the base rate x 2.5 (time away only lowers it), so it is computed
    # only for defectors whose draw is below that bound.
    return_bound = sim.cfg.natural_return_per_year / 365.0 * 2.5
    u = rng.random(dfc.size)
    cand = np.flatnonzero(u < return_bound)
    dc = dfc[cand]
    lam = natural_return_rate(sim, dc, t - sim.defect_day[dc], t)
    nr = dc[u[cand] < lam]
    back = nr[rng.random(nr.size) < REATTACH_PROB[0]]
    sim.state[back] = ATTACHED
    sim.reason[back] = NO_REASON
    sim.commit[back] = 0.6
    return _maintenance(nr)


def book_visits(
    sim: SimState, idx: np.ndarray, vtype: np.ndarray, t: int, repeat: np.ndarray
) -> None:
    """Book dealer visits on day ``t``: invoice, wait, experience and its side effects.

    Args:
        sim: The simulation state.
        idx: Customer per visit (one visit per customer).
        vtype: Visit type code per visit (``names.VISIT_TYPES``).
        t: The day.
        repeat: Whether the visit is a repeat repair.
    """
    if idx.size == 0:
        return
    amount, wait, mileage = _invoice(sim, idx, vtype, t)
    # Experience: waits beyond the owner's patience and repeat repairs hurt.
    severity = np.clip(wait / sim.patience[idx] - 1.0, 0, 2) + 1.0 * repeat
    sim.sat[idx] = np.clip(sim.sat[idx] - 0.15 * severity + 0.02 * (severity == 0), 0, 1)
    if t >= sim.start:
        m = idx.size
        sim.emit("visits", idx, np.full(m, t, np.int32), amount, vtype, wait, mileage.astype(float))
        _kept_appointments(sim, idx, vtype, t)
        _surveys(sim, idx, severity, t)
        _complaints(sim, idx, severity, repeat, t)
    _after_visit(sim, idx, vtype, t, amount, severity)


def _invoice(
    sim: SimState, idx: np.ndarray, vtype: np.ndarray, t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invoice amount (less a campaign coupon), wait minutes and odometer of each visit."""
    cfg, rng = sim.cfg, sim.rng
    m = idx.size
    mult = PRICE_CLASS_MULT[sim.price_class[idx]]
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
    coupon = (sim.forced_day[idx] == t) & (sim.forced_arm[idx] == 1)
    amount = np.where(coupon, np.maximum(amount - cfg.coupon_value, 0.0), amount)
    amount = np.round(amount, 2)
    wait_factor = np.array([1.0, 1.6, 1.4, 0.4, 2.0, 0.5])[vtype]
    wait = np.round(
        sim.dealer_wait[sim.dealer[idx]] * wait_factor * np.exp(0.5 * rng.standard_normal(m))
    )
    age_days = t - sim.purchase[idx]
    # Odometers never run backwards: the reading is the owner's steady usage since purchase.
    mileage = np.round(np.maximum(sim.km_per_day[idx] * age_days, 0.0))
    return amount, wait, mileage


def _kept_appointments(sim: SimState, idx: np.ndarray, vtype: np.ndarray, t: int) -> None:
    """Appointments kept by the visits: app lovers book ahead; accidents are never booked."""
    rng = sim.rng
    m = idx.size
    p_appt = np.where(vtype == V_ACCIDENT, 0.05, 0.3 + 0.45 * sim.app_affinity[idx])
    booked = rng.random(m) < p_appt
    lead = rng.integers(1, 11, m)
    b = np.flatnonzero(booked & (t - lead >= sim.start))
    sim.emit(
        "appointments",
        idx[b],
        (t - lead[b]).astype(np.int32),
        np.full(b.size, t, np.int32),
        np.zeros(b.size, np.int8),  # kept
        sim.channel(idx[b]),
    )


def _surveys(sim: SimState, idx: np.ndarray, severity: np.ndarray, t: int) -> None:
    """A survey a few days after a visit, driven by satisfaction and this experience."""
    rng = sim.rng
    s = np.flatnonzero(rng.random(idx.size) < sim.cfg.survey_prob)
    score = 10 * (
        0.3 + 0.5 * sim.sat[idx[s]] + 0.2 * (1 - np.minimum(severity[s], 1))
    ) + 1.1 * rng.standard_normal(s.size)
    sim.emit(
        "surveys",
        idx[s],
        (t + rng.integers(1, 6, s.size)).astype(np.int32),
        np.clip(np.round(score), 0, 10).astype(np.int8),
    )


def _complaints(
    sim: SimState, idx: np.ndarray, severity: np.ndarray, repeat: np.ndarray, t: int
) -> None:
    """Complaints follow bad experiences (and a trickle of other gripes)."""
    rng = sim.rng
    p_c = 0.004 + 0.3 * np.minimum(severity, 1.5)
    c = np.flatnonzero(rng.random(idx.size) < p_c)
    cat = np.where(repeat[c], 1, np.where(severity[c] > 0, 0, rng.integers(2, 4, c.size))).astype(
        np.int8
    )
    sim.emit("complaints", idx[c], (t + rng.integers(0, 4, c.size)).astype(np.int32), cat)


def _after_visit(
    sim: SimState,
    idx: np.ndarray,
    vtype: np.ndarray,
    t: int,
    amount: np.ndarray,
    severity: np.ndarray,
) -> None:
    """Bookkeeping of the visits: spend, next due dates, failed repairs, angry walk-outs."""
    cfg, rng = sim.cfg, sim.rng
    m = idx.size
    sim.last_visit[idx] = t
    sim.spend_buckets[idx, (t // 30) % 13] += amount.astype(np.float32)
    maint = idx[vtype == V_MAINT]
    sim.next_due[maint] = (
        t + sim.interval_days[maint] * rng.uniform(0.9, 1.15, maint.size)
    ).astype(np.int32)
    # A failed repair brings the car back within a month (the next "unplanned" visit).
    rep = (vtype == V_REPAIR) | (vtype == V_WARRANTY)
    fail = rep & (rng.random(m) < sim.dealer_fix_fail[sim.dealer[idx]])
    sim.next_unplanned[idx[fail]] = t + rng.integers(3, 31, fail.sum())
    sim.last_repair[idx[rep]] = t
    # A very bad visit can make an attached owner walk out for good.
    att = sim.state[idx] == ATTACHED
    angry = att & (rng.random(m) < cfg.angry_switch_prob * severity)
    sim.defect(idx[angry], t, np.full(angry.sum(), SERVICE, np.int8))
