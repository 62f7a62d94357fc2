"""winback monitor: contacted vs control win-back rates, computed by hand on a tiny log."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.files import write_table
from models.monitor import (
    CENSORED,
    IMPROVED,
    NO_EVIDENCE,
    OBSERVED,
    TOO_FEW,
    WORSE,
    MonitorConfig,
    contacts_since,
    effect_table,
    incremental_interval,
    score_as_of,
)
from pipeline.cli import app

AS_OF = pd.Timestamp("2024-01-01")
END = pd.Timestamp("2024-05-10")
Z = 1.959963984540054


def _score() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["T1", "T2", "T3", "C1", "C2", "T4", "C3"],
            "as_of": [AS_OF] * 7,
            "segment": ["high|deep"] * 5 + ["low|lost"] * 2,
            "recommended_action": [
                "sms_coupon",
                "advisor_call",  # T2 gets an sms_coupon: not what the score recommended
                "advisor_call",
                "none",
                "advisor_call",
                "sms_coupon",
                "none",
            ],
            "uplift": [0.2, 0.3, 0.1, math.nan, 0.05, 0.4, math.nan],
        }
    )


def _outreach() -> pd.DataFrame:
    rows = [
        ("T1", "2023-12-01", "advisor_call", 20.0, "treatment"),  # before the score: ignored
        ("T1", "2024-01-10", "sms_coupon", 12.0, "treatment"),
        ("T1", "2024-02-15", "manager_call", 80.0, "treatment"),  # a later contact: ignored
        ("T2", "2024-01-10", "sms_coupon", 12.0, "treatment"),
        ("T3", "2024-01-10", "advisor_call", 20.0, "treatment"),
        ("C1", "2024-01-10", "none", 0.0, "control"),
        ("C2", "2024-01-10", "none", 0.0, "control"),
        ("U1", "2024-01-10", "advisor_call", 20.0, "treatment"),  # not in the score file
        ("T4", "2024-03-15", "sms_coupon", 12.0, "treatment"),
        ("C3", "2024-03-15", "none", 0.0, "control"),
    ]
    out = pd.DataFrame(rows, columns=["customer_id", "contact_date", "action", "cost", "group"])
    out["contact_date"] = pd.to_datetime(out["contact_date"])
    return out


def _visits() -> pd.DataFrame:
    rows = [
        ("T1", "2024-01-25"),  # 15 days after contact
        ("T2", "2024-03-01"),  # 51 days
        ("C1", "2024-01-10"),  # same day as the contact: not a return
        ("C1", "2024-05-01"),  # 112 days: outside every window
        ("C2", "2024-02-05"),  # 26 days
        ("T4", "2024-04-01"),  # 17 days
    ]
    out = pd.DataFrame(rows, columns=["customer_id", "visit_date"])
    out["visit_date"] = pd.to_datetime(out["visit_date"])
    return out


@pytest.fixture
def effects() -> pd.DataFrame:
    contacts = contacts_since(_score(), _outreach(), AS_OF)
    cfg = MonitorConfig(min_group_size=1)
    return effect_table(contacts, _visits(), END, cfg, 100.0, ("sms_coupon",))


def _row(effects, w, level, segment="all", action="all") -> pd.Series:
    hit = effects[
        (effects["window_days"] == w)
        & (effects["level"] == level)
        & (effects["segment"] == segment)
        & (effects["action"] == action)
    ]
    assert len(hit) == 1
    return hit.iloc[0]


def test_first_contact_since_the_score() -> None:
    contacts = contacts_since(_score(), _outreach(), AS_OF).set_index("customer_id")
    assert sorted(contacts.index) == ["C1", "C2", "C3", "T1", "T2", "T3", "T4", "U1"]
    assert contacts.loc["T1", "action"] == "sms_coupon"
    assert contacts.loc["T1", "contact_date"] == pd.Timestamp("2024-01-10")
    assert contacts.loc["U1", "segment"] == "unscored"


def test_segment_rates_by_hand(effects) -> None:
    # high|deep, 30 days: contacted T1 (returned), T2, T3 → 1/3; control C1, C2 (returned) → 1/2
    r = _row(effects, 30, "segment", "high|deep")
    assert (r["n_treated"], r["returned_treated"], r["n_control"], r["returned_control"]) == (
        3,
        1,
        2,
        1,
    )
    assert r["rate_treated"] == pytest.approx(1 / 3) and r["rate_control"] == pytest.approx(0.5)
    assert r["incremental"] == pytest.approx(-1 / 6)
    # cost: contacts 12 + 12 + 20, plus the coupon of T1 who returned = 144; one recovered
    assert r["cost"] == pytest.approx(144.0) and r["cost_per_recovered"] == pytest.approx(144.0)
    assert math.isnan(r["cost_per_incremental"])  # no incremental recovery to pay for
    assert r["window_status"] == OBSERVED

    # 60 days: T2 has returned too → 2/3 vs 1/2; coupons of T1 and T2: 44 + 200
    r = _row(effects, 60, "segment", "high|deep")
    assert r["rate_treated"] == pytest.approx(2 / 3) and r["incremental"] == pytest.approx(1 / 6)
    assert r["cost"] == pytest.approx(244.0) and r["cost_per_recovered"] == pytest.approx(122.0)
    assert r["incremental_recoveries"] == pytest.approx(0.5)
    assert r["cost_per_incremental"] == pytest.approx(488.0)
    # Agresti–Caffo: (2+1)/(3+2) − (1+1)/(2+2) ± z·sqrt(.6·.4/5 + .5·.5/4)
    se = math.sqrt(0.6 * 0.4 / 5 + 0.5 * 0.5 / 4)
    assert r["ci_low"] == pytest.approx(0.1 - Z * se) and r["ci_high"] == pytest.approx(
        0.1 + Z * se
    )
    assert r["verdict"] == NO_EVIDENCE
    # the score expected: mean uplift of T1 (sms as recommended) and T3 (advisor as recommended)
    assert r["expected_uplift"] == pytest.approx(0.15) and r["n_expected"] == 2
    assert r["vs_expected"] == "as expected"
    # C1's visit after 112 days stays outside the 90-day window
    assert _row(effects, 90, "segment", "high|deep")["rate_control"] == pytest.approx(0.5)


def test_segment_by_action_and_censoring(effects) -> None:
    r = _row(effects, 60, "segment × action", "high|deep", "sms_coupon")
    assert (r["n_treated"], r["returned_treated"], r["n_control"]) == (2, 2, 2)
    assert r["incremental"] == pytest.approx(0.5)
    # low|lost was contacted on 2024-03-15: 30 days observed by 2024-05-10, 60 and 90 not
    r30 = _row(effects, 30, "segment", "low|lost")
    assert r30["window_status"] == OBSERVED and r30["incremental"] == pytest.approx(1.0)
    for w in (60, 90):
        r = _row(effects, w, "segment", "low|lost")
        assert r["window_status"] == CENSORED
        assert math.isnan(r["rate_treated"]) and r["verdict"] == TOO_FEW
    # overall at 60 days: T4 and C3 are censored, the unscored U1 (no return) counts
    r = _row(effects, 60, "all")
    assert r["window_status"] == "partial (6 of 8 observed)"
    assert (r["n_treated"], r["returned_treated"]) == (4, 2)
    assert r["incremental"] == pytest.approx(0.0)


def test_interval_and_verdicts() -> None:
    from models.monitor import _verdict

    lo, hi = incremental_interval(50, 100, 10, 100)
    assert lo > 0 and _verdict(lo, hi, 100, 100, 20) == IMPROVED
    lo, hi = incremental_interval(10, 100, 50, 100)
    assert hi < 0 and _verdict(lo, hi, 100, 100, 20) == WORSE
    assert _verdict(lo, hi, 10, 100, 20) == TOO_FEW
    assert all(math.isnan(x) for x in incremental_interval(0, 0, 3, 10))


def test_score_as_of_needs_one_date() -> None:
    s = _score()
    assert score_as_of(s) == AS_OF
    s.loc[0, "as_of"] = pd.Timestamp("2024-02-01")
    with pytest.raises(ValueError, match="exactly one as_of"):
        score_as_of(s)
    with pytest.raises(ValueError, match="no 'as_of' column"):
        score_as_of(s.drop(columns="as_of"))


def test_bad_windows_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        MonitorConfig.from_params({"windows_days": [60, 30]})
    with pytest.raises(ValueError, match="unknown monitor params"):
        MonitorConfig.from_params({"window": [30]})


def test_cli_writes_report_chart_and_table(tmp_path, pii_values) -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["T1", "T2", "T3", "C1", "C2", "T4", "C3", "U1"],
            "name": list(pii_values[:8]),
        }
    )
    data = tmp_path / "data"
    data.mkdir()
    customers.to_csv(data / "customers.csv", index=False)
    visits = _visits().assign(amount=500.0)
    visits.to_csv(data / "service_visits.csv", index=False, date_format="%Y-%m-%d")
    _outreach().to_csv(data / "outreach.csv", index=False, date_format="%Y-%m-%d")
    score = _score().assign(name=list(pii_values[:7]))  # a real score file carries names
    write_table(score, tmp_path / "scores.csv")
    out = tmp_path / "monitor"
    args = ["monitor", str(tmp_path / "scores.csv"), str(data), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--until", "2024-05-10"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["censored_windows"] == [] and summary["contacts"] == 8  # all partly observed
    table = pd.read_csv(out / "effects.csv", encoding="utf-8-sig")
    assert set(table["window_days"]) == {30, 60, 90}
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "high|deep" in report and "partial (6 of 8 observed)" in report
    assert (out / "effects.png").stat().st_size > 0
    for text in (report, result.output, (out / "effects.csv").read_text(encoding="utf-8-sig")):
        assert not [v for v in pii_values if v in text]
    # report.lang: the same chart in English; an unknown language is refused clearly
    (tmp_path / "en.yaml").write_text("report:\n  lang: en\n")
    (tmp_path / "fr.yaml").write_text("report:\n  lang: fr\n")
    en = ["--until", "2024-05-10", "--params", str(tmp_path / "en.yaml")]
    args[-1] = str(tmp_path / "monitor_en")
    result = CliRunner().invoke(app, [*args, *en])
    assert result.exit_code == 0, result.output
    chart = (tmp_path / "monitor_en" / "effects.png").read_bytes()
    assert chart[:4] == b"\x89PNG" and chart != (out / "effects.png").read_bytes()
    result = CliRunner().invoke(app, [*args, "--params", str(tmp_path / "fr.yaml")])
    assert result.exit_code == 1
    assert "report.lang must be one of zh, en, got 'fr'" in result.output


def test_cli_without_outreach_fails_clearly(tmp_path, make_tables, write_dir) -> None:
    data = write_dir(make_tables(outreach=None))
    write_table(_score(), tmp_path / "scores.parquet")
    result = CliRunner().invoke(
        app, ["monitor", str(tmp_path / "scores.parquet"), str(data), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1 and "no outreach log" in result.output
