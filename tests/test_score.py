"""winback score: one row per customer, budget and caps, statuses, safe and repeatable files."""

from __future__ import annotations

import json
import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import simulator_action_facts
from typer.testing import CliRunner

from features.build import build_features
from features.config import FeaturizeConfig
from features.validation import validate_tables
from models.crm import CRM_SCHEMA_VERSION, CrmConfig, HoldoutConfig
from models.lgbm import CalibratedBooster
from models.recovery import UpliftModel
from models.scoring import (
    OUTPUT_COLUMNS,
    STATUS_CHURN_ONLY,
    STATUS_NO_HISTORY,
    STATUS_SCORED,
    load_models,
    score_customers,
    value_stage_matrix,
)
from models.segments import ScoreConfig
from pipeline.cli import app

FEATURES = ["days_since_last_visit", "spend_365d", "visits_365d", "spend_lifetime"]
ACTIONS = ["advisor_call", "home_visit", "manager_call", "sms_coupon"]
# Return rates the tiny uplift model learns per arm (control lowest: every action has uplift).
ARM_RATES = {"none": 0.10, "sms_coupon": 0.30, "advisor_call": 0.40, "manager_call": 0.45}
ARM_RATES["home_visit"] = 0.50
AS_OF = "2024-06-30"
EVIL_NAME = '=HYPERLINK("http://evil.example","click me")'
EXTRA_NAMES = (EVIL_NAME, "@Tobias Quillfeather", "Wilhelmina Snodgrass")
EXTRA_PHONES = ("+86-139-7771-0006", "-13977710007", "13977710008")


def _booster(features, y, X, seed=0) -> CalibratedBooster:
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "learning_rate": 0.2,
        "verbosity": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": seed,
    }
    booster = lgb.train(params, lgb.Dataset(X[features].astype("float64"), label=y), 15)
    return CalibratedBooster(booster=booster, features=list(features))


