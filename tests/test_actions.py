"""A store's own action names and costs: from the outreach log, through policy and the CRM file."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_RECOVERY_MIN_ROWS_YAML, copy_dir
from typer.testing import CliRunner

from models.actions import (
    DEFAULT_OWNER,
    UNKNOWN_CHANNEL,
    ActionError,
    cell_roles,
    default_coupon_action,
    is_coupon,
    log_facts,
    resolve_actions,
    row_roles,
)
from models.policy import playbook_matrix, recommend, same_coupon
from models.segments import ActionRole, MatrixCell, ScoreConfig, segment
from pipeline.cli import app

STORE = ["manager_visit", "phone_call", "wechat_coupon"]


def store_log() -> pd.DataFrame:
    """A small outreach log in a store's own names; medians worked out by hand below."""
    rows = [
        # action, cost, group, channel
        ("wechat_coupon", 2.0, "treatment", "wechat"),
        ("wechat_coupon", 10.0, "treatment", "wechat"),
        ("wechat_coupon", 3.0, "treatment", "sms"),  # costs 2, 3, 10 -> median 3
        ("phone_call", 15.0, "treatment", "phone"),
        ("phone_call", 25.0, "treatment", None),  # costs 15, 25 -> median 20
        ("phone_call", 999.0, "control", "phone"),  # a control row never prices an action
        ("manager_visit", np.nan, "treatment", ""),
        ("manager_visit", 60.0, "treatment", ""),  # the missing cost is skipped -> 60
        ("none", 0.0, "control", "none"),
    ]
    return pd.DataFrame(rows, columns=["action", "cost", "group", "channel"])


def store_config(block: dict | None = None) -> ScoreConfig:
    return resolve_actions(ScoreConfig.from_params(block), STORE, log_facts(store_log()))


def test_log_facts_are_the_median_cost_and_the_usual_channel() -> None:
    facts = log_facts(store_log())
    assert facts == {
        "manager_visit": {"cost": 60.0, "channel": None, "contacts": 2},
        "phone_call": {"cost": 20.0, "channel": "phone", "contacts": 2},
        "wechat_coupon": {"cost": 3.0, "channel": "wechat", "contacts": 3},
    }
    assert log_facts(store_log().drop(columns=["cost", "channel", "group"]))["phone_call"] == {
        "cost": None,
        "channel": None,
        "contacts": 3,  # without a group column every row of the action counts
    }
    assert log_facts(None) == {}


def test_costs_come_from_the_log_and_params_override_them() -> None:
    cfg = store_config()
    eco = cfg.economics
    assert eco.action_costs == {"wechat_coupon": 3.0, "phone_call": 20.0, "manager_visit": 60.0}
    assert cfg.policy.allowed_actions == ("wechat_coupon", "phone_call", "manager_visit")
    assert eco.coupon_actions == ("wechat_coupon",)  # null: by its name
    assert default_coupon_action(cfg) == "wechat_coupon"
    over = store_config({"economics": {"action_costs": {"phone_call": 2}, "coupon_actions": []}})
    assert over.economics.action_costs["phone_call"] == 2.0
    assert over.economics.action_costs["manager_visit"] == 60.0
    assert over.policy.allowed_actions == ("phone_call", "wechat_coupon", "manager_visit")
    assert over.economics.coupon_actions == ()
    assert default_coupon_action(over) == "phone_call"  # no coupon: the cheapest action
    # resolving again changes nothing (the score CLI resolves in two places)
    assert resolve_actions(cfg, STORE, log_facts(store_log())) == cfg


def test_coupon_names_and_the_same_coupon_choice() -> None:
    assert is_coupon("wechat_coupon", None) and is_coupon("微信优惠券", None)
    assert not is_coupon("phone_call", None) and not is_coupon("wechat_coupon", [])
    two = store_config({"economics": {"coupon_actions": ["wechat_coupon", "manager_visit"]}})
    assert default_coupon_action(two) == "wechat_coupon"  # two coupons: the cheaper one
    assert default_coupon_action(two, "manager_visit") == "manager_visit"


