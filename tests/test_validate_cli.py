"""The ``validate`` stage end to end: exit status, printed summary, rejects file, JSON report."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    REJECT_COLUMNS,
    RULE_AFTER_AS_OF,
    RULE_DUPLICATE_ROW,
    RULE_MIN,
    RULE_TOO_MANY_INVALID,
    RULE_UNKNOWN_CUSTOMER,
)
from features.reading import read_data_dir
from pipeline import validate
from pipeline.validate import report

ROOT = Path(__file__).resolve().parents[1]

# The stage on its own, as ``winback validate`` registers it (independent of pipeline.cli).
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command("validate")(validate.main)


@app.callback()
def _root() -> None:
    """Keep ``validate`` a subcommand, as in the real ``winback`` app."""


runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run in tmp_path (no params.yaml picked up) and undo the stage's logging set-up."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def messy_dir(make_tables, write_dir):
    """A directory with only row-level problems (hand-counted in the tests below).

    service_visits: row 2 amount -5 (set aside), row 3 unknown customer 99999 (set aside),
    row 4 wait_minutes -1 (set to missing); surveys: row 4 dated 2024-07-01, after the as-of
    date (set aside); complaints: row 2 repeats row 1 (set aside); consultations absent.
    """
    tables = make_tables(consultations=None)
    visits = tables["service_visits"]
    visits.loc[1, "amount"] = "-5"
    visits.loc[2, "customer_id"] = "99999"
    visits.loc[3, "wait_minutes"] = "-1"
    tables["surveys"].loc[3, "survey_date"] = "2024-07-01"
    tables["complaints"] = pd.concat([tables["complaints"]] * 2, ignore_index=True)
    return write_dir(tables)


@pytest.fixture
def broken_dir(make_tables, write_dir):
    """A directory refused as a whole: every service_visits amount is text."""
    tables = make_tables(optional=False)
    tables["service_visits"]["amount"] = "unknown"
    return write_dir(tables)


def test_row_level_problems_exit_0_with_summary_and_rejects(messy_dir, tmp_path, pii_values):
    rejects = tmp_path / "out" / "rejects.csv"
    result = runner.invoke(
        app, ["validate", str(messy_dir), "--as-of", "2024-06-30", "--rejects", str(rejects)]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    # the summary table: one line per contract table
    table = out.split("\n\n")[0].splitlines()
    assert table[0].split()[:6] == ["table", "file", "status", "rows", "valid", "set_aside"]
    lines = {line.split()[0]: line.split() for line in table[1:]}
    assert len(lines) == 8
    assert lines["service_visits"][1:6] == ["service_visits.csv", "ok", "10", "8", "2"]
    assert lines["surveys"][1:6] == ["surveys.csv", "ok", "4", "3", "1"]
    assert lines["complaints"][1:6] == ["complaints.csv", "ok", "2", "1", "1"]
    assert lines["customers"][1:6] == ["customers.csv", "ok", "5", "5", "0"]
    assert lines["consultations"][1:4] == ["-", "not", "collected"]
    assert "customers: 5  (5 with visits)" in out
    assert "date range: 2023-01-10 .. 2024-05-30" in out
    assert "optional signals not collected: consultations" in out
    assert "4 row(s) set aside, 1 value(s) set to missing" in out

    got = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert list(got.columns) == REJECT_COLUMNS
    assert got[
        ["table", "row_number", "column", "rule", "action", "value", "customer_id"]
    ].values.tolist() == [
        ["complaints", "2", "", RULE_DUPLICATE_ROW, ACTION_SET_ASIDE, "", "00103"],
        # the rejects file is written like the CRM export: "-5" is neutralised to "'-5"
        ["service_visits", "2", "amount", RULE_MIN, ACTION_SET_ASIDE, "'-5", "00101"],
        [
            "service_visits",
            "3",
            "customer_id",
            RULE_UNKNOWN_CUSTOMER,
            ACTION_SET_ASIDE,
            "99999",
            "99999",
        ],
        ["service_visits", "4", "wait_minutes", RULE_MIN, ACTION_SET_MISSING, "'-1", "00102"],
        ["surveys", "4", "survey_date", RULE_AFTER_AS_OF, ACTION_SET_ASIDE, "2024-07-01", "00105"],
    ]
    assert set(got["file"]) == {"complaints.csv", "service_visits.csv", "surveys.csv"}
    text = out + result.stderr + rejects.read_text()
    for value in pii_values:
        assert value not in text


def test_report_json_has_expected_counts(messy_dir, tmp_path):
    report = tmp_path / "metrics" / "validate.json"
    result = runner.invoke(
        app,
        [
            "validate",
            str(messy_dir),
            "--as-of",
            "2024-06-30",
            "--rejects",
            str(tmp_path / "rejects.parquet"),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    got = json.loads(report.read_text())
    assert got["customers"] == 5
    assert got["customers_with_visits"] == 5
    assert got["first_date"] == "2023-01-10"
    assert got["last_date"] == "2024-05-30"
    assert got["as_of"] == "2024-06-30"
    assert got["signals"] == {
        "app_sessions": True,
        "appointments": True,
        "surveys": True,
        "consultations": False,
        "complaints": True,
        "outreach": True,
    }
    assert got["tables"] == {
        "customers": {"rows": 5, "valid": 5, "set_aside": 0},
        "service_visits": {"rows": 10, "valid": 8, "set_aside": 2},
        "app_sessions": {"rows": 4, "valid": 4, "set_aside": 0},
        "appointments": {"rows": 3, "valid": 3, "set_aside": 0},
        "surveys": {"rows": 4, "valid": 3, "set_aside": 1},
        "complaints": {"rows": 2, "valid": 1, "set_aside": 1},
        "outreach": {"rows": 4, "valid": 4, "set_aside": 0},
    }
    assert got["rows_set_aside"] == 4
    assert got["rejects_by_rule"] == [
        {"table": "complaints", "rule": RULE_DUPLICATE_ROW, "action": ACTION_SET_ASIDE, "count": 1},
        {"table": "service_visits", "rule": RULE_MIN, "action": ACTION_SET_ASIDE, "count": 1},
        {"table": "service_visits", "rule": RULE_MIN, "action": ACTION_SET_MISSING, "count": 1},
        {
            "table": "service_visits",
            "rule": RULE_UNKNOWN_CUSTOMER,
            "action": ACTION_SET_ASIDE,
            "count": 1,
        },
        {"table": "surveys", "rule": RULE_AFTER_AS_OF, "action": ACTION_SET_ASIDE, "count": 1},
    ]
    rejects = pd.read_parquet(tmp_path / "rejects.parquet")
    assert len(rejects) == 5


def test_data_out_writes_a_validated_dir_the_stages_read(messy_dir, tmp_path, pii_values):
    data_out = tmp_path / "validated"
    args = ["validate", str(messy_dir), "--as-of", "2024-06-30"]
    plain = runner.invoke(app, [*args, "--report", str(tmp_path / "a.json")])
    result = runner.invoke(
        app,
        [*args, "--report", str(tmp_path / "b.json"), "--rejects", str(tmp_path / "r.csv")]
        + ["--data-out", str(data_out)],
    )
    assert plain.exit_code == 0 and result.exit_code == 0, result.output
    assert f"validated data written to {data_out}" in result.stdout
    # the existing outputs are unchanged by --data-out
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    manifest = json.loads((data_out / "validated.json").read_text())
    assert manifest["settings"]["as_of"] == "2024-06-30"
    assert manifest["rejects"]["rows"] == 5
    assert {f"tables/{n}.parquet" for n in manifest["tables"]} | {"rejects.parquet"} == set(
        manifest["files"]
    )
    data = read_data_dir(data_out, "2024-06-30")
    assert len(data.rejects) == 5
    assert report(data) == json.loads((tmp_path / "a.json").read_text())
    # rejects hold masked values only (the tables hold the valid rows, names included)
    text = pd.read_parquet(data_out / "rejects.parquet").to_csv()
    for value in pii_values:
        assert value not in text


def test_data_out_must_not_be_the_data_dir(messy_dir):
    result = runner.invoke(app, ["validate", str(messy_dir), "--data-out", str(messy_dir)])
    assert result.exit_code == 2
    assert "--data-out" in result.output


def test_clean_directory_writes_empty_rejects(make_tables, write_dir, tmp_path):
    rejects = tmp_path / "rejects.csv"
    data_dir = write_dir(make_tables(), fmt="parquet")
    result = runner.invoke(app, ["validate", str(data_dir), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert "no row-level problems" in result.stdout
    assert "optional signals not collected: none" in result.stdout
    got = pd.read_csv(rejects)
    assert list(got.columns) == REJECT_COLUMNS
    assert len(got) == 0


def test_broken_directory_exits_1_naming_file_column_rule(broken_dir, tmp_path, pii_values):
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["validate", str(broken_dir), "--rejects", str(rejects)])
    assert result.exit_code == 1
    err = result.stderr
    assert "service_visits.csv, column 'amount': " + RULE_TOO_MANY_INVALID in err
    assert "rule 'not a number' fails in 10 of 10 rows" in err
    assert "unknown" in err  # an offending value is shown
    assert "data contract violated" not in result.stdout
    assert not rejects.exists()
    for value in pii_values:
        assert value not in err


def test_missing_required_file_exits_1(make_tables, write_dir):
    data_dir = write_dir(make_tables(customers=None))
    result = runner.invoke(app, ["validate", str(data_dir), "--rejects", "r.csv"])
    assert result.exit_code == 1
    assert "customers.parquet: required table missing" in result.stderr


def test_max_invalid_share_option_and_params_block(make_tables, write_dir, tmp_path):
    tables = make_tables(optional=False)
    tables["service_visits"].loc[0, "amount"] = "?"
    tables["service_visits"].loc[1, "amount"] = "?"  # 2 of 10 rows: allowed at 0.2
    data_dir = write_dir(tables)
    ok = runner.invoke(app, ["validate", str(data_dir), "--rejects", "r.csv"])
    assert ok.exit_code == 0, ok.output
    assert "2 row(s) set aside" in ok.stdout
    strict = runner.invoke(
        app, ["validate", str(data_dir), "--rejects", "r.csv", "--max-invalid-share", "0.1"]
    )
    assert strict.exit_code == 1
    assert "column 'amount': too many invalid values" in strict.stderr
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  max_invalid_share: 0.1\n  as_of: '2023-12-31'\n")
    from_params = runner.invoke(app, ["validate", str(data_dir), "--rejects", "r.csv"])
    assert from_params.exit_code == 1  # params.yaml in the working directory is read
    relaxed = runner.invoke(
        app, ["validate", str(data_dir), "--rejects", "r.csv", "--max-invalid-share", "0.5"]
    )
    assert relaxed.exit_code == 0, relaxed.output
    assert "after as-of date" in relaxed.stdout  # as_of from params.yaml still applies


def test_bad_as_of_is_refused(make_tables, write_dir):
    # Regression: an unparseable --as-of escaped as a pandas DateParseError traceback.
    data_dir = write_dir(make_tables(optional=False))
    result = runner.invoke(app, ["validate", str(data_dir), "--as-of", "yesterday"])
    assert result.exit_code == 1
    assert "error: --as-of must be a date written YYYY-MM-DD" in result.stderr
    assert "got 'yesterday'" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_help():
    result = runner.invoke(app, ["validate", "--help"])
    assert result.exit_code == 0
    for option in ("--as-of", "--rejects", "--report", "--max-invalid-share", "--params"):
        assert option in result.stdout


def test_winback_app_registers_validate(broken_dir):
    from pipeline.cli import app as winback

    result = runner.invoke(winback, ["validate", "--help"])
    assert result.exit_code == 0
    assert "data contract" in result.stdout
    result = runner.invoke(winback, ["validate", str(broken_dir), "--rejects", "r.csv"])
    assert result.exit_code == 1
    assert "column 'amount'" in result.stderr


def test_python_m_pipeline_validate(broken_dir):
    """The entry point DVC calls: a real process, real exit status and stderr."""
    cmd = [sys.executable, "-m", "pipeline.validate"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run(
        [*cmd, str(broken_dir)], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 1
    assert "service_visits.csv, column 'amount': too many invalid values" in bad.stderr
    assert "Traceback" not in bad.stderr


def _gb18030_store(tmp_path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    (store / "customers.csv").write_bytes(
        "客户编号,姓名\n00101,张伟明\n00102,李秀英\n".encode("gb18030")
    )
    visits = "客户编号,进厂日期,金额,类型\n00101,2024-01-10,850,保养\n00102,2024-02-03,650,洗车\n"
    (store / "service_visits.csv").write_bytes(visits.encode("gb18030"))
    return store


def test_gb18030_export_exits_1_with_advice_then_reads_with_params(tmp_path):
    store = _gb18030_store(tmp_path)
    cmd = [sys.executable, "-m", "pipeline.validate", str(store), "--rejects", "r.csv"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert f"{store / 'customers.csv'}: unreadable file — not valid UTF-8 text" in bad.stderr
    assert "iconv -f GB18030 -t UTF-8 service_visits.csv" in bad.stderr
    assert "张伟明" not in bad.stderr
    (tmp_path / "params.yaml").write_text(
        "validate:\n"
        "  encoding: gb18030\n"
        "  columns:\n"
        "    customers: {客户编号: customer_id, 姓名: name}\n"
        "    service_visits: {客户编号: customer_id, 进厂日期: visit_date, 金额: amount,"
        " 类型: visit_type}\n"
        "  codes:\n"
        "    service_visits: {visit_type: {保养: maintenance}}\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    ok = runner.invoke(app, ["validate", str(store), "--rejects", "r.csv", "--report", str(report)])
    assert ok.exit_code == 0, ok.output
    assert "service_visits.visit_type: unknown value(s) '洗车' (1)" in ok.stdout
    assert "allowed: maintenance, repair, warranty, insurance, accident, other" in ok.stdout
    assert "map store codes under validate.codes.service_visits.visit_type" in ok.stdout
    assert json.loads(report.read_text())["unknown_values"] == [
        {
            "table": "service_visits",
            "column": "visit_type",
            "action": ACTION_SET_MISSING,
            "values": {"洗车": 1},
            "distinct": 1,
            "allowed": ["maintenance", "repair", "warranty", "insurance", "accident", "other"],
        }
    ]
    assert "张伟明" not in ok.stdout + ok.stderr + (tmp_path / "r.csv").read_text()


def test_bad_mapping_in_params_exits_1(make_tables, write_dir, tmp_path):
    data_dir = write_dir(make_tables(optional=False))
    (tmp_path / "params.yaml").write_text(
        "validate:\n  codes:\n    service_visits: {visit_type: {钣喷: bodywork}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(data_dir), "--rejects", "r.csv"])
    assert result.exit_code == 1
    assert "validate.codes.service_visits.visit_type: invalid setting" in result.stderr
    assert "'钣喷' maps to 'bodywork', not an allowed value" in result.stderr
