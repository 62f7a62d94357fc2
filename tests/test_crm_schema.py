"""docs/crm_schema.md and the CRM file's code agree: columns, labels, versions, renames."""

from __future__ import annotations

import re
from pathlib import Path

from models.crm import COLUMNS, CRM_SCHEMA_VERSION, LABELS_ZH, OUTPUT_COLUMNS, RENAMED

DOC = (Path(__file__).resolve().parents[1] / "docs" / "crm_schema.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else len(DOC)]


def _cells(line: str) -> list[str]:
    # split a Markdown table row on the bars that are not escaped (\|)
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def _table(section: str) -> list[list[str]]:
    rows = [_cells(line) for line in section.splitlines() if line.startswith("| ")]
    return [r for r in rows[1:] if not set("".join(r)) <= set("-")]  # no header, no rule


def test_the_columns_table_is_the_code() -> None:
    rows = _table(_section("Columns"))
    assert [r[0].strip("`") for r in rows] == OUTPUT_COLUMNS
    for row, (name, en, zh, since) in zip(rows, COLUMNS, strict=True):
        assert len(row) == 7, row
        assert (row[4], row[5], row[6]) == (en, zh, since), name
        assert row[1] and row[2] and row[3], f"{name}: type, meaning and allowed values"
        assert int(since) <= int(CRM_SCHEMA_VERSION)


def test_the_version_and_the_change_log() -> None:
    assert f"Schema version: **{CRM_SCHEMA_VERSION}**" in DOC
    log = _section("Change log")
    assert f"* **{CRM_SCHEMA_VERSION}** (" in log
    for old, new in RENAMED.items():
        assert f"`{old}` → `{new}`" in log and old not in OUTPUT_COLUMNS
    # every column new in this version is listed as added (or as renamed) in its entry
    entry = log.split(f"* **{CRM_SCHEMA_VERSION}**")[1].split("\n* **")[0]
    new = [n for n, _, _, since in COLUMNS if since == CRM_SCHEMA_VERSION]
    assert [n for n in new if f"`{n}`" not in entry] == []


def test_every_label_of_the_code_is_in_the_doc() -> None:
    labels = _section("Labels")
    for kind, table in LABELS_ZH.items():
        assert f"**{kind}**" in labels
        block = labels.split(f"**{kind}**")[1].split("\n**")[0]
        assert {r[0].strip("`"): r[1] for r in _table(block)} == table, kind
