"""The budgeted win-back policy, its comparators and their evaluation on truth, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_SIMULATION, copy_dir, sim_score_config

from features.vocabulary import SIMULATOR_ACTIONS as ACTIONS
from models.policy import (
    ORACLE,
    evaluate_on_truth,
    playbook_matrix,
    recommend,
    run_policies,
    same_coupon,
    same_coupon_cost,
    truth_probabilities,
)
from models.segments import segment

ARMS = ("none", *ACTIONS)
CFG = sim_score_config()


def customers(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Features, segments (default config) and uplift predictions from per-customer dicts.

    Each dict: id, days (since last visit), annual (value; a 730-day active span), risk,
    acq (acquisition cost), p (dict arm -> P(return)); missing arms equal ``none``.
    """
    f = pd.DataFrame(
        {
            "customer_id": [r["id"] for r in rows],
            "days_since_last_visit": [float(r["days"]) for r in rows],
            "tenure_days": [730.0 + r["days"] for r in rows],
            "spend_lifetime": [2.0 * r["annual"] for r in rows],
            "spend_recurring_lifetime": [2.0 * r["annual"] for r in rows],
            "visits_lifetime": [4.0] * len(rows),
            "spend_365d": [0.0] * len(rows),
            "referrals": [0.0] * len(rows),
            "reason_points": [5.0] * len(rows),
        }
    )
    acq = [r.get("acq", 3000.0) for r in rows]
    seg = segment(f, [r.get("risk", 0.1) for r in rows], CFG, acquisition_cost=acq)
    up = pd.DataFrame(index=f.index)
    for arm in ARMS:
        up[f"p_{arm}"] = [r["p"].get(arm, r["p"]["none"]) for r in rows]
    for a in ACTIONS:
        up[f"uplift_{a}"] = up[f"p_{a}"] - up["p_none"]
    return f, seg, up


# a: early, annual 10000 (return worth 4000), cap 900 -> manager_call: 0.2*4000 - 80 = 720
A = {
    "id": "a",
    "days": 100,
    "annual": 10000.0,
    "p": {
        "none": 0.1,
        "sms_coupon": 0.2,
        "advisor_call": 0.15,
        "manager_call": 0.3,
        "home_visit": 0.3,
    },
}
# b: as a but acquisition cost 11500 -> CLV 500, cap 50: only sms (12 + 100*.2 = 32) and
# advisor (20) fit -> sms_coupon 0.1*4000 - 32 = 368 (ratio 11.5)
B = {**A, "id": "b", "acq": 11500.0}
# c: annual 100 (a return worth 40): no action has positive value
C = {**A, "id": "c", "annual": 100.0}
# d: active (10 days, low risk): not an eligible stage
D = {**A, "id": "d", "days": 10}
# f: deep, annual 5000 (worth 2000), sms only lifts: 0.05*2000 - 27 = 73 (ratio 2.7)
F = {"id": "f", "days": 200, "annual": 5000.0, "p": {"none": 0.1, "sms_coupon": 0.15}}


def test_recommend_picks_the_best_positive_action_under_the_cap() -> None:
    f, seg, up = customers([A, B, C, D, F])
    out = recommend(f, seg, up, CFG)
    assert out["recommended_action"].tolist() == [
        "manager_call",
        "sms_coupon",
        "none",
        "none",
        "sms_coupon",
    ]
    np.testing.assert_allclose(out["expected_value"].iloc[[0, 1, 4]], [720.0, 368.0, 73.0])
    np.testing.assert_allclose(out["expected_cost"].iloc[[0, 1, 4]], [80.0, 32.0, 27.0])
    np.testing.assert_allclose(out["p_return"].iloc[[0, 1]], [0.3, 0.2])
    np.testing.assert_allclose(out["uplift"].iloc[[0, 1]], [0.2, 0.1])
    assert out["return_value"].iloc[0] == pytest.approx(4000.0)
    # no budget: every positive-value customer, by value per cost (b 11.5, a 9, f 2.7)
    assert out["selected"].tolist() == [True, True, False, False, True]
    assert out["priority_rank"].tolist() == [2, 1, pd.NA, pd.NA, 3]
    assert out.attrs["budget_used"] == pytest.approx(80.0 + 32.0 + 27.0)


def test_budget_is_filled_by_value_per_cost_skipping_what_no_longer_fits() -> None:
    f, seg, up = customers([A, B, C, D, F])
    out = recommend(f, seg, up, CFG, budget=100.0)
    # b (32) fits, a (80) would make 112 > 100 and is skipped, f (27) still fits
    assert out["selected"].tolist() == [False, True, False, False, True]
    assert out["priority_rank"].tolist() == [pd.NA, 1, pd.NA, pd.NA, 2]
    assert out.attrs["budget_used"] == pytest.approx(59.0) and out.attrs["contacts"] == 2
    # the not-selected customer still carries its best action for the CRM
    assert out["recommended_action"].iloc[0] == "manager_call"
    none = recommend(f, seg, up, CFG, budget=0.0)
    assert not none["selected"].any() and none.attrs["budget_used"] == 0.0