def _training_frame(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "days_since_last_visit": rng.uniform(0, 500, n),
            "spend_365d": rng.uniform(0, 20000, n),
            "visits_365d": rng.integers(0, 6, n).astype("float64"),
            "spend_lifetime": rng.uniform(0, 60000, n),
            "not_a_feature": rng.normal(size=n),
        }
    )


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Three saved model directories: full (churn + uplift), churn only, mismatched."""
    root = tmp_path_factory.mktemp("models")
    X = _training_frame()
    rng = np.random.default_rng(1)
    p = 1 / (1 + np.exp(-(X["days_since_last_visit"] - 200) / 80))
    churn = _booster(FEATURES, (rng.uniform(size=len(X)) < p).astype(int), X)
    churn.save(root / "full" / "churn")
    churn.save(root / "churn_only" / "churn")
    arms = {}
    for i, (arm, rate) in enumerate(ARM_RATES.items()):
        y = (np.random.default_rng(10 + i).uniform(size=len(X)) < rate).astype(int)
        arms[arm] = _booster(FEATURES, y, X, seed=i)
    facts = {"action_facts": simulator_action_facts()}  # what training records
    UpliftModel("t", ACTIONS, arms, meta=facts).save(root / "full" / "recovery")
    odd = _booster(["not_a_feature", "spend_365d"], (X["not_a_feature"] > 0).astype(int), X)
    odd.save(root / "mismatch" / "churn")
    return root


def _tables(make_tables) -> dict[str, pd.DataFrame]:
    """The default tables with bigger spends, plus three customers that cannot be scored."""
    tables = make_tables()
    visits = tables["service_visits"]
    visits["amount"] = ["9000", "12000", "8000", "7000", "15000", "9000", "6000", "11000"] + [
        "5000",
        "9500",
    ]
    # scheduled services: spends that recur, so the one-off cap leaves them whole
    visits["visit_type"] = "maintenance"
    extra = pd.DataFrame(
        {
            "customer_id": ["00106", "00107", "00108"],  # no visits / future only / rejected
            "dealer_id": ["D1", "D2", "=D3"],
            "name": list(EXTRA_NAMES),
            "phone": list(EXTRA_PHONES),
        }
    )
    tables["customers"] = pd.concat([tables["customers"], extra], ignore_index=True)
    more = pd.DataFrame(
        {
            "customer_id": ["00107", "00108"],
            "visit_date": ["2024-08-01", "2024-01-05"],
            "amount": ["900", "-5"],  # the second breaks amount >= 0: set aside
        }
    )
    tables["service_visits"] = pd.concat([visits, more], ignore_index=True)
    return tables


@pytest.fixture
def data_dir(make_tables, write_dir):
    return write_dir(_tables(make_tables))


def _score(make_tables, model_dir, budget=None):
    data = validate_tables(_tables(make_tables))
    models = load_models(model_dir)
    return score_customers(data, AS_OF, models, FeaturizeConfig(), ScoreConfig(), budget)


def test_every_customer_once_with_status(make_tables, model_dirs, customer_ids) -> None:
    result = _score(make_tables, model_dirs / "full")
    s = result.scores.set_index("customer_id")
    assert list(result.scores.columns) == OUTPUT_COLUMNS
    assert sorted(s.index) == sorted([*customer_ids, "00106", "00107", "00108"])
    assert s.index.is_unique
    assert (s.loc[list(customer_ids), "status"] == STATUS_SCORED).all()
    assert s.loc[list(customer_ids), "churn_risk"].notna().all()
    assert (s.loc[["00106", "00107", "00108"], "status"] == STATUS_NO_HISTORY).all()
    assert s.loc["00106", "status_reason"] == "no service visit on record"
    assert "first visit on 2024-08-01" in s.loc["00107", "status_reason"]
    assert "1 visit row(s) set aside by validation" in s.loc["00108", "status_reason"]
    unscored = s.loc[["00106", "00107", "00108"]]
    assert unscored["churn_risk"].isna().all() and unscored["priority_rank"].isna().all()
    assert (unscored["recommended_action"] == "none").all()
    assert (s["as_of"] == pd.Timestamp(AS_OF)).all()
    # the scored customers carry reasons in both languages
    assert s.loc["00101", "reason_1_en"] and s.loc["00101", "reason_1_zh"]
    assert s.loc["00101", "model_version"].startswith("winback-churn #")
    assert "winback-recovery #" in s.loc["00101", "model_version"]


def test_history_status_without_future_visits(make_tables) -> None:
    from models.scoring import history_status

    tables = make_tables(optional=False)
    tables["customers"] = pd.concat(
        [tables["customers"], pd.DataFrame({"customer_id": ["00106"]})], ignore_index=True
    )
    data = validate_tables(tables)
    feats = build_features(data, "2025-01-01")
    ok, why = history_status(data, feats, pd.Timestamp("2025-01-01"))
    assert ok.tolist() == [True] * 5 + [False]
    assert why.tolist() == [""] * 5 + ["no service visit on record"]


def test_budget_and_caps_never_exceeded(make_tables, model_dirs) -> None:
    free = _score(make_tables, model_dirs / "full").scores
    picked = free[free["priority_rank"].notna()]
    assert len(picked) >= 2  # the test needs a budget that binds
    budget = float(picked["expected_cost"].iloc[0]) + 1.0  # room for the first contact only
    result = _score(make_tables, model_dirs / "full", budget=budget)
    s = result.scores
    sel = s[s["priority_rank"].notna()]
    assert 1 <= len(sel) < len(picked)
    assert sel["expected_cost"].sum() <= budget
    assert result.budget_used == pytest.approx(sel["expected_cost"].sum(), abs=0.01)
    assert (sel["expected_cost"] <= sel["cost_cap"] + 1e-6).all()
    assert (sel["expected_value"] > 0).all() and (sel["recommended_action"] != "none").all()
    # selected rows first, in rank order, then the rest by customer_id
    assert s["priority_rank"].iloc[: len(sel)].tolist() == list(range(1, len(sel) + 1))
    rest = s.iloc[len(sel) :]
    assert rest["customer_id"].tolist() == sorted(rest["customer_id"])
    left_out = rest[rest["candidate_action"].isin(ACTIONS) & rest["group"].isna()]
    assert len(left_out) and (rest["recommended_action"].isin(["none"])).all()
    assert (left_out["status_reason"] == "recommended action does not fit in the budget").all()


def test_without_uplift_model_churn_columns_only(make_tables, model_dirs) -> None:
    result = _score(make_tables, model_dirs / "churn_only")
    s = result.scores.set_index("customer_id")
    scored = s[s["status"] != STATUS_NO_HISTORY]
    assert (scored["status"] == STATUS_CHURN_ONLY).all() and len(scored) == 5
    assert scored["status_reason"].str.contains("no win-back model").all()
    assert scored["churn_risk"].notna().all() and scored["value_tier"].notna().all()
    assert scored[["p_return", "uplift", "priority_rank"]].isna().all().all()
    assert scored["recommended_action"].isna().all()
    assert "no win-back (uplift) model" in result.notes[0]


def test_matrix_counts_add_up(make_tables, model_dirs) -> None:
    scores = _score(make_tables, model_dirs / "full").scores
    cells = value_stage_matrix(scores)
    assert cells["customers"].sum() == len(scores)
    assert cells["contacted"].sum() == scores["priority_rank"].notna().sum()
    sel = scores["priority_rank"].notna()
    assert cells["budget_used"].sum() == pytest.approx(
        scores.loc[sel, "expected_cost"].sum(), abs=0.05
    )


def _cli(data_dir, model_dir, out, *extra):
    args = ["score", str(data_dir), "--as-of", AS_OF, "--model", str(model_dir), "--out"]
    return CliRunner().invoke(app, [*args, str(out), *extra])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_file_is_neutralised_and_byte_identical(data_dir, model_dirs, tmp_path, suffix):
    out = tmp_path / "crm" / f"scores{suffix}"
    first = _cli(data_dir, model_dirs / "full", out)
    assert first.exit_code == 0, first.output
    content = out.read_bytes()
    again = _cli(data_dir, model_dirs / "full", out)
    assert again.exit_code == 0 and out.read_bytes() == content
    raw = (
        pd.read_csv(out, encoding="utf-8-sig", dtype=str)
        if suffix == ".csv"
        else pd.read_parquet(out)
    ).set_index("customer_id")
    assert raw.loc["00106", "name"] == "'" + EVIL_NAME
    assert raw.loc["00107", "name"] == "'@Tobias Quillfeather"
    assert raw.loc["00108", "dealer_id"] == "'=D3"
    assert raw.loc["00106", "phone"] == "'+86-139-7771-0006"  # documented: + phones too
    assert raw.loc["00107", "phone"] == "'-13977710007"
    assert raw.loc["00108", "phone"] == "13977710008"
    assert len(raw) == 8
    for side in ("scores_matrix.csv", "scores_matrix.png"):
        assert (out.parent / side).stat().st_size > 0


def test_cli_prints_matrix_without_name_or_phone(
    data_dir, model_dirs, tmp_path, caplog, monkeypatch, pii_values
) -> None:
    # setup_logging replaces the root handlers (basicConfig force=True), caplog's included:
    # keep caplog's handler and just open the level, so every record of the run is captured.
    monkeypatch.setattr(
        "pipeline.score.setup_logging", lambda verbose=False: logging.getLogger().setLevel(10)
    )
    caplog.set_level(logging.DEBUG)
    out, metrics = tmp_path / "scores.csv", tmp_path / "metrics.json"
    args = ("--budget", "100", "--metrics", metrics, "--verbose")
    result = _cli(data_dir, model_dirs / "full", out, *args)
    assert result.exit_code == 0, result.output
    assert "customers:" in result.output and "budget used" in result.output
    info = json.loads(metrics.read_text())
    assert info["customers"] == 8 and info["by_status"] == {"no_history": 3, "scored": 5}
    assert info["budget"] == 100 and info["budget_used"] <= 100
    secrets = [*pii_values, *EXTRA_NAMES, *EXTRA_PHONES]
    text = out.read_text(encoding="utf-8-sig")
    assert all(v in text for v in ("Zebulon Quixwood", "+86-139-7771-0001"))  # in the file
    assert "scored 8 customers" in caplog.text  # the logs were captured...
    for where in (
        result.output,
        caplog.text,
        metrics.read_text(),
        (tmp_path / "scores_matrix.csv").read_text(encoding="utf-8-sig"),
    ):
        assert not [v for v in secrets if v in where]  # ...and hold no name or phone


def test_the_crm_file_carries_no_plate_or_birthday(make_tables, write_dir, model_dirs, tmp_path):
    tables = _tables(make_tables)
    plates = [f"粤B7Q{j}K{j}" for j in range(8)]
    tables["customers"]["plate"] = plates
    tables["customers"]["birthday"] = ["03-07", "--11-30", "1985-02-28", *["12-24"] * 5]
    out = tmp_path / "scores.csv"
    result = _cli(write_dir(tables, name="care"), model_dirs / "full", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    header = text.splitlines()[0].split(",")
    assert "phone" in header and "plate" not in header and "birthday" not in header
    assert not [p for p in plates if p in text or p in result.output]


def test_cli_interrupted_write_keeps_previous_file(data_dir, model_dirs, tmp_path, monkeypatch):
    out = tmp_path / "crm" / "scores.csv"
    assert _cli(data_dir, model_dirs / "full", out).exit_code == 0
    before = out.read_bytes()

    def fail_midway(self, target, *args, **kwargs):
        with open(target, "w", encoding="utf-8") as fh:
            fh.write("customer_id,dealer_id\n00101,")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_midway)
    result = _cli(data_dir, model_dirs / "full", out, "--budget", "10")
    assert result.exit_code == 1 and "error: disk full" in result.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "scores.csv",
        "scores_matrix.csv",
        "scores_matrix.png",
    ]


def test_cli_model_feature_mismatch_exits_1(data_dir, model_dirs, tmp_path) -> None:
    out = tmp_path / "scores.csv"
    result = _cli(data_dir, model_dirs / "mismatch", out)
    assert result.exit_code == 1
    assert "does not fit the features" in result.output and "not_a_feature" in result.output
    assert not out.exists()


def test_cli_missing_model_exits_1(data_dir, tmp_path) -> None:
    result = _cli(data_dir, tmp_path / "nowhere", tmp_path / "scores.csv")
    assert result.exit_code == 1 and "no churn model" in result.output


def test_cli_bad_output_suffix(data_dir, model_dirs, tmp_path) -> None:
    result = _cli(data_dir, model_dirs / "full", tmp_path / "scores.xlsx")
    assert result.exit_code == 2 and ".csv or .parquet" in result.output


# --- end to end on the shared simulation: trained, promoted, score with the champion, monitor


@pytest.mark.slow
def test_score_and_monitor_end_to_end(
    shared_features, shared_models, tmp_path, monkeypatch
) -> None:
    import shutil

    from models import artifacts, tracking

    # the shared train run's MLflow store, copied: promoting writes to it (the copy still
    # reads the shared artifacts)
    shutil.copyfile(shared_models.tracking / "mlflow.db", tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    tracking.setup()
    params, sim = shared_models.params, shared_models.data
    for name in (artifacts.CHURN_NAME, artifacts.RECOVERY_NAME):  # what evaluate would decide
        tracking.promote_if_better(name, "1", 0.7, None)

    out = tmp_path / "crm" / "scores.csv"
    as_of = "2026-03-01"  # mid-history: the campaigns after it are "what was done"
    args = ["score", str(sim), "--as-of", as_of, "--model", "champion", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--budget", "3000", "--params", str(params)])
    assert result.exit_code == 0, result.output
    s = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    customers = pd.read_parquet(sim / "customers.parquet")
    assert len(s) == len(customers) and set(s["customer_id"]) == set(customers["customer_id"])
    assert s["customer_id"].is_unique
    assert set(s["status"]) <= {STATUS_SCORED, STATUS_NO_HISTORY}
    version = r"winback-churn v1 #[0-9a-f]{12}; winback-recovery v1 #[0-9a-f]{12}"
    assert s["model_version"].str.fullmatch(version).all()
    # the scoring model is the refit: it learned from the latest labelled snapshot
    latest = pd.read_parquet(shared_features.featurize / "training.parquet")["as_of"].max()
    assert (s["model_data_through"] == str(latest.date())).all()
    sel = s[s["priority_rank"].notna()]
    assert len(sel) > 10 and sel["expected_cost"].sum() <= 3000
    assert (sel["expected_cost"] <= sel["cost_cap"] + 1e-6).all()
    assert sel["reason_1_zh"].notna().all()
    scored = s[s["status"] == STATUS_SCORED]
    assert scored["churn_risk"].between(0, 1).all()

    mon = tmp_path / "monitor"
    result = CliRunner().invoke(
        app, ["monitor", str(out), str(sim), "--out", str(mon), "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    effects = pd.read_csv(mon / "effects.csv", encoding="utf-8-sig")
    overall = effects[effects["level"] == "all"].set_index("window_days")
    assert list(overall.index) == [30, 60, 90]
    assert (overall["n_treated"] > 50).all() and (overall["n_control"] > 10).all()
    assert "## By segment" in (mon / "report.md").read_text(encoding="utf-8")
    names = set(customers["name"].dropna())
    assert not [n for n in names if n in (mon / "report.md").read_text(encoding="utf-8")]


def test_history_status_when_no_visit_is_on_or_after_the_as_of_date(make_tables) -> None:
    # Scoring the day after the data ends: nobody has a visit on or after T.
    from features.build import build_features
    from models.scoring import history_status

    data = validate_tables(make_tables())
    when = pd.Timestamp("2030-01-01")
    feats = build_features(data, when)
    scorable, why = history_status(data, feats, when)
    assert scorable.all()
    assert (why == "").all()


def test_do_not_contact_customer_is_scored_but_the_budget_goes_to_the_next(
    make_tables, model_dirs
) -> None:
    from features.contract import DO_NOT_CONTACT

    budget = 81.0  # one manager call (80): without consent flags it goes to 00103 (rank 1)
    before = _score(make_tables, model_dirs / "full", budget).scores.set_index("customer_id")
    assert before.loc["00103", "priority_rank"] == 1 and before["priority_rank"].notna().sum() == 1
    tables = _tables(make_tables)
    # "Yes " and "0" are read as yes / no; the no_history customer 00106 keeps its reason
    tables["customers"]["do_not_contact"] = ["0", None, "Yes ", "no", None, "true", None, None]
    data = validate_tables(tables)
    assert DO_NOT_CONTACT.name not in build_features(data, AS_OF).columns  # never a feature
    result = score_customers(
        data, AS_OF, load_models(model_dirs / "full"), FeaturizeConfig(), ScoreConfig(), budget
    )
    s = result.scores
    assert list(s.columns) == OUTPUT_COLUMNS and s["customer_id"].is_unique and len(s) == 8
    s = s.set_index("customer_id")
    flagged = s.loc["00103"]
    assert flagged["status"] == STATUS_SCORED and pd.notna(flagged["churn_risk"])
    assert pd.notna(flagged["segment"]) and flagged["reason_1_en"]
    assert flagged["recommended_action"] == "none"
    assert flagged[["priority_rank", "owner", "channel", "expected_cost"]].isna().all()
    assert flagged["status_reason"] == "do not contact (customers.do_not_contact)"
    # the money goes to the next customer: 00101 ("0" = may contact) now gets the call
    assert s.loc["00101", "priority_rank"] == 1 and s["priority_rank"].notna().sum() == 1
    assert result.budget_used == pytest.approx(80.0)
    assert s.loc["00106", "status"] == STATUS_NO_HISTORY
    assert s.loc["00106", "status_reason"] == "no service visit on record"
    assert pd.isna(s.loc["00106", "owner"])  # flagged: no contact route, scored or not
    # everyone else is exactly as without the column
    same = [c for c in s.index if c not in ("00103", "00101", "00106")]
    pd.testing.assert_frame_equal(s.loc[same], before.loc[same])


def test_do_not_contact_is_left_out_of_the_same_coupon_budget(make_tables, model_dirs) -> None:
    free = _score(make_tables, model_dirs / "full", "same_coupon")
    tables = _tables(make_tables)
    tables["customers"]["do_not_contact"] = ["yes", *[None] * 7]  # 00101, a lapsed customer
    data = validate_tables(tables)
    models = load_models(model_dirs / "full")
    flagged = score_customers(data, AS_OF, models, FeaturizeConfig(), ScoreConfig(), "same_coupon")
    assert flagged.budget < free.budget
    assert flagged.scores.set_index("customer_id").loc["00101", "priority_rank"] is pd.NA


def _recent_contact(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """00105 was picked (control) 15 days before the as-of date: in the 30-day cooldown."""
    row = {"customer_id": "00105", "contact_date": "2024-06-15", "action": "none", "cost": "0"}
    extra = pd.DataFrame([{**row, "group": "control", "channel": "none"}])
    return {**tables, "outreach": pd.concat([tables["outreach"], extra], ignore_index=True)}


HALF = CrmConfig(holdout=HoldoutConfig(share=0.5))


def test_crm_rows_agree_with_themselves(make_tables, model_dirs) -> None:
    data = validate_tables(_recent_contact(_tables(make_tables)))
    models = load_models(model_dirs / "full")
    args = (data, AS_OF, models, FeaturizeConfig(), ScoreConfig(), None)
    result = score_customers(*args, crm=HALF)
    s = result.scores.set_index("customer_id")
    act = s["recommended_action"] != "none"
    # a contact has its owner, channel, rank and group; every other row none of them
    assert act.sum() >= 1 and (s.loc[act, "group"] == "treatment").all()
    assert s.loc[act, ["owner", "owner_zh", "channel", "priority_rank"]].notna().all().all()
    assert sorted(s.loc[act, "priority_rank"]) == list(range(1, act.sum() + 1))
    assert s.loc[~act, ["owner", "channel", "priority_rank"]].isna().all().all()
    assert (s.loc[act, "candidate_action"] == s.loc[act, "recommended_action"]).all()
    assert result.budget_used == pytest.approx(s.loc[act, "expected_cost"].sum())
    control = s[s["group"] == "control"]
    assert len(control) >= 1 and (control["recommended_action"] == "none").all()
    assert control["candidate_action"].isin(ACTIONS).all()
    assert (control["propensity"] == 0.5).all() and (s.loc[act, "propensity"] == 0.5).all()
    assert control["status_reason"].str.startswith("held out as the randomized control").all()
    assert control["status_reason_zh"].str.startswith("随机对照组").all()
    # the cooldown: no action, and the reason in both languages
    cool = s.loc["00105"]
    assert cool["recommended_action"] == "none" and cool["candidate_action"] == "none"
    assert pd.isna(cool["group"]) and pd.isna(cool["cost_cap"])
    assert cool["last_outreach"] == pd.Timestamp("2024-06-15")
    assert cool["status_reason"] == (
        "in cooldown: last outreach on 2024-06-15, fewer than 30 days before the as-of date "
        "(crm.cooldown_days)"
    )
    assert cool["status_reason_zh"].startswith("冷却期内：上次触达为2024-06-15")
    assert (s["schema_version"] == CRM_SCHEMA_VERSION).all()
    assert (s["recommended_action_zh"].notna() == s["recommended_action"].notna()).all()
    assert (s["stage_zh"].notna() == s["stage"].notna()).all() and s["status_zh"].notna().all()
    assert set(s["churn_band"].dropna()) <= {"low", "medium", "high"}
    assert set(s["baseline_band"].dropna()) <= {"normal", "pre_churn", "high"}
    # without the cooldown 00105 is a candidate again; the same inputs give the same rows
    off = score_customers(*args, crm=CrmConfig(cooldown_days=0, holdout=HALF.holdout))
    assert pd.isna(off.scores.set_index("customer_id").loc["00105", "status_reason"]) or (
        "cooldown" not in off.scores.set_index("customer_id").loc["00105", "status_reason"]
    )
    pd.testing.assert_frame_equal(score_customers(*args, crm=HALF).scores, result.scores)


def test_do_not_contact_on_the_dask_engine_gives_the_same_rows(
    make_tables, model_dirs, write_dir
) -> None:
    from models.engine import dask_client, score_customers_dask

    tables = _recent_contact(_tables(make_tables))  # and a cooldown, and a holdout
    tables["customers"]["do_not_contact"] = [None, None, "yes", None, None, None, None, None]
    data_dir = write_dir(tables)
    model = model_dirs / "full"
    expected = score_customers(
        validate_tables(tables), AS_OF, load_models(model), FeaturizeConfig(), ScoreConfig(),
        None, crm=HALF,
    ).scores  # fmt: skip
    with dask_client(processes=False, n_workers=2) as client:
        got = score_customers_dask(
            data_dir, AS_OF, str(model), FeaturizeConfig(), ScoreConfig(), client, None,
            n_partitions=2, crm=HALF,
        ).scores  # fmt: skip
    pd.testing.assert_frame_equal(got, expected)
    flagged = got.set_index("customer_id").loc["00103"]
    assert flagged["status_reason"] == "do not contact (customers.do_not_contact)"
    assert got["group"].eq("control").any()
    assert got.set_index("customer_id").loc["00105", "status_reason"].startswith("in cooldown")
