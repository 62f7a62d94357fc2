"""Feature builder: hand-computed values for every family, leakage, missing signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.dictionary import FEATURES, feature_dictionary, feature_names
from features.events import prepare
from features.validation import validate_tables

T = "2024-07-01"


def tables() -> dict[str, pd.DataFrame]:
    """c1 has events in every table; c2 only a visit after T; c3 nothing at all."""
    return {
        "customers": pd.DataFrame(
            {
                "customer_id": ["c1", "c2", "c3"],
                "dealer_id": ["D1", "D2", "D1"],
                "region": ["Beijing", "Shanghai", None],
                "vehicle_model": ["Camry", "RAV4", "Camry"],
                "vehicle_purchase_date": ["2021-07-01", None, "2024-09-01"],
                "referrals": [2, 0, 1],
                "name": ["Zhang San", "Li Si", "Wang Wu"],
                "phone": ["13800000001", "13800000002", "13800000003"],
            }
        ),
        "service_visits": pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c1", "c1", "c2"],
                "visit_date": ["2023-07-01", "2024-01-01", "2024-05-02T09:30", T, "2024-08-01"],
                "amount": [500, 1500, 0, 800, 300],
                "visit_type": ["maintenance", "repair", "maintenance", "maintenance", "repair"],
                "wait_minutes": [30, 90, 20, 200, 10],
                "mileage_km": [10000, 14000, 16000, 99999, 5000],
            }
        ),
        "app_sessions": pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c1"],
                "session_date": ["2024-05-01", "2024-06-20", T],
                "sessions": [3, 2, 5],
            }
        ),
        "appointments": pd.DataFrame(
            {
                "customer_id": ["c1"] * 5,
                "booked_date": [
                    "2023-06-01",
                    "2024-01-01",
                    "2024-03-01",
                    "2024-04-01",
                    "2024-06-25",
                ],
                "scheduled_date": [
                    "2023-06-05",
                    "2024-01-05",
                    "2024-03-10",
                    "2024-04-03",
                    "2024-07-05",
                ],
                "status": ["cancelled", "kept", "cancelled", "no_show", "kept"],
            }
        ),
        "surveys": pd.DataFrame(
            {
                "customer_id": ["c1"] * 4,
                "survey_date": ["2023-05-01", "2024-01-02", "2024-05-03", T],
                "score": [4, 6, 9, 0],
            }
        ),
        "complaints": pd.DataFrame(
            {
                "customer_id": ["c1"] * 3,
                "complaint_date": ["2023-01-01", "2024-02-01", "2024-03-01"],
                "category": ["staff", "wait_time", "price"],
            }
        ),
        "consultations": pd.DataFrame(
            {"customer_id": ["c1", "c1"], "contact_date": ["2024-03-01", "2024-06-30"]}
        ),
        "outreach": pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c1"],
                "contact_date": ["2023-06-01", "2024-02-01", "2024-04-01"],
                "action": ["sms_coupon", "sms_coupon", "advisor_call"],
                "cost": [5, 5, 0],
                "group": ["treatment", "treatment", "control"],
            }
        ),
    }


def row(feats: pd.DataFrame, cid: str) -> pd.Series:
    return feats.set_index("customer_id").loc[cid]


@pytest.fixture
def feats() -> pd.DataFrame:
    return build_features(validate_tables(tables()), T)


def test_recency(feats):
    c1 = row(feats, "c1")
    # last visit 2024-05-02 (time of day ignored): May 2 -> Jul 1 = 30 + 30 = 60 days
    assert c1["days_since_last_visit"] == 60
    # last paid visit 2024-01-01 (the May visit is free): 31+29+31+30+31+30 = 182
    assert c1["days_since_last_paid_visit"] == 182
    # gaps 2023-07-01 -> 2024-01-01 = 184, 2024-01-01 -> 2024-05-02 = 122; median 153
    assert c1["median_visit_interval_days"] == 153
    assert c1["recency_interval_ratio"] == pytest.approx(60 / 153)
    # the visit on T itself is future: not used
    assert row(feats, "c2")["days_since_last_visit"] != row(feats, "c2")["days_since_last_visit"]


def test_frequency_monetary(feats):
    c1 = row(feats, "c1")
    # windows: T-90 = 2024-04-02, T-180 = 2024-01-03, T-365 = 2023-07-02, T-360 = 2023-07-07
    assert c1["visits_90d"] == 1  # May 2
    assert c1["visits_180d"] == 1  # Jan 1 is before Jan 3
    assert c1["visits_365d"] == 2  # 2023-07-01 is before 2023-07-02
    assert c1["visits_lifetime"] == 3
    assert c1["spend_90d"] == 0 and c1["spend_180d"] == 0
    assert c1["spend_365d"] == 1500 and c1["spend_lifetime"] == 2000
    assert c1["maintenance_share"] == pytest.approx(2 / 3)
    assert c1["repair_share"] == pytest.approx(1 / 3)
    # previous half-year [2023-07-07, 2024-01-03) holds the Jan 1 repair: 1 - 1 = 0 visits,
    # 0 - 1500 = -1500 CNY
    assert c1["visits_trend_180d"] == 0
    assert c1["spend_trend_180d"] == -1500
    # (16000 - 10000) km / (184 + 122) days
    assert c1["mileage_km_per_day"] == pytest.approx(6000 / 306)
    assert c1["tenure_days"] == 366  # 2023-07-01 -> 2024-07-01 (leap year)


def test_wait_and_satisfaction(feats):
    c1 = row(feats, "c1")
    assert c1["wait_minutes_last"] == 20
    assert c1["wait_minutes_mean_365d"] == (90 + 20) / 2
    assert c1["survey_score_last"] == 9  # the 0 on T is future
    assert c1["survey_score_mean_365d"] == (6 + 9) / 2
    assert c1["survey_score_min_365d"] == 6  # the 4 of 2023-05-01 is out of the window
    assert c1["survey_score_mean"] == pytest.approx((4 + 6 + 9) / 3)
    assert c1["survey_score_trend"] == 9 - 6
    assert c1["complaints_365d"] == 2
    assert c1["price_complaints_365d"] == 1
    assert c1["days_since_last_complaint"] == 122  # Mar 1 -> Jul 1 = 31+30+31+30


def test_app(feats):
    c1 = row(feats, "c1")
    assert c1["app_sessions_30d"] == 2  # [Jun 1, Jul 1): Jun 20
    assert c1["app_sessions_90d"] == 5  # 3 + 2
    assert c1["days_since_last_app_session"] == 11
    assert c1["app_inactive"] == 0
    c2 = row(feats, "c2")  # app table collected, customer never used it
    assert c2["app_sessions_30d"] == 0 and c2["app_inactive"] == 1
    assert np.isnan(c2["days_since_last_app_session"])


def test_appointments(feats):
    c1 = row(feats, "c1")
    # resolved in [2023-07-02, T): Jan 5 kept, Mar 10 cancelled, Apr 3 no-show; the
    # booking of Jun 25 for Jul 5 is still to come; the 2023-06 one is out of the window
    assert c1["appointments_365d"] == 3
    assert c1["cancellations_365d"] == 1 and c1["no_shows_365d"] == 1
    assert c1["cancellation_rate_365d"] == pytest.approx(1 / 3)
    assert c1["no_show_rate_365d"] == pytest.approx(1 / 3)
    assert c1["days_since_last_booking"] == 6
    assert c1["upcoming_appointment"] == 1
    c2 = row(feats, "c2")
    assert c2["appointments_365d"] == 0 and np.isnan(c2["cancellation_rate_365d"])
    assert c2["upcoming_appointment"] == 0


def test_consultations_outreach_customer(feats):
    c1 = row(feats, "c1")
    assert c1["consultations_90d"] == 1 and c1["no_consultation_quarter"] == 0
    assert row(feats, "c2")["no_consultation_quarter"] == 1
    # treatment contacts in [2023-07-02, T): 2024-02-01 only (control is not a contact)
    assert c1["contacts_365d"] == 1
    assert c1["days_since_last_contact"] == 151  # Feb 1 -> Jul 1 = 29+31+30+31+30
    assert c1["vehicle_age_days"] == 1096  # 365 + 365 + 366
    assert np.isnan(row(feats, "c3")["vehicle_age_days"])  # bought after T
    assert c1["referrals"] == 2
    assert c1["vehicle_model"] == "Camry" and c1["region"] == "Beijing"
    assert c1["dealer_id"] == "D1"
    for col in ("vehicle_model", "region", "dealer_id"):
        assert isinstance(feats[col].dtype, pd.CategoricalDtype)
    assert list(feats["region"].cat.categories) == ["Beijing", "Shanghai"]


def test_one_row_per_customer_sorted_with_keys(feats):
    assert list(feats["customer_id"]) == ["c1", "c2", "c3"]
    assert feats["as_of"].dtype == "datetime64[ns]"
    assert (feats["as_of"] == pd.Timestamp(T)).all()
    assert list(feats.columns) == ["customer_id", "as_of", *feature_names()]
    assert "name" not in feats.columns and "phone" not in feats.columns
    c3 = row(feats, "c3")  # no events: zero counts, missing "days since"
    assert c3["visits_lifetime"] == 0 and np.isnan(c3["days_since_last_visit"])


def test_missing_optional_tables_give_nan_not_zero():
    raw = {k: v for k, v in tables().items() if k in ("customers", "service_visits")}
    feats = build_features(validate_tables(raw), T)
    data_cols = [f.name for f in FEATURES if f.signal not in ("service_visits", "customers")]
    assert feats[data_cols].isna().all().all()
    assert row(feats, "c1")["visits_lifetime"] == 3


def test_leakage_future_events_change_nothing():
    base = tables()
    expected = build_features(validate_tables(base), T)
    rng = np.random.default_rng(7)
    ids = ["c1", "c2", "c3"]
    t0 = pd.Timestamp(T)

    def dates(n):
        return [t0 + pd.Timedelta(days=int(d)) for d in rng.integers(0, 400, n)]

    for _ in range(5):
        n = int(rng.integers(1, 8))
        booked = dates(n)
        extra = {
            "service_visits": pd.DataFrame(
                {
                    "customer_id": rng.choice(ids, n),
                    "visit_date": dates(n),
                    "amount": rng.uniform(0, 5000, n).round(2),
                    "visit_type": rng.choice(["maintenance", "repair", "other"], n),
                    "wait_minutes": rng.uniform(0, 300, n),
                    "mileage_km": rng.uniform(0, 1e5, n),
                }
            ),
            "app_sessions": pd.DataFrame(
                {"customer_id": rng.choice(ids, n), "session_date": dates(n), "sessions": 3}
            ),
            "appointments": pd.DataFrame(
                {
                    "customer_id": rng.choice(ids, n),
                    "booked_date": booked,
                    "scheduled_date": [b + pd.Timedelta(days=3) for b in booked],
                    "status": rng.choice(["kept", "cancelled", "no_show"], n),
                }
            ),
            "surveys": pd.DataFrame(
                {"customer_id": rng.choice(ids, n), "survey_date": dates(n), "score": 1}
            ),
            "complaints": pd.DataFrame(
                {
                    "customer_id": rng.choice(ids, n),
                    "complaint_date": dates(n),
                    "category": "price",
                }
            ),
            "consultations": pd.DataFrame(
                {"customer_id": rng.choice(ids, n), "contact_date": dates(n)}
            ),
            "outreach": pd.DataFrame(
                {
                    "customer_id": rng.choice(ids, n),
                    "contact_date": dates(n),
                    "action": "home_visit",
                    "cost": 100.0,
                    "group": "treatment",
                }
            ),
        }
        raw = {
            name: pd.concat([df, extra[name]], ignore_index=True) if name in extra else df
            for name, df in base.items()
        }
        got = build_features(validate_tables(raw), T)
        pd.testing.assert_frame_equal(got, expected)


def test_prepared_index_reused_gives_same_result():
    data = validate_tables(tables())
    idx = prepare(data)
    pd.testing.assert_frame_equal(build_features(None, T, index=idx), build_features(data, T))
    with pytest.raises(ValueError, match="data set or a prepared index"):
        build_features(None, T)


def test_dictionary_describes_every_feature():
    d = feature_dictionary()
    assert list(d["name"]) == feature_names()
    assert d["name"].is_unique
    for col in ("meaning", "unit", "label_en", "label_zh", "family", "signal"):
        assert (d[col].str.len() > 0).all(), col
    assert d.loc[d["name"] == "days_since_last_visit", "label_zh"].item() == "距上次到店保养时长"
    assert set(d["kind"]) <= {"numeric", "flag", "categorical"}


def test_service_timing_and_complaint_kinds(feats):
    c1 = row(feats, "c1")
    # maintenance visits before T: 2023-07-01 and 2024-05-02 (the Jan 1 repair does not reset
    # the schedule; the maintenance on T is future)
    assert c1["days_since_last_maintenance"] == 60
    assert c1["maintenance_interval_days"] == 306  # 2023-07-01 -> 2024-05-02 = 184 + 122
    assert c1["days_until_service_due"] == 306 - 60
    # complaints in [2023-07-02, T): wait_time (Feb 1) and price (Mar 1); the 2023 one is out
    assert c1["service_complaints_365d"] == 1
    c2 = row(feats, "c2")  # only a future visit
    assert np.isnan(c2["days_since_last_maintenance"])
    assert np.isnan(c2["days_until_service_due"])


def _visits(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "visit_date": [r[1] for r in rows],
            "amount": 100.0,
            "visit_type": [r[2] for r in rows],
        }
    )


def test_service_due_falls_back_to_all_visits_without_two_maintenance_visits():
    raw = {
        "customers": pd.DataFrame({"customer_id": ["r1"], "region": ["R"]}),
        # repairs only: typical interval 2024-01-01 -> 2024-03-01 = 60 days
        "service_visits": _visits([("r1", "2024-01-01", "repair"), ("r1", "2024-03-01", "repair")]),
    }
    r1 = row(build_features(validate_tables(raw), "2024-04-01"), "r1")
    assert np.isnan(r1["days_since_last_maintenance"])
    assert np.isnan(r1["maintenance_interval_days"])
    assert r1["days_until_service_due"] == 60 - 31  # Mar 1 -> Apr 1 = 31 days


def test_expanding_median_by_hand():
    from features.events import _expanding_median

    values = np.array([10.0, 30.0, 20.0, 40.0, 7.0, 5.0, 9.0])
    codes = np.array([0, 0, 0, 0, 1, 2, 2])
    # group 0: median of [10], [10,30], [10,20,30], [10,20,30,40]; group 2: [5], [5,9]
    expected = [10.0, 20.0, 20.0, 25.0, 7.0, 5.0, 7.0]
    np.testing.assert_array_equal(_expanding_median(values, codes), expected)
    assert _expanding_median(np.array([]), np.array([], dtype=np.int64)).size == 0


def test_a_customers_features_do_not_depend_on_the_other_customers(make_tables):
    # Window sums restart at each customer: the same bits with or without the others (what
    # lets the Dask engine compute partitions of customers separately).
    tables = make_tables()
    # cents that binary floating point cannot hold exactly: a running sum over all
    # customers would round differently from one over a customer's own visits
    tables["service_visits"]["amount"] = ["1000.1", "0.7", "2000.3", "0.1", "3000.7"] * 2
    keep = ["00102", "00104"]
    subset = {
        name: df[df["customer_id"].isin(keep)].reset_index(drop=True) for name, df in tables.items()
    }
    full = build_features(validate_tables(tables), "2024-07-01")
    part = build_features(validate_tables(subset), "2024-07-01")
    full = full[full["customer_id"].isin(keep)].reset_index(drop=True)
    num = [c for c in full.columns if c != "customer_id" and full[c].dtype == "float64"]
    pd.testing.assert_frame_equal(part[num], full[num], check_exact=True)