def test_ties_break_by_customer_id_whatever_the_row_order() -> None:
    rows = [{**A, "id": "y"}, {**A, "id": "x"}, {**A, "id": "z"}]
    f, seg, up = customers(rows)
    out = recommend(f, seg, up, CFG, budget=170.0)  # room for two of three
    assert dict(zip(out["customer_id"], out["priority_rank"], strict=True)) == {
        "y": 2,
        "x": 1,
        "z": pd.NA,
    }
    f2, seg2, up2 = customers(rows[::-1])
    again = recommend(f2, seg2, up2, CFG, budget=170.0)
    a = out.set_index("customer_id").sort_index()
    b = again.set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_budget_and_caps_never_exceeded_on_random_customers() -> None:
    rng = np.random.default_rng(7)
    n = 400
    rows = []
    for i in range(n):
        p0 = rng.uniform(0, 0.5)
        rows.append(
            {
                "id": f"r{i:04d}",
                "days": int(rng.integers(0, 800)),
                "annual": float(rng.lognormal(7.5, 1.0)),
                "risk": float(rng.uniform()),
                "acq": float(rng.uniform(1000, 6000)),
                "p": {
                    "none": p0,
                    **{a: float(min(1, p0 + rng.normal(0.03, 0.08))) for a in ACTIONS},
                },
            }
        )
    f, seg, up = customers(rows)
    full = recommend(f, seg, up, CFG)
    for budget in (0.0, 100.0, 1000.0, full.attrs["budget_used"] / 2, 1e9):
        out = recommend(f, seg, up, CFG, budget=budget)
        sel = out["selected"]
        assert out.loc[sel, "expected_cost"].sum() <= budget + 1e-6
        assert out.attrs["budget_used"] == pytest.approx(out.loc[sel, "expected_cost"].sum())
        assert (out.loc[sel, "expected_cost"] <= seg.loc[sel, "cost_cap"] + 1e-9).all()
        assert (out.loc[sel, "expected_value"] > 0).all()
        assert seg.loc[sel, "stage"].isin(["pre_churn", "early", "deep", "lost"]).all()
        ranks = out.loc[sel, "priority_rank"].sort_values().tolist()
        assert ranks == list(range(1, int(sel.sum()) + 1))
    # every other positive-value action was no better than the one recommended
    chosen = full.loc[full["recommended_action"] != "none"]
    for i in chosen.index[:50]:
        v = seg.loc[i, "annual_value"] * 0.4
        for a in ACTIONS:
            cost = 12 + 100 * up.loc[i, "p_sms_coupon"] if a == "sms_coupon" else None
            cost = (
                cost
                if cost is not None
                else {"advisor_call": 20, "manager_call": 80, "home_visit": 350}[a]
            )
            if cost <= seg.loc[i, "cost_cap"]:
                assert (up.loc[i, f"p_{a}"] - up.loc[i, "p_none"]) * v - cost <= (
                    chosen.loc[i, "expected_value"] + 1e-9
                )


def test_same_coupon_goes_to_lapsed_customers_most_recently_lapsed_first() -> None:
    p = {"none": 0.1, "sms_coupon": 0.3}
    rows = [
        {"id": "lost", "days": 400, "annual": 100.0, "p": p},
        {"id": "early", "days": 95, "annual": 100.0, "p": p},
        {"id": "active", "days": 10, "annual": 9000.0, "p": p},
        {"id": "pre", "days": 10, "annual": 9000.0, "risk": 0.9, "p": p},
        {"id": "deep", "days": 200, "annual": 100.0, "p": p},
    ]
    f, seg, up = customers(rows)
    total = same_coupon_cost(f, seg, up, CFG)
    assert total == pytest.approx(3 * (12 + 100 * 0.3))  # three lapsed customers, 42 each
    out = same_coupon(f, seg, up, CFG, budget=90.0)
    assert out["selected"].tolist() == [False, True, False, False, True]
    assert out["priority_rank"].tolist() == [pd.NA, 1, pd.NA, pd.NA, 2]
    assert (out.loc[[0, 1, 4], "recommended_action"] == "sms_coupon").all()
    assert (out.loc[[2, 3], "recommended_action"] == "none").all()
    # a coupon even where it loses money: that is what the comparator does
    assert (out.loc[[0, 1, 4], "expected_value"] < 0).all()


