"""The simulator's own vocabulary: hidden states, reasons, visit types, vehicles and people.

Stages, tiers, the control arm and the default contact actions are the domain's
(:mod:`features.vocabulary`); what is declared here only the simulator uses: codes of the
hidden state, the vehicle line-up, the response tables of each arm, and the makers of fake
names, phone numbers and dates shared by the after-sales and showroom sides.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.vocabulary import NO_ACTION, SIMULATOR_ACTIONS

ATTACHED, DEFECTED, MOVED, SOLD = 0, 1, 2, 3
STATE_NAMES = np.array(["attached", "defected", "moved", "sold"])
NO_REASON, PRICE, SERVICE, SHOCK = 0, 1, 2, 3
REASON_NAMES = np.array(["none", "price", "service", "competitor_shock"])

VISIT_TYPES = np.array(["maintenance", "repair", "warranty", "insurance", "accident", "other"])
V_MAINT, V_REPAIR, V_WARRANTY, V_INSURANCE, V_ACCIDENT, V_OTHER = range(6)

#: Column order of every response-probability matrix: the control arm, then each action.
ARMS = ("control", *SIMULATOR_ACTIONS)
#: Outreach ``action`` label per arm code (the control arm is ``NO_ACTION``).
ARM_ACTIONS = (NO_ACTION, *SIMULATOR_ACTIONS)
#: Outreach ``channel`` label per arm code (a home visit is booked and held in person).
ARM_CHANNELS = ("none", "sms", "phone", "phone", "in_person")
#: Channel label per channel code of appointments and consultations.
CHANNELS = ("app", "phone", "wechat")
APPOINTMENT_STATUSES = ("kept", "cancelled", "no_show")
COMPLAINT_CATEGORIES = ("wait_time", "repair_quality", "price", "staff")

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

# Treatment arm propensities by value tier (low, mid, high); each >= 10% in every tier.
TIER_ACTION_PROBS = np.array(
    [
        [0.45, 0.25, 0.18, 0.12],
        [0.30, 0.30, 0.25, 0.15],
        [0.15, 0.25, 0.35, 0.25],
    ]
)

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂兰建华志鹏宇浩然欣怡子涵梓萱晨")
MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 157, 158, 159, 166, 176]
    + [177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 198, 199]
)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-x))


def region_weights(n: int) -> np.ndarray:
    """Share of customers (or leads) per region: a few big cities, a tail of smaller ones."""
    w = 1.0 / np.arange(1, n + 1) ** 0.6
    return w / w.sum()


def fake_people(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Plausible Chinese names and 11-digit mobile numbers (fake, deterministic).

    Args:
        rng: The generator to draw from (five draws of ``n`` each, in a fixed order).
        n: Number of people.

    Returns:
        ``(names, phones)``, object arrays of ``n`` strings each.
    """
    sur = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.where(rng.random(n) < 0.7, np.array(GIVEN)[rng.integers(0, len(GIVEN), n)], "")
    names = np.char.add(np.char.add(sur, g1), g2)
    prefix = MOBILE_PREFIXES[rng.integers(0, MOBILE_PREFIXES.size, n)]
    phones = np.char.add(
        prefix.astype(str), np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8)
    )
    return names.astype(object), phones.astype(object)


def day_dates(day0: np.datetime64, day: np.ndarray, keep: np.ndarray | None = None) -> pd.Series:
    """Dates (``datetime64[s]``) of day numbers counted from ``day0``.

    Args:
        day0: The date of day 0.
        day: Integer day numbers.
        keep: Optional mask; rows outside it become missing (``NaT``).

    Returns:
        A date series, one row per day number.
    """
    s = pd.Series(
        (day0 + np.asarray(day).astype(np.int64).astype("timedelta64[D]")).astype("datetime64[s]")
    )
    return s.where(keep) if keep is not None else s
