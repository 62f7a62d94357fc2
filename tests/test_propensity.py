"""The outreach propensity: the contract column, the estimate from the log, the recovery table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from contract_helpers import table_rejects

from features.config import FeaturizeConfig
from features.contract import ACTION_SET_MISSING, RULE_MAX, RULE_MIN, RULE_NOT_NUMBER
from features.labels import recovery_table
from features.propensity import campaigns, estimate_propensity, with_propensity
from features.reading import read_data_dir
from features.validation import validate_tables

SMS, CALL = "sms_coupon", "advisor_call"
LOG = pd.DataFrame(
    {
        "contact_date": pd.to_datetime(["2026-01-05"] * 6 + ["2026-02-03"] * 3 + ["2026-02-10"]),
        "action": ["none", SMS, SMS, CALL, SMS, CALL, CALL, SMS, SMS, CALL],
        # row 7 was held out of an advisor call: its arm is none
        "group": ["control"] + ["treatment"] * 5 + ["control"] + ["treatment"] * 3,
    }
)
SPEND = np.array([0, 100, 2000, 1500, 6000, 5000.01, 0, 0, 0, 0])


def test_estimate_is_the_arm_share_of_its_campaign_and_tier():
    got = estimate_propensity(LOG, SPEND, min_rows=3)
    # arms over the log: none 2/10, sms 5/10, call 3/10
    expected = [1 / 4, 2 / 4, 2 / 4, 1 / 4]  # Jan 5, low tier (2000 is low): 4 rows
    expected += [5 / 10, 3 / 10]  # Jan 5, high tier: 2 rows < 3 -> the log's shares
    expected += [1 / 3, 2 / 3, 2 / 3]  # Feb 3, low tier: 3 rows
    expected += [3 / 10]  # Feb 10: one row
    assert got.tolist() == pytest.approx(expected)
    # with the default 30 rows every cell is small: the log's shares
    assert estimate_propensity(LOG, SPEND).tolist() == pytest.approx(
        [0.2, 0.5, 0.5, 0.3, 0.5, 0.3, 0.2, 0.5, 0.5, 0.3]
    )


def test_campaigns_are_days_or_months_when_the_days_are_spread():
    days = LOG["contact_date"]
    assert campaigns(days, 3).tolist() == days.tolist()  # 9 of 10 rows on days with >= 3
    spread = pd.Series(pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-20", "2026-02-01"]))
    assert campaigns(spread, 3).astype("str").tolist() == ["2026-01-01"] * 3 + ["2026-02-01"]


def test_logged_propensity_wins_and_the_rest_is_estimated():
    log = LOG.assign(propensity=[0.2, np.nan, 0.36, 0.2, 0.12, 0.2, 0.2, 0.36, 0.36, np.nan])
    got = with_propensity(log, SPEND, min_rows=3)
    assert got["propensity"].tolist() == pytest.approx(
        [0.2, 0.5, 0.36, 0.2, 0.12, 0.2, 0.2, 0.36, 0.36, 0.3]
    )
    assert got["propensity_estimated"].tolist() == [False, True] + [False] * 7 + [True]


def test_contract_sets_a_propensity_outside_0_1_to_missing(make_tables, write_dir):
    tables = make_tables(optional=["outreach"])
    tables["outreach"]["propensity"] = ["0.36", "0", "1.5", "1"]
    data = read_data_dir(write_dir(tables))
    rej = table_rejects(data, "outreach")
    assert rej[["row_number", "column", "rule", "action", "value"]].values.tolist() == [
        [2, "propensity", RULE_MIN, ACTION_SET_MISSING, "0"],
        [3, "propensity", RULE_MAX, ACTION_SET_MISSING, "1.5"],
    ]
    got = data.table("outreach")["propensity"].tolist()
    assert got[0] == 0.36 and np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 1.0
    tables["outreach"]["propensity"] = ["0.36", "x", "0.5", "0.5"]
    rej = table_rejects(read_data_dir(write_dir(tables)), "outreach")
    assert rej[["row_number", "rule"]].values.tolist() == [[2, RULE_NOT_NUMBER]]


def _recovery_tables(propensity=None) -> dict[str, pd.DataFrame]:
    outreach = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c2", "c3"],
            "contact_date": ["2024-03-01", "2024-03-01", "2024-06-03", "2024-06-03"],
            "action": [SMS, CALL, SMS, "home_visit"],
            "cost": [12.0, 0.0, 12.0, 350.0],
            "group": ["treatment", "control", "treatment", "treatment"],
        }
    )
    if propensity is not None:
        outreach["propensity"] = propensity
    return {
        "customers": pd.DataFrame({"customer_id": ["c1", "c2", "c3"]}),
        "service_visits": pd.DataFrame(
            {"customer_id": ["c1", "c2", "c3"], "visit_date": "2024-01-10", "amount": 300.0}
        ),
        "outreach": outreach,
    }


def test_recovery_table_carries_the_propensity():
    # without the column (an older export): every row estimated, the log's shares
    rec = recovery_table(validate_tables(_recovery_tables(), as_of="2024-12-31"))
    assert rec["propensity"].tolist() == pytest.approx([0.5, 0.25, 0.5, 0.25])
    assert rec["propensity_estimated"].all()
    # a logged value is kept; blank and invalid (7 -> set to missing) ones are estimated
    data = validate_tables(_recovery_tables(["0.36", None, "7", None]), as_of="2024-12-31")
    rec = recovery_table(data, FeaturizeConfig(propensity_min_rows=2))
    # min 2 rows: each campaign day is one low-tier cell of 2 rows, each arm 1 of 2
    assert rec["propensity"].tolist() == pytest.approx([0.36, 0.5, 0.5, 0.5])
    assert rec["propensity_estimated"].tolist() == [False, True, True, True]
    with pytest.raises(ValueError, match="propensity_min_rows"):
        FeaturizeConfig(propensity_min_rows=0)
