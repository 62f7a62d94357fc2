"""The dealership simulator: a behavioural model of a 4S store's after-sales customers.

The simulator writes the input data contract (``docs/data_contract.md``) plus hidden truth
tables that only evaluation code may read. The generative story is documented in
``docs/simulator.md``; in short, every customer carries latent traits (mileage, price
sensitivity, patience, loyalty, app affinity) and a hidden state (attached, defected, moved,
sold). All observable tables (visits, appointments, app sessions, surveys, consultations,
complaints, win-back outreach) are emitted from that same latent state, day by day, with numpy
arrays over customers so that the loop is over days only; the showroom (leads, their
follow-ups, market events) runs on a stream of its own.

Modules: ``config`` (the settings), ``names`` (the simulator's vocabulary), ``state`` (the
hidden state), ``response`` (the true response to each arm), the event handlers ``visits``,
``engagement`` and ``campaigns``, ``engine`` (the day loop and :func:`simulate`), ``tables``
(contract and truth tables), ``showroom`` (leads), ``care`` (insurance, birthdays, plates,
advisors and care messages, drawn last) and ``summary`` (:func:`summarize`).
"""

from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.engine import simulate
from pipeline.simulator.summary import summarize

__all__ = ["SimulationConfig", "simulate", "summarize"]