def test_playbook_matrix_takes_worth_cells_in_priority_order() -> None:
    p = {"none": 0.1}
    rows = [
        {"id": "low_deep", "days": 200, "annual": 1000.0, "p": p},  # not worth (cell)
        {"id": "mid_early", "days": 100, "annual": 3000.0, "p": p},  # advisor, priority 5
        {"id": "high_early", "days": 100, "annual": 9000.0, "p": p},  # manager, priority 2
        {"id": "high_pre", "days": 10, "annual": 9000.0, "risk": 0.9, "p": p},  # advisor, 1
        {"id": "low_lost", "days": 500, "annual": 1000.0, "p": p},  # no action
    ]
    f, seg, up = customers(rows)
    out = playbook_matrix(f, seg, up, CFG)
    assert out["recommended_action"].tolist() == [
        "none",
        "advisor_call",
        "manager_call",
        "advisor_call",
        "none",
    ]
    assert out["priority_rank"].tolist() == [pd.NA, 3, 2, 1, pd.NA]
    capped = playbook_matrix(f, seg, up, CFG, budget=100.0)  # 20 + 80 fit, not 20 more
    assert capped["selected"].tolist() == [False, False, True, True, False]
    # the playbook's own pre-churn flag replaces the model's: high_pre is no longer worked
    flag = pd.Series([False, False, False, False, False])
    own = playbook_matrix(f, seg, up, CFG, pre_churn=flag)
    assert own["recommended_action"].iloc[3] == "none"
    assert own["selected"].tolist() == [False, True, True, False, False]


def test_evaluate_on_truth_by_hand() -> None:
    alloc = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "recommended_action": ["manager_call", "sms_coupon", "home_visit"],
            "selected": [True, True, False],
            "return_value": [4000.0, 4000.0, 9999.0],
        }
    )
    alloc.attrs.update(budget=200.0, budget_used=150.0)
    truth = pd.DataFrame(
        {
            "customer_id": ["c", "b", "a"],
            "p_return_control": [0.5, 0.2, 0.1],
            "p_return_sms_coupon": [0.9, 0.5, 0.0],
            "p_return_advisor_call": [0.9, 0.0, 0.0],
            "p_return_manager_call": [0.9, 0.0, 0.4],
            "p_return_home_visit": [0.9, 0.0, 0.0],
        }
    )
    row = evaluate_on_truth({"p": alloc}, truth, CFG).iloc[0]
    assert row["contacts"] == 2 and row["budget"] == 200.0 and row["planned_cost"] == 150.0
    assert row["expected_returns"] == pytest.approx(0.9)
    assert row["returns_without_contact"] == pytest.approx(0.3)
    assert row["incremental_returns"] == pytest.approx(0.6)
    assert row["incremental_value"] == pytest.approx(0.3 * 4000 + 0.3 * 4000)
    assert row["contact_cost"] == pytest.approx(92.0)
    assert row["coupon_cost"] == pytest.approx(50.0)
    assert row["cost"] == pytest.approx(142.0)
    assert row["net_value"] == pytest.approx(2400.0 - 142.0)
    assert row["roi"] == pytest.approx((2400.0 - 142.0) / 142.0)
    assert row["value_per_cost"] == pytest.approx(2400.0 / 142.0)


def test_oracle_is_the_model_policy_fed_the_truth() -> None:
    # the model believes in the manager call for a and b; the truth says only sms works for a
    # (0.1 -> 0.3: 0.2 * 4000 - 12 - 100 * 0.3 = 758) and nothing works for b
    f, seg, up = customers([A, {**A, "id": "b"}, F])
    truth = pd.DataFrame(
        {
            "customer_id": ["f", "b", "a"],
            "as_of": ["2026-01-01"] * 3,
            "p_return_control": [0.1, 0.2, 0.1],
            "p_return_sms_coupon": [0.15, 0.2, 0.3],
            "p_return_advisor_call": [0.1, 0.2, 0.1],
            "p_return_manager_call": [0.1, 0.2, 0.1],
            "p_return_home_visit": [0.1, 0.2, 0.1],
        }
    )
    probs = truth_probabilities(truth, f, ACTIONS)
    assert probs.index.equals(f.index)
    assert probs["p_none"].tolist() == [0.1, 0.2, 0.1]
    assert probs["p_sms_coupon"].tolist() == [0.3, 0.2, 0.15]
    runs = run_policies(f, seg, up, CFG, budget=1e6, references={ORACLE: probs})
    assert list(runs) == ["model", "same_coupon", "playbook_matrix", ORACLE]
    oracle = runs[ORACLE].set_index("customer_id")
    assert oracle["recommended_action"].to_dict() == {
        "a": "sms_coupon",
        "b": "none",
        "f": "sms_coupon",
    }
    assert oracle.loc["a", "expected_value"] == pytest.approx(0.2 * 4000 - 12 - 100 * 0.3)
    assert runs["model"].set_index("customer_id").loc["b", "recommended_action"] == "manager_call"
    table = evaluate_on_truth(runs, truth, CFG).set_index("policy")
    # on the truth, the oracle's net value is the best a policy under the same caps can do
    assert table.loc[ORACLE, "net_value"] > table.loc["model", "net_value"]
    assert table.loc[ORACLE, "net_value"] == pytest.approx(758.0 + 0.05 * 2000 - 12 - 15)
    with pytest.raises(ValueError, match="no row for 1 customer"):
        truth_probabilities(truth.iloc[1:], f, ACTIONS)
    with pytest.raises(ValueError, match="p_return_home_visit"):
        truth_probabilities(truth.drop(columns="p_return_home_visit"), f, ACTIONS)


