"""The `winback` command: every subcommand answers --help, and the demo runs end to end."""

import json

import click
import pandas as pd
import pytest
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
        "monitor",
        "leads",
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
