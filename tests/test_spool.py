"""Spool folders of ``covidbank add``: removed when done, and after a kill by the next add."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from covidbank.spool import SPOOL_PREFIX, SpoolFolder, remove_stale_spools

REPO = Path(__file__).resolve().parents[1]

_KILLED = """
import os, sys, time
from covidbank.spool import SpoolFolder
f = SpoolFolder(sys.argv[1])
(f.path / "images.parquet").write_bytes(b"x" * 1000)
print(f.path, flush=True)
time.sleep(60)
"""


def test_a_killed_adds_spool_is_removed_by_the_next_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    assert left.is_dir() and left.name.startswith(f"{SPOOL_PREFIX}{proc.pid}-")
    live = SpoolFolder(tmp_path)  # the other add is still running: its folder stays
    assert left.is_dir()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.is_dir()  # a kill leaves it ...
    unknown = tmp_path / f"{SPOOL_PREFIX}notapid"
    unknown.mkdir()
    again = SpoolFolder(tmp_path)  # ... and the next spool removes it, not a live one nor one of unknown shape
    assert not left.exists() and live.path.is_dir() and again.path.is_dir() and unknown.is_dir()
    assert remove_stale_spools(tmp_path) == []
    again.cleanup()
    assert not again.path.exists()


def test_copy_to_writes_the_rows_as_to_parquet_would(tmp_path):
    """``SpooledTable.copy_to``: the spooled file as it is when its row groups are large, rewritten in
    batches of ``rows`` when an adapter's tiny batches made tiny row groups; the same Arrow table (schema with
    pandas metadata) as ``DataFrame.to_parquet`` of the conformed rows, a batch ``prepare`` applied."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from covidbank.schema import conform
    from covidbank.spool import TableSpool

    rows = pd.DataFrame({"image_id": [f"s:{i}" for i in range(1000)], "label": ["COVID-19", None] * 500,
                         "value": [1, 0, -1, None] * 250, "source": ["s"] * 999 + [None]})
    want = tmp_path / "want.parquet"
    conform(rows, "labels").to_parquet(want, index=False)
    for batch, groups in ((7, 10), (500, 2)):
        spool = TableSpool("labels", tmp_path / f"spool{batch}.parquet")
        for a in range(0, len(rows), batch):
            spool.write(rows.iloc[a:a + batch])
        spool.close()
        table = spool.table()
        out = tmp_path / f"out{batch}.parquet"
        assert table.copy_to(out, rows=100) == 1000
        got = pq.read_table(out)
        assert got.schema.equals(pq.read_schema(want), check_metadata=True) and got.equals(pq.read_table(want))
        assert pq.ParquetFile(out).metadata.num_row_groups == groups  # rewritten in 100s / copied as spooled
        assert (out.read_bytes() == spool.path.read_bytes()) == (batch == 500)
        filled = tmp_path / f"filled{batch}.parquet"
        i = pq.read_schema(want).names.index("source")
        table.copy_to(filled, lambda t: t.set_column(i, t.schema.field(i), pc.fill_null(t.column(i), "x")), rows=100)
        assert pq.read_table(filled).column("source").to_pylist() == ["s"] * 999 + ["x"]
        assert table.null_count("source") == 1 and table.null_count("nope") == 0


def test_a_held_first_batch_gives_the_same_table_as_a_written_one(tmp_path):
    """``TableSpool(hold_first=True)``: one batch stays in memory (no file) and reads, copies and counts as the
    written file does; a second batch writes both."""
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from covidbank.spool import TableSpool

    rows = pd.DataFrame({"image_id": [f"s:{i}" for i in range(1000)], "label": ["COVID-19", None] * 500,
                         "value": [1, 0, -1, None] * 250, "source": ["s"] * 999 + [None]})
    i = 1  # "source" in the labels schema

    def fill(t):
        return t.set_column(i, t.schema.field(i), pc.fill_null(t.column(i), "x"))

    for batches in ([rows], [rows.iloc[:400], rows.iloc[400:]]):
        spools = {hold: TableSpool("labels", tmp_path / f"{hold}{len(batches)}.parquet", hold_first=hold) for hold in (False, True)}
        for spool in spools.values():
            for b in batches:
                spool.write(b)
            spool.close()
        written, held = (spools[h].table() for h in (False, True))
        assert (held.held is not None) == (len(batches) == 1) and held.path.exists() == (len(batches) > 1)
        assert held.null_count("source") == written.null_count("source") == 1 and held.null_count("nope") == 0
        pd.testing.assert_frame_equal(held.frame(), written.frame())
        for prepare in (None, fill):
            a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
            assert written.copy_to(a, prepare, rows=300) == held.copy_to(b, prepare, rows=300) == 1000
            assert pq.read_table(a).equals(pq.read_table(b)) and pq.read_schema(a).equals(pq.read_schema(b), check_metadata=True)
        assert held.with_transform(lambda df: df).held is held.held


def test_identifier_columns_are_written_without_a_dictionary(tmp_path):
    """``*_id`` columns are plain-encoded (their dictionary would be as large as they are), the others
    dictionary-encoded; the rows read back as written, and two writes give the same bytes."""
    import pandas as pd
    import pyarrow.parquet as pq

    from covidbank.schema import conform
    from covidbank.spool import TableSpool, dictionary_columns

    assert dictionary_columns(["image_id", "source", "original_id", "label"]) == ["source", "label"]
    df = conform(pd.DataFrame({"image_id": [f"s:{i}" for i in range(1000)], "source": "s",
                               "label": ["a", "b"] * 500, "value": 1}), "labels")
    for name in ("a", "b"):
        spool = TableSpool("labels", tmp_path / f"{name}.parquet")
        spool.write(df)
        spool.close()
    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata.row_group(0)
    enc = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert not any("DICTIONARY" in e for e in enc["image_id"]) and any("DICTIONARY" in e for e in enc["label"])
    pd.testing.assert_frame_equal(conform(pd.read_parquet(tmp_path / "a.parquet"), "labels"), df)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