def test_evaluate_on_truth_refuses_missing_truth() -> None:
    alloc = pd.DataFrame(
        {
            "customer_id": ["zz"],
            "recommended_action": ["sms_coupon"],
            "selected": [True],
            "return_value": [1.0],
        }
    )
    truth = pd.DataFrame(
        {"customer_id": ["a"], "p_return_control": [0.1], "p_return_sms_coupon": [0.2]}
    )
    with pytest.raises(ValueError, match="no truth row"):
        evaluate_on_truth({"x": alloc}, truth)


def test_misaligned_inputs_and_unknown_actions_fail_clearly() -> None:
    f, seg, up = customers([A, B])
    with pytest.raises(ValueError, match="share one index"):
        recommend(f, seg, up.iloc[::-1], CFG)
    with pytest.raises(ValueError, match="p_home_visit"):
        recommend(f, seg, up.drop(columns="p_home_visit"), CFG)
    with pytest.raises(ValueError, match="budget must be >= 0"):
        recommend(f, seg, up, CFG, budget=-1.0)


# --------------------------------------------------------------------------------------------
# the stage end to end on a small simulation

SMALL_PARAMS = """
policy:
  sweep: [0.5, 1.0]
  ceiling: {num_boost_round: 50}
"""


@pytest.mark.slow
def test_policy_stage_end_to_end(shared_models, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from pipeline.cli import app

    params = tmp_path / "params.yaml"
    params.write_text(SMALL_PARAMS)
    # the shared store and its trained models; a copy of the data, whose truth is deleted below
    sim = copy_dir(shared_models.data, tmp_path / "sim")
    customers = SHARED_SIMULATION["customers"]
    out = tmp_path / "policy"
    args = [
        "policy",
        str(sim),
        str(shared_models.train),
        "--out",
        str(out),
        "--params",
        str(params),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "net value" in result.output and "same_coupon" in result.output
    assert "of the oracle's" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    table = pd.read_csv(out / "comparison.csv")
    assert table["policy"].tolist() == [
        "model",
        "same_coupon",
        "playbook_matrix",
        "oracle",
        "ceiling",
    ]
    net = table.set_index("policy")["net_value"]
    assert metrics["share_of_oracle"]["model"] == pytest.approx(net["model"] / net["oracle"], 1e-4)
    assert metrics["share_of_ceiling"] == pytest.approx(net["model"] / net["ceiling"], 1e-4)
    assert "observable ceiling" in result.output
    assert metrics["net_value_ratio"]["vs_same_coupon"] == pytest.approx(
        net["model"] / net["same_coupon"], 1e-4
    )
    assert metrics["target"]["met_share_of_oracle"] == (metrics["share_of_oracle"]["model"] >= 0.7)
    # equal budget: no policy plans to spend more than the same coupon to all lapsed customers
    # (comparison.csv holds 6 significant digits: allow its rounding)
    assert (table["planned_cost"] <= metrics["default_budget"] * (1 + 1e-5)).all()
    assert metrics["policies"]["same_coupon"]["planned_cost"] == pytest.approx(
        metrics["default_budget"]
    )
    assert sum(metrics["stages"].values()) == customers
    sweep = pd.read_csv(out / "sweep.csv")
    assert sorted(sweep["budget_share"].unique()) == [0.5, 1.0] and len(sweep) == 10
    assert metrics["low_budget_share"] == 0.5 and "share_of_oracle_at_low_budget" in metrics
    assert (out / "figures" / "budget_sweep.png").stat().st_size > 0
    assert (out / "plots" / "sweep" / "model.csv").is_file()
    alloc = pd.read_parquet(out / "allocations.parquet")
    assert len(alloc) == customers and not {"name", "phone"} & set(alloc.columns)
    # the same data and models give the same numbers
    again = CliRunner().invoke(app, [*args[:4], str(tmp_path / "again"), *args[5:]])
    assert again.exit_code == 0, again.output
    pd.testing.assert_frame_equal(table, pd.read_csv(tmp_path / "again" / "comparison.csv"))
    # a data directory without truth fails with a clear message
    (sim / "truth" / "response.parquet").unlink()
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 1
    assert "truth/response.parquet" in missing.output and "simulate" in missing.output
