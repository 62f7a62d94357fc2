"""The validated-data directory: validated once, read back as the same data set."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from features import reading
from features.contract import (
    ALL_TABLES,
    RULE_AFTER_AS_OF,
    ContractError,
    DataSet,
)
from features.mapping import ReadSettings
from features.reading import read_data_dir
from features.validated import (
    MANIFEST,
    RULE_CHANGED,
    RULE_MANIFEST,
    is_validated_dir,
    write_validated,
)


def assert_same(got: DataSet, want: DataSet) -> None:
    """Every field of two data sets is equal: tables (values and dtypes), rejects, metadata."""
    assert list(got.tables) == list(want.tables)
    for name in want.tables:
        pd.testing.assert_frame_equal(got.tables[name], want.tables[name], check_exact=True)
    pd.testing.assert_frame_equal(got.rejects, want.rejects, check_exact=True)
    assert got.source == want.source
    assert got.files == want.files
    assert got.as_of == want.as_of
    assert got.columns_present == want.columns_present
    assert got.rows_read == want.rows_read
    pd.testing.assert_frame_equal(got.summary(), want.summary())


@pytest.fixture
def messy_tables(make_tables, make_lead_tables):
    """Every after-sales and lead table, with rejects of several rules.

    service_visits: row 2 amount -5 (set aside), row 3 unknown customer (set aside), row 4
    wait_minutes -1 (set to missing); complaints: row 2 repeats row 1 (set aside);
    lead_contacts: row 4 repeats row 3.
    """
    tables = {**make_tables(), **make_lead_tables()}
    visits = tables["service_visits"]
    visits.loc[1, "amount"] = "-5"
    visits.loc[2, "customer_id"] = "99999"
    visits.loc[3, "wait_minutes"] = "-1"
    tables["complaints"] = pd.concat([tables["complaints"]] * 2, ignore_index=True)
    contacts = tables["lead_contacts"]
    tables["lead_contacts"] = pd.concat([contacts, contacts.tail(1)], ignore_index=True)
    return tables


def _validate(raw_dir, out_dir, as_of=None, reading=None, max_invalid_share=0.2):
    data = read_data_dir(raw_dir, as_of, max_invalid_share, reading=reading)
    write_validated(data, out_dir, reading, max_invalid_share, ALL_TABLES)
    return data


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_back_equals_reading_the_raw_dir(messy_tables, write_dir, tmp_path, fmt):
    raw_dir = write_dir(messy_tables, fmt=fmt)
    out = tmp_path / "validated"
    want = _validate(raw_dir, out)
    assert len(want.rejects) >= 5
    assert is_validated_dir(out) and not is_validated_dir(raw_dir)
    assert_same(read_data_dir(out), want)


def test_manifest_records_settings_hashes_and_counts(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    reading = ReadSettings(codes={"service_visits": {"visit_type": {"保养": "maintenance"}}})
    data = _validate(raw_dir, tmp_path / "v", "2024-06-30", reading, 0.3)
    manifest = json.loads((tmp_path / "v" / MANIFEST).read_text())
    assert manifest["version"] == 1
    assert manifest["settings"] == {
        "as_of": "2024-06-30",
        "codes": {"service_visits": {"visit_type": {"保养": "maintenance"}}},
        "columns": {},
        "encoding": "utf-8",
        "max_invalid_share": 0.3,
    }
    assert manifest["rejects"]["rows"] == len(data.rejects)
    for name, frame in data.tables.items():
        assert manifest["files"][f"tables/{name}.parquet"]["rows"] == len(frame)
        assert manifest["tables"][name]["rows_read"] == data.rows_read[name]
    assert set(manifest["source"]["files"]) == {p.name for p in data.files.values()}
    # the stored result answers the same request, settings and all
    assert_same(read_data_dir(tmp_path / "v", "2024-06-30", 0.3, reading=reading), data)


def test_reading_validated_data_runs_no_row_rules(messy_tables, write_dir, tmp_path, monkeypatch):
    raw_dir = write_dir(messy_tables)
    want = _validate(raw_dir, tmp_path / "v")

    def refuse(*args, **kwargs):
        raise AssertionError("validated again")

    monkeypatch.setattr(reading, "validate_tables", refuse)
    assert_same(read_data_dir(tmp_path / "v"), want)


@pytest.mark.parametrize("target", ["tables/service_visits.parquet", "rejects.parquet"])
def test_a_tampered_file_is_an_error_naming_it(messy_tables, write_dir, tmp_path, target):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    _validate(raw_dir, out)
    path = out / target
    frame = pd.read_parquet(path)
    frame.iloc[:1].to_parquet(path, index=False)  # a valid Parquet file, other content
    with pytest.raises(ContractError) as exc:
        read_data_dir(out)
    assert exc.value.violations[0].rule == RULE_CHANGED
    assert exc.value.violations[0].file == str(path)
    assert str(path) in str(exc.value)


def test_a_missing_file_or_another_manifest_version_is_an_error(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    _validate(raw_dir, out)
    (out / "tables" / "surveys.parquet").unlink()
    with pytest.raises(ContractError, match="surveys.parquet.*missing from the validated data"):
        read_data_dir(out)
    _validate(raw_dir, out)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "version": 0}))
    with pytest.raises(ContractError) as exc:
        read_data_dir(out)
    assert exc.value.violations[0].rule == RULE_MANIFEST
    assert "manifest version 0" in str(exc.value)


@pytest.mark.parametrize("as_of", ["2024-06-30", "2024-03-31", "2023-12-31"])
def test_an_as_of_cut_gives_the_rejects_of_the_raw_dir(messy_tables, write_dir, tmp_path, as_of):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    _validate(raw_dir, out)
    want = read_data_dir(raw_dir, as_of)
    got = read_data_dir(out, as_of)
    assert_same(got, want)
    if as_of != "2024-06-30":  # the conftest tables end on 2024-06-30: earlier cuts bite
        assert (got.rejects["rule"] == RULE_AFTER_AS_OF).any()


def test_a_cut_that_sets_nothing_aside_needs_no_source(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    want = read_data_dir(raw_dir, "2024-06-30")
    _validate(raw_dir, out)
    moved = shutil.move(raw_dir, tmp_path / "elsewhere")
    got = read_data_dir(out, "2024-06-30")
    assert_same(got, want)
    with pytest.raises(ContractError, match="needs the source directory again.*is gone"):
        read_data_dir(out, "2024-03-31")
    shutil.move(moved, raw_dir)
    assert_same(read_data_dir(out, "2024-03-31"), read_data_dir(raw_dir, "2024-03-31"))


def test_a_later_as_of_than_validated_reads_the_source(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    _validate(raw_dir, out, as_of="2024-03-31")
    for as_of in (None, "2024-06-30"):
        assert_same(read_data_dir(out, as_of), read_data_dir(raw_dir, as_of))
    assert_same(read_data_dir(out, "2024-01-31"), read_data_dir(raw_dir, "2024-01-31"))


def test_other_settings_validate_the_source_again(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    _validate(raw_dir, out)
    reading = ReadSettings(codes={"service_visits": {"visit_type": {"保养": "maintenance"}}})
    assert_same(
        read_data_dir(out, None, 0.5, reading=reading),
        read_data_dir(raw_dir, None, 0.5, reading=reading),
    )


def test_a_changed_source_is_refused_when_it_is_needed(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    _validate(raw_dir, out)
    visits = pd.read_csv(raw_dir / "service_visits.csv", dtype=str)
    visits.iloc[:-1].to_csv(raw_dir / "service_visits.csv", index=False)
    read_data_dir(out)  # the stored result needs no source
    with pytest.raises(ContractError, match="service_visits.csv.*the source data changed"):
        read_data_dir(out, "2024-03-31")


def test_a_truth_folder_is_carried_over(messy_tables, write_dir, tmp_path):
    raw_dir = write_dir(messy_tables)
    (raw_dir / "truth").mkdir()
    pd.DataFrame({"customer_id": ["00101"], "p": [0.5]}).to_parquet(raw_dir / "truth" / "r.parquet")
    out = tmp_path / "v"
    _validate(raw_dir, out)
    assert (out / "truth" / "r.parquet").read_bytes() == (
        raw_dir / "truth" / "r.parquet"
    ).read_bytes()
    manifest = json.loads((out / MANIFEST).read_text())
    assert "truth/r.parquet" in manifest["files"]


def test_an_interrupted_write_leaves_no_validated_dir(
    messy_tables, write_dir, tmp_path, monkeypatch
):
    raw_dir = write_dir(messy_tables)
    out = tmp_path / "v"
    data = _validate(raw_dir, out)
    monkeypatch.setattr("features.validated._copy_truth", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_validated(data, out, None, 0.2, ALL_TABLES)
    assert not is_validated_dir(out)
    with pytest.raises(ContractError, match="required table missing"):
        read_data_dir(out)
