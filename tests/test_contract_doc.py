"""docs/data_contract.md lists everything features/contract.py accepts, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.contract import ALL_TABLES, RULE_BAD_SETTING, TableSpec

DOC = Path(__file__).resolve().parents[1] / "docs" / "data_contract.md"
TEXT = DOC.read_text(encoding="utf-8")


def _section(table: str) -> str:
    """The text under ``### <table>`` up to the next heading of the same or a higher level."""
    match = re.search(rf"^### {re.escape(table)}\b.*?$(.*?)(?=^#{{2,3}} |\Z)", TEXT, re.M | re.S)
    assert match, f"docs/data_contract.md has no '### {table}' section"
    return match.group(1)


@pytest.mark.parametrize("spec", ALL_TABLES.values(), ids=list(ALL_TABLES))
def test_every_table_column_and_allowed_value_is_documented(spec: TableSpec):
    section = _section(spec.name)
    first_table = re.search(r"^\|.*?(?=^[^|]|\Z)", section, re.M | re.S).group(0)
    rows = re.findall(r"^\| *([a-z_]+) *\|", first_table, re.M)
    assert rows[0] == "column"  # the column table's header
    assert rows[1:] == [c for c in spec.column_names if c in rows[1:]]  # contract order
    assert [c for c in spec.column_names if c not in rows] == []
    for col in spec.columns:
        if col.allowed is not None:
            missing = [v for v in col.allowed if f"`{v}`" not in section]
            assert missing == [], f"{spec.name}.{col.name}: {missing} not in docs/data_contract.md"


def test_allowed_values_summary_matches_the_code():
    rows = dict(re.findall(r"^\| ([a-z_]+\.[a-z_]+) \| ([a-z_, ]+) \|$", TEXT, re.M))
    rows.pop("table.column")  # the header
    expected = {
        f"{spec.name}.{col.name}": ", ".join(col.allowed)
        for spec in ALL_TABLES.values()
        for col in spec.columns
        if col.allowed is not None
    }
    assert rows == expected


def test_reading_settings_and_their_defaults_are_documented():
    for text in ("encoding: utf-8", "columns: {}", "codes: {}", RULE_BAD_SETTING, "iconv -f"):
        assert text in TEXT


def test_no_reference_to_a_contract_outside_the_repository():
    root = DOC.parents[1]
    paths = [root / "README.md", *root.glob("docs/*.md"), *root.glob("*/*.py")]
    for path in [p for p in paths if p != Path(__file__).resolve()]:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/DATA_CONTRACT" not in text, path
