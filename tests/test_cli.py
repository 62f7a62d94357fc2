"""The `winback` command: every subcommand answers --help, and the demo runs end to end."""

import json
import re

import click
import pandas as pd
import pytest
from browser import console, find_chromium, open_page, root_tag
from typer.main import get_command
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
GROUP = get_command(app)
# the stage commands load on use, so they are listed, not in GROUP.commands
COMMANDS = sorted(GROUP.list_commands(click.Context(GROUP)))


def test_expected_commands_are_registered():
    assert {
        "simulate",
        "validate",
        "featurize",
        "features",
        "train",
        "evaluate",
        "explain",
        "policy",
        "score",
        "care",
        "monitor",
        "leads",
        "report",
        "demo",
    } <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.slow
def test_demo_small_end_to_end(tmp_path):
    out = tmp_path / "out"
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    result = runner.invoke(
        app,
        # enough customers for the win-back model's slice minimums
        ["demo", "--out", str(out), "--customers", "3000", "--years", "3", "--seed", "3"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    customers = pd.read_parquet(out / "simulate" / "customers.parquet")
    assert len(customers) == 3000
    report = json.loads((out / "validate" / "report.json").read_text())
    assert report["customers"] == 3000
    assert report["rows_set_aside"] == 0
    training = pd.read_parquet(out / "featurize" / "training.parquet")
    assert training["churn"].isin([0, 1]).all()
    assert training["customer_id"].isin(customers["customer_id"]).all()
    assert not {"name", "phone"} & set(training.columns)
    metrics = json.loads((out / "evaluate" / "metrics.json").read_text())
    assert 0.0 <= metrics["churn"]["model"]["roc_auc"] <= 1.0
    report_md = (out / "explain" / "report.md").read_text()
    assert "Out-of-time evaluation" in report_md
    for value in customers["name"].tolist()[:200] + customers["phone"].tolist()[:200]:
        assert value not in report_md
    comparison = pd.read_csv(out / "policy" / "comparison.csv")
    assert {"model", "same_coupon", "playbook_matrix"} <= set(comparison["policy"])
    scores = pd.read_csv(out / "score" / "scores.csv", dtype={"customer_id": str})
    assert sorted(scores["customer_id"]) == sorted(customers["customer_id"])
    # the care tasks of the next day: only customers of the file, none in the win-back selection
    tasks = pd.read_csv(out / "care" / "tasks.csv", dtype={"customer_id": str})
    assert tasks["customer_id"].is_unique and tasks["customer_id"].isin(scores["customer_id"]).all()
    picked = scores.loc[scores["group"].notna(), "customer_id"]
    assert (tasks.loc[tasks["customer_id"].isin(picked), "status"] == "suppressed").all()
    # one report of it all, every customer in the lookup, no names or phones, in MLflow too
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh">' in page and (out / "report" / "report_en.html").is_file()
    # with the store KPI board of the CRM file's week (through the simulated end date)
    assert "门店周报" in page and "截至 2026-10-01（当天不计）" in page
    lookup = json.loads(re.search(r'id="lookup-data">(.*?)</script>', page, re.S).group(1))
    assert sorted(row[0] for row in lookup["rows"]) == sorted(customers["customer_id"])
    names = [n for n in customers["name"].dropna() if len(n) >= 3]
    for value in names[:200] + customers["phone"].tolist()[:200]:
        assert value not in page
    import mlflow

    run = json.loads((out / "train" / "run.json").read_text())
    logged = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"]).list_artifacts(run["run_id"], "report")
    assert {a.path for a in logged} == {"report/report.html", "report/report_en.html"}
    # and it renders: the lookup finds the first customer of the CRM file
    browser = find_chromium()
    if browser is not None:
        first = scores["customer_id"].iloc[0]
        done = open_page(
            browser,
            out / "report" / "report.html",
            f"#customer={first}",
            tmp_path / "p",
            "--dump-dom",
        )
        assert 'data-ready="1"' in root_tag(done.stdout) and console(done) == []
        assert f'data-col="customer_id">{first}<' in done.stdout
