"""The true response of an owner to each arm: the ground truth of uplift evaluation."""

from __future__ import annotations

import numpy as np

from pipeline.simulator.names import ACTION_EFFECT, ARMS, ATTACHED, DEFECTED, SERVICE, sigmoid
from pipeline.simulator.state import SimState


def natural_return_rate(sim: SimState, idx: np.ndarray, tau: np.ndarray, t: int) -> np.ndarray:
    """Daily hazard that defectors ``idx`` come back on their own on day ``t``.

    It fades with ``tau``, the days since the defection (habits form at the competitor); a
    service defector comes back less, and a store promotion draws back the others.
    """
    cfg = sim.cfg
    r = sim.reason[idx]
    promo = sim.promo[sim.dealer[idx], t]
    return (
        cfg.natural_return_per_year
        / 365.0
        * np.exp(-tau / 240.0)
        * np.where(r == SERVICE, 0.6, 1.0)
        * np.where(promo & (r != SERVICE), 2.5, 1.0)
    )


def response_probs(sim: SimState, idx: np.ndarray, t: int) -> np.ndarray:
    """True P(dealer visit within the response window) under each arm, shape (n, 5).

    Columns follow ``ARMS``. The realised outcome of a contact is drawn from exactly these
    probabilities, so they are the ground truth for uplift evaluation.

    Args:
        sim: The simulation state.
        idx: Customer indices.
        t: The day of the contact.

    Returns:
        One row per customer, one column per arm; zero under every arm for moved and sold
        owners.
    """
    cfg = sim.cfg
    w = cfg.response_window_days
    st = sim.state[idx]
    p = np.zeros((idx.size, len(ARMS)))
    unpl_rate = cfg.unplanned_visits_per_year / 365.0

    # Attached: the natural rate (service due soon, unplanned visits) plus a reminder lift
    # that fades with how far beyond the window the next service is due.
    a = st == ATTACHED
    ia = idx[a]
    gap = sim.next_due[ia] - t
    p_due = sigmoid((w - gap) / 12.0)
    keep = (1 - cfg.defect_prob_at_due * (1 - sim.commit[ia])) * (1 - sim.leak(ia, t))
    p0 = 1 - (1 - p_due * keep) * np.exp(-w * unpl_rate)
    reach = np.exp(-np.clip(gap - w, 0, None) / 30.0) * (0.55 + 0.6 * sim.loyalty[ia])
    scale = cfg.action_effect_scale
    eff = np.clip(ACTION_EFFECT[0][None, :] * reach[:, None] * scale, 0, 0.95)
    p[a, 0] = p0
    p[a, 1:] = 1 - (1 - p0)[:, None] * (1 - eff)

    # Defected: a natural return hazard that fades with time away, plus reason-specific
    # action effects that fade the same way (habits form at the competitor).
    d = st == DEFECTED
    idf = idx[d]
    tau = np.maximum(t - sim.defect_day[idf], 0)
    r = sim.reason[idf]
    lam = natural_return_rate(sim, idf, tau, t)
    # Warranty work and insurance-directed accident repairs still reach the dealer.
    warranty = (t - sim.purchase[idf]) < 3 * 365
    lam = lam + unpl_rate * (0.1 + 0.35 * warranty)
    p0 = 1 - np.exp(-lam * w)
    fade = 0.2 + 0.8 * np.exp(-tau / 80.0)
    eff = ACTION_EFFECT[r][:, :] * fade[:, None] * scale
    coupon_mod = np.clip(sim.price_sens[idf] / 0.4, 0.25, 1.5)
    apology_mod = 0.6 + 0.6 * sim.loyalty[idf]
    eff[:, 0] *= coupon_mod
    eff[:, 2] *= apology_mod
    eff[:, 3] *= apology_mod
    eff = np.clip(eff, 0, 0.95)
    p[d, 0] = p0
    p[d, 1:] = 1 - (1 - p0)[:, None] * (1 - eff)
    return p