@pytest.mark.parametrize(
    "block, where",
    [
        ({"policy": {"allowed_actions": ["phone_call", "sms_coupon"]}}, "allowed_actions"),
        ({"economics": {"action_costs": {"sms_coupon": 12}}}, "action_costs"),
        ({"economics": {"coupon_actions": ["sms_coupon"]}}, "coupon_actions"),
        ({"actions": {"sms_coupon": {"owner": "automated"}}}, "score.actions"),
    ],
)
def test_params_naming_an_action_the_data_never_used(block, where) -> None:
    with pytest.raises(ActionError) as err:
        store_config(block)
    text = str(err.value)
    assert where in text and "never learned" in text
    assert "['sms_coupon']" in text  # the params' side ...
    assert "['manager_visit', 'phone_call', 'wechat_coupon']" in text  # ... and the data's


def test_policy_coupon_action_the_data_never_used() -> None:
    with pytest.raises(ActionError, match=r"policy.coupon_action .*\['sms_coupon'\].*phone_call"):
        default_coupon_action(store_config(), "sms_coupon")


def test_an_action_without_a_cost_is_a_clear_error() -> None:
    facts = {a: {"cost": None} for a in STORE}
    with pytest.raises(ActionError, match=r"no contact cost .*score.economics.action_costs"):
        resolve_actions(ScoreConfig(), STORE, facts)
    with pytest.raises(ActionError, match="no actions"):
        resolve_actions(ScoreConfig(), ["none"], {})


def _customers(cfg: ScoreConfig):
    """Two early customers (high and mid value) and a pre-churn one, with store uplifts."""
    f = pd.DataFrame(
        {
            "customer_id": ["h", "m", "p"],
            "days_since_last_visit": [100.0, 120.0, 30.0],
            "tenure_days": [830.0, 850.0, 760.0],
            "spend_lifetime": [20000.0, 7000.0, 7000.0],
            "spend_recurring_lifetime": [20000.0, 7000.0, 7000.0],
            "visits_lifetime": [8.0, 4.0, 4.0],
            "spend_365d": [0.0, 0.0, 0.0],
            "referrals": [0.0, 0.0, 0.0],
            "reason_points": [5.0, 5.0, 5.0],
        }
    )
    seg = segment(f, [0.1, 0.1, 0.9], cfg)
    p = {"none": 0.1, "wechat_coupon": 0.12, "phone_call": 0.3, "manager_visit": 0.305}
    up = pd.DataFrame({f"p_{a}": [v] * 3 for a, v in p.items()})
    return f, seg, up


def test_unplaced_actions_get_the_documented_defaults() -> None:
    # The default matrix names the simulator's actions: none of them is the store's.
    cfg = store_config({"actions": {"manager_visit": {"owner": "store_manager"}}})
    assert all(not c.actions for row in cfg.cells.values() for c in row.values())
    assert "['advisor_call', 'home_visit', 'manager_call', 'sms_coupon']" in cfg.notes[0]
    assert "skipped" in cfg.notes[0] and "in no strategy-matrix cell" in cfg.notes[1]
    assert cfg.roles == {
        "manager_visit": ActionRole("store_manager", UNKNOWN_CHANNEL),  # the log has none
        "phone_call": ActionRole(DEFAULT_OWNER, "phone"),  # the log's channel
        "wechat_coupon": ActionRole(DEFAULT_OWNER, "wechat"),
    }
    f, seg, up = _customers(cfg)
    # the model policy may use an unplaced action in every eligible cell
    out = recommend(f, seg, up, cfg)
    assert list(out["recommended_action"]) == ["phone_call", "phone_call", "phone_call"]
    assert out["expected_cost"].tolist() == [20.0, 20.0, 20.0]  # the log's median
    owner, channel = row_roles(seg["owner"], seg["channel"], out["recommended_action"], cfg)
    assert owner.tolist() == [DEFAULT_OWNER] * 3 and channel.tolist() == ["phone"] * 3
    # the playbook comparator has no action it can work; the same coupon is the store's own
    assert not playbook_matrix(f, seg, up, cfg)["selected"].any()
    coupon = same_coupon(f, seg, up, cfg)
    assert set(coupon.loc[coupon["selected"], "recommended_action"]) == {"wechat_coupon"}
    assert coupon.loc[0, "expected_cost"] == pytest.approx(3.0 + 100 * 0.12)


