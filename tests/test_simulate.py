"""Tests of the dealership simulator: contract shape, determinism and behavioural structure."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.vocabulary import CHURN_STAGES as STAGES
from features.vocabulary import SIMULATOR_ACTIONS as ACTIONS
from pipeline import simulate as sim_mod
from pipeline.simulator import SimulationConfig, simulate, summarize
from pipeline.simulator.names import ARMS

REQUIRED = {
    "customers": ["customer_id"],
    "service_visits": ["customer_id", "visit_date", "amount"],
    "app_sessions": ["customer_id", "session_date"],
    "appointments": ["customer_id", "booked_date", "scheduled_date", "status"],
    "surveys": ["customer_id", "survey_date", "score"],
    "consultations": ["customer_id", "contact_date"],
    "complaints": ["customer_id", "complaint_date"],
    "outreach": ["customer_id", "contact_date", "action", "cost", "group"],
}
DATE_COLS = {
    "service_visits": ["visit_date"],
    "app_sessions": ["session_date"],
    "appointments": ["booked_date", "scheduled_date"],
    "surveys": ["survey_date"],
    "consultations": ["contact_date"],
    "complaints": ["complaint_date"],
    "outreach": ["contact_date"],
}


@pytest.fixture(scope="module")
def small():
    config = SimulationConfig(customers=1500, years=2, seed=7)
    tables, truth = simulate(config)
    return config, tables, truth


def _run_cli(out: Path, *args: str) -> None:
    import typer

    app = typer.Typer()
    app.command()(sim_mod.main)
    result = CliRunner().invoke(app, ["--out", str(out), *args])
    assert result.exit_code == 0, result.output


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_from_params_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown simulate params"):
        SimulationConfig.from_params({"customers": 10, "custmers": 5})


def test_from_params_coerces_and_defaults():
    cfg = SimulationConfig.from_params({"customers": 500, "coupon_value": 80, "seed": 3})
    assert cfg.customers == 500 and cfg.seed == 3
    assert isinstance(cfg.coupon_value, float) and cfg.coupon_value == 80.0
    assert SimulationConfig.from_params(None) == SimulationConfig()


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path):
    args = ("--customers", "400", "--years", "1")
    _run_cli(tmp_path / "a", *args, "--seed", "5")
    _run_cli(tmp_path / "b", *args, "--seed", "5")
    _run_cli(tmp_path / "c", *args, "--seed", "6")
    a, b, c = (_hashes(tmp_path / d) for d in "abc")
    assert "service_visits.parquet" in a and "truth/outreach.parquet" in a
    assert "truth/base_rates.json" in a
    assert a == b
    assert a["service_visits.parquet"] != c["service_visits.parquet"]
    assert a["customers.parquet"] != c["customers.parquet"]


def test_params_file_and_flags(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("simulate:\n  customers: 300\n  years: 1\n  seed: 1\n", encoding="utf-8")
    _run_cli(tmp_path / "out", "--params", str(params), "--customers", "250", "--fmt", "csv")
    customers = pd.read_csv(tmp_path / "out" / "customers.csv")
    assert len(customers) == 250  # the flag overrides the params file
    assert (tmp_path / "out" / "service_visits.csv").exists()


def test_tables_follow_the_contract(small):
    config, tables, _ = small
    assert set(REQUIRED) <= set(tables)
    customers = tables["customers"]
    ids = set(customers["customer_id"])
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert customers["phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert customers["name"].str.len().between(2, 3).all()
    assert (customers["acquisition_cost"] >= 0).all() and (customers["referrals"] >= 0).all()
    end = pd.Timestamp(config.end_date)
    start = end - pd.DateOffset(years=config.years) + pd.Timedelta(days=1)
    for name, cols in REQUIRED.items():
        df = tables[name]
        assert len(df) > 0, name
        assert set(cols) <= set(df.columns), name
        assert df["customer_id"].isin(ids).all(), name
        for col in DATE_COLS.get(name, []):
            assert df[col].between(start, end).all(), (name, col)
        if name != "customers":
            first = DATE_COLS[name][-1]
            key = df["customer_id"] + df[first].dt.strftime("%Y%m%d")
            assert key.is_monotonic_increasing, name
    visits = tables["service_visits"]
    assert (visits["amount"] >= 0).all() and (visits["wait_minutes"] >= 0).all()
    assert (visits["mileage_km"] >= 0).all()
    assert set(visits["visit_type"]) <= {
        "maintenance",
        "repair",
        "warranty",
        "insurance",
        "accident",
        "other",
    }
    appts = tables["appointments"]
    assert set(appts["status"]) == {"kept", "cancelled", "no_show"}
    assert (appts["booked_date"] <= appts["scheduled_date"]).all()
    assert tables["surveys"]["score"].between(0, 10).all()
    assert (tables["app_sessions"]["sessions"] >= 1).all()
    out = tables["outreach"]
    assert set(out["group"]) == {"treatment", "control"}
    assert (out["cost"] >= 0).all()
    assert (out.loc[out["group"] == "control", "cost"] == 0).all()
    assert set(out.loc[out["group"] == "treatment", "action"]) == set(ACTIONS)


def test_output_passes_contract_reader(small, tmp_path):
    files = pytest.importorskip("features.files")
    reading = pytest.importorskip("features.reading")
    _, tables, _ = small
    files.write_data_dir(tables, tmp_path, "csv")
    ds = reading.read_data_dir(tmp_path)
    assert len(ds.rejects) == 0, ds.rejects.head()
    assert len(ds.tables["customers"]) == len(tables["customers"])


def test_mileage_increases_per_customer(small):
    _, tables, _ = small
    v = tables["service_visits"]
    step = v.groupby("customer_id")["mileage_km"].diff().dropna()
    assert (step >= -300).mean() > 0.99  # odometer noise only, never a real rollback


def test_low_mileage_owners_have_long_gaps_but_stay_attached(small):
    _, tables, truth = small
    cust = truth["customers"].set_index("customer_id")
    v = tables["service_visits"]
    v = v[v["visit_type"] == "maintenance"]
    gaps = v.groupby("customer_id")["visit_date"].diff().dt.days.dropna()
    gap_by = gaps.groupby(v.loc[gaps.index, "customer_id"]).median()
    km = cust.loc[gap_by.index, "km_per_day"]
    low, high = km <= km.quantile(0.25), km >= km.quantile(0.75)
    assert gap_by[low].median() > 1.5 * gap_by[high].median()
    # Long silences of low-mileage owners are mostly not defection.
    snaps = truth["snapshots"]
    slow = cust.index[cust["service_interval_days"] >= 360]
    quiet = snaps[
        snaps["customer_id"].isin(slow) & snaps["days_since_last_visit"].between(200, 360)
    ]
    assert len(quiet) > 50
    assert (quiet["state"] == "attached").mean() > 0.5


def test_leading_signals_fade_before_defection(small):
    _, _, truth = small
    snaps = truth["snapshots"]
    att = snaps[snaps["state"] == "attached"]
    hi_risk = att["p_defect_180d"] > att["p_defect_180d"].quantile(0.8)
    assert att.loc[hi_risk, "commitment"].mean() < att.loc[~hi_risk, "commitment"].mean()


def test_movers_and_sellers_never_respond(small):
    _, _, truth = small
    o = truth["outreach"]
    gone = o[o["state"].isin(["moved", "sold"])]
    assert len(gone) > 0
    pcols = [f"p_return_{a}" for a in ARMS]
    assert (gone[pcols].to_numpy() == 0).all()
    assert not gone["returned"].any()
    resp = truth["response"]
    assert (resp.loc[resp["state"].isin(["moved", "sold"]), pcols].to_numpy() == 0).all()


def test_propensities_are_recorded_and_bounded(small):
    config, tables, truth = small
    o = truth["outreach"]
    # the public log carries what the campaign tool knows, row for row (same keys and order)
    public = tables["outreach"]
    assert public[["customer_id", "contact_date", "action"]].equals(
        o[["customer_id", "contact_date", "action"]]
    )
    assert public["propensity"].tolist() == o["propensity"].tolist()
    ctrl = o["group"] == "control"
    assert np.allclose(o.loc[ctrl, "propensity"], config.control_share)
    treat = o[~ctrl]
    # every action has >= 10% of the treated share in every value tier
    assert (treat["propensity"] >= 0.1 * (1 - config.control_share) - 1e-12).all()
    assert o["propensity"].between(0, 1).all()
    for p in ("control", *ACTIONS):
        assert o[f"p_return_{p}"].between(0, 1).all()


def test_true_control_rate_below_best_action_per_stage(small):
    _, _, truth = small
    o = truth["outreach"]
    pcols = [f"p_return_{a}" for a in ACTIONS]
    for stage in STAGES:
        os_ = o[o["stage"] == stage]
        assert len(os_) > 20, stage
        assert os_["p_return_control"].mean() < os_[pcols].max(axis=1).mean() - 0.03, stage


def test_heterogeneous_best_action(small):
    _, _, truth = small
    o = truth["outreach"]
    d = o[o["state"] == "defected"]
    best = d[[f"p_return_{a}" for a in ACTIONS]].to_numpy().argmax(axis=1)
    best = pd.Series(np.array(ACTIONS)[best], index=d.index)
    price = best[d["defection_reason"] == "price"].value_counts(normalize=True)
    service = best[d["defection_reason"] == "service"].value_counts(normalize=True)
    assert price.idxmax() == "sms_coupon"
    assert service.idxmax() == "home_visit"
    assert service.get("sms_coupon", 0.0) == 0.0


def test_summarize_reports_base_rates(small):
    _, tables, truth = small
    s = summarize(tables, truth)
    assert 0 < s["churn_rate_180d"]["mean"] < 1
    assert set(s["winback"]) == set(STAGES)
    assert abs(sum(s["value_tiers"][k] for k in ("high", "mid", "low")) - 1) < 1e-9
    assert s["events"]["service_visits"] == len(tables["service_visits"])


#: The product owner's win-back targets: share of each stage won back by a fitting action.
SPEC_WINBACK = {
    "pre_churn": (0.45, 0.55),
    "early": (0.30, 0.40),
    "deep": (0.15, 0.25),
    "lost": (0.05, 0.10),
}


@pytest.fixture(scope="module")
def base_rates():
    tables, truth = simulate(SimulationConfig(customers=8000, years=3, seed=11))
    return summarize(tables, truth)


@pytest.mark.slow
def test_base_rates_realistic(base_rates):
    s = base_rates
    tiers = s["value_tiers"]
    assert 0.12 <= tiers["high"] <= 0.25
    assert 0.30 <= tiers["mid"] <= 0.40
    assert 35 <= s["events_per_customer"] <= 60
    assert 0.2 <= s["churn_rate_180d"]["mean"] <= 0.5
    best = [s["winback"][stage]["true_best_action_rate"] for stage in SPEC_WINBACK]
    # the longer the lapse, the harder the win-back
    assert best == sorted(best, reverse=True)
    lo, hi = SPEC_WINBACK["lost"]
    assert lo <= s["winback"]["lost"]["true_best_action_rate"] <= hi
    for stage in SPEC_WINBACK:
        row = s["winback"][stage]
        # realised: control returns clearly below treated returns
        assert row["control"]["rate"] < row["treatment_all"]["rate"], stage


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known gap: long-interval owners who are still attached sit in the deep stage and "
    "return at their natural rate, so deep measures ~0.29 (spec 0.15-0.25) and pre-churn ~0.44 "
    "(spec 0.45-0.55); see docs/simulator.md. Strict: passing means the gap is closed.",
)
def test_base_rates_in_spec_ranges(base_rates):
    for stage, (lo, hi) in SPEC_WINBACK.items():
        rate = base_rates["winback"][stage]["true_best_action_rate"]
        assert lo <= rate <= hi, (stage, rate)


# --- the care data (pipeline/simulator/care.py) -----------------------------------------------


def test_care_data_is_plausible(small):
    from features.checks import parse_month_day

    config, tables, _ = small
    customers, visits, care = tables["customers"], tables["service_visits"], tables["care_contacts"]
    birthday = customers["birthday"]
    assert 0.08 < birthday.isna().mean() < 0.22
    known = birthday.dropna()
    assert known.str.fullmatch(r"\d{2}-\d{2}").all()
    assert parse_month_day(known).tolist() == known.tolist()  # every one a day of the year
    plates = customers["plate"].dropna()
    assert plates.str.fullmatch(r"粤[A-Z][0-9A-HJ-NP-Z]{5}").all()
    assert plates.nunique() / len(plates) > 0.99 and customers["plate"].notna().mean() > 0.9
    end = pd.Timestamp(config.end_date)
    expiry = customers["insurance_expiry_date"]
    assert 0.05 < expiry.isna().mean() < 0.15
    ahead = (expiry - end).dt.days.dropna()
    assert ahead.max() <= 372 and 0.03 < ahead.between(1, 30).mean() < 0.15
    assert ((ahead <= 0).mean()) < 0.15  # stale records, renewed elsewhere since
    dealer = visits["customer_id"].map(customers.set_index("customer_id")["dealer_id"])
    assert (visits["advisor_id"].str.split("-").str[0] == dealer).all()
    assert visits["advisor_id"].str.fullmatch(r"D\d-A0[1-6]").all()
    share = visits.groupby("customer_id")["advisor_id"].agg(lambda s: s.value_counts().iloc[0])
    many = visits.groupby("customer_id").size() >= 6
    assert 0.78 < (share[many] / visits.groupby("customer_id").size()[many]).mean() < 0.92
    start = end - pd.DateOffset(years=config.years) + pd.Timedelta(days=1)
    assert care["customer_id"].isin(set(customers["customer_id"])).all()
    assert care["contact_date"].between(start, end).all()
    assert set(care["trigger"]) == {"maintenance_due", "insurance_expiry", "birthday"}
    assert set(care["channel"]) == {"sms", "phone", "wechat"}
    key = care["customer_id"] + care["contact_date"].dt.strftime("%Y%m%d")
    assert key.is_monotonic_increasing and not care.duplicated().any()
    # birthday greetings fall on the birthday (29 February on 28 February in other years)
    greet = care[care["trigger"] == "birthday"]
    md = greet["customer_id"].map(customers.set_index("customer_id")["birthday"])
    leap = greet["contact_date"].dt.is_leap_year
    assert (
        greet["contact_date"].dt.strftime("%m-%d") == md.where(leap | (md != "02-29"), "02-28")
    ).all()


def test_care_data_moves_no_other_table(small):
    config, tables, truth = small
    off_tables, off_truth = simulate(dataclasses.replace(config, care=False))
    assert set(tables) - set(off_tables) == {"care_contacts"}
    added = {"customers": ["insurance_expiry_date", "birthday", "plate"]}
    added["service_visits"] = ["advisor_id"]
    for name, frame in off_tables.items():
        pd.testing.assert_frame_equal(tables[name].drop(columns=added.get(name, [])), frame)
    for name, frame in off_truth.items():
        pd.testing.assert_frame_equal(truth[name], frame)
    assert summarize(tables, truth) == summarize(off_tables, off_truth)


def test_care_data_is_deterministic_per_seed(small):
    from pipeline.simulator.care import care_tables

    config, tables, _ = small
    bare = tables["customers"].drop(columns=["insurance_expiry_date", "birthday", "plate"])
    visits = tables["service_visits"].drop(columns=["advisor_id"])
    again = care_tables(config, bare, visits)
    for name in ("customers", "service_visits", "care_contacts"):
        pd.testing.assert_frame_equal(again[name], tables[name])
    other = care_tables(dataclasses.replace(config, seed=config.seed + 1), bare, visits)
    assert not other["customers"]["plate"].equals(tables["customers"]["plate"])
