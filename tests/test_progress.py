"""Progress bars only on a terminal: a command whose stderr is a file writes no bar at all."""

import os
import subprocess
import sys
from pathlib import Path

from models import tracking
from models.store import PROGRESS_ENV

ROOT = Path(__file__).resolve().parents[1]
#: What a tqdm bar leaves in a file: carriage returns, block characters, rates.
BAR_MARKS = ("\r", "█", "▏", "it/s", "day/s", "snap/s", "chunk/s")


def _run(args: list[str], log: Path) -> None:
    with log.open("ab") as sink:
        subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, stdout=sink, stderr=sink, check=True
        )


def test_simulate_and_featurize_write_no_bar_to_a_log_file(tmp_path):
    log, sim = tmp_path / "log.txt", tmp_path / "sim"
    # the simulator's day loop and featurize's snapshot loop are the two long loops with bars
    _run(["pipeline.simulate", "--customers", "300", "--years", "2", "--seed", "1",
          "--out", str(sim)], log)  # fmt: skip
    _run(["pipeline.featurize", str(sim), "--out", str(tmp_path / "featurize")], log)
    text = log.read_text(encoding="utf-8")
    assert "training rows over" in text  # the commands ran and logged into the file
    assert [mark for mark in BAR_MARKS if mark in text] == []


def test_mlflow_artifact_bars_are_off_when_stderr_is_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.chdir(tmp_path)
    tracking.setup(f"sqlite:///{tmp_path}/mlflow.db")
    assert os.environ[PROGRESS_ENV] == "false"


def test_an_explicit_mlflow_bar_setting_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "true")
    monkeypatch.chdir(tmp_path)
    tracking.setup(f"sqlite:///{tmp_path}/mlflow.db")
    assert os.environ[PROGRESS_ENV] == "true"