def test_a_matrix_in_the_store_names_keeps_its_cells() -> None:
    base = ScoreConfig()
    cells = {t: dict(row) for t, row in base.cells.items()}
    early = cells["high"]["early"]
    cells["high"]["early"] = dataclasses.replace(early, actions=("manager_visit", "fax"))
    cells["mid"]["early"] = MatrixCell("automated", "wechat", ("wechat_coupon",), 3, 103, 0.3, True)
    cfg = resolve_actions(dataclasses.replace(base, cells=cells), STORE, log_facts(store_log()))
    assert cfg.cells["high"]["early"].actions == ("manager_visit",)  # fax skipped
    assert "'fax'" in cfg.notes[0]
    assert "['phone_call']" in cfg.notes[1]  # the one action no cell names
    f, seg, up = _customers(cfg)
    play = playbook_matrix(f, seg, up, cfg)
    assert play["recommended_action"].tolist() == ["manager_visit", "wechat_coupon", "none"]
    # placed actions keep the cell's owner and channel; the unplaced phone_call its own
    owner, channel = row_roles(
        seg["owner"], seg["channel"], pd.Series(["manager_visit", "phone_call", "none"]), cfg
    )
    assert owner.tolist() == [early.owner, DEFAULT_OWNER, "automated"]
    assert channel.tolist() == [early.channel, "phone", "sms"]


def test_an_action_outside_its_cell_gets_the_channel_of_a_cell_that_names_it() -> None:
    # the simulator's matrix: a high-value deep customer's cell is a home visit (store
    # manager, visit); the model policy may still pick a manager call for them
    acts = ["advisor_call", "home_visit", "manager_call"]
    cfg = resolve_actions(ScoreConfig(), acts, {a: {"cost": 1.0} for a in acts})
    assert cell_roles(cfg)["manager_call"] == ActionRole("store_manager", "phone")  # high|early
    owner, channel = row_roles(
        pd.Series(["store_manager", "store_manager", "automated"]),
        pd.Series(["visit", "visit", "sms"]),
        pd.Series(["manager_call", "home_visit", None]),
        cfg,
        pd.Series(["home_visit", "home_visit", "sms_coupon"]),
    )
    assert owner.tolist() == ["store_manager", "store_manager", "automated"]
    assert channel.tolist() == ["phone", "visit", "sms"]


def test_training_records_the_costs_of_the_log(tmp_path) -> None:
    from test_recovery import config, outreach

    from models.recovery import UpliftModel, train_recovery

    df = outreach(n=3000)
    df["cost"] = np.where(df["action"] == "a", np.tile([1.0, 2.0, 9.0], 1000), 5.0)
    df["channel"] = "app"
    model, _ = train_recovery(df, config("t"), learner="t")
    facts = UpliftModel.load(model.save(tmp_path / "m")).action_facts
    assert {a: f["cost"] for a, f in facts.items()} == {"a": 2.0, "b": 5.0}
    assert {f["channel"] for f in facts.values()} == {"app"}


# --- end to end: a simulated store whose campaign tool names the actions its own way ---------

SMALL_PARAMS = f"""
train:
  register: false
  churn: {{num_boost_round: 30, early_stopping_rounds: 10}}
  recovery: {{num_boost_round: 30, early_stopping_rounds: 10,
             min_rows: {SMALL_RECOVERY_MIN_ROWS_YAML}}}
"""
RENAME = {
    "sms_coupon": "wechat_coupon",
    "advisor_call": "phone_call",
    "manager_call": "manager_visit",
}
#: Contact costs of the store, per action: three values each, so the median is the middle one.
STORE_COSTS = {"wechat_coupon": (2.5, 3.0, 3.5), "phone_call": (14.0, 15.0, 16.0)}
STORE_COSTS["manager_visit"] = (50.0, 60.0, 70.0)


