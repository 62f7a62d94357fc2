"""Bad inputs and faults through the ``winback`` command: a clear message, never a traceback.

One row per case: how to break the input, the command line, the exit status expected (1 for
bad input, 2 for a usage error typer reports, 0 where the documented result is a row set
aside or a warning) and the texts the output must contain (file, column, rule). Every case
also checks that no ``Traceback`` and no name or phone of the test data is printed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF, NAMES, PHONES
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@dataclass
class Ctx:
    """What a case builds its input with."""

    tmp: Path
    make_tables: Callable
    write_dir: Callable
    model: Path

    def data(self, fmt: str = "csv", **changes) -> Path:
        """A valid data directory after ``changes[table](frame)`` edits each named table."""
        tables = self.make_tables(optional=["appointments"])
        for name, change in changes.items():
            tables[name] = change(tables[name])
        return self.write_dir(tables, fmt=fmt)

    def validate(self, data_dir: Path, *extra: str) -> list[str]:
        rejects = self.tmp / "out" / "rejects.csv"
        return ["validate", str(data_dir), "--rejects", str(rejects), *extra]

    def params(self, text: str) -> Path:
        path = self.tmp / "params.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    def score(self, data_dir: Path, *extra: str, model: Path | None = None) -> list[str]:
        out = self.tmp / "crm" / "scores.csv"
        m = str(model or self.model)
        return ["score", str(data_dir), "--out", str(out), "--as-of", AS_OF, "--model", m, *extra]

    def features(self, data_dir: Path, *extra: str, as_of: str = AS_OF) -> list[str]:
        out = self.tmp / "feat" / "features.csv"
        return ["features", str(data_dir), "--as-of", as_of, "--out", str(out), *extra]

    @property
    def blocked(self) -> Path:
        """An output path that cannot be written: its parent is a file (works as root too)."""
        wall = self.tmp / "a_file"
        wall.write_text("x")
        return wall / "out.csv"


@dataclass
class Case:
    """One bad input: ``build(ctx)`` returns the command line (and sets up files)."""

    name: str
    build: Callable[[Ctx], list[str]]
    code: int
    says: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    patch: Callable | None = None


def _set(column: str, value: str, row: int = 0) -> Callable[[pd.DataFrame], None]:
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[row, column] = value
        return df

    return change


def _all(column: str, value: str) -> Callable[[pd.DataFrame], None]:
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df[column] = value
        return df

    return change


def _drop(column: str) -> Callable[[pd.DataFrame], None]:
    return lambda df: df.drop(columns=[column])


def _remove(c: Ctx, name: str) -> list[str]:
    d = c.data()
    (d / f"{name}.csv").unlink()
    return c.validate(d)


def _dup_header(c: Ctx) -> list[str]:
    d = c.data()
    path = d / "service_visits.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",amount"] + [x + ",1" for x in lines[1:]]) + "\n")
    return c.validate(d)


def _twice(c: Ctx) -> list[str]:
    d = c.data()
    pd.read_csv(d / "appointments.csv", dtype=str).to_parquet(d / "appointments.parquet")
    return c.validate(d)


def _garbage_parquet(c: Ctx) -> list[str]:
    d = c.data()
    (d / "appointments.csv").unlink()
    (d / "appointments.parquet").write_bytes(b"PAR1 this is not parquet")
    return c.validate(d)


def _gb18030(c: Ctx) -> list[str]:
    d = c.data(customers=_set("region", "上海"))
    text = (d / "customers.csv").read_text(encoding="utf-8")
    (d / "customers.csv").write_bytes(text.encode("gb18030"))
    return c.validate(d)


def _bool_parquet(c: Ctx) -> list[str]:
    d = c.data(fmt="parquet")
    visits = pd.read_parquet(d / "service_visits.parquet")
    visits["wait_minutes"] = visits["wait_minutes"] > 50
    visits.to_parquet(d / "service_visits.parquet", index=False)
    return c.validate(d)


def _swapped(c: Ctx) -> list[str]:
    def swap(df: pd.DataFrame) -> pd.DataFrame:
        df["customer_id"], df["name"] = df["name"].copy(), df["customer_id"].copy()
        df.loc[1, "customer_id"] = df.loc[0, "customer_id"]
        return df

    return c.validate(c.data(customers=swap))


def _future() -> str:
    return f"{pd.Timestamp.today().normalize() + pd.Timedelta(days=5):%Y-%m-%d}"


def _truncated_model(c: Ctx) -> list[str]:
    import shutil

    broken = c.tmp / "broken_model"
    shutil.copytree(c.model, broken)
    booster = broken / "churn" / "booster.txt"
    booster.write_text(booster.read_text()[:200])
    return c.score(c.data(), model=broken)


def _corrupt_store(c: Ctx) -> list[str]:
    (c.tmp / "mlflow.db").write_bytes(b"this is not an sqlite database" * 100)
    return c.score(c.data(), model="champion")


def _disk_full(monkeypatch) -> None:
    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)


V = "validate"
CASES = [
    # --- file-level contract breaches: exit 1 naming file, column and rule -------------------
    Case("missing customers", lambda c: _remove(c, "customers"), 1,
         ("customers.parquet", "required table missing")),
    Case("missing service_visits", lambda c: _remove(c, "service_visits"), 1,
         ("service_visits", "required table missing")),
    Case("missing required column", lambda c: c.validate(c.data(service_visits=_drop("amount"))),
         1, ("service_visits.csv", "'amount'", "required column missing")),
    Case("duplicated header", _dup_header, 1,
         ("service_visits.csv", "'amount'", "column given twice")),
    Case("table given twice", _twice, 1, ("table given twice",)),
    Case("unreadable parquet", _garbage_parquet, 1, ("appointments.parquet", "unreadable file")),
    Case("not UTF-8", _gb18030, 1, ("customers.csv", "unreadable file", "iconv")),
    Case("empty customers", lambda c: c.validate(c.data(customers=lambda df: df.iloc[
        0:0])), 1, ("customers.csv", "empty table")),
    Case("duplicate customer_id", lambda c: c.validate(c.data(customers=_set(
        "customer_id", "00101", 1))), 1, ("customers.csv", "'customer_id'", "duplicate")),
    Case("empty customer_id", lambda c: c.validate(c.data(customers=_set("customer_id", ""))),
         1, ("customers.csv", "'customer_id'", "missing value")),
    Case("dates in a wrong format", lambda c: c.validate(c.data(service_visits=_all(
        "visit_date", "10/01/2023"))), 1, ("'visit_date'", "too many invalid values",
                                           "not a date")),
    Case("store codes not mapped", lambda c: c.validate(c.data(service_visits=_all(
        "visit_type", "保养"))), 1, ("'visit_type'", "not in allowed values", "validate.codes")),
    Case("numbers stored as bool", _bool_parquet, 1,
         ("service_visits.parquet", "'wait_minutes'", "wrong column type", "0/1")),
    Case("swapped id and name columns", _swapped, 1, ("duplicate customer_id", "***")),
    Case("data directory missing", lambda c: c.validate(c.tmp / "nowhere"), 1,
         ("nowhere", "data directory not found")),
    # --- row-level: documented result, exit 0, reason in the rejects summary ----------------
    Case("unknown status code", lambda c: c.validate(c.data(appointments=_set(
        "status", "maybe"))), 0, ("appointments", "not in allowed values", "'maybe'")),
    Case("amount 1e308", lambda c: c.validate(c.data(service_visits=_set("amount", "1e308"))),
         0, ("service_visits", "above maximum", "row set aside")),
    Case("amount inf", lambda c: c.validate(c.data(service_visits=_set("amount", "inf"))),
         0, ("service_visits", "not a number", "row set aside")),
    Case("amount nan", lambda c: c.validate(c.data(service_visits=_set("amount", "nan"))),
         0, ("service_visits", "missing value", "row set aside")),
    Case("negative amount", lambda c: c.validate(c.data(service_visits=_set("amount", "-5"))),
         0, ("service_visits", "below minimum", "row set aside")),
    Case("wait of days", lambda c: c.validate(c.data(service_visits=_set(
        "wait_minutes", "5000"))), 0, ("service_visits", "above maximum",
                                        "value set to missing")),
    Case("mileage 3e6", lambda c: c.validate(c.data(service_visits=_set(
        "mileage_km", "3000000"))), 0, ("service_visits", "above maximum",
                                         "value set to missing")),
    Case("visit in 1970", lambda c: c.validate(c.data(service_visits=_set(
        "visit_date", "1970-01-01"))), 0, ("service_visits", "date before 1990-01-01")),
    Case("visit in the future, no as-of", lambda c: c.validate(c.data(service_visits=_set(
        "visit_date", _future()))), 0, ("service_visits", "date after tomorrow")),
    Case("visit after the as-of date", lambda c: c.validate(c.data(service_visits=_set(
        "visit_date", "2024-07-02")), "--as-of", AS_OF), 0, ("after as-of date",)),
    Case("unknown customer", lambda c: c.validate(c.data(service_visits=_set(
        "customer_id", "99999"))), 0, ("unknown customer",)),
    Case("unparseable date in one row", lambda c: c.validate(c.data(service_visits=_set(
        "visit_date", "someday"))), 0, ("not a date", "row set aside")),
    # --- options and params: exit 1 naming the option or key ---------------------------------
    Case("--as-of not ISO", lambda c: c.validate(c.data(), "--as-of", "30/06/2024"), 1,
         ("--as-of must be a date written YYYY-MM-DD",)),
    Case("validate.as_of not ISO", lambda c: c.validate(c.data(), "--params", str(c.params(
        "validate:\n  as_of: 06-30-2024\n"))), 1, ("validate.as_of must be a date",)),
    Case("params file missing", lambda c: c.validate(c.data(), "--params", str(
        c.tmp / "nope.yaml")), 1, ("params file not found", "nope.yaml")),
    Case("params file is a list", lambda c: c.validate(c.data(), "--params", str(c.params(
        "- a\n- b\n"))), 1, ("expected a mapping",)),
    Case("params not YAML", lambda c: c.validate(c.data(), "--params", str(c.params(
        "validate: [unclosed\n"))), 1, ("not valid YAML",)),
    Case("params with a YAML tag", lambda c: c.validate(c.data(), "--params", str(c.params(
        "validate: !!python/object/apply:os.system ['true']\n"))), 1, ("not valid YAML",)),
    Case("max_invalid_share abc", lambda c: c.validate(c.data(), "--params", str(c.params(
        "validate:\n  max_invalid_share: abc\n"))), 1, ("validate.max_invalid_share must be",)),
    Case("unknown featurize key", lambda c: c.features(c.data(), "--params", str(c.params(
        "featurize:\n  lapse_bound_days: [90]\n"))), 1, ("lapse_bound_days",)),
    Case("unknown mapped table", lambda c: c.validate(c.data(), "--params", str(c.params(
        "validate:\n  columns:\n    visits: {进厂日期: visit_date}\n"))), 1,
         ("invalid setting", "visits")),
    Case("features --as-of not ISO", lambda c: c.features(c.data(), as_of="01-07-2025"), 1,
         ("--as-of must be a date written YYYY-MM-DD",)),
    Case("features --as-of years late", lambda c: c.features(c.data(), as_of="2027-01-01"), 0,
         ("warning: --as-of 2027-01-01 is", "days after the last event")),
    Case("features --out .txt", lambda c: [*c.features(c.data())[:-1], str(c.tmp / "f.txt")],
         2, ("--out must end in .csv or .parquet",)),
    Case("features without --as-of", lambda c: ["features", str(c.data()), "--out", "x.csv"],
         2, ("--as-of",)),
    # --- outputs that cannot be written: exit 1 before any work ------------------------------
    Case("validate rejects not writable", lambda c: [*c.validate(c.data())[:2], "--rejects",
         str(c.blocked)], 1, ("error: cannot write", "--rejects", "a_file is a file")),
    Case("features --out not writable", lambda c: [*c.features(c.data())[:-1], str(c.blocked)],
         1, ("error: cannot write",)),
    Case("score --out not writable", lambda c: ["score", str(c.data()), "--out", str(c.blocked),
         "--as-of", AS_OF, "--model", str(c.tmp / "no_model")], 1, ("error: cannot write",)),
    Case("disk full", lambda c: c.validate(c.data()), 1,
         ("error: No space left on device", "out/rejects.csv"), patch=_disk_full),
    # --- score: budget, dates, models, the tracking store ------------------------------------
    *[
        Case(f"--budget {b}", lambda c, b=b: c.score(c.data(), "--budget", b), 2,
             ("--budget must be a finite number >= 0",))
        for b in ("nan", "inf", "1e400", "-5", "abc")
    ],
    Case("--as-of and --through", lambda c: c.score(c.data(), "--through", AS_OF), 1,
         ("give --as-of DATE or --through DATE, not both",)),
    Case("--through not ISO", lambda c: ["score", str(c.data()), "--out", str(c.tmp / "s.csv"),
         "--through", "2024.06.30", "--model", str(c.model)], 1, ("--through must be a date",)),
    Case("model directory missing", lambda c: c.score(c.data(), model=c.tmp / "no_model"), 1,
         ("error:", "no_model")),
    Case("truncated booster", _truncated_model, 1, ("error:", "booster.txt")),
    Case("corrupt mlflow.db", _corrupt_store, 1, ("error:",)),
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A churn-only model directory (a few trees on random data, under a second)."""
    import lightgbm as lgb

    from models.lgbm import CalibratedBooster

    rng = np.random.default_rng(0)
    features = ["days_since_last_visit", "spend_365d", "visits_365d", "spend_lifetime"]
    X = pd.DataFrame(rng.uniform(0, 500, (300, 4)), columns=features)
    y = (X["days_since_last_visit"] > 250).astype(int)
    params = {"objective": "binary", "num_leaves": 4, "verbosity": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, label=y), 5)
    root = tmp_path_factory.mktemp("tiny_model")
    CalibratedBooster(booster=booster, features=features).save(root / "churn")
    return root


