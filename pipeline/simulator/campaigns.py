"""Win-back campaigns: who is picked, which arm they get, whether they return, what a call found.

Every ``campaign_every_days`` the store picks a share of its lapsed customers, holds a
random control group back and gives the others an action drawn by value tier; the return
visit is drawn from the true response probabilities (:mod:`pipeline.simulator.response`)
and booked for a later day. What each contact found (reached, no answer, wrong number, …) is
drawn afterwards from its own stream, so it changes no other table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.vocabulary import NO_ACTION, STAGE_BOUNDS_DAYS, TIER_BOUNDS
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.names import ATTACHED, TIER_ACTION_PROBS
from pipeline.simulator.response import response_probs
from pipeline.simulator.state import SimState

#: Spawn key of the contact-outcome stream (see ``LEADS_STREAM`` in showroom.py).
OUTCOME_STREAM = 0x0C0DE
PHONE_ACTIONS = ("advisor_call", "manager_call", "home_visit")  # a home visit is booked by phone


def campaign(sim: SimState, k: int, t: int) -> None:
    """Run the campaign of day ``t``: pick, assign, draw the returns, log the outreach.

    Args:
        sim: The simulation state.
        k: Number of customers who have joined by day ``t``.
        t: The day.
    """
    cfg, rng = sim.cfg, sim.rng
    idx = np.arange(k)
    since = t - sim.last_visit[:k]
    eligible = (
        (since >= cfg.lapse_min_days)
        & (t - sim.last_contact[:k] >= cfg.cooldown_days)
        & (sim.hold_until[:k] < t)
    )
    cand = idx[eligible]
    picked = cand[rng.random(cand.size) < cfg.campaign_pick_share]
    m = picked.size
    if m == 0:
        return
    spend = sim.spend_buckets[picked].sum(axis=1) - sim.spend_buckets[picked, (t // 30) % 13]
    # The store's campaign tool tiers on its own: a bound itself already moves up a tier.
    tier = np.digitize(spend, TIER_BOUNDS).astype(np.int8)
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
    p = response_probs(sim, picked, t)
    p_arm = p[np.arange(m), arm]
    ret = rng.random(m) < p_arm
    w = cfg.response_window_days
    # Return day: near the due date when service is due within the window, else spread.
    gap = sim.next_due[picked] - t
    jitter = rng.integers(-5, 6, m)
    spread = 1 + np.floor(w * rng.beta(1.3, 2.0, m)).astype(np.int64)
    day = np.where((sim.state[picked] == ATTACHED) & (gap >= 1) & (gap <= w), gap + jitter, spread)
    day = t + np.clip(day, 1, w)
    sim.hold_until[picked] = t + w
    sim.forced_day[picked] = np.where(ret, day, -1)
    sim.forced_arm[picked] = arm
    sim.last_contact[picked] = t
    stage = np.digitize(t - sim.last_visit[picked], STAGE_BOUNDS_DAYS).astype(np.int8)
    sim.emit(
        "outreach",
        picked,
        np.full(m, t, np.int32),
        arm,
        propensity,
        stage,
        tier,
        sim.state[picked].copy(),
        sim.reason[picked].copy(),
        p,
    )


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
    out[action == NO_ACTION] = None
    return pd.Series(pd.array(out, dtype="str"))
