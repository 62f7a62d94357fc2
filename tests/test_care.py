"""Personal care triggers (models/care.py, models/care_tasks.py) and the `winback care` stage.

Hand-built feature rows as of T = 2026-10-01 (a Thursday in a year without 29 February), so
every due date below is worked out by hand from the rule in docs/care.md.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.care import (
    BIRTHDAY,
    INSURANCE,
    MAINTENANCE,
    OUTPUT_COLUMNS,
    RHYTHM_INTERVAL,
    RHYTHM_MILEAGE,
    RHYTHM_NONE,
    RHYTHM_VISITS,
    BirthdayRule,
    CareConfig,
    InsuranceRule,
    MaintenanceRule,
    birthday_due,
    insurance_due,
    maintenance_due,
    maintenance_intervals,
    next_birthday,
)
from models.care_interval import (
    SOURCE_DEFAULT,
    SOURCE_MODEL,
    SOURCE_OWN,
    SOURCE_PARAM,
    own_interval_km,
)
from models.care_tasks import care_tasks, last_advisor, winback_selected
from pipeline.cli import app

T = pd.Timestamp("2026-10-01")
NAN = np.nan


def _features(rows: list[dict]) -> pd.DataFrame:
    """Feature rows with only what the triggers read (missing = NaN)."""
    cols = (
        "mileage_km_per_day",
        "days_since_last_maintenance",
        "maintenance_interval_days",
        "days_since_last_visit",
        "reported_gone",
    )
    out = pd.DataFrame(rows)
    for c in cols:
        out[c] = out[c].astype("float64") if c in out else NAN
    return out


def _customers(ids: list[str], **columns: list) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "dealer_id": "D1",
            "name": [f"Zebulon Quixwood {i}" for i in ids],
            "phone": [f"+86-139-7771-{i}" for i in ids],
            "plate": [f"沪A·Q{i}" for i in ids],
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


# --- maintenance_due --------------------------------------------------------------------------


def test_a_high_mileage_owner_is_reminded_and_a_low_mileage_one_with_the_same_days_is_not():
    # both last serviced 150 days ago; 40 km/day: 5000 km after 125 days -> due 25 days ago
    # (2026-09-06, inside the 30 overdue days); 10 km/day: 500 days, capped at 365 -> in 215
    feats = _features(
        [
            {"customer_id": "H", "mileage_km_per_day": 40, "days_since_last_maintenance": 150},
            {"customer_id": "L", "mileage_km_per_day": 10, "days_since_last_maintenance": 150},
        ]
    )
    due = maintenance_due(feats, T, MaintenanceRule())
    assert due["fires"].tolist() == [True, False]
    assert due["due_date"].tolist() == [pd.Timestamp("2026-09-06"), pd.Timestamp("2027-05-04")]
    assert due["rhythm"].tolist() == [RHYTHM_MILEAGE, RHYTHM_MILEAGE]


@pytest.mark.parametrize(
    ("km_per_day", "since", "fires"),
    [
        (50, 130, True),  # 100 days: due 30 days ago, the overdue edge
        (50, 131, False),  # 31 days overdue: the win-back policy's business
        (50, 86, True),  # due in 14 days: the lead edge
        (50, 85, False),  # due in 15 days: not yet
        (37.5, 120, True),  # 133.33 days, rounded down to 133: due in 13 days
    ],
)
def test_the_maintenance_window_edges(km_per_day, since, fires):
    feats = _features(
        [
            {
                "customer_id": "A",
                "mileage_km_per_day": km_per_day,
                "days_since_last_maintenance": since,
            }
        ]
    )
    assert maintenance_due(feats, T, MaintenanceRule())["fires"].tolist() == [fires]


def test_an_untyped_history_is_due_by_its_own_visit_rhythm():
    # a plain transaction log: no visit type, no mileage; the rhythm of all visits decides
    rows = [
        # visits every 150 days, the last 140 days ago -> due in 10 days: a reminder
        {"customer_id": "A", "median_visit_interval_days": 150, "days_since_last_visit": 140},
        # every 400 days (capped at 365), the last 140 days ago -> due in 225 days: none
        {"customer_id": "B", "median_visit_interval_days": 400, "days_since_last_visit": 140},
        # one visit only: no rhythm
        {"customer_id": "C", "days_since_last_visit": 140},
        # typed visits (a repair share is known) but fewer than two maintenances: the gap of
        # all visits mixes repairs in, so no reminder
        {
            "customer_id": "D",
            "median_visit_interval_days": 150,
            "days_since_last_visit": 140,
            "maintenance_share": 0.5,
        },
    ]
    feats = _features(rows).assign(
        median_visit_interval_days=[150.0, 400.0, NAN, 150.0],
        maintenance_share=[NAN, NAN, NAN, 0.5],
    )
    due = maintenance_due(feats, T, MaintenanceRule())
    assert due["rhythm"].tolist() == [RHYTHM_VISITS, RHYTHM_VISITS, RHYTHM_NONE, RHYTHM_NONE]
    assert due["fires"].tolist() == [True, False, False, False]
    assert due["due_date"].iloc[0] == T + pd.Timedelta(days=10)
    assert due["interval_source"].iloc[0] == "own_visit_days"
    off = maintenance_due(feats, T, MaintenanceRule(visit_rhythm=False))
    assert off["rhythm"].tolist() == [RHYTHM_NONE] * 4 and not off["fires"].any()


def test_without_mileage_the_own_maintenance_interval_and_without_either_no_reminder():
    feats = _features(
        [
            # no km/day: the own median maintenance gap of 140 days, 130 days ago -> in 10 days
            {
                "customer_id": "A",
                "maintenance_interval_days": 140,
                "days_since_last_maintenance": 130,
            },
            # no maintenance visit on record: the last visit is the anchor (100 days, due in 0)
            {"customer_id": "B", "mileage_km_per_day": 50, "days_since_last_visit": 100},
            # one visit without mileage: no own rhythm, no reminder
            {"customer_id": "C", "days_since_last_maintenance": 200},
            # the own interval is capped too: 500 days -> 365, 360 days ago -> in 5 days
            {
                "customer_id": "D",
                "maintenance_interval_days": 500,
                "days_since_last_maintenance": 360,
            },
        ]
    )
    due = maintenance_due(feats, T, MaintenanceRule())
    assert due["rhythm"].tolist() == [RHYTHM_INTERVAL, RHYTHM_MILEAGE, RHYTHM_NONE, RHYTHM_INTERVAL]
    assert due["fires"].tolist() == [True, True, False, True]
    assert due["due_date"].tolist()[:2] == [pd.Timestamp("2026-10-11"), T]
    assert pd.isna(due["due_date"].iloc[2])


def test_a_vehicle_model_interval_replaces_the_default():
    # 50 km/day, 150 days ago: 5,000 km -> due 50 days ago (no); 7,500 km -> due in 0 days
    feats = _features(
        [
            {"customer_id": "A", "mileage_km_per_day": 50, "days_since_last_maintenance": 150},
            {"customer_id": "B", "mileage_km_per_day": 50, "days_since_last_maintenance": 150},
        ]
    )
    rule = MaintenanceRule(interval_km_by_model={"Camry": 7500})
    due = maintenance_due(feats, T, rule, pd.Series(["Corolla", "Camry"]))
    assert due["fires"].tolist() == [False, True]


def _maintenance_visits(km_by_customer: dict[str, list[float]], start: str = "2024-01-05"):
    """Maintenance visits 60 days apart from ``start``, with these odometer readings."""
    rows = [
        {
            "customer_id": cid,
            "visit_date": pd.Timestamp(start) + pd.Timedelta(days=60 * i),
            "visit_type": "maintenance",
            "mileage_km": km,
        }
        for cid, kms in km_by_customer.items()
        for i, km in enumerate(kms)
    ]
    return pd.DataFrame(rows)


def test_two_own_gaps_of_10000_km_give_the_own_interval_and_its_due_date():
    # A: maintenance at 5,000, 15,000 and 25,000 km -> own 10,000 km; at 50 km/day that is 200
    # days, 190 days ago -> due in 10 days (2026-10-11). 5,000 km would be 90 days overdue.
    visits = _maintenance_visits({"A": [5000, 15000, 25000]})
    feats = _features(
        [
            {"customer_id": "A", "mileage_km_per_day": 50, "days_since_last_maintenance": 190},
            {"customer_id": "B", "mileage_km_per_day": 50, "days_since_last_maintenance": 95},
        ]
    )
    rule = MaintenanceRule()
    km = maintenance_intervals(visits, feats["customer_id"], None, T, rule)
    assert km["interval_km"].tolist() == [10000.0, 5000.0]
    assert km["interval_source"].tolist() == [SOURCE_OWN, SOURCE_DEFAULT]
    due = maintenance_due(feats, T, rule, None, km)
    assert due["due_date"].tolist() == [pd.Timestamp("2026-10-11"), pd.Timestamp("2026-10-06")]
    assert due["fires"].tolist() == [True, True]
    # through the task file: the source and its Chinese label on the maintenance rows
    cust = _customers(["A", "B"], insurance_expiry_date=pd.to_datetime([None, "2026-10-03"]))
    result = _run(feats, cust, visits=visits)
    tasks = result.tasks.set_index("customer_id")
    assert tasks.loc["A", ["trigger", "interval_source", "interval_source_zh"]].tolist() == [
        MAINTENANCE,
        SOURCE_OWN,
        "本人保养里程",
    ]
    assert tasks.loc["B", "trigger"] == INSURANCE and pd.isna(tasks.loc["B", "interval_source"])
    assert result.metrics["maintenance_interval_source"]["own"] == 1
    assert result.metrics["maintenance_interval_source"]["default"] == 1


def test_without_own_gaps_the_model_median_then_the_param_then_the_default():
    # model M: three owners with own intervals 8,000, 9,000 and 12,000 km (>= 3 owners):
    # B, an M owner with a single visit, gets the median 9,000. Model N has one owner with
    # an own interval (< 3): C gets the store's N interval (param); D (model Z): the default.
    visits = _maintenance_visits(
        {
            "M1": [1000, 9000, 17000],
            "M2": [1000, 10000, 19000],
            "M3": [1000, 13000, 25000],
            "N1": [1000, 7000, 13000],
            "B": [40000],
        }
    )
    ids = pd.Series(["M1", "M2", "M3", "N1", "B", "C", "D"])
    model = pd.Series(["M", "M", "M", "N", "M", "N", "Z"])
    rule = MaintenanceRule(min_model_owners=3, interval_km_by_model={"N": 7000, "M": 20000})
    km = maintenance_intervals(visits, ids, model, T, rule)
    assert km["interval_source"].tolist() == [SOURCE_OWN] * 4 + [
        SOURCE_MODEL,
        SOURCE_PARAM,
        SOURCE_DEFAULT,
    ]
    assert km["interval_km"].tolist() == [8000, 9000, 12000, 6000, 9000, 7000, 5000]
    # with too few owners for M as well, the store's M interval (param) is next
    few = maintenance_intervals(visits, ids, model, T, MaintenanceRule(min_model_owners=4))
    assert few["interval_source"].tolist()[4:] == [SOURCE_DEFAULT] * 3
    listed = dataclasses.replace(rule, min_model_owners=4)
    assert maintenance_intervals(visits, ids, model, T, listed)["interval_km"].tolist()[4:] == [
        20000,
        7000,
        5000,
    ]


def test_a_gap_out_of_bounds_a_visit_of_another_type_and_a_visit_on_t_are_not_used():
    # E: gaps 6,000, 500, 6,000 (500 km: two orders of one service) -> 6,000 of 2 gaps;
    # F: gaps 6,000, 40,000, 6,000 (40,000: a skipped service) -> 6,000 of 2 gaps
    visits = _maintenance_visits({"E": [1000, 7000, 7500, 13500], "F": [1000, 7000, 47000, 53000]})
    # a repair with an odometer between E's maintenance visits does not split a gap
    repair = {"customer_id": "E", "visit_date": pd.Timestamp("2024-02-01"), "mileage_km": 4000}
    # G: maintenance gaps before T: 10,000 (one, < 2); the visit on T would make a second
    g = _maintenance_visits({"G": [10000, 20000]}, start="2026-06-01")
    on_t = {"customer_id": "G", "visit_date": T, "visit_type": "maintenance", "mileage_km": 26000}
    no_km = {"customer_id": "G", "visit_date": pd.Timestamp("2026-09-01"), "mileage_km": NAN}
    visits = pd.concat(
        [
            visits,
            pd.DataFrame([{**repair, "visit_type": "repair"}, on_t]),
            g,
            pd.DataFrame([{**no_km, "visit_type": "maintenance"}]),
        ],
        ignore_index=True,
    )
    own = own_interval_km(visits, T)
    assert own.loc["E"].tolist() == [6000.0, 2] and own.loc["F"].tolist() == [6000.0, 2]
    assert own.loc["G"].tolist() == [10000.0, 1]
    ids = pd.Series(["E", "F", "G"])
    km = maintenance_intervals(visits, ids, None, T, MaintenanceRule())
    assert km["interval_source"].tolist() == [SOURCE_OWN, SOURCE_OWN, SOURCE_DEFAULT]
    # a day later the visit on T is in the past: gaps 10,000 and 6,000 -> own 8,000
    later = maintenance_intervals(visits, ids, None, T + pd.Timedelta(days=1), MaintenanceRule())
    assert later["interval_km"].tolist() == [6000.0, 6000.0, 8000.0]
    # the bounds are params: [100, 50000] keeps every gap
    wide = own_interval_km(visits, T, (100.0, 50000.0))
    assert wide.loc["E"].tolist() == [6000.0, 3] and wide.loc["F"].tolist() == [6000.0, 3]


def test_the_interval_params_are_checked():
    config = CareConfig.from_params({"maintenance_due": {"own_km_bounds": [500, 20000]}})
    assert config.maintenance_due.own_km_bounds == (500.0, 20000.0)
    with pytest.raises(ValueError, match=r"care\.maintenance_due\.own_km_bounds"):
        CareConfig.from_params({"maintenance_due": {"own_km_bounds": [30000, 1000]}})
    with pytest.raises(ValueError, match=r"care\.maintenance_due\.min_own_intervals"):
        CareConfig.from_params({"maintenance_due": {"min_own_intervals": 0}})


# --- insurance_expiry and birthday ------------------------------------------------------------


def test_insurance_expiry_from_t_to_t_plus_30_days():
    expiry = pd.Series(pd.to_datetime(["2026-10-01", "2026-10-31", "2026-11-01", "2026-09-30"]))
    expiry[4] = pd.NaT
    due = insurance_due(expiry, T, InsuranceRule())
    assert due["fires"].tolist() == [True, True, False, False, False]


def test_the_next_birthday_and_29_february():
    born = pd.Series(["10-01", "09-30", "02-29", "02-29", "13-01", None])
    assert next_birthday(born, T).tolist()[:2] == [T, pd.Timestamp("2027-09-30")]
    # 2027 has no 29 February: the 28th; in 2028 the 29th itself
    assert next_birthday(born, T)[2] == pd.Timestamp("2027-02-28")
    assert next_birthday(born, pd.Timestamp("2028-02-25"))[3] == pd.Timestamp("2028-02-29")
    assert next_birthday(born, T)[4:].isna().all()


def test_birthday_window_and_the_tier_and_model_filter():
    born = pd.Series(["10-01", "10-08", "10-09", "10-03", "10-03", "09-30"])
    tier = pd.Series(["high", "high", "high", "low", "low", "high"])
    model = pd.Series(["A4", "A4", "A4", "A4", "Crown", "A4"])
    due = birthday_due(born, tier, model, T, BirthdayRule())
    # T and T+7 in, T+8 out, a low tier out, yesterday's birthday is next year's
    assert due["fires"].tolist() == [True, True, False, False, False, False]
    rule = BirthdayRule(vehicle_models=("Crown",))  # a high tier or a Crown owner
    assert birthday_due(born, tier, model, T, rule)["fires"].tolist() == [
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    everyone = BirthdayRule(tiers=())
    assert birthday_due(born, tier, model, T, everyone)["fires"].sum() == 4
    leap = birthday_due(
        pd.Series(["02-29"]), pd.Series(["high"]), None, pd.Timestamp("2027-02-25"), BirthdayRule()
    )
    assert leap["fires"].tolist() == [True]
    assert leap["due_date"].tolist() == [pd.Timestamp("2027-02-28")]


# --- the task file: one task per customer, suppression ----------------------------------------


def _run(feats, customers, config=None, **kwargs):
    tiers = pd.Series(kwargs.pop("tiers", ["high"] * len(feats)))
    return care_tasks(feats, customers, T, config or CareConfig(), tiers, **kwargs)


def test_one_task_per_customer_by_priority_and_the_columns():
    # A: insurance and maintenance and birthday all fire -> the insurance task only
    # B: maintenance only; C: nothing fires -> no row
    feats = _features(
        [
            {"customer_id": "A", "mileage_km_per_day": 50, "days_since_last_maintenance": 100},
            {"customer_id": "B", "mileage_km_per_day": 50, "days_since_last_maintenance": 95},
            {"customer_id": "C", "mileage_km_per_day": 10, "days_since_last_maintenance": 10},
        ]
    )
    cust = _customers(
        ["A", "B", "C"],
        insurance_expiry_date=pd.to_datetime(["2026-10-20", None, "2027-01-01"]),
        birthday=["10-02", None, "05-05"],
    )
    result = _run(feats, cust)
    tasks = result.tasks
    assert list(tasks.columns) == OUTPUT_COLUMNS
    # sorted by due date: B's maintenance (2026-10-06) before A's insurance (2026-10-20)
    assert tasks["customer_id"].tolist() == ["B", "A"]
    assert tasks["trigger"].tolist() == [MAINTENANCE, INSURANCE]
    assert tasks["trigger_zh"].tolist() == ["保养到期提醒", "保险到期续保提醒"]
    assert tasks["due_date"].tolist() == [pd.Timestamp("2026-10-06"), pd.Timestamp("2026-10-20")]
    assert tasks["owner"].tolist() == ["service_advisor", "insurance_advisor"]
    assert tasks["owner_zh"].tolist() == ["服务顾问", "续保专员"]
    assert tasks["template"].tolist() == ["care_maintenance_due", "care_insurance_renewal"]
    assert tasks["plate"].tolist() == ["沪A·QB", "沪A·QA"]
    assert set(tasks["status"]) == {"task"} and tasks["suppressed_reason"].isna().all()
    by = result.metrics["by_trigger"]
    assert by[INSURANCE] == {
        "enabled": True, "fired": 1, "rows": 1, "tasks": 1, "suppressed": 0, "superseded": 0
    }  # fmt: skip
    assert (by[MAINTENANCE]["fired"], by[MAINTENANCE]["superseded"]) == (2, 1)
    assert (by[BIRTHDAY]["fired"], by[BIRTHDAY]["superseded"]) == (1, 1)
    assert result.metrics["no_trigger"] == 1


def test_priority_and_enabled_are_params():
    feats = _features(
        [{"customer_id": "A", "mileage_km_per_day": 50, "days_since_last_maintenance": 100}]
    )
    cust = _customers(["A"], insurance_expiry_date=pd.to_datetime(["2026-10-20"]))
    first = CareConfig.from_params({"priority": [MAINTENANCE, INSURANCE, BIRTHDAY]})
    assert _run(feats, cust, first).tasks["trigger"].tolist() == [MAINTENANCE]
    off = CareConfig.from_params({"maintenance_due": {"enabled": False}})
    assert _run(feats, cust, off).tasks["trigger"].tolist() == [INSURANCE]
    assert _run(feats, cust, off).metrics["by_trigger"][MAINTENANCE]["enabled"] is False


def test_each_suppression_rule_keeps_the_row_with_its_reason():
    due = {"mileage_km_per_day": 50, "days_since_last_maintenance": 100}  # due today
    ids = ["N", "G", "W1", "W2", "R", "OLD", "TODAY", "FREE", "BOTH"]
    feats = _features([{"customer_id": i, **due} for i in ids])
    feats.loc[feats["customer_id"].isin(["G", "BOTH"]), "reported_gone"] = 1.0
    cust = _customers(ids, do_not_contact=["yes", None, None, None, None, None, None, "no", "yes"])
    scores = pd.DataFrame(
        {
            "customer_id": ["W1", "W2", "FREE"],
            "value_tier": ["high"] * 3,
            "recommended_action": ["sms_coupon", "none", "none"],
            "group": ["treatment", "control", None],
        }
    )
    contacts = pd.DataFrame(
        {
            "customer_id": ["R", "OLD", "TODAY"],
            # 10 days ago (suppressed), 30 days ago (not fewer than 30), on T (the future)
            "contact_date": pd.to_datetime(["2026-09-21", "2026-09-01", "2026-10-01"]),
        }
    )
    result = _run(feats, cust, scores=scores, care_contacts=contacts)
    rows = result.tasks.set_index("customer_id")
    assert rows.loc[["OLD", "TODAY", "FREE"], "status"].tolist() == ["task"] * 3
    reasons = rows["suppressed_reason"].dropna()
    assert reasons.to_dict() == {
        "N": "do not contact (customers.do_not_contact)",
        "G": "reported gone: car sold or owner moved (outreach outcome before the as-of date)",
        "W1": "in this week's win-back selection (score file: treatment or control group)",
        "W2": "in this week's win-back selection (score file: treatment or control group)",
        "R": "care contact on 2026-09-21, fewer than 30 days before the as-of date "
        "(care.min_days_between)",
        "BOTH": "do not contact (customers.do_not_contact)",  # the first reason listed wins
    }
    assert rows.loc["R", "suppressed_reason_zh"] == (
        "2026-09-21已发送关怀信息，距评分日期不足30天（care.min_days_between）"
    )
    suppressed = rows.loc[list(reasons.index)]
    assert (suppressed["status"] == "suppressed").all()
    assert suppressed[["owner", "channel", "template"]].isna().all().all()
    assert suppressed["trigger"].eq(MAINTENANCE).all()  # kept: what would have been sent
    # the tasks come first, then the suppressed rows (same due date: by customer id)
    assert result.tasks["customer_id"].tolist() == [
        "FREE", "OLD", "TODAY", "BOTH", "G", "N", "R", "W1", "W2"
    ]  # fmt: skip
    assert result.metrics["by_reason"] == {
        "do_not_contact": 2,
        "reported_gone": 1,
        "winback_contact": 2,
        "recent_care_contact": 1,
    }
    off = CareConfig.from_params({"min_days_between": 0})
    assert (
        _run(feats, cust, off, care_contacts=contacts)
        .tasks.set_index("customer_id")
        .loc["R", "status"]
        == "task"
    )


def test_the_score_file_value_tier_decides_the_birthday_coupon():
    feats = _features([{"customer_id": "A"}, {"customer_id": "B"}])
    cust = _customers(["A", "B"], birthday=["10-02", "10-02"])
    scores = pd.DataFrame(
        {
            "customer_id": ["A"],
            "value_tier": ["high"],
            "recommended_action": ["none"],
            "group": [None],
        }
    )
    # computed tiers say both low; the score file makes A high
    result = _run(feats, cust, tiers=["low", "low"], scores=scores)
    assert result.tasks["customer_id"].tolist() == ["A"]
    assert result.tasks["trigger"].tolist() == [BIRTHDAY]


def test_winback_selected_counts_both_groups():
    scores = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "recommended_action": ["sms_coupon", "none", "none", None],
            "group": ["treatment", "control", None, None],
        }
    )
    ids = pd.Series(["A", "B", "C", "D", "E"])
    assert winback_selected(scores, ids).tolist() == [True, True, False, False, False]
    assert not winback_selected(None, ids).any()


def test_the_advisor_of_the_latest_visit_before_t_that_names_one():
    visits = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B"],
            "visit_date": pd.to_datetime(
                ["2026-05-01", "2026-08-01", "2026-10-01", "2026-06-01", "2026-09-01"]
            ),
            # A: the visit on T is the future; B: the latest visit names no advisor
            "advisor_id": ["SA1", "SA2", "SA3", "SA4", None],
        }
    )
    got = last_advisor(visits, pd.Series(["A", "B", "C"]), T)
    assert got.tolist()[:2] == ["SA2", "SA4"] and pd.isna(got[2])
    assert last_advisor(visits.drop(columns="advisor_id"), pd.Series(["A"]), T).isna().all()


def test_unknown_params_fail_naming_the_field_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown care\.birthday params: tier; known: .*tiers"):
        CareConfig.from_params({"birthday": {"tier": ["high"]}})
    with pytest.raises(
        ValueError, match=r"unknown care params: min_days; known: .*min_days_between"
    ):
        CareConfig.from_params({"min_days": 7})
    with pytest.raises(ValueError, match="care.priority must name every trigger once"):
        CareConfig.from_params({"priority": [BIRTHDAY]})
    with pytest.raises(ValueError, match=r"care\.insurance_expiry\.within_days"):
        CareConfig.from_params({"insurance_expiry": {"within_days": -1}})


# --- the stage --------------------------------------------------------------------------------


def test_winback_care_writes_tasks_and_counts_without_personal_data(
    make_tables, write_dir, tmp_path, caplog
):
    # as of 2024-09-01, through the contract's validation:
    # 00101 insurance ends 09-15 but a care message went out 08-20 (12 days ago): suppressed
    # 00102 birthday given as a full date (the year is dropped), owns a Q5 (params): 09-03
    # 00103 insurance ends 09-20: a task; 00104 insurance ends 09-10, do not contact: suppressed
    # 00105 two maintenance visits 100 days apart (5,000 km), the last on 2024-05-30: due
    #       100 days after, 2024-09-07
    tables = make_tables(optional=["outreach"])
    cust = tables["customers"]
    cust["insurance_expiry_date"] = ["2024-09-15", None, "2024-09-20", "2024-09-10", None]
    cust["birthday"] = [None, "1985-09-03", "--12-24", "13-45", None]
    cust["plate"] = ["沪A10001", "沪A10002", "苏E10003", "浙A10004", "沪A10005"]
    cust["do_not_contact"] = [None, None, None, "yes", None]
    visits = tables["service_visits"]
    visits.loc[visits["customer_id"] == "00105", ["visit_date", "mileage_km", "visit_type"]] = [
        ["2024-02-20", "3000", "maintenance"],
        ["2024-05-30", "8000", "maintenance"],
    ]
    visits["advisor_id"] = [f"SA{i}" for i in range(len(visits))]
    contacts = pd.DataFrame(
        {"customer_id": ["00101"], "contact_date": ["2024-08-20"], "trigger": ["birthday"]}
    )
    data = write_dir({**tables, "care_contacts": contacts})
    params = tmp_path / "params.yaml"
    params.write_text("care:\n  birthday:\n    vehicle_models: [Q5]\n", encoding="utf-8")
    out, metrics = tmp_path / "care" / "tasks.csv", tmp_path / "care" / "metrics.json"
    args = ["care", str(data), "--as-of", "2024-09-01", "--params", str(params), "--out", str(out)]
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(app, [*args, "--metrics", str(metrics)])
    assert result.exit_code == 0, result.output
    tasks = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert tasks["customer_id"].tolist() == ["00102", "00105", "00103", "00104", "00101"]
    assert tasks["trigger"].tolist() == [BIRTHDAY, MAINTENANCE, INSURANCE, INSURANCE, INSURANCE]
    assert tasks["due_date"].tolist() == [
        "2024-09-03", "2024-09-07", "2024-09-20", "2024-09-10", "2024-09-15"
    ]  # fmt: skip
    assert tasks["status"].tolist() == ["task"] * 3 + ["suppressed"] * 2
    assert tasks["suppressed_reason"].tolist()[3:] == [
        "do not contact (customers.do_not_contact)",
        "care contact on 2024-08-20, fewer than 30 days before the as-of date "
        "(care.min_days_between)",
    ]
    assert tasks["plate"].tolist()[:2] == ["沪A10002", "沪A10005"]
    assert tasks["advisor_id"].tolist()[:2] == ["SA3", "SA9"]  # of each one's last visit
    assert tasks["name"].tolist()[1] == "Evander Clovemarsh"
    # the phone number starts with "+": neutralised for spreadsheets
    assert tasks["phone"].tolist()[1] == "'+86-139-7771-0005"
    counts = json.loads(metrics.read_text(encoding="utf-8"))
    assert (counts["tasks"], counts["suppressed"]) == (3, 2)
    assert counts["by_reason"]["recent_care_contact"] == 1
    assert "care as of 2024-09-01: 5 customers, 3 task(s)" in result.output
    said = metrics.read_text(encoding="utf-8") + result.output + caplog.text
    for secret in ("Clovemarsh", "7771-0005", "沪A10002", "10003", "1985", "09-03", "12-24"):
        assert secret not in said
    # the same inputs give the same bytes
    again = tmp_path / "again.csv"
    assert CliRunner().invoke(app, [*args[:-1], str(again)]).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_winback_care_refuses_a_file_that_is_not_a_score_file(make_tables, write_dir, tmp_path):
    data = write_dir(make_tables(optional=False))
    bad = tmp_path / "scores.csv"
    pd.DataFrame({"customer_id": ["00101"]}).to_csv(bad, index=False)
    args = ["care", str(data), "--as-of", "2024-09-01", "--out", str(tmp_path / "t.csv")]
    result = CliRunner().invoke(app, [*args, "--scores", str(bad)])
    assert result.exit_code == 1
    assert "not a `winback score` file" in result.output and "recommended_action" in result.output


def test_the_doc_lists_the_task_columns_and_reasons_of_the_code():
    from pathlib import Path

    from models.care import REASONS, TASK_COLUMNS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "care.md").read_text(encoding="utf-8")
    rows = [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in doc.splitlines()
        if line.startswith("| `")
    ]
    assert [tuple(r) for r in rows if len(r) == 3 and r[0] in dict.fromkeys(
        c[0] for c in TASK_COLUMNS
    )] == TASK_COLUMNS  # fmt: skip
    fill = {"date": "DATE", "days": "N"}
    documented = {r[0]: (r[1], r[2]) for r in rows if r[0] in REASONS}
    assert documented == {
        k: (en.format(**fill), zh.format(**fill)) for k, (en, zh) in REASONS.items()
    }


def test_a_store_list_of_model_intervals_replaces_the_default_list_whole(tmp_path):
    from pipeline.common import load_params

    path = tmp_path / "params.yaml"
    path.write_text("care:\n  maintenance_due:\n    interval_km_by_model: {A4: 10000}\n")
    config = CareConfig.from_params(load_params("care", path))
    assert config.maintenance_due.interval_km_by_model == {"A4": 10000}
    assert config.maintenance_due.interval_km == 5000.0  # the rest of the block: the defaults


def test_maintenance_check_against_true_intervals():
    # A: 50 km/day -> 100 days, 100 days ago: reminded; truly 200 days: not due (a false alarm)
    # B: 50 km/day, 150 days ago -> 50 days overdue: not reminded; truly 160: due in 10 (missed)
    # C: 50 km/day, 100 days ago, truly 100: reminded and due
    feats = _features(
        [
            {"customer_id": c, "mileage_km_per_day": 50, "days_since_last_maintenance": d}
            for c, d in (("A", 100), ("B", 150), ("C", 100))
        ]
    )
    from models.care import maintenance_check

    got = maintenance_check(feats, T, MaintenanceRule(), pd.Series([200.0, 160.0, 100.0]))
    assert got == {
        "reminders": 2,
        "truly_due": 2,
        "precision": 0.5,
        "recall": 0.5,
        "median_interval_error_days": 60.0,  # errors 100, 60, 0
        "mileage_owners": 3,
    }


def test_care_and_its_truth_check_on_the_shared_simulation(shared_sim, tmp_path):
    out, metrics = tmp_path / "tasks.parquet", tmp_path / "metrics.json"
    args = ["care", str(shared_sim.data), "--through", "2026-09-30", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--metrics", str(metrics)])
    assert result.exit_code == 0, result.output
    tasks = pd.read_parquet(out)
    customers = pd.read_parquet(shared_sim.data / "customers.parquet")
    assert tasks["customer_id"].is_unique
    assert tasks["customer_id"].isin(customers["customer_id"]).all()
    counts = json.loads(metrics.read_text(encoding="utf-8"))
    assert counts["rows"] == len(tasks) and counts["customers"] == len(customers)
    assert counts["by_trigger"][MAINTENANCE]["tasks"] > 0
    assert (tasks["as_of"] == pd.Timestamp("2026-10-01")).all()
    # reported-gone owners (car sold, moved) are never sent a care message
    assert counts["by_reason"]["reported_gone"] == (
        tasks["suppressed_reason"].str.startswith("reported gone").sum()
    )
    # the simulator's care data: insurance renewals, plates, the care messages already sent
    assert counts["by_trigger"][INSURANCE]["tasks"] > 0
    assert tasks["plate"].notna().mean() > 0.9
    contacts = pd.read_parquet(shared_sim.data / "care_contacts.parquet")
    recent = contacts.loc[contacts["contact_date"].between("2026-09-01", "2026-09-30")]
    blocked = tasks.loc[tasks["suppressed_reason"].str.startswith("care contact", na=False)]
    assert len(blocked) > 0 and set(blocked["customer_id"]) <= set(recent["customer_id"])
    text = metrics.read_text(encoding="utf-8") + result.output
    for column in ("name", "phone", "plate"):
        assert not any(value in text for value in customers[column].dropna().head(200))
    from pipeline import care_check

    check = CliRunner().invoke(
        typer_app(care_check.main), [str(shared_sim.data), "--through", "2026-09-30"]
    )
    assert check.exit_code == 0, check.output
    lines = dict(line.split(": ", 1) for line in check.output.splitlines() if ": {" in line)
    learnt, flat = (json.loads(v) for v in lines.values())
    # the intervals learnt from the visits find the truly due owners better than one interval
    assert learnt["precision"] > flat["precision"]
    assert learnt["median_interval_error_days"] < flat["median_interval_error_days"]
    assert learnt["interval_sources"].get("own", 0) > 0


def typer_app(function):
    import typer

    single = typer.Typer(add_completion=False)
    single.command()(function)
    return single


def test_a_trigger_whose_column_is_not_collected_is_named():
    from pipeline.care import not_collected_notes

    plain = pd.DataFrame({"customer_id": ["A", "B"]})
    notes = not_collected_notes(plain, CareConfig())
    assert len(notes) == 2
    assert "customers.insurance_expiry_date is not collected" in notes[0]
    assert "customers.birthday is not collected" in notes[1]
    # an empty column counts as not collected; a filled one, or a disabled trigger, does not
    some = plain.assign(insurance_expiry_date=pd.to_datetime(["2026-10-05", None]))
    some["birthday"] = None
    assert [n.split(":")[0] for n in not_collected_notes(some, CareConfig())] == ["birthday"]
    off = CareConfig.from_params({"birthday": {"enabled": False}})
    assert not_collected_notes(some, off) == []
