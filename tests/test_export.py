"""The CRM writer: neutralised formulas, atomic replace, byte-identical output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.files import neutralise, read_table, unneutralise, write_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00101", "-7", "00103"],
            "name": ['=HYPERLINK("http://evil","click")', "@SUM(A1)", "王芳"],
            "phone": ["+86-139-7771-0001", "13977710002", None],
            "note": ["\tcmd", "\rx", "plain = text"],
            "uplift": [-0.05, 0.1, np.nan],
            "as_of": pd.to_datetime(["2024-06-30"] * 3),
        }
    )


def test_neutralise_prefixes_formula_cells_only() -> None:
    out = neutralise(_frame())
    assert out["name"].tolist() == ['\'=HYPERLINK("http://evil","click")', "'@SUM(A1)", "王芳"]
    # phones in +86 form are neutralised too (Excel would compute +86-139-7771-0001)
    assert out["phone"].iloc[0] == "'+86-139-7771-0001"
    assert out["phone"].iloc[1] == "13977710002" and pd.isna(out["phone"].iloc[2])
    assert out["customer_id"].tolist() == ["00101", "'-7", "00103"]
    assert out["note"].tolist() == ["'\tcmd", "'\rx", "plain = text"]
    # numbers stay numbers
    assert out["uplift"].iloc[0] == -0.05
    assert unneutralise(out["customer_id"]).tolist() == ["00101", "-7", "00103"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_written_file_is_neutralised_and_byte_identical(tmp_path, suffix) -> None:
    path = tmp_path / f"scores{suffix}"
    write_table(_frame(), path)
    first = path.read_bytes()
    write_table(_frame(), path)
    assert path.read_bytes() == first
    back = read_table(path)
    raw_names = (
        pd.read_csv(path, encoding="utf-8-sig")["name"]
        if suffix == ".csv"
        else pd.read_parquet(path)["name"]
    )
    assert raw_names.iloc[0].startswith("'=") and raw_names.iloc[1].startswith("'@")
    assert back["customer_id"].tolist() == ["00101", "-7", "00103"]  # ids round-trip
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_csv_has_bom_and_rfc4180_line_ends(tmp_path) -> None:
    path = write_table(_frame(), tmp_path / "x.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 4  # header + 3 rows
    assert b'"\'\rx"' in raw  # a cell holding a carriage return is quoted
    assert "王芳".encode() in raw and b"2024-06-30" in raw


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch, suffix) -> None:
    path = tmp_path / f"scores{suffix}"
    write_table(_frame(), path)
    before = path.read_bytes()
    method = "to_csv" if suffix == ".csv" else "to_parquet"

    def half_then_fail(self, target, *args, **kwargs):
        with open(target, "wb") as fh:
            fh.write(b"customer_id,na")  # half a file...
        raise OSError("disk full")  # ...then the write dies

    monkeypatch.setattr(pd.DataFrame, method, half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_table(_frame().iloc[:1], path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_bad_suffix_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        write_table(_frame(), tmp_path / "scores.xlsx")
