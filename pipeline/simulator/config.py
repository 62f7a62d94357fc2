"""The simulator's settings: one frozen dataclass, built from the ``simulate:`` params block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.config import config_from_params


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
    # multiplies every action's true effect (a robustness knob; 1 = the documented world)
    action_effect_scale: float = 1.0
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
    # the showroom add-on (pipeline/simulator/showroom.py): its own random stream
    leads: bool = True
    leads_per_year: int = 5000
    lead_consultants_per_dealer: int = 8
    # the care data (pipeline/simulator/care.py): insurance expiry, birthday, plate, the
    # advisor of each visit, the care messages sent; its own random stream, drawn last
    care: bool = True
    care_advisors_per_dealer: int = 6

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
        if self.action_effect_scale < 0:
            raise ValueError("action_effect_scale must be >= 0")
        if not 0 < self.control_share < 1:
            raise ValueError("control_share must be in (0, 1)")
        if self.n_dealers < 1 or self.n_regions < 1:
            raise ValueError("n_dealers and n_regions must be >= 1")
        if self.care_advisors_per_dealer < 1:
            raise ValueError("care_advisors_per_dealer must be >= 1")

    @property
    def action_costs(self) -> np.ndarray:
        """Cost per contact of each arm in ``names.ARMS`` order (control costs nothing)."""
        return np.array(
            [
                0.0,
                self.cost_sms_coupon,
                self.cost_advisor_call,
                self.cost_manager_call,
                self.cost_home_visit,
            ]
        )
