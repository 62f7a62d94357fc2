"""Reading a store's own export: CSV encodings, store headers and store codes (features/mapping.py).

The directories are written inline, byte for byte, as a dealer system would export them.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from features.contract import (
    ACTION_SET_ASIDE,
    ACTION_SET_MISSING,
    APPOINTMENT_STATUSES,
    LOST_REASONS,
    RULE_ALLOWED,
    RULE_BAD_SETTING,
    RULE_TOO_MANY_INVALID,
    RULE_UNREADABLE,
    VISIT_TYPES,
    ContractError,
)
from features.mapping import ReadSettings, guess_encoding
from features.reading import read_data_dir
from models.engine import partition_data_dir, partition_dirs, read_partition

#: A store export: Chinese headers, Chinese visit types, a personal name.
CUSTOMERS = "客户编号,姓名,车型\n00101,张伟明,卡罗拉\n00102,李秀英,凯美瑞\n00103,王建国,RAV4\n"
VISITS = (
    "客户编号,进厂日期,金额,类型\n"
    "00101,2024-01-10,850,保养\n"
    "00101,2024-03-02,1200.5,维修\n"
    "00102,2024-02-03,3650,钣喷\n"
    "00102,2024-04-11,0,保养\n"
    "00103,2024-05-06,900,保险\n"
)
STORE_COLUMNS = {
    "customers": {"客户编号": "customer_id", "姓名": "name", "车型": "vehicle_model"},
    "service_visits": {
        "客户编号": "customer_id",
        "进厂日期": "visit_date",
        "金额": "amount",
        "类型": "visit_type",
    },
}
STORE_CODES = {
    "service_visits": {
        "visit_type": {
            "保养": "maintenance",
            "维修": "repair",
            "钣喷": "accident",
            "保险": "insurance",
        }
    }
}
PII = ("张伟明", "李秀英", "王建国")


def _store_dir(tmp_path, encoding="utf-8", customers=CUSTOMERS, visits=VISITS, name="store"):
    out = tmp_path / name
    out.mkdir()
    (out / "customers.csv").write_bytes(customers.encode(encoding))
    (out / "service_visits.csv").write_bytes(visits.encode(encoding))
    return out


def _refused(data_dir, **kwargs) -> ContractError:
    with pytest.raises(ContractError) as info:
        read_data_dir(data_dir, **kwargs)
    return info.value


# --- encodings ---------------------------------------------------------------------------------


def test_gb18030_file_is_refused_naming_its_encoding_and_the_fix(tmp_path):
    data_dir = _store_dir(tmp_path, encoding="gb18030")
    exc = _refused(data_dir, reading=ReadSettings(columns=STORE_COLUMNS, codes=STORE_CODES))
    assert [v.rule for v in exc.violations] == [RULE_UNREADABLE, RULE_UNREADABLE]
    msg = str(exc)
    for table in ("customers", "service_visits"):
        assert f"{data_dir / table}.csv: unreadable file — not valid UTF-8 text" in msg
        assert f"iconv -f GB18030 -t UTF-8 {table}.csv > {table}.utf8.csv" in msg
    assert "it looks like GB18030 (header: 客户编号,进厂日期,金额,类型)" in msg
    assert "`encoding: gb18030` in the validate block of params.yaml" in msg
    for value in PII:  # the header is shown, the data rows never
        assert value not in msg


def test_gb18030_file_reads_with_the_encoding_setting(tmp_path):
    data_dir = _store_dir(tmp_path, encoding="gb18030")
    reading = ReadSettings.from_params(
        {"encoding": "gb18030", "columns": STORE_COLUMNS, "codes": STORE_CODES}
    )
    data = read_data_dir(data_dir, reading=reading)
    assert data.customers["vehicle_model"].tolist() == ["卡罗拉", "凯美瑞", "RAV4"]
    assert data.customers["name"].tolist() == list(PII)
    assert data.service_visits["visit_type"].tolist() == [
        "maintenance",
        "repair",
        "accident",
        "maintenance",
        "insurance",
    ]
    assert len(data.rejects) == 0


def test_utf8_with_byte_order_mark_still_reads(tmp_path):
    data_dir = _store_dir(tmp_path, encoding="utf-8-sig")
    data = read_data_dir(data_dir, reading=ReadSettings(columns=STORE_COLUMNS, codes=STORE_CODES))
    assert data.customers["customer_id"].tolist() == ["00101", "00102", "00103"]
    assert data.customers["vehicle_model"].iloc[0] == "卡罗拉"


def test_utf16_file_is_recognised(tmp_path):
    data_dir = _store_dir(tmp_path, encoding="utf-16")
    msg = str(_refused(data_dir))
    assert "it looks like UTF-16" in msg
    assert "iconv -f UTF-16 -t UTF-8 customers.csv" in msg
    data = read_data_dir(
        data_dir, reading=ReadSettings("utf-16", columns=STORE_COLUMNS, codes=STORE_CODES)
    )
    assert len(data.service_visits) == 5


def test_big5_is_told_from_gb18030():
    text = "客戶編號,進廠日期,金額,類型\n00101,2023-01-10,850,保養\n00102,2023-02-03,650,維修\n"
    assert guess_encoding(text.encode("big5")) == "big5"
    assert guess_encoding(VISITS.encode("gb18030")) == "gb18030"
    assert guess_encoding(VISITS.encode("gbk")) == "gb18030"  # GBK is a subset


def test_utf8_file_read_with_a_wrong_setting_says_so(tmp_path):
    data_dir = _store_dir(tmp_path, encoding="utf-8")
    msg = str(_refused(data_dir, reading=ReadSettings("big5")))
    assert "not valid BIG5 text" in msg


# --- store headers and codes -------------------------------------------------------------------


def test_chinese_headers_and_codes_map_to_the_contract(tmp_path):
    data_dir = _store_dir(tmp_path)
    data = read_data_dir(data_dir, reading=ReadSettings(columns=STORE_COLUMNS, codes=STORE_CODES))
    visits = data.service_visits
    assert visits.columns[:6].tolist() == [
        "customer_id",
        "visit_date",
        "amount",
        "visit_type",
        "wait_minutes",
        "mileage_km",
    ]
    assert visits["amount"].tolist() == [850.0, 1200.5, 3650.0, 0.0, 900.0]
    assert visits["visit_date"].iloc[0] == pd.Timestamp("2024-01-10")
    assert visits["visit_type"].tolist() == [
        "maintenance",
        "repair",
        "accident",
        "maintenance",
        "insurance",
    ]
    assert len(data.rejects) == 0


def test_without_the_mapping_the_store_headers_are_missing_columns(tmp_path):
    exc = _refused(_store_dir(tmp_path))
    assert "customers.csv, column 'customer_id': required column missing" in str(exc)
    assert "found columns: 客户编号, 姓名, 车型" in str(exc)


def test_unknown_code_after_mapping_is_listed_with_counts_and_allowed_values(tmp_path, caplog):
    visits = VISITS + "00103,2024-05-20,60,洗车\n00101,2024-05-21,60,洗车\n"
    codes = {"service_visits": {"visit_type": {"保养": "maintenance", "维修": "repair"}}}
    data_dir = _store_dir(tmp_path, visits=visits)
    with caplog.at_level(logging.WARNING, logger="features.contract"):
        data = read_data_dir(
            data_dir,
            max_invalid_share=0.6,
            reading=ReadSettings(columns=STORE_COLUMNS, codes=codes),
        )
    # optional column: values set to missing, rows kept (today's rule)
    assert len(data.service_visits) == 7
    rej = data.rejects
    assert set(rej["rule"]) == {RULE_ALLOWED} and set(rej["action"]) == {ACTION_SET_MISSING}
    assert sorted(rej["value"]) == ["保险", "洗车", "洗车", "钣喷"]
    assert (
        "service_visits.csv, column 'visit_type': 4 value(s) set to missing; unknown value(s): "
        "'洗车' (2), '保险' (1), '钣喷' (1); allowed: " + ", ".join(VISIT_TYPES)
    ) in caplog.text
    assert "map store codes under validate.codes.service_visits.visit_type" in caplog.text


def test_mostly_unknown_codes_refuse_the_file_listing_them(make_tables, write_dir):
    tables = make_tables(optional=["appointments"])
    tables["appointments"]["status"] = ["已到店", "已到店", "爽约"]
    exc = _refused(write_dir(tables))
    v = next(v for v in exc.violations if v.rule == RULE_TOO_MANY_INVALID)
    assert v.column == "status"
    assert "unknown value(s): '已到店' (2), '爽约' (1)" in v.detail
    assert "allowed: " + ", ".join(APPOINTMENT_STATUSES) in v.detail
    assert "validate.codes.appointments.status" in v.detail
    # ... and the mapping fixes it
    codes = {"appointments": {"status": {"已到店": "kept", "爽约": "no_show"}}}
    data = read_data_dir(write_dir(tables, name="again"), reading=ReadSettings(codes=codes))
    assert data.table("appointments")["status"].tolist() == ["kept", "kept", "no_show"]


def test_unknown_required_code_sets_the_row_aside_and_is_listed(make_tables, write_dir, caplog):
    tables = make_tables(optional=["outreach"])
    tables["outreach"].loc[3, "group"] = "对照组"
    with caplog.at_level(logging.WARNING, logger="features.contract"):
        data = read_data_dir(write_dir(tables))
    assert data.rejects[["rule", "action", "value"]].values.tolist() == [
        [RULE_ALLOWED, ACTION_SET_ASIDE, "对照组"]
    ]
    assert "1 row(s) set aside; unknown value(s): '对照组' (1); allowed: treatment, control" in (
        caplog.text
    )


def test_codes_match_ignoring_spaces_and_capitals_and_multi_codes_map_each(
    make_tables, make_lead_tables, write_dir
):
    tables = {**make_tables(optional=False), **make_lead_tables()}
    tables["service_visits"].loc[0, "visit_type"] = " Service "
    tables["leads"].loc[0, "lost_reasons"] = "价格; 金融"
    tables["leads"].loc[1, "lost_reasons"] = "价格;delivery_time"
    codes = {
        "service_visits": {"visit_type": {"service": "maintenance"}},
        "leads": {"lost_reasons": {"价格": "price", "金融": "finance_or_tradein"}},
    }
    data = read_data_dir(write_dir(tables), reading=ReadSettings(codes=codes))
    assert data.service_visits["visit_type"].iloc[0] == "maintenance"
    assert data.table("leads")["lost_reasons"].iloc[:2].tolist() == [
        "price;finance_or_tradein",
        "price;delivery_time",
    ]
    assert len(data.rejects) == 0


def test_unknown_lost_reason_names_the_mapping_key(make_tables, make_lead_tables, write_dir):
    tables = {**make_tables(optional=False), **make_lead_tables()}
    tables["leads"]["lost_reasons"] = "太贵"
    exc = _refused(write_dir(tables))
    msg = str(exc)
    assert "unknown code(s): '太贵'" in msg
    assert "allowed: " + ", ".join(LOST_REASONS) in msg
    assert "validate.codes.leads.lost_reasons" in msg


@pytest.mark.parametrize(
    ("block", "where", "says"),
    [
        ({"columns": {"visits": {"a": "visit_date"}}}, "validate.columns.visits", "tables: "),
        (
            {"columns": {"service_visits": {"进厂日期": "visit_day"}}},
            "validate.columns.service_visits",
            "'进厂日期' maps to 'visit_day', not a column of service_visits; its columns: "
            "customer_id, visit_date, amount,",
        ),
        (
            {"codes": {"service_visits": {"visit_type": {"钣喷": "bodywork"}}}},
            "validate.codes.service_visits.visit_type",
            "'钣喷' maps to 'bodywork', not an allowed value; allowed: " + ", ".join(VISIT_TYPES),
        ),
        (
            {"codes": {"service_visits": {"amount": {"x": "1"}}}},
            "validate.codes.service_visits.amount",
            "not a coded column of service_visits; its coded columns: visit_type",
        ),
        (
            {"codes": {"leads": {"bought_competitor": {"是": True}}}},
            "validate.codes.leads.bought_competitor",
            "quote the code, e.g. 'yes'",
        ),
        ({"encoding": "gbk2"}, "validate.encoding", "unknown encoding 'gbk2'"),
    ],
)
def test_bad_setting_is_a_clear_error(make_tables, write_dir, block, where, says):
    exc = _refused(write_dir(make_tables(optional=False)), reading=ReadSettings.from_params(block))
    assert [(v.file, v.rule) for v in exc.violations] == [(where, RULE_BAD_SETTING)]
    assert says in str(exc)


def test_default_settings_change_nothing(make_tables, write_dir):
    data_dir = write_dir(make_tables())
    plain = read_data_dir(data_dir)
    empty = read_data_dir(data_dir, reading=ReadSettings.from_params({"columns": {}, "codes": {}}))
    for name, df in plain.tables.items():
        pd.testing.assert_frame_equal(df, empty.tables[name])


def test_partitions_read_a_store_export(tmp_path):
    data_dir = _store_dir(tmp_path, encoding="gb18030")
    reading = ReadSettings("gb18030", columns=STORE_COLUMNS, codes=STORE_CODES)
    with pytest.raises(ContractError, match="it looks like GB18030"):
        partition_data_dir(data_dir, tmp_path / "bad", 2)
    parts = partition_data_dir(data_dir, tmp_path / "parts", 2, reading)
    read = [read_partition(p, 0.2, reading) for p in partition_dirs(parts)]
    visits = pd.concat([d.service_visits for d in read if d is not None])
    assert sorted(visits["visit_type"]) == sorted(
        ["maintenance", "repair", "accident", "maintenance", "insurance"]
    )
    assert sorted(visits["customer_id"]) == ["00101", "00101", "00102", "00102", "00103"]
