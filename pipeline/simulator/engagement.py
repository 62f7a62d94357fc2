"""Daily engagement (app sessions, consultations) and the month-end truth snapshots."""

from __future__ import annotations

import numpy as np

from pipeline.simulator.names import ATTACHED
from pipeline.simulator.state import SimState


def daily_engagement(sim: SimState, k: int, t: int) -> None:
    """App sessions and consultations of day ``t``: both fade as commitment fades.

    Every joined customer draws a uniform number each day, but the probabilities are only
    computed for the few whose draw falls below an upper bound of their probability
    (commitment and the state multiplier are at most 1): the same draws, the same
    floating-point products on those customers, the same events, a fraction of the work.

    Args:
        sim: The simulation state.
        k: Number of customers who have joined by day ``t``.
        t: The day.
    """
    c = sim.commit[:k]
    # Commitment never leaves [0, 1] in exact arithmetic; allow for rounding anyway.
    c2_max = max(1.0, float(c.max()) ** 2) if k else 1.0
    app_sessions(sim, k, t, c2_max)
    consultations(sim, k, t, c2_max)


def app_sessions(sim: SimState, k: int, t: int, c2_max: float) -> None:
    """App use of day ``t``: app lovers, committed owners, more when a service is due soon."""
    cfg, rng = sim.cfg, sim.rng
    c = sim.commit[:k]
    u = rng.random(k)
    bound = sim.app_bound[:k] if c2_max == 1.0 else sim.app_bound[:k] * c2_max
    cand = np.flatnonzero(u < bound)
    st = sim.state[cand]
    nd = sim.next_due[cand]
    state_mult = np.array([1.0, 0.12, 0.03, 0.0])[st]
    soon = (nd - t >= 0) & (nd - t <= 14) & (st == ATTACHED)
    cc = c[cand]
    p_app = cfg.app_session_rate * sim.app_affinity[cand] * (cc**2) * state_mult * (1 + soon)
    a = cand[u[cand] < p_app]
    sim.emit(
        "app_sessions",
        a,
        np.full(a.size, t, np.int32),
        (1 + rng.poisson(0.4 + 1.2 * sim.app_affinity[a])).astype(np.int16),
    )


def consultations(sim: SimState, k: int, t: int, c2_max: float) -> None:
    """Consultations of day ``t`` (questions by app, phone or WeChat) of committed owners."""
    cfg, rng = sim.cfg, sim.rng
    c = sim.commit[:k]
    u = rng.random(k)
    cand = np.flatnonzero(u < cfg.consultation_rate * c2_max)
    cc = c[cand]
    p_con = cfg.consultation_rate * (cc**2) * np.array([1.0, 0.1, 0.0, 0.0])[sim.state[cand]]
    ci = cand[u[cand] < p_con]
    sim.emit("consultations", ci, np.full(ci.size, t, np.int32), sim.channel(ci))


def snapshot(sim: SimState, k: int, t: int) -> None:
    """The month-end truth snapshot: state, reason, P(defect within 180 days), commitment."""
    cfg = sim.cfg
    idx = np.arange(k)
    st = sim.state[:k]
    gap = np.maximum(sim.next_due[:k] - t, 0)
    n_due = (gap <= 180) + np.clip(180 - gap, 0, None) / sim.interval_days[:k]
    q = cfg.defect_prob_at_due * (1 - sim.commit[:k])
    p_def = np.where(st == ATTACHED, 1 - (1 - q) ** n_due, np.nan)
    sim.emit(
        "snapshots",
        idx,
        np.full(k, t, np.int32),
        st.copy(),
        sim.reason[:k].copy(),
        p_def,
        (t - sim.last_visit[:k]).astype(np.int32),
        sim.commit[:k].copy(),
        sim.sat[:k].copy(),
    )
