"""`winback --help` and the stages' own --help load no heavy library (no timed test).

The heavy imports (pandas, LightGBM, MLflow, SHAP, Dask, matplotlib, numba, ...) happen inside
the commands, so `winback --help` and `winback <stage> --help` answer at once. Each check runs
in a fresh interpreter and looks at ``sys.modules`` after the help was printed.
"""

import json
import subprocess
import sys

import click
import pytest
from typer.main import get_command

from pipeline import cli

HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "lightgbm",
    "sklearn",
    "scipy",
    "mlflow",
    "shap",
    "dask",
    "distributed",
    "matplotlib",
    "numba",
    "pandera",
)
#: Stages whose module keeps its top-level imports (none today: every stage's --help is light).
EAGER_STAGES: set[str] = set()

_PROBE = """
import json, sys
from typer.testing import CliRunner
from pipeline.cli import app
runner = CliRunner()
outputs = {}
for args in json.loads(sys.argv[1]):
    result = runner.invoke(app, [*args, "--help"])
    outputs[" ".join(args)] = [result.exit_code, result.output]
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"heavy": heavy, "outputs": outputs}))
"""


def _probe(commands: list[list[str]]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(commands), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def _stage_commands() -> list[list[str]]:
    group = get_command(cli.app)
    names = [[n] for n in group.list_commands(click.Context(group)) if n not in EAGER_STAGES]
    return names + [["leads", n] for n in cli.LEADS_COMMANDS]


def test_winback_help_lists_every_command_and_loads_no_heavy_library():
    found = _probe([[]])
    code, text = found["outputs"][""]
    assert code == 0
    for name in [*cli.STAGE_COMMANDS, "train", "demo", "leads"]:
        assert f" {name} " in text, name
    # the one-line help comes from the stage's docstring, read without importing the stage
    assert "Score every customer as of a date into a CRM file" in text
    assert found["heavy"] == []
    loaded = _probe([["leads"]])
    assert loaded["heavy"] == []
    assert "trigger" in loaded["outputs"]["leads"][1]


@pytest.mark.slow
def test_every_stage_help_loads_no_heavy_library():
    commands = _stage_commands()
    found = _probe(commands)
    for args in commands:
        code, text = found["outputs"][" ".join(args)]
        assert code == 0 and "Usage" in text, (args, text)
    assert found["heavy"] == []


def test_first_doc_line_reads_the_function_docstring_from_source():
    from pipeline import score

    expected = score.main.__doc__.splitlines()[0]
    assert cli.first_doc_line("pipeline.score", "main") == expected
    assert cli.first_doc_line("pipeline.score", "no_such_function") == ""


def test_lazy_command_runs_the_stage_like_the_eager_one(tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "partitions"
    result = CliRunner().invoke(
        cli.app, ["partition", str(tmp_path / "missing"), "--out", str(out)]
    )
    # the stage ran: its contract check refused the missing directory, exit 1
    assert result.exit_code == 1
    assert "required table missing" in result.output
