"""One DICOM date/time shifter (DA, TM, DT on pydicom.valuerep): zones, fractions, partial values, midnight."""
from __future__ import annotations

import datetime as dt

import pydicom
from pydicom.dataset import Dataset

from covidbank.dicom.deid import DeidOptions, PatientContext, deidentify_dataset
from covidbank.dicom.keys import Keyring
from covidbank.dicom.timeshift import DateTimeShift, year_last_order

SH = DateTimeShift(days=-400, seconds=3 * 3600)  # 400 days back (2020-03-15 -> 2019-02-09), 3 hours later


def test_datetime_keeps_zone_fraction_and_precision():
    assert SH.datetime("20200315101500.123456+0100") == "20190209131500.123456+0100"
    assert SH.datetime("2020031510") == "2019020913"  # hour precision stays hour precision
    assert SH.datetime("2020") == "2019"  # year only: not inflated to 20190101000000
    assert SH.datetime("202003") == "201902"
    assert SH.datetime("20200315") == "20190209"
    assert SH.datetime("not a date") == "" and SH.datetime("20201345") == ""


def test_time_keeps_fraction_and_precision():
    assert SH.time("101500.5") == "131500.5"
    assert SH.time("1015") == "1315" and SH.time("10") == "13"
    assert SH.time("2330") == "0230"  # a lone time wraps (no date to carry into)
    assert SH.time("99") == ""


def test_a_time_crossing_midnight_moves_its_date_and_agrees_with_the_datetime():
    d, t = SH.pair("20200315", "223000.25")
    assert (d, t) == ("20190210", "013000.25")
    assert SH.datetime("20200315223000.25") == d + t
    # order within a day is kept: 21:00 and 23:30 stay in order after the shift
    a = SH.pair("20200315", "210000")
    b = SH.pair("20200315", "233000")
    assert a[0] + a[1] < b[0] + b[1]


def test_deidentify_shifts_date_time_pairs_together():
    ds = Dataset()
    ds.StudyDate, ds.StudyTime = "20200315", "223000.25"
    ds.AcquisitionDateTime = "20200315223000.25+0100"
    ds.ContentDate, ds.ContentTime = "20200315", "0930"
    item = Dataset()
    item.StudyDate, item.StudyTime = "20200101", "235959"
    ds.ReferencedStudySequence = pydicom.sequence.Sequence([item])
    deidentify_dataset(ds, Keyring(b"k" * 32), PatientContext("S1", "E1", -400, 3 * 3600), DeidOptions(), "CR")
    assert (ds.StudyDate, ds.StudyTime) == ("20190210", "013000.25")
    assert ds.AcquisitionDateTime == "20190210013000.25+0100"
    assert (ds.ContentDate, ds.ContentTime) == ("20190209", "1230")
    got = dt.datetime.strptime(ds.StudyDate + ds.StudyTime[:6], "%Y%m%d%H%M%S")
    assert got == dt.datetime(2020, 3, 15, 22, 30) + dt.timedelta(days=-400, hours=3)


def test_table_cell_dates():
    assert SH.text_date("2020-03-15") == "20190209" and SH.text_date("2020/03/15 10:00") == "20190209"
    assert SH.text_date("15/03/2020") is None and SH.text_date("") is None  # year last: only with an order
    assert SH.text_date("15/03/2020", "dmy") == "20190209" == SH.text_date("3-15-2020 10:00", "mdy")
    assert SH.text_date("2020-03-15", "dmy") == "20190209"  # year first is read whatever the order
    assert SH.text_date("31/02/2020", "dmy") is None


def test_year_last_order_is_decided_by_the_column():
    assert year_last_order(["01/02/2020", "15/03/2020"]) == "dmy"
    assert year_last_order(["01/02/2020", "03/15/2020"]) == "mdy"
    assert year_last_order(["01/02/2020", "03/04/2020"]) is None  # either way: not guessed
    assert year_last_order(["13/02/2020", "03/15/2020"]) is None  # both: not one convention
    assert year_last_order(["2020-03-15", ""]) == "ymd"
