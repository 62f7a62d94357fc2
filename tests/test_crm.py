"""The CRM file's rules on tiny hand-built inputs: cooldown, holdout, churn band, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.vocabulary import NO_ACTION, SIMULATOR_ACTIONS, STAGES
from models.cooldown import last_outreach_before, recently_contacted
from models.crm import (
    CONTROL,
    LABELS_ZH,
    STATUS_CHURN_ONLY,
    STATUS_NO_HISTORY,
    STATUS_SCORED,
    TREATMENT,
    ChurnBandConfig,
    CrmConfig,
    HoldoutConfig,
    assign_holdout,
    churn_band,
    control_reason,
    cooldown_reason,
    reason_zh,
    zh_labels,
)
from models.segments import ScoreConfig
from pipeline.simulator.names import ARM_CHANNELS

AS_OF = pd.Timestamp("2024-06-30")


def _log() -> pd.DataFrame:
    # 29 and 30 days before the as-of date, on the as-of date (the future), a control row
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E", "E"],
            "contact_date": pd.to_datetime(
                ["2024-06-01", "2024-05-31", "2024-06-30", "2024-06-20", "2024-01-01", "2024-06-29"]
            ),
            "action": ["sms_coupon", "advisor_call", "sms_coupon", NO_ACTION, "sms_coupon", "x"],
            "group": [TREATMENT, TREATMENT, TREATMENT, CONTROL, TREATMENT, TREATMENT],
        }
    )


def test_cooldown_counts_days_before_the_as_of_date() -> None:
    ids = pd.Series(["A", "B", "C", "D", "E", "F"], index=[10, 11, 12, 13, 14, 15])
    got = recently_contacted(_log(), ids, AS_OF, 30)
    # A: 29 days ago (in); B: 30 days ago (out); C: on T (future, out); D: a control row
    # counts; E: the latest row decides; F: never contacted
    assert got.tolist() == [True, False, False, True, True, False]
    assert got.index.tolist() == ids.index.tolist()
    last = last_outreach_before(_log(), ids, AS_OF)
    assert last.loc[12] is pd.NaT and last.loc[14] == pd.Timestamp("2024-06-29")
    assert not recently_contacted(_log(), ids, AS_OF, 0).any()  # 0 switches it off
    assert not recently_contacted(None, ids, AS_OF, 30).any()  # no outreach log
    assert recently_contacted(_log(), ids, AS_OF, 31).tolist()[1]  # B is in a 31-day cooldown


def _selected(n_low=600, n_high=1400) -> tuple[pd.Series, pd.Series, pd.Series]:
    ids = pd.Series([f"C{i:05d}" for i in range(n_low + n_high + 500)])
    tiers = pd.Series(["low"] * n_low + ["high"] * n_high + ["mid"] * 500)
    selected = pd.Series([True] * (n_low + n_high) + [False] * 500)
    return ids, selected, tiers


def test_holdout_share_per_tier_propensity_and_determinism() -> None:
    ids, selected, tiers = _selected()
    got = assign_holdout(ids, selected, tiers, HoldoutConfig(share=0.15, seed=7))
    control = got["group"] == CONTROL
    for tier, n in (("low", 600), ("high", 1400)):
        k = int((control & (tiers == tier)).sum())
        assert abs(k - 0.15 * n) <= 1  # stratified: the share holds in every tier
    assert (
        got.loc[~selected, "group"].isna().all() and got.loc[~selected, "propensity"].isna().all()
    )
    assert set(got.loc[selected, "group"]) == {TREATMENT, CONTROL}
    assert (got.loc[control, "propensity"] == 0.15).all()
    assert (got.loc[got["group"] == TREATMENT, "propensity"] == 0.85).all()
    # same ids, params and seed -> same groups, whatever the row order
    order = np.random.default_rng(0).permutation(len(ids))
    shuffled = assign_holdout(
        ids.iloc[order], selected.iloc[order], tiers.iloc[order], HoldoutConfig(0.15, 7)
    )
    pd.testing.assert_frame_equal(shuffled.sort_index(), got)
    other = assign_holdout(ids, selected, tiers, HoldoutConfig(share=0.15, seed=8))
    assert not other["group"].equals(got["group"])
    none = assign_holdout(ids, selected, tiers, HoldoutConfig(share=0.0))
    assert (none.loc[selected, "group"] == TREATMENT).all()
    assert (none.loc[selected, "propensity"] == 1.0).all()


def test_a_small_tier_gets_a_control_with_the_right_chance() -> None:
    # 2 selected customers in a tier: 0.3 expected controls -> 0 or 1, P(control) = 0.15 each
    counts = []
    for seed in range(400):
        g = assign_holdout(
            pd.Series(["a", "b"]), pd.Series([True, True]), pd.Series(["t", "t"]),
            HoldoutConfig(0.15, seed),
        )  # fmt: skip
        counts.append(int((g["group"] == CONTROL).sum()))
    assert set(counts) == {0, 1}
    assert np.mean(counts) / 2 == pytest.approx(0.15, abs=0.04)


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match="crm.holdout.share"):
        HoldoutConfig(share=1.0)
    with pytest.raises(ValueError, match="unknown crm params"):
        CrmConfig.from_params({"holdout_share": 0.1})
    with pytest.raises(ValueError, match="crm.churn_band.bounds"):
        ChurnBandConfig(bounds=(0.5, 0.3))
    assert CrmConfig.from_params({"holdout": {"share": 0.2}}).holdout == HoldoutConfig(0.2)


def test_churn_band_cut_offs() -> None:
    risk = pd.Series([0.0, 0.29999, 0.3, 0.49, 0.5, 1.0, np.nan])
    assert churn_band(risk).tolist() == ["low", "low", "medium", "medium", "high", "high", None]


def test_every_simulator_and_default_value_has_a_chinese_label() -> None:
    cfg = ScoreConfig()
    cells = [c for row in cfg.cells.values() for c in row.values()]
    wanted = {
        "action": {NO_ACTION, *SIMULATOR_ACTIONS},
        "owner": {c.owner for c in cells} | {"service_advisor"},
        "channel": {c.channel for c in cells} | set(ARM_CHANNELS) | {"unknown"},
        "stage": set(STAGES),
        "status": {STATUS_SCORED, STATUS_CHURN_ONLY, STATUS_NO_HISTORY},
        "group": {TREATMENT, CONTROL},
        "band": {*ChurnBandConfig().names, "normal", "pre_churn", "high"},
    }
    for kind, values in wanted.items():
        assert values <= set(LABELS_ZH[kind]), (kind, values - set(LABELS_ZH[kind]))
    got = zh_labels(pd.Series(["sms_coupon", "wechat_fax", None]), "action")
    assert got.tolist()[:2] == ["短信优惠券", "wechat_fax"] and pd.isna(got.iloc[2])


def test_every_status_reason_has_a_chinese_translation() -> None:
    reasons = [
        "no service visit on record",
        "no service visit before 2024-06-30; first visit on 2024-08-01 (on or after the as-of date)",
        "no valid service visit before 2024-06-30: 2 visit row(s) set aside by validation "
        "(see the rejects)",
        "do not contact (customers.do_not_contact)",
        cooldown_reason(pd.Series(pd.to_datetime(["2024-06-20"])), 30).iloc[0],
        control_reason(0.15),
        "recommended action does not fit in the budget",
        "stage active is not a win-back target",
        "no action has a positive expected value within the cost cap",
        "no win-back model: churn columns only",
    ]
    zh = reason_zh(pd.Series([*reasons, None]))
    assert pd.isna(zh.iloc[-1])
    for en, cn in zip(reasons, zh.iloc[:-1], strict=True):
        assert cn != en and any("\u4e00" <= ch <= "\u9fff" for ch in cn), en
    assert zh.iloc[1] == "2024-06-30之前没有到店记录；首次到店为2024-08-01（在评分日期当天或之后）"
    assert zh.iloc[4].startswith("冷却期内：上次触达为2024-06-20，距评分日期不足30天")
    assert zh.iloc[7] == "阶段「活跃」不是挽回对象"
