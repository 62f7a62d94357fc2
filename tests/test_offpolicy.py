"""The off-policy estimate of a policy's net value: by hand, IPS vs DR, unbiasedness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import sim_score_config

from models.offpolicy import OffPolicyConfig, dr_scores, policy_value, row_values

CFG = sim_score_config()  # sms_coupon: contact 12 CNY, coupon 100 CNY off a return
SMS = "sms_coupon"

# Two cells of one campaign: rows 1-4 randomized 50/50, rows 5-8 75/25 (sms / control).
LOG = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(1, 9)],
        "contact_date": pd.Timestamp("2026-03-02"),
        "action": [SMS, SMS, SMS, "none", SMS, SMS, "none", "none"],
        "group": ["treatment"] * 3 + ["control"] + ["treatment"] * 2 + ["control"] * 2,
        "recovered": [1, 0, 1, 1, 1, 0, 0, 1],
        "propensity": [0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.25, 0.25],
    }
)
MU = pd.DataFrame({"p_none": [0.2] * 4 + [0.5] * 4, "p_sms_coupon": [0.4] * 4 + [0.6] * 4})
VALUE = pd.Series([1000.0] * 4 + [2000.0] * 4)
ALL_SMS = pd.Series([SMS] * 8)
FIRST_FOUR = pd.Series([SMS] * 4 + ["none"] * 4)
NO_DRAWS = OffPolicyConfig(bootstrap_draws=0)


def test_ips_scores_by_hand():
    g = dr_scores(LOG, None, [SMS])
    # 1[a_i = a] / e_i * y_i
    assert g["gamma_sms_coupon"].tolist() == pytest.approx([2, 0, 2, 0, 4 / 3, 0, 0, 0])
    assert g["gamma_none"].tolist() == pytest.approx([0, 0, 0, 2, 0, 0, 0, 4])


def test_dr_scores_by_hand():
    g = dr_scores(LOG, MU, [SMS])
    # mu_a + 1[a_i = a] / e_i * (y_i - mu_a)
    sms = [0.4 + 2 * 0.6, 0.4 - 2 * 0.4, 0.4 + 2 * 0.6, 0.4]
    sms += [0.6 + 0.4 / 0.75, 0.6 - 0.6 / 0.75, 0.6, 0.6]
    none = [0.2, 0.2, 0.2, 0.2 + 2 * 0.8, 0.5, 0.5, 0.5 - 4 * 0.5, 0.5 + 4 * 0.5]
    assert g["gamma_sms_coupon"].tolist() == pytest.approx(sms)
    assert g["gamma_none"].tolist() == pytest.approx(none)


def test_net_value_by_hand():
    # (gamma_sms - gamma_none) * V - (12 + 100 * gamma_sms) per contacted row
    ips_rows = [2000 - 212, -12, 2000 - 212, -2000 - 12]
    ips_rows += [4 / 3 * 2000 - 12 - 400 / 3, -12, -12, -4 * 2000 - 12]
    dr_rows = [1400 - 12 - 160, -600 - 12 + 40, 1400 - 12 - 160, -1400 - 12 - 40]
    dr_rows += [(1.6 / 3 + 0.1) * 2000 - 12 - 340 / 3, -1400 - 12 + 20]
    dr_rows += [2.1 * 2000 - 12 - 60, -1.9 * 2000 - 12 - 60]
    got = row_values(dr_scores(LOG, None, [SMS]), ALL_SMS, VALUE, CFG)
    assert got["net_value"].tolist() == pytest.approx(ips_rows)
    assert (got["net_value"] == got["incremental_value"] - got["cost"]).all()

    value = policy_value(LOG, ALL_SMS, VALUE, CFG, MU, NO_DRAWS)
    assert value.ips.net_value == pytest.approx(sum(ips_rows)) == pytest.approx(-11888 / 3)
    assert value.dr.net_value == pytest.approx(sum(dr_rows)) == pytest.approx(1312 / 3)
    assert value.ips.cost == pytest.approx(8 * 12 + 100 * (2 + 2 + 4 / 3))
    assert (value.rows, value.contacts, value.matched) == (8, 8, 5)
    assert value.arms.to_dict("index") == {
        "none": {"policy": 0, "logged": 3, "matched": 0},
        SMS: {"policy": 8, "logged": 5, "matched": 5},
    }

    # rows the policy leaves alone contribute nothing, whatever was logged there
    part = policy_value(LOG, FIRST_FOUR, VALUE, CFG, MU, NO_DRAWS)
    assert part.ips.net_value == pytest.approx(sum(ips_rows[:4])) == pytest.approx(1552)
    assert part.dr.net_value == pytest.approx(sum(dr_rows[:4])) == pytest.approx(432)
    assert (part.contacts, part.matched) == (4, 3)


def test_ips_equals_dr_when_mu_is_zero():
    zero = pd.DataFrame({"p_none": 0.0, "p_sms_coupon": 0.0}, index=LOG.index)
    settings = OffPolicyConfig(bootstrap_draws=200, seed=3)
    value = policy_value(LOG, ALL_SMS, VALUE, CFG, zero, settings)
    assert value.dr == value.ips  # same numbers and the same bootstrap draws
    assert value.ips.low < value.ips.net_value < value.ips.high
    assert value.table()["estimator"].tolist() == ["ips", "dr"]
    assert policy_value(LOG, ALL_SMS, VALUE, CFG, None, settings).dr is None


def test_bootstrap_is_seeded_and_resamples_units():
    a = policy_value(LOG, ALL_SMS, VALUE, CFG, MU, OffPolicyConfig(bootstrap_draws=300, seed=1))
    b = policy_value(LOG, ALL_SMS, VALUE, CFG, MU, OffPolicyConfig(bootstrap_draws=300, seed=1))
    c = policy_value(LOG, ALL_SMS, VALUE, CFG, MU, OffPolicyConfig(bootstrap_draws=300, seed=2))
    assert a.table().equals(b.table())
    assert (a.dr.low, a.dr.high) != (c.dr.low, c.dr.high)
    # one campaign: every resample is the whole log, the interval collapses on the estimate
    camp = policy_value(
        LOG, ALL_SMS, VALUE, CFG, MU, OffPolicyConfig(bootstrap_draws=50, resample="campaign")
    )
    assert camp.units == 1 and camp.dr.low == pytest.approx(camp.dr.net_value)
    assert a.units == 8


def test_bad_logs_are_refused():
    with pytest.raises(ValueError, match="outside \\(0, 1\\]"):
        dr_scores(LOG.assign(propensity=[0.0] + [0.5] * 7), None, [SMS])
    with pytest.raises(ValueError, match="no observed outcome"):
        dr_scores(LOG.assign(recovered=[np.nan] + [1] * 7), None, [SMS])
    with pytest.raises(ValueError, match="lacks column"):
        dr_scores(LOG.drop(columns="propensity"), None, [SMS])
    with pytest.raises(ValueError, match="mu lacks"):
        dr_scores(LOG, MU[["p_none"]], [SMS])
    with pytest.raises(ValueError, match="no pseudo-outcomes"):
        row_values(dr_scores(LOG, None, [SMS]), pd.Series(["advisor_call"] * 8), VALUE, CFG)


def test_dr_is_unbiased_on_a_randomized_log():
    """A synthetic log with known true response: DR and IPS land within 3 SE of the truth."""
    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.random(n)
    tier = x > 0.6
    arms = np.array(["none", SMS, "advisor_call"], dtype=object)
    # randomized within tier: the high tier gets more calls
    probs = np.where(tier[:, None], [0.2, 0.3, 0.5], [0.2, 0.6, 0.2])
    pick = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    p_true = np.column_stack([0.1 + 0.3 * x, 0.15 + 0.3 * x, 0.1 + 0.5 * x])
    y = (rng.random(n) < p_true[np.arange(n), pick]).astype("int64")
    log = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "contact_date": pd.Timestamp("2026-01-05"),
            "action": arms[pick],
            "group": np.where(pick == 0, "control", "treatment"),
            "recovered": y,
            "propensity": probs[np.arange(n), pick],
        }
    )
    # a deliberately wrong outcome model: flat, and the arms' order reversed
    mu = pd.DataFrame({"p_none": 0.4, "p_sms_coupon": 0.3, "p_advisor_call": 0.2}, index=log.index)
    value = pd.Series(200 + 800 * x)
    decisions = pd.Series(np.where(x > 0.5, "advisor_call", SMS))
    calls = decisions == "advisor_call"
    p_pi = np.where(calls, p_true[:, 2], p_true[:, 1])
    cost = np.where(calls, 20.0, 12.0 + 100.0 * p_pi)
    truth = float(np.sum((p_pi - p_true[:, 0]) * value - cost))
    est = policy_value(log, decisions, value, CFG, mu, NO_DRAWS)
    for e in (est.dr, est.ips):
        assert abs(e.net_value - truth) < 3 * e.standard_error, (e, truth)
    # a good outcome model only narrows it
    good = pd.DataFrame(p_true, columns=["p_none", "p_sms_coupon", "p_advisor_call"])
    better = policy_value(log, decisions, value, CFG, good, NO_DRAWS).dr
    assert abs(better.net_value - truth) < 3 * better.standard_error
    assert better.standard_error < est.ips.standard_error