def _renamed(match: re.Match) -> str:
    return "p_return_" + RENAME.get(match[1], match[1])


@pytest.fixture(scope="session")
def store(tmp_path_factory, shared_sim):
    """A copy of the shared simulation with renamed actions (home visits dropped), trained."""
    from pipeline import train

    root = tmp_path_factory.mktemp("store")
    params = root / "params.yaml"
    params.write_text(SMALL_PARAMS)
    sim = copy_dir(shared_sim.data, root / "sim")
    log = pd.read_parquet(sim / "outreach.parquet")
    log = log.loc[log["action"] != "home_visit"].reset_index(drop=True)
    log["action"] = log["action"].replace(RENAME)
    third = np.arange(len(log)) % 3
    for a, costs in STORE_COSTS.items():
        m = (log["action"] == a).to_numpy()
        log.loc[m, "cost"] = np.asarray(costs)[third[m]]
    log.to_parquet(sim / "outreach.parquet", index=False)
    truth = pd.read_parquet(sim / "truth" / "response.parquet")
    truth = truth.drop(columns="p_return_home_visit")
    truth.columns = [re.sub("^p_return_(.*)$", _renamed, c) for c in truth.columns]
    truth.to_parquet(sim / "truth" / "response.parquet", index=False)
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    train.main(sim, out=root / "train", params=params)
    mp.undo()
    return root, sim, params


@pytest.mark.slow
def test_store_actions_score_end_to_end(store) -> None:
    root, sim, params = store
    out = root / "scores.csv"
    args = ["score", str(sim), "--through", "2026-09-30", "--model", str(root / "train")]
    result = CliRunner().invoke(
        app, [*args, "--out", str(out), "--budget", "same_coupon", "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "in no strategy-matrix cell" in result.output  # the defaults, said
    s = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    assert set(s["recommended_action"].dropna()) <= {"none", *STORE_COSTS}
    sel = s.loc[s["priority_rank"].notna()]
    assert len(sel) > 10 and set(sel["recommended_action"]) <= set(STORE_COSTS)
    # expected cost = the log's median contact cost (+ the coupon on a return for the coupon)
    coupon = np.where(sel["recommended_action"] == "wechat_coupon", 100.0 * sel["p_return"], 0)
    median = sel["recommended_action"].map({a: c[1] for a, c in STORE_COSTS.items()})
    np.testing.assert_allclose(sel["expected_cost"] - coupon, median, atol=1e-3)
    assert set(sel["channel"]) <= {"sms", "phone"}  # the log's channels of the actions

    bad = root / "bad.yaml"
    bad.write_text(SMALL_PARAMS + "score:\n  policy: {allowed_actions: [sms_coupon]}\n")
    result = CliRunner().invoke(app, [*args, "--out", str(root / "bad.csv"), "--params", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "never learned: ['sms_coupon']" in result.output
    assert "wechat_coupon" in result.output


@pytest.mark.slow
def test_store_actions_policy_stage(store) -> None:
    root, sim, params = store
    out = root / "policy"
    result = CliRunner().invoke(
        app, ["policy", str(sim), str(root / "train"), "--out", str(out), "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "comparison.csv").set_index("policy")
    assert table.loc["same_coupon", "contacts"] > 0  # the store's coupon, by its name
    alloc = pd.read_parquet(out / "allocations.parquet")
    assert set(alloc["same_coupon_action"]) <= {"none", "wechat_coupon"}
    assert set(alloc["model_action"]) <= {"none", *STORE_COSTS}
    assert (alloc["playbook_matrix_action"] == "none").all()  # no cell names a store action
