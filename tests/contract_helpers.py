"""Shared assertions of the data-contract tests (tests/test_contract*.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import ContractError
from features.reading import read_data_dir


def refused(data_dir, **kwargs) -> ContractError:
    """The :class:`ContractError` reading ``data_dir`` raises; fails if it reads."""
    with pytest.raises(ContractError) as info:
        read_data_dir(data_dir, **kwargs)
    return info.value


def only_violation(exc: ContractError, rule: str, column: str | None = None):
    """The single violation with ``rule`` (and ``column``); fails if there is not exactly one."""
    found = [v for v in exc.violations if v.rule == rule and v.column == column]
    assert len(found) == 1, f"expected one {rule!r}/{column!r} violation in:\n{exc}"
    return found[0]


def table_rejects(data, table: str) -> pd.DataFrame:
    """The rejects of one table, renumbered from 0."""
    return data.rejects[data.rejects["table"] == table].reset_index(drop=True)


def assert_one_reject(data, table, row_number, column, rule, action, value, customer_id):
    """``table`` has exactly one reject, with these fields, from ``<table>.csv``."""
    rej = table_rejects(data, table)
    assert len(rej) == 1, rej
    assert rej.loc[
        0, ["row_number", "column", "rule", "action", "value", "customer_id"]
    ].tolist() == [
        row_number,
        column,
        rule,
        action,
        value,
        customer_id,
    ]
    assert rej.loc[0, "file"] == f"{table}.csv"
