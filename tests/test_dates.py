"""Date options: YYYY-MM-DD only, on every command, refused with one message and exit 1."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import RULE_AFTER_AS_OF
from features.validation import validate_tables
from pipeline.cli import app
from pipeline.common import DateOptionError, now_text, parse_date, scoring_now

BAD_DATES = [
    "01-07-2025",
    "2025/07/01",
    "2025-7-1",
    "",
    "2026-10-01T00:00:00+08:00",
    "2025-07-01 00:00",
    "2025-02-30",
    "20250701",
    " 2025-07-01",
    "2025-07-01\n",
    "yesterday",
]

#: Every command line with a date option; ``{}`` is where the date goes.
COMMANDS = {
    "validate --as-of": ["validate", "DATA", "--as-of", "{}"],
    "features --as-of": ["features", "DATA", "--as-of", "{}", "--out", "f.csv"],
    "score --as-of": ["score", "DATA", "--as-of", "{}", "--out", "s.csv"],
    "score --through": ["score", "DATA", "--through", "{}", "--out", "s.csv"],
    "monitor --until": ["monitor", "s.csv", "DATA", "--until", "{}"],
}


def test_parse_date_accepts_iso_days_only():
    assert parse_date("2025-07-01", "--as-of") == pd.Timestamp("2025-07-01")
    assert parse_date(dt.date(2025, 7, 1), "validate.as_of") == pd.Timestamp("2025-07-01")
    for bad in [*BAD_DATES, None, 20250701, dt.datetime(2025, 7, 1)]:
        with pytest.raises(DateOptionError, match=r"--as-of must be a date written YYYY-MM-DD"):
            parse_date(bad, "--as-of")


@pytest.mark.parametrize("bad", BAD_DATES)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_date_option_refuses_other_forms(command, bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        bad if a == "{}" else str(tmp_path / "data") if a == "DATA" else a
        for a in COMMANDS[command]
    ]
    result = CliRunner().invoke(app, args)
    option = command.split()[1]
    assert result.exit_code == 1, result.output
    assert f"error: {option} must be a date written YYYY-MM-DD (e.g. 2025-07-01), got {bad!r}" in (
        result.stderr
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not list(tmp_path.iterdir())  # nothing written, no mlflow.db


def test_params_dates_are_checked_too(make_tables, write_dir, tmp_path):
    data_dir = write_dir(make_tables(optional=False))
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  as_of: 01-07-2025\n")
    result = CliRunner().invoke(app, ["validate", str(data_dir), "--params", str(params)])
    assert result.exit_code == 1
    assert "error: validate.as_of must be a date written YYYY-MM-DD" in result.stderr
    params.write_text("validate:\n  as_of: 2023-06-01\n")  # YAML reads it as a date: fine
    ok = CliRunner().invoke(
        app,
        ["validate", str(data_dir), "--params", str(params), "--rejects", str(tmp_path / "r.csv")],
    )
    assert ok.exit_code == 0, ok.output


def test_score_refuses_both_dates(tmp_path):
    args = ["score", str(tmp_path), "--as-of", "2025-07-01", "--through", "2025-06-30"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 1 and "not both" in result.stderr


def test_scoring_now_is_the_day_after_the_last_event(make_tables):
    tables = make_tables()
    data = validate_tables(tables, as_of="2030-01-01")
    last = max(
        pd.to_datetime(tables[t][c]).max()
        for t, c in [
            ("service_visits", "visit_date"),
            ("app_sessions", "session_date"),
            ("appointments", "booked_date"),
            ("surveys", "survey_date"),
            ("consultations", "contact_date"),
            ("complaints", "complaint_date"),
            ("outreach", "contact_date"),
        ]
    )
    as_of, found, aside = scoring_now(data, pd.Timestamp("2030-01-01"))
    assert found == last.normalize() and as_of == found + pd.Timedelta(days=1)
    assert aside == {}
    assert now_text(as_of, found, aside, pd.Timestamp("2030-01-01")) == (
        f"scoring as of {as_of:%Y-%m-%d} (the day after the last event, {found:%Y-%m-%d})"
    )


def test_scoring_now_sets_aside_future_rows_and_never_passes_tomorrow(make_tables):
    tables = make_tables()
    visits = tables["service_visits"]
    stray = visits.iloc[[0]].assign(visit_date="2100-01-01")
    tables["service_visits"] = pd.concat([visits, stray], ignore_index=True)
    today = pd.Timestamp("2024-03-10")  # inside the data: later rows are the future too
    data = validate_tables(tables, as_of=today)
    as_of, last, aside = scoring_now(data, today)
    assert last <= today and as_of <= today + pd.Timedelta(days=1)
    assert aside["service_visits"] >= 1
    late = data.rejects[data.rejects["rule"] == RULE_AFTER_AS_OF]
    assert "2100-01-01" in " ".join(late["value"].astype("str"))  # counted, not dropped
    assert "set aside as 'after as-of date'" in now_text(as_of, last, aside, today)


def test_score_without_a_date_scores_the_day_after_the_last_event(
    make_tables, write_dir, tmp_path, monkeypatch
):
    import lightgbm as lgb
    import numpy as np

    from models.lgbm import CalibratedBooster

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/none.db")
    features = ["days_since_last_visit", "visits_365d"]
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"days_since_last_visit": rng.uniform(0, 500, 200)})
    X["visits_365d"] = rng.integers(0, 6, 200).astype("float64")
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbosity": -1}
    booster = lgb.train(params, lgb.Dataset(X, label=X["days_since_last_visit"] > 250), 5)
    CalibratedBooster(booster, features).save(tmp_path / "out" / "train" / "churn")
    tables = make_tables()
    clean = validate_tables(tables)
    last, _, _ = scoring_now(clean)
    last -= pd.Timedelta(days=1)
    visits = tables["service_visits"]
    stray = visits.iloc[[0]].assign(visit_date="2100-01-01")
    tables["service_visits"] = pd.concat([visits, stray], ignore_index=True)
    data = write_dir(tables)
    out = tmp_path / "s.csv"
    result = CliRunner().invoke(app, ["score", str(data), "--out", str(out)])  # no date
    assert result.exit_code == 0, result.output
    when = last + pd.Timedelta(days=1)
    assert f"scoring as of {when:%Y-%m-%d} (the day after the last event, {last:%Y-%m-%d})" in (
        result.output
    )
    assert "warning: 1 event row(s) dated after today" in result.output
    assert "(service_visits 1)" in result.output
    scores = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert (scores["as_of"].str[:10] == f"{when:%Y-%m-%d}").all()
    assert "(from out/train)" in result.output  # no registry: the default train directory
    # --as-of and --through still work as before, and give the same file for the same day
    through = tmp_path / "t.csv"
    args = ["score", str(data), "--through", f"{last:%Y-%m-%d}", "--out", str(through)]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert pd.read_csv(through, dtype=str).equals(pd.read_csv(out, dtype=str))
