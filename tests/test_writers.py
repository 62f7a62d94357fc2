"""Every file written for people goes through features.files' neutralising, atomic writer."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import AS_OF
from typer.testing import CliRunner

from features.files import atomic_write
from pipeline.cli import app
from pipeline.leads import write_graded

runner = CliRunner()
EVIL = '=HYPERLINK("x")'


def _evil_ids(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    for frame in tables.values():
        frame["customer_id"] = frame["customer_id"].replace("00101", EVIL)
    return tables


def test_features_csv_is_neutralised(make_tables, write_dir, tmp_path):
    data_dir = write_dir(_evil_ids(make_tables(optional=False)))
    out = tmp_path / "features.csv"
    result = runner.invoke(
        app, ["features", str(data_dir), "--as-of", AS_OF, "--out", str(out), "--no-baseline"]
    )
    assert result.exit_code == 0, result.output
    ids = pd.read_csv(out, dtype=str)["customer_id"]
    assert "'" + EVIL in set(ids) and EVIL not in set(ids)


def test_rejects_file_is_neutralised(make_tables, write_dir, tmp_path):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "visit_type"] = EVIL
    tables["service_visits"].loc[1, "customer_id"] = "@SUM(1+1)"  # an unknown customer
    rejects = tmp_path / "rejects.csv"
    args = ["validate", str(write_dir(tables)), "--as-of", AS_OF, "--rejects", str(rejects)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    cells = set(got["value"]) | set(got["customer_id"])
    assert {"'" + EVIL, "'@SUM(1+1)"} <= cells
    assert not any(c.startswith(("=", "@")) for c in cells)


def test_lead_diagnostics_and_graded_are_neutralised(tmp_path):
    graded = pd.DataFrame({"lead_id": ["L1"], "consultant_id": [EVIL], "grade": ["high"]})
    by_consultant = pd.DataFrame({"lost": [3]}, index=pd.Index([EVIL], name="consultant_id"))
    result = SimpleNamespace(
        graded=graded,
        diagnostics={"reasons_by_consultant": by_consultant, "incomplete": graded},
    )
    write_graded(result, tmp_path)
    assert pd.read_parquet(tmp_path / "graded.parquet")["consultant_id"].tolist() == ["'" + EVIL]
    for name in ("reasons_by_consultant", "incomplete"):
        got = pd.read_csv(tmp_path / "diagnostics" / f"{name}.csv", dtype=str)
        assert got["consultant_id"].tolist() == ["'" + EVIL]


def test_stale_temp_file_of_a_killed_write_is_removed(tmp_path):
    target = tmp_path / "scores.csv"
    stale = tmp_path / ".scores.csv.k3j9x2.tmp"  # what a killed write leaves behind
    stale.write_text("customer_id,name,phone\nC1,Zebulon Quixwood,+86-139-7771-0001\n")
    other = tmp_path / ".other.csv.k3j9x2.tmp"  # another target's: not ours to remove
    other.write_text("x")
    atomic_write(target, lambda tmp: pd.DataFrame({"a": [1]}).to_csv(tmp, index=False))
    assert not stale.exists() and other.exists() and target.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.csv.k3j9x2.tmp", "scores.csv"]


def test_temp_file_is_private_while_written(tmp_path):
    modes = []

    def write(tmp: str) -> None:
        modes.append(os.stat(tmp).st_mode & 0o777)
        pd.DataFrame({"a": [1]}).to_csv(tmp, index=False)

    atomic_write(tmp_path / "x.csv", write)
    assert modes == [0o600]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_writer_removes_stale_temp_files(tmp_path, suffix):
    from features.files import write_table

    target = tmp_path / f"out{suffix}"
    stale = tmp_path / f".out{suffix}.abc.tmp"
    stale.write_text("secret")
    write_table(pd.DataFrame({"customer_id": ["C1"]}), target)
    assert not stale.exists()


def test_evaluation_tables_neutralise_values_from_the_data(tmp_path):
    from models.evaluation import Evaluation
    from pipeline.evaluate import write_outputs

    segments = pd.DataFrame(
        {"segment": ["dealer_id"], "value": ['=HYPERLINK("x")'], "n": [120], "roc_auc": [0.7]}
    )
    evaluation = Evaluation(
        metrics={"churn": {}, "recovery": {"available": False}},
        segments=segments,
        curves={},
        churn_rows=pd.DataFrame(),
        churn_test=pd.DataFrame(),
    )
    write_outputs(evaluation, tmp_path)
    text = (tmp_path / "segments.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
