"""The day loop and the one entry point: :func:`simulate`.

Each day the loop updates the latent dynamics, applies life events, gathers the visits of
every source (:mod:`pipeline.simulator.visits`), books them, and on emitted days adds
engagement, campaigns and month-end snapshots. Every handler draws from the one after-sales
generator, so the order of the calls below is part of the output: changing it changes
every table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.simulator.campaigns import campaign, outreach_outcomes
from pipeline.simulator.care import care_tables
from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.engagement import daily_engagement, snapshot
from pipeline.simulator.names import DEFECTED, MOVED, SOLD
from pipeline.simulator.showroom import simulate_leads
from pipeline.simulator.state import SimState
from pipeline.simulator.tables import build_tables
from pipeline.simulator.visits import (
    Arrivals,
    book_visits,
    campaign_returns,
    insurance_renewals,
    maintenance_due,
    spontaneous_returns,
    unplanned_visits,
)


def simulate(config: SimulationConfig) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Run the behavioural simulation.

    Args:
        config: The simulation settings.

    Returns:
        ``(tables, truth)``: contract tables keyed by table name (customers, service_visits,
        appointments, app_sessions, surveys, consultations, complaints, outreach, and with
        ``config.leads`` leads, lead_contacts, market_events, with ``config.care``
        care_contacts and the care columns of customers and service_visits), each sorted by
        (customer_id, date); and truth tables (customers, outreach, snapshots, response, and leads) that
        only evaluation code may read.
    """
    sim = SimState(config)
    run(sim)
    tables, truth = build_tables(sim)
    if config.outreach_outcomes:  # own stream too: drawn after everything else is fixed
        states = truth["outreach"]["state"].to_numpy(dtype=object)
        tables["outreach"]["outcome"] = outreach_outcomes(
            config, tables["outreach"]["action"].to_numpy(dtype=object), states
        )
    if config.leads:  # the showroom draws from its own stream: the tables above stay
        lead_tables, lead_truth = simulate_leads(config)
        tables.update(lead_tables)
        truth.update(lead_truth)  # truth/leads.parquet
    if config.care:  # own stream, from the finished tables only: nothing above moves
        tables.update(care_tables(config, tables["customers"], tables["service_visits"]))
    return tables, truth


def run(sim: SimState) -> None:
    """Simulate every day from the start of the burn-in to the end of the window.

    Args:
        sim: A freshly initialised state; its ``events`` fill up in place.
    """
    cfg = sim.cfg
    month_ends = {
        int((np.datetime64(d.date(), "D") - sim.day0).astype(int))
        for d in pd.date_range(
            pd.Timestamp(str(sim.day0 + sim.start)), periods=cfg.years * 12 + 1, freq="ME"
        )
    }
    for t in tqdm(range(sim.n_days), desc="simulate", unit="day", disable=None):
        k = int(sim.n_joined_by_day[t])
        if k == 0:
            continue
        _day(sim, k, t)
        if t >= sim.start:
            daily_engagement(sim, k, t)
            if (t - sim.start) % cfg.campaign_every_days == 0:
                campaign(sim, k, t)
            if t in month_ends:
                snapshot(sim, k, t)


def _day(sim: SimState, k: int, t: int) -> None:
    """Latent drift, life events and the visits of day ``t``."""
    if t % 7 == 0:
        sim.update_commitment(k, t, 7)
    if t % 30 == 0:
        sim.spend_buckets[:, (t // 30) % 13] = 0.0
    _life_events(sim, k, t)
    alive = sim.state[:k] <= DEFECTED
    free = sim.hold_until[:k] < t  # not inside a campaign response window
    # The sources in this order; one visit per customer per day: the first source wins.
    arrivals: list[Arrivals | None] = [
        campaign_returns(sim, k, t, alive),
        maintenance_due(sim, k, t, free),
        unplanned_visits(sim, k, t, alive, free),
        insurance_renewals(sim, k, t, free),
        spontaneous_returns(sim, k, t, free),
    ]
    found = [a for a in arrivals if a is not None]
    if not found:
        return
    vi = np.concatenate([a[0] for a in found])
    if vi.size:
        vi, first = np.unique(vi, return_index=True)
        vt = np.concatenate([a[1] for a in found])[first]
        vr = np.concatenate([a[2] for a in found])[first]
        book_visits(sim, vi, vt, t, vr)


def _life_events(sim: SimState, k: int, t: int) -> None:
    """Owners move away or sell the car on their scheduled day; both are final."""
    alive = sim.state[:k] <= DEFECTED
    mv = np.flatnonzero((sim.move_day[:k] == t) & alive)
    sim.state[mv] = MOVED
    sim.moved_on[mv] = t
    sl = np.flatnonzero((sim.sell_day[:k] == t) & (sim.state[:k] <= DEFECTED))
    sim.state[sl] = SOLD
    sim.sold_on[sl] = t