def test_enough_cases():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path, make_tables, write_dir, tiny_model, monkeypatch):
    ctx = Ctx(tmp_path, make_tables, write_dir, tiny_model)
    monkeypatch.chdir(tmp_path)  # no ./params.yaml of the repository
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = case.build(ctx)
    if case.patch is not None:
        case.patch(monkeypatch)
    result = runner.invoke(app, args, env=case.env)
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == case.code, f"{args}\n{text}"
    assert "Traceback" not in text
    if result.exit_code != 0:
        assert result.exception is None or isinstance(result.exception, SystemExit), text
    for s in case.says:
        assert s in text, f"{s!r} not in:\n{text}"
    assert not any(p in text for p in (*NAMES, *PHONES)), text


def test_verbose_shows_the_traceback(tmp_path, make_tables, write_dir, monkeypatch):
    data_dir = write_dir(make_tables(optional=False))
    _disk_full(monkeypatch)
    args = ["validate", str(data_dir), "--rejects", str(tmp_path / "r.csv")]
    quiet = runner.invoke(app, args)
    loud = runner.invoke(app, ["--verbose", *args])
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    assert "error: No space left on device" in loud.stderr


def test_an_unforeseen_failure_prints_one_line_not_a_traceback(
    tmp_path, make_tables, write_dir, monkeypatch
):
    import features.reading

    data_dir = write_dir(make_tables(optional=False))

    def bug(*args, **kwargs):
        raise TypeError("int() argument must be a real number, not 'NAType'")

    monkeypatch.setattr(features.reading, "read_data_dir", bug)
    args = ["validate", str(data_dir), "--rejects", str(tmp_path / "r.csv")]
    quiet = runner.invoke(app, args)
    assert quiet.exit_code == 1
    assert "Traceback" not in quiet.stderr
    assert "error: internal error (TypeError: int() argument" in quiet.stderr
    assert "--verbose" in quiet.stderr
    loud = runner.invoke(app, ["--verbose", *args])
    assert loud.exit_code != 0 and isinstance(loud.exception, TypeError)
