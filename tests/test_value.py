"""Recurring vs one-off spend and the annual value built on it, hand-computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import FeaturizeConfig
from features.validation import validate_tables
from models.segments import ScoreConfig, SegmentsConfig, segment
from models.value import annual_value, visits_per_year

T = "2024-07-01"
ACCIDENT = 99_427.0

#: a: three 800 maintenances, then a 99,427 accident repair (and a big invoice on T itself);
#: n: a new customer with one normal maintenance; r: a regular customer, nothing above the cap;
#: p: a first visit that is a 3,000 maintenance (a big but scheduled service).
VISITS = [
    ("a", "2023-09-01", 800.0, "maintenance"),
    ("a", "2023-12-01", 800.0, "maintenance"),
    ("a", "2024-03-01", 800.0, "maintenance"),
    ("a", "2024-05-01", ACCIDENT, "accident"),
    ("a", T, 50_000.0, "accident"),
    ("n", "2024-06-01", 600.0, "maintenance"),
    ("r", "2022-07-01", 500.0, "maintenance"),
    ("r", "2023-01-01", 500.0, "maintenance"),
    ("r", "2023-04-01", 1200.0, "repair"),
    ("r", "2023-07-01", 500.0, "maintenance"),
    ("r", "2024-01-01", 500.0, "maintenance"),
    ("p", "2024-06-01", 3000.0, "maintenance"),
]


def tables(typed: bool = True, visits=VISITS) -> dict[str, pd.DataFrame]:
    ids = sorted({v[0] for v in VISITS})
    sv = pd.DataFrame(visits, columns=["customer_id", "visit_date", "amount", "visit_type"])
    if not typed:  # the store's export has no visit type at all
        sv = sv.drop(columns="visit_type")
    return {
        "customers": pd.DataFrame(
            {
                "customer_id": ids,
                "dealer_id": ["D1"] * len(ids),
                "vehicle_model": ["Camry"] * len(ids),
                "vehicle_purchase_date": ["2020-01-01"] * len(ids),
            }
        ),
        "service_visits": sv,
    }


def features(typed: bool = True, visits=VISITS, config=None) -> pd.DataFrame:
    out = build_features(validate_tables(tables(typed, visits)), T, config)
    return out.set_index("customer_id")


def test_one_off_accident_is_kept_apart_by_type_and_point_in_time() -> None:
    f = features()
    a = f.loc["a"]
    # the visit on T (50,000) is not counted; the accident is capped at
    # max(3 x median(800, 800, 800), 2000) = 2400
    assert a["spend_lifetime"] == 3 * 800 + ACCIDENT
    assert a["spend_recurring_lifetime"] == 3 * 800 + 2400
    assert a["spend_one_off_lifetime"] == ACCIDENT - 2400
    assert a["max_invoice_share"] == pytest.approx(ACCIDENT / (2400 + ACCIDENT))
    # the invoice on T changes nothing
    before_t = features(visits=[v for v in VISITS if v[1] != T])
    pd.testing.assert_series_equal(before_t.loc["a"], a)


def test_without_visit_type_the_outlier_rule_caps_the_same_accident() -> None:
    f = features(typed=False)
    # 800s stay under the 2000 floor; the accident is capped at 2400 as with the type
    assert f.loc["a", "spend_recurring_lifetime"] == 4800.0
    assert f.loc["a", "spend_one_off_lifetime"] == ACCIDENT - 2400
    # without a type a first visit of 3,000 is judged by the floor alone: 2000 recurring;
    # typed as maintenance it counts in full
    assert f.loc["p", "spend_recurring_lifetime"] == 2000.0
    assert features().loc["p", "spend_recurring_lifetime"] == 3000.0
    # the accident first: no earlier invoice, so the floor alone caps it
    first = [("a", "2023-08-01", ACCIDENT, "accident"), *VISITS[:3]]
    g = features(typed=False, visits=first + VISITS[5:])
    assert g.loc["a", "spend_recurring_lifetime"] == 2000.0 + 2400.0


def test_new_and_regular_customers_keep_their_spend() -> None:
    for typed in (True, False):
        f = features(typed=typed)
        assert f.loc["n", "spend_recurring_lifetime"] == 600.0
        assert f.loc["n", "max_invoice_share"] == 1.0
        assert f.loc["r", "spend_recurring_lifetime"] == f.loc["r", "spend_lifetime"] == 3200.0
        assert f.loc["r", "spend_one_off_lifetime"] == 0.0
        assert f.loc["r", "max_invoice_share"] == pytest.approx(1200 / 3200)


def test_annual_value_recurring_by_hand() -> None:
    f = features()
    value = annual_value(f)
    # a: 4 visits over 243 active days (one year): 1200 a visit x 4 visits a year = 4800
    #    (active_span: the accident made it 101,827)
    # n: one 600 visit -> 600 a year, not zeroed; r: 3200 over 549 days, as before;
    # p: 3000 (a maintenance is never capped)
    expected = {"a": 4800.0, "n": 600.0, "r": 3200 * 365 / 549, "p": 3000.0}
    for cid, v in expected.items():
        assert value[cid] == pytest.approx(v)
    span = annual_value(f, "active_span")
    assert span["a"] == pytest.approx(3 * 800 + ACCIDENT)
    assert span["r"] == pytest.approx(value["r"]) and span["n"] == value["n"]
    assert visits_per_year(f).to_dict() == pytest.approx(
        {"a": 4.0, "n": 1.0, "p": 1.0, "r": 5 * 365 / 549}
    )
    # the tiers follow: the accident customer is mid, no longer high
    seg = segment(f.reset_index(), np.full(len(f), 0.1), ScoreConfig())
    tiers = dict(zip(seg["customer_id"], seg["value_tier"], strict=True))
    assert tiers == {"a": "mid", "n": "low", "p": "mid", "r": "mid"}
    old = ScoreConfig(segments=SegmentsConfig(annual_value="active_span"))
    assert segment(f.reset_index(), np.full(len(f), 0.1), old)["value_tier"].iloc[0] == "high"


def test_annual_value_without_history_and_unknown_basis() -> None:
    f = pd.DataFrame(
        {
            "tenure_days": [np.nan],
            "days_since_last_visit": [np.nan],
            "visits_lifetime": [0.0],
            "spend_recurring_lifetime": [0.0],
        }
    )
    assert annual_value(f).tolist() == [0.0]
    with pytest.raises(ValueError, match="annual_value must be one of"):
        annual_value(f, "median")
    with pytest.raises(ValueError, match="spend_recurring_lifetime"):
        annual_value(f.drop(columns="spend_recurring_lifetime"))


def test_one_off_params_are_checked_and_change_the_cap() -> None:
    with pytest.raises(ValueError, match="unknown visit type"):
        FeaturizeConfig(one_off_types=("acident",))
    with pytest.raises(ValueError, match="one_off_own_multiple"):
        FeaturizeConfig(one_off_own_multiple=0.5)
    # k = 5: the accident is capped at 4000; accidents counted in full when not a one-off kind
    five = features(config=FeaturizeConfig(one_off_own_multiple=5.0))
    assert five.loc["a", "spend_recurring_lifetime"] == 2400.0 + 4000.0
    full = features(config=FeaturizeConfig(one_off_types=("repair",)))
    assert full.loc["a", "spend_one_off_lifetime"] == 0.0
    # two earlier 800s are not yet a usual amount: the floor alone caps the accident, unless
    # one_off_min_invoices allows a median of two
    two = [v for v in VISITS if v[:2] != ("a", "2023-09-01")]
    assert features(visits=two).loc["a", "spend_recurring_lifetime"] == 1600.0 + 2000.0
    lenient = FeaturizeConfig(one_off_min_invoices=2)
    assert features(visits=two, config=lenient).loc["a", "spend_recurring_lifetime"] == 4000.0
    with pytest.raises(ValueError, match="one_off_min_invoices"):
        FeaturizeConfig(one_off_min_invoices=0)
