"""What every source adapter returns, and helpers they share."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..fileio import read_csv_text
from ..schema import TABLES, conform
from ..spool import SpooledTable

__all__ = ["SourceResult", "Skip", "TableMap", "stream_text_table", "normalize_license", "parse_age", "parse_bool", "date_text", "known_value", "to_float", "map_unique", "first_nonempty",
           "one_chunk", "read_csv_text", "read_text_table", "trimmed_names"]


def unreadable_row(error: BaseException) -> str:
    """The reason stored for a row an adapter could not read: the error's class only (a fixed vocabulary of
    covidbank's and Python's exception names), never its message, which may quote the input."""
    return f"unreadable row: {error.__class__.__name__}"


@dataclass
class Skip:
    """One record a source adapter did not load, and why (``reason``: fixed wording, never an input's value)."""

    record: str
    path: str
    reason: str


class TableMap(dict):
    """Table name -> rows: a DataFrame, or a :class:`~covidbank.spool.SpooledTable` a streaming adapter wrote.

    Looking a spooled table up by name (``res.tables["images"]``, ``get``)
    reads it into memory once and keeps the frame; :meth:`raw` and
    :meth:`SourceResult.all_tables` hand it on unread, so
    :meth:`covidbank.bank.Bank.add` copies it batch by batch.
    """

    def __getitem__(self, name: str) -> pd.DataFrame:
        v = dict.__getitem__(self, name)
        if isinstance(v, SpooledTable):
            v = v.frame()
            dict.__setitem__(self, name, v)
        return v

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def raw(self, name: str) -> pd.DataFrame | SpooledTable | None:
        """The entry as stored (a spooled table is not read)."""
        return dict.get(self, name)


@dataclass
class SourceResult:
    """Rows of the schema tables produced by one source adapter.

    Attributes
    ----------
    source : str
        Source name (also the prefix of every identifier).
    tables : dict of str to DataFrame
        Conformed rows for ``subjects``, ``sessions``, ``images``, ``labels``, ``tests``.
    skipped : list of Skip
        Records not loaded, with the reason.
    meta : dict
        Provenance: path, version, row counts before filtering, notes.
    """

    source: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tables = TableMap({k: v if isinstance(v, SpooledTable) else conform(v, k)
                                for k, v in dict.items(self.tables)})

    def skip_many(self, records: Iterable[object], path: object, reasons: Iterable[str]) -> None:
        """Record many skipped records of one file at once (columnar adapters)."""
        p = str(path)
        self.skipped.extend(Skip(str(r), p, reason) for r, reason in zip(records, reasons))

    def skip(self, record: object, path: object, reason: str) -> None:
        """Record that ``record`` of ``path`` was skipped because of ``reason``."""
        self.skipped.append(Skip(str(record), str(path), reason))

    def table(self, name: str) -> pd.DataFrame:
        """The rows of ``name`` (an empty conformed frame when absent)."""
        if name == "skipped":
            return self.skipped_frame()
        return self.tables.get(name, conform(pd.DataFrame(), name))

    def skipped_frame(self) -> pd.DataFrame:
        """The skipped records as a ``skipped`` table."""
        df = pd.DataFrame(
            [{"source": self.source, "record": s.record, "path": s.path, "reason": s.reason} for s in self.skipped],
            columns=[c.name for c in TABLES["skipped"]],
        )
        return conform(df, "skipped")

    def all_tables(self) -> dict[str, pd.DataFrame | SpooledTable]:
        """Every schema table, including ``skipped``, ready for :meth:`Bank.add`.

        A table the adapter streamed to disk stays a
        :class:`~covidbank.spool.SpooledTable` (``len`` and ``frames()`` work;
        ``.frame()`` reads it whole).
        """
        out: dict[str, pd.DataFrame | SpooledTable] = {}
        for name in TABLES:
            v = self.tables.raw(name) if isinstance(self.tables, TableMap) else None
            out[name] = v if isinstance(v, SpooledTable) else self.table(name)
        return out

    def renamed(self, name: str) -> "SourceResult":
        """The same rows under another source name: the ``source`` column and the
        ``<source>:`` prefix of every identifier change (``add mids --name site2``
        gives ``site2:sub-01``, so two sites never merge)."""
        if name == self.source:
            return self
        old = self.source + ":"

        def rename(df: pd.DataFrame) -> pd.DataFrame:
            df = df.copy()
            for c in ("subject_id", "session_id", "image_id"):
                if c in df.columns:
                    df[c] = df[c].map(lambda v: name + ":" + v[len(old):] if isinstance(v, str) and v.startswith(old) else v)
            if "source" in df.columns:
                df["source"] = df["source"].where(df["source"] != self.source, name)
            return df

        tables = {k: v.with_transform(rename) if isinstance(v, SpooledTable) else rename(v)
                  for k, v in dict.items(self.tables)}
        out = SourceResult(source=name, tables=tables,
                           skipped=[Skip(s.record, s.path, s.reason) for s in self.skipped], meta=dict(self.meta))
        out.meta["adapter_source"] = self.source
        return out

    def counts(self) -> dict[str, int]:
        """Row counts per table."""
        return {k: len(v) for k, v in self.all_tables().items()}


_SPDX = [
    (r"^cc[ -]?by[ -]?nc[ -]?sa(?:[ -]?(\d\.\d))?$", "CC-BY-NC-SA"),
    (r"^cc[ -]?by[ -]?nc[ -]?nd(?:[ -]?(\d\.\d))?$", "CC-BY-NC-ND"),
    (r"^cc[ -]?by[ -]?nc(?:[ -]?(\d\.\d))?$", "CC-BY-NC"),
    (r"^cc[ -]?by[ -]?sa(?:[ -]?(\d\.\d))?$", "CC-BY-SA"),
    (r"^cc[ -]?by[ -]?nd(?:[ -]?(\d\.\d))?$", "CC-BY-ND"),
    (r"^cc[ -]?by(?:[ -]?(\d\.\d))?$", "CC-BY"),
    (r"^cc0(?:[ -]?(1\.0))?$", "CC0"),
    (r"^apache(?:[ -]?license)?[ -]?(2\.0)?$", "Apache"),
    (r"^mit$", "MIT"),
]


def normalize_license(raw: object) -> str | None:
    """Normalize a license string to an SPDX-like id.

    ``"CC BY-NC-SA 4.0"`` -> ``"CC-BY-NC-SA-4.0"``, ``"CC BY-NC-SA"`` ->
    ``"CC-BY-NC-SA"`` (version unknown), ``"Apache 2.0"`` -> ``"Apache-2.0"``.
    Strings that name no known license give ``None`` (the raw string is kept
    in ``license_raw``).
    """
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    s = re.sub(r"\s+", " ", str(raw).strip().lower())
    if not s:
        return None
    for pat, spdx in _SPDX:
        m = re.match(pat, s)
        if m:
            ver = m.group(1) if m.groups() else None
            if spdx == "MIT":
                return "MIT"
            return f"{spdx}-{ver}" if ver else spdx
    return None


_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([DWMY])?\s*$", re.I)


def parse_age(raw: object) -> float | None:
    """Parse an age in years: ``65``, ``"65"``, DICOM ``"083Y"``, ``"006M"``, ``"020D"``."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    m = _AGE_RE.match(str(raw))
    if not m:
        return None
    v = float(m.group(1))
    unit = (m.group(2) or "Y").upper()
    return {"Y": v, "M": v / 12.0, "W": v * 7 / 365.25, "D": v / 365.25}[unit]


_DATE_TEXT_RE = re.compile(r"^\d{4}([-/]?)\d{2}\1\d{2}(?:[ T][0-9:.]*)?$")

#: DICOM Photometric Interpretation and Presentation LUT Shape defined terms (what a source column may hold).
PHOTOMETRIC_TERMS = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420",
                               "YBR_ICT", "YBR_RCT", "PALETTE COLOR"})
LUT_SHAPE_TERMS = frozenset({"IDENTITY", "INVERSE"})
#: The DICOM Modality codes a source's image table or sidecar may give (another value is not copied).
MODALITY_TERMS = frozenset({"CR", "DX", "CT"})


def date_text(raw: object) -> str | None:
    """A date cell as published when it is shaped like a date (``20200313``, ``2020-03-13``, ``2020/03/13``,
    optionally followed by a time), else None: a cell holding other text never reaches a bank's date column.

    >>> date_text("20200313"), date_text("2020-03-13 10:00"), date_text("see notes")
    ('20200313', '2020-03-13 10:00', None)
    """
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    s = str(raw).strip()
    return s if _DATE_TEXT_RE.match(s) else None


def known_value(raw: object, allowed: Iterable[str]) -> str | None:
    """``raw`` stripped and upper-cased when it is one of ``allowed`` (a fixed vocabulary), else None: a source
    column with defined terms (modality, photometric interpretation) never carries other input text into a bank.

    >>> known_value(" monochrome1 ", PHOTOMETRIC_TERMS), known_value("Dr. Perez", PHOTOMETRIC_TERMS)
    ('MONOCHROME1', None)
    """
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    s = str(raw).strip().upper()
    return s if s in allowed else None


def parse_bool(raw: object) -> bool | None:
    """``Y``/``N`` (and yes/no/true/false/1/0) to bool; anything else None."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return None
    s = str(raw).strip().lower()
    if s in {"y", "yes", "true", "1", "t"}:
        return True
    if s in {"n", "no", "false", "0", "f"}:
        return False
    return None


def to_float(raw: object) -> float | None:
    """A number or None (for empty strings, ``?`` and the like)."""
    try:
        v = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return None if pd.isna(v) else v


def require_columns(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    """Raise :class:`SourceFormatError` naming ``path`` if a column is missing."""
    from ..errors import SourceFormatError

    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SourceFormatError(f"{path}: missing required column(s) {', '.join(missing)}")


def trimmed_names(names: Iterable[object], path: Path | str) -> list[str]:
    """Header names with the whitespace around them removed, as the adapters look columns up.

    Repeats in the header itself were already made distinct by the reader
    (pandas' ``name.1``, ``name.2``, which both streamed readers give); two
    names that become equal only once trimmed (``finding`` and ``" finding "``)
    would leave one of the two columns silently unread, so they are an error.
    Names that trim to nothing (blank header cells) name no column an adapter
    reads and may repeat.

    Raises
    ------
    SourceFormatError
        Two names are equal after trimming; the message names ``path`` and
        the column (it is shown on the terminal, never stored in a bank).
    """
    from ..errors import SourceFormatError

    raw = [str(n) for n in names]
    out = [n.strip() for n in raw]
    seen: dict[str, list[str]] = {}
    for r, n in zip(raw, out):
        seen.setdefault(n, []).append(r)
    repeated = {n: rs for n, rs in seen.items() if n and len(rs) > 1}
    if repeated:
        n, rs = next(iter(repeated.items()))
        raise SourceFormatError(
            f"{path}: column {_shown(n)} appears {len(rs)} times in the header once the whitespace around names is removed "
            f"(as {', '.join(_shown(r) for r in rs)}); rename or remove the repeated column"
            + (f" (and {len(repeated) - 1} other column(s) likewise)" if len(repeated) > 1 else ""))
    return out


def _shown(name: str, most: int = 40) -> str:
    """``repr(name)``, cut after ``most`` characters with the full length said (a header cell may be long)."""
    return repr(name) if len(name) <= most else f"{name[:most]!r}... ({len(name)} characters)"


def read_side_table(path: Path, res: SourceResult, record: str, sep: str = ",", **kwargs: Any) -> pd.DataFrame | None:
    """Read an optional side table (annotations, participants, derivatives).

    Returns None (and records a skip on ``res`` naming the file) when it is
    unreadable; a missing file returns None silently.
    """
    if not Path(path).is_file():
        return None
    try:
        return read_csv_text(path, sep=sep, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError) as e:
        res.skip(record, path, f"unreadable: {e.__class__.__name__}")
        return None


def _is_arrow(values: Any) -> bool:
    return type(values).__module__.startswith("pyarrow")


def map_unique(values: Any, fn: Callable[[Any], Any], dtype: Any = None, dictionary: bool = False) -> Any:
    """``values.map(fn)`` computed once per distinct value.

    Columns of a source table repeat few distinct values (views, findings,
    ages, yes/no flags), so the per-value parsers (:func:`parse_age`,
    :func:`parse_bool`, ...) run on the distinct values only and the result is
    mapped back with a vectorized take; this keeps the adapters columnar
    without rewriting each parser as a vectorized expression.

    Parameters
    ----------
    values : pandas.Series or pyarrow.Array
        The column; a missing value gives ``fn(None)``.  An Arrow
        ``DictionaryArray`` is mapped through its dictionary.
    fn : callable
        The per-value function.
    dtype : str or pyarrow.DataType, optional
        The result's pandas dtype (object when None) for a Series; the
        result's Arrow type (required) for an Arrow array, whose result is an
        Arrow array (``pyarrow.compute.dictionary_encode``, then a take).
    dictionary : bool
        Arrow only: return a ``DictionaryArray`` (the rows' indices into the
        mapped distinct values, which may repeat) instead of taking; filtering
        and taking it moves indices only, a cast to ``dtype`` decodes it.
    """
    if _is_arrow(values):
        import pyarrow as pa
        import pyarrow.compute as pc

        enc = values if isinstance(values, pa.DictionaryArray) else pc.dictionary_encode(values)
        mapped = [fn(u) for u in enc.dictionary.to_pylist()]
        idx = enc.indices
        if idx.null_count:
            idx = pc.fill_null(idx, len(mapped))
            mapped.append(fn(None))
        out = pa.array(mapped, dtype)
        return pa.DictionaryArray.from_arrays(idx, out) if dictionary else out.take(idx)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = [fn(u) for u in uniques]
    if dtype is None:
        arr = np.empty(len(mapped) + 1, dtype=object)
        arr[:-1] = mapped
        arr[-1] = fn(None)
        out = arr[codes]
    else:
        out = pd.array(mapped + [fn(None)], dtype=dtype).take(codes)  # code -1 takes the last element
    return pd.Series(out, index=values.index, dtype=dtype or object)


def first_nonempty(df: Any, *names: str) -> Any:
    """Per row, the first non-empty cell among the columns ``names`` present in ``df`` ("" if none).

    ``df`` is a DataFrame (the result is a Series), or a mapping of column
    names to Arrow string arrays of one length, none of them empty (the
    result is an Arrow array; no cell may be missing).
    """
    if isinstance(df, pd.DataFrame):
        out = pd.Series("", index=df.index, dtype="str")
        for n in reversed(names):
            if n in df.columns:
                col = df[n].astype("str")
                out = col.where(col.notna() & (col != ""), out)
        return out
    import pyarrow as pa
    import pyarrow.compute as pc

    out = None
    for n in reversed(names):
        if n in df:  # the last one as it is ("" where empty), the others where not empty
            out = df[n] if out is None else pc.if_else(pc.not_equal(df[n], ""), df[n], out)
    if out is None:
        first = next(iter(df.values()))
        out = pa.repeat(pa.scalar("", first.type), len(first))
    return out


def read_text_table(path: Path, sep: str = ",") -> pd.DataFrame:
    """Read a CSV/TSV with every cell as text (empty cells as ``""``).

    Arrow's multi-threaded reader first (4x the C parser on a large table);
    a file it refuses (not UTF-8, ragged rows) is read again with pandas' C
    parser, undecodable bytes replaced, so both give the same frame for a
    well-formed file and the C parser's error for a broken one (a first
    row longer than the header included: see :func:`read_csv_text`).
    """
    try:
        # Arrow refuses a row longer than the header, so takes no index from the data (and fails on index_col=False)
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, engine="pyarrow")
    except (ValueError, UnicodeError, pd.errors.ParserError):  # pyarrow.ArrowInvalid is a ValueError
        return read_csv_text(path, sep=sep, encoding="utf-8", encoding_errors="replace")


class _ArrowRefused(Exception):
    """Arrow's CSV reader refused the file (not UTF-8, ragged rows): read it again with pandas."""


#: Rows per batch when a source table is streamed (:func:`stream_text_table`).
BATCH_ROWS = 100_000


def _header_names(raw: list[str]) -> list[str]:
    """Column names as pandas' readers give them: empty -> ``Unnamed: i``, repeats -> ``name.1``."""
    from pandas.io.common import dedup_names

    names = [n if n != "" else f"Unnamed: {i}" for i, n in enumerate(raw)]
    return list(dedup_names(names, False))


def _arrow_header(path: Path, parse: Any) -> list[str]:
    """The header's names as Arrow's CSV reader reads them: from a first block of 64 KB on one thread (the
    default 1 MB block read ahead on the thread pool took 25-35 ms and 20-45 MB), or of the default size when
    the header does not fit in it."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 16, use_threads=False), parse_options=parse) as r:
            return r.schema.names
    except pa.ArrowInvalid:
        with pcsv.open_csv(path, parse_options=parse) as r:
            return r.schema.names


def one_chunk(values: Any) -> Any:
    """An Arrow ``ChunkedArray`` as one array (its chunks combined; a single chunk as it is, not copied)."""
    return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)


def _arrow_batches(path: Path, sep: str, rows: int, arrow: bool = False) -> tuple[list[str], Iterator[Any]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    parse = pcsv.ParseOptions(delimiter=sep)
    try:
        raw_names = _arrow_header(path, parse)
    except (pa.ArrowInvalid, UnicodeError, OSError) as e:
        raise _ArrowRefused(str(e)) from None
    names = _header_names(raw_names)
    # blocks of a few MB (a block is bytes): parsed faster than one block per batch (30 MB for 100k rows of
    # Cohen's table took 1.5-2x the time), gathered into batches of `rows` rows
    block = max(1 << 20, min(4 << 20, rows * max(64, _row_bytes(path))))
    text = pa.large_string() if arrow else pa.string()
    convert = pcsv.ConvertOptions(column_types={n: text for n in raw_names}, strings_can_be_null=False)

    def frame(parts: list) -> Any:
        """The batch of ``parts``, which is emptied: nothing but the batch holds the rows (the reader's blocks
        are freed once combined, and a consumer that lets go of the batch frees it)."""
        columns = pa.Table.from_batches(parts).columns
        parts.clear()
        for i, c in enumerate(columns):  # combined one at a time, each column's pieces freed before the next
            columns[i] = one_chunk(c)  # (the whole table at once held
            del c  # the batch twice: 95 of Arrow's 107 MB peak at 100k rows)
        t = pa.Table.from_arrays(columns, names=names)
        del columns
        return t if arrow else t.to_pandas().astype(str)

    def gen() -> Iterator[pd.DataFrame]:
        try:
            with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=block), parse_options=parse,
                               convert_options=convert) as r:
                parts, n = [], 0
                for rb in r:  # a block of bytes; sliced (zero-copy) into batches of `rows` rows
                    a = 0
                    while a < rb.num_rows:
                        piece = rb.slice(a, rows - n)
                        parts.append(piece)
                        n += piece.num_rows
                        a += piece.num_rows
                        if n == rows:
                            n = 0
                            yield frame(parts)
                if n:
                    yield frame(parts)
        except (pa.ArrowInvalid, UnicodeError) as e:
            raise _ArrowRefused(str(e)) from None

    return names, gen()


def _row_bytes(path: Path, sample: int = 1 << 20) -> int:
    """Mean bytes per line in the first ``sample`` bytes of ``path``."""
    with open(path, "rb") as f:
        head = f.read(sample)
    return max(1, len(head) // max(1, head.count(b"\n")))


def _pandas_batches(path: Path, sep: str, rows: int, arrow: bool = False) -> tuple[list[str], Iterator[Any]]:
    kw = dict(encoding="utf-8", encoding_errors="replace")
    names = list(read_csv_text(path, sep, nrows=0, **kw).columns)  # refuses a first row longer than the header

    def to_arrow(df: pd.DataFrame) -> Any:
        import pyarrow as pa

        return pa.Table.from_arrays([pa.array(df.iloc[:, i].to_numpy(dtype=object), pa.large_string()) for i in range(df.shape[1])],
                                    names=[str(c) for c in df.columns])

    def gen() -> Iterator[Any]:
        with read_csv_text(path, sep, chunksize=rows, **kw) as chunks:
            for df in chunks:
                yield to_arrow(df) if arrow else df.reset_index(drop=True)

    return names, gen()


def stream_text_table(path: Path, consume: Callable[[list[str], Iterator[Any]], Any],
                      rows: int = BATCH_ROWS, sep: str = ",", arrow: bool = False) -> Any:
    """Read a CSV/TSV in batches of about ``rows`` rows, every cell as text; return ``consume(columns, batches)``.

    The streaming form of :func:`read_text_table` (the same frames, in pieces):
    Arrow's CSV reader first (``pyarrow.csv.open_csv``); when it refuses the
    file (not UTF-8, ragged rows), even after some batches, ``consume`` is
    called again from the start with pandas' C parser in chunks, undecodable
    bytes replaced, so ``consume`` must start from a clean state each call.
    Errors of the C parser propagate (``pandas.errors.ParserError``, ...; a
    first row longer than the header is one, as in :func:`read_csv_text`).
    With ``arrow`` the batches are ``pyarrow.Table`` objects of ``large_string``
    columns (the type the bank's text is written as) holding the same cells
    (no pandas frame is built).
    """
    try:
        names, batches = _arrow_batches(Path(path), sep, rows, arrow)
        return consume(names, batches)
    except _ArrowRefused:
        names, batches = _pandas_batches(Path(path), sep, rows, arrow)
        return consume(names, batches)
