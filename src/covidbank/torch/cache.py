"""Decode-once cache of radiographs as memory-mapped arrays.

``covidbank cache BANK --size 224`` (or :func:`build_cache`) decodes, crops and
resizes every present X-ray once into ``BANK/cache/xray-<params>/``:

* ``data-<token>.npy``: an ``(N, size, size)`` ``uint16`` array of ``[0, 1]``
  intensities (quantization step 1/65535, 0.03 on torchxrayvision's scale),
  opened with ``numpy.load(mmap_mode="r")`` so every DataLoader worker shares
  the page cache;
* ``index.parquet``: one row per image: ``image_id``, ``row``, ``mtime_ns``,
  ``file_size``, ``ctime_ns``, ``inode`` (the file's stat key), ``sha1`` of the
  source file's content (taken before it is decoded), ``status`` (``ok`` or
  ``error``) and ``error`` (the exception's class and a fixed reason; the full
  message, which names the file, is only shown on the terminal and in the
  exceptions raised).  The cache is inside the bank: it holds neither the
  file's path nor any hash of it (a hospital path such as
  ``/export/12345678_NAME/img.png`` has so few possible values that an
  unsalted hash of it gives the record number back);
* ``state.json``: the preprocessing parameters and the current data/index files,
  replaced atomically last, so an interrupted build leaves the old cache.

The folder name holds a hash of the preprocessing parameters and the cache
format, so other parameters never read this cache; ``params`` are compared
again on open.  :meth:`XRayCache.update` removes the folders an older format
wrote (:func:`remove_old_caches`; formats before 4 hold the paths or a hash of
them).  An
entry is *stale* when its file's content changed: the modification and change
times, size and inode are compared first (as git does; the inode tells two
files that swapped names, the ctime a file whose mtime was set back), and when
any differs the file's SHA-1 is compared
with the one stored (so a file moved or copied with the same content keeps its
entry, whose time and size :meth:`XRayCache.update` refreshes); with
``verify="hash"`` every file is hashed.  :meth:`XRayCache.update` re-decodes
exactly the stale entries, and :class:`~covidbank.torch.XRayDataset` refuses or
rebuilds them instead of using them.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import CacheError, CovidbankError, StaleCacheError
from ..fileio import atomic_write
from ..parallel import map_ordered, sized
from ..pixels import (
    RESAMPLE_FILTERS,
    center_crop,
    file_sha1,
    inversion_args,
    pad_square,
    read_xray,
    resize,
)

__all__ = ["XRayPrep", "XRayCache", "CacheSummary", "build_cache", "preprocess_xray", "CROPS"]

log = logging.getLogger(__name__)

CROPS = ("center", "pad", "none")
_FORMAT = 5  # 2: one inversion rule (pixels.needs_inversion; ingest PNGs display-ready); 3: path_sha1, fixed error
#              reasons; 4: no path_sha1 (a moved file is told by its size, mtime and content SHA-1); 5: ctime_ns and
#              inode in the stat key, the content SHA-1 taken before the decode (error rows too)
_STAT = ["mtime_ns", "file_size", "ctime_ns", "inode"]
_COLUMNS = ["image_id", "row", *_STAT, "sha1", "status", "error"]
_SCALE = 65535.0


@dataclass(frozen=True)
class XRayPrep:
    """Decode-time preprocessing of a radiograph (what the cache is keyed by).

    Parameters
    ----------
    size : int or None
        Output side in pixels; None keeps the native size (not cacheable).
    crop : {"center", "pad", "none"}
        ``center`` crops the largest centred square (torchxrayvision's
        ``XRayCenterCrop``), ``pad`` pads to a square with black, ``none``
        resizes the whole image to ``size`` x ``size``.
    resample : str
        ``xrv`` (torchxrayvision's resizer) or a Pillow filter (``bilinear``...).
    """

    size: int | None = 224
    crop: str = "center"
    resample: str = "xrv"

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"crop {self.crop!r}: use one of {CROPS}")
        if self.resample != "xrv" and self.resample not in RESAMPLE_FILTERS:
            raise ValueError(f"resample {self.resample!r}: use xrv or one of {RESAMPLE_FILTERS}")
        if self.size is not None and int(self.size) < 2:
            raise ValueError(f"size {self.size!r}: must be at least 2")

    def key(self) -> str:
        """Short hash of the parameters (part of the cache folder name)."""
        blob = json.dumps({"format": _FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]

    def dirname(self) -> str:
        return f"xray-{self.size}-{self.crop}-{self.resample}-{self.key()}"


def preprocess_xray(a: np.ndarray, prep: XRayPrep) -> np.ndarray:
    """Crop and resize a ``[0, 1]`` radiograph as ``prep`` says."""
    if prep.crop == "center":
        a = center_crop(a)
    elif prep.crop == "pad":
        a = pad_square(a, 0.0)
    if prep.size:
        a = resize(a, int(prep.size), prep.resample)
    return a


@dataclass
class CacheSummary:
    """What a cache update did (``refreshed``: reused entries whose file was moved or touched with the same
    content, their new mtime and size stored)."""

    path: Path
    total: int = 0
    reused: int = 0
    decoded: int = 0
    refreshed: int = 0
    stale: int = 0
    errors: int = 0
    removed: int = 0
    error_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "error_rows"}
        d["path"] = str(self.path)
        d["error_files"] = self.error_rows.to_dict(orient="records") if len(self.error_rows) else []
        return d


class XRayCache:
    """A cache folder for one set of preprocessing parameters.

    Parameters
    ----------
    root : path-like
        Parent folder (``BANK/cache`` by default); the cache lives in
        ``root / prep.dirname()``.
    prep : XRayPrep
    """

    def __init__(self, root: str | os.PathLike, prep: XRayPrep) -> None:
        if not prep.size:
            raise CacheError("a cache needs a fixed size (size=None keeps native sizes)")
        self.prep = prep
        self.path = Path(root) / prep.dirname()
        self._arr: np.ndarray | None = None
        self._index: pd.DataFrame | None = None
        self._index_name: str | None = None
        self._data_name: str | None = None
        self._hashes: dict[tuple, str] = {}  # in memory only: it names the files
        self._pinned = False  # a dataset's view: index and data file fixed (see snapshot)

    # ----------------------------------------------------------- state
    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    def exists(self) -> bool:
        return self.state_file.is_file()

    def state(self) -> dict:
        if not self.exists():
            return {}
        try:
            st = json.loads(self.state_file.read_text())
        except (OSError, ValueError) as e:
            raise CacheError(f"{self.state_file}: unreadable cache state ({e}); delete {self.path} and rebuild") from None
        if st.get("params") != {"format": _FORMAT, **asdict(self.prep)}:
            raise StaleCacheError(
                f"{self.state_file}: cache was built with {st.get('params')}, not {asdict(self.prep)}; "
                f"delete {self.path} and rebuild"
            )
        return st

    def index(self) -> pd.DataFrame:
        """The cache index (empty when the cache does not exist yet); re-read
        when another process or object has rebuilt the cache."""
        if self._pinned and self._index is not None:
            return self._index
        for _ in range(3):  # another process may replace the state and remove its index between the two reads
            st = self.state()
            if not st:
                return pd.DataFrame(columns=_COLUMNS)
            if self._index is not None and self._index_name == st["index"]:
                return self._index
            try:
                index = pd.read_parquet(self.path / st["index"])
            except FileNotFoundError:
                continue
            self._index, self._index_name, self._data_name = index, st["index"], st.get("data")
            self._arr = None  # the data file that goes with this index, not the one opened before
            return self._index
        raise CacheError(f"{self.path}: the cache index keeps being replaced by another process; try again")

    def snapshot(self) -> "XRayCache":
        """A copy of this object fixed to the index and data file it reads now: its row numbers stay valid
        when this object (or another process) updates the cache (what a dataset holds).  It cannot be updated."""
        self.index()
        snap = XRayCache.__new__(XRayCache)
        snap.__dict__.update(self.__getstate__())
        snap._pinned = True
        return snap

    def array(self) -> np.ndarray:
        """The memory-mapped ``(N, size, size)`` uint16 array that matches the
        index last read (opened lazily, once per process)."""
        if self._arr is None:
            if self._data_name is None:
                self.index()
            if not self._data_name:
                raise CacheError(f"{self.path}: cache is empty; run `covidbank cache` first")
            f = self.path / self._data_name
            if not f.exists():
                raise CacheError(
                    f"{f}: the cache was rebuilt since this dataset was created; create the dataset again"
                )
            try:
                self._arr = np.load(f, mmap_mode="r")
            except (OSError, ValueError) as e:  # cut short or overwritten
                raise CacheError(f"{f}: unreadable cache data ({e}); run `covidbank cache` again to rebuild it") from None
        return self._arr

    def __getstate__(self):  # DataLoader workers re-open the memmap themselves
        d = dict(self.__dict__)
        d["_arr"] = None
        d["_hashes"] = {}
        return d

    def get(self, row: int) -> np.ndarray:
        """Row ``row`` as ``float32`` in ``[0, 1]``."""
        return self.array()[row].astype(np.float32) * (1.0 / _SCALE)

    # ----------------------------------------------------------- staleness
    def stale(self, records: pd.DataFrame, verify: str = "stat") -> pd.DataFrame:
        """Entries of ``records`` (``image_id``, ``path``) that are missing or stale.

        Parameters
        ----------
        verify : {"stat", "hash"}
            ``stat`` compares mtime, size, ctime and inode, and hashes only the
            files where any differs (same content: the entry is fresh, see
            :meth:`touched`); ``hash`` re-hashes every file.

        Returns
        -------
        DataFrame
            ``image_id``, ``path``, ``reason`` (``not cached``, ``file changed``,
            ``file missing``, ``content changed``, ``cache data unreadable``).
        """
        return self._scan(records, verify)[0]

    def touched(self, records: pd.DataFrame, verify: str = "stat") -> pd.DataFrame:
        """Fresh entries of ``records`` whose file's mtime or size differ from the
        index's but whose content is the one cached (a moved, copied or touched
        file): ``image_id``, ``mtime_ns``, ``file_size``, ``ctime_ns``, ``inode``.  :meth:`update` stores
        their new stat key without decoding them again."""
        return self._scan(records, verify)[1]

    def _scan(self, records: pd.DataFrame, verify: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(stale, touched)`` of :meth:`stale` and :meth:`touched`."""
        if verify not in ("stat", "hash"):
            raise ValueError(f"verify {verify!r}: use stat or hash")
        idx = self.index().set_index("image_id") if len(self.index()) else None
        data_ok = idx is None or not (idx["status"] == "ok").any() or self._data_readable(idx)
        out, touched = [], []
        for iid, path in zip(records["image_id"], records["path"]):
            reason = None
            e = idx.loc[iid] if idx is not None and iid in idx.index else None
            if e is None:
                reason = "not cached"
            else:
                key = _stat_key(path)
                same_stat = key is not None and tuple(int(e[k]) for k in _STAT) == key
                no_hash = pd.isna(e["sha1"])
                if key is None:  # an error row whose file could not be stat'ed either (missing, symlink loop) is fresh
                    reason = None if e["status"] == "error" and int(e["mtime_ns"]) == -1 else "file missing"
                elif e["status"] != "ok" and no_hash:  # failed before it was hashed: retried when its file changes
                    reason = None if same_stat else "file changed"
                elif not same_stat or verify == "hash":
                    h = self._content_sha1(path, key, fresh=verify == "hash")
                    if h is None or h != e["sha1"]:
                        reason = "content changed" if same_stat else "file changed"
                    elif not same_stat:
                        touched.append((iid, *key))
                if reason is None and not data_ok and e["status"] == "ok":
                    reason = "cache data unreadable"
            if reason:
                out.append((iid, path, reason))
        return (pd.DataFrame(out, columns=["image_id", "path", "reason"]),
                pd.DataFrame(touched, columns=["image_id", *_STAT]))

    def _content_sha1(self, path, stat_key: tuple, fresh: bool = False) -> str | None:
        """SHA-1 of the file at ``path`` (None when it cannot be read), remembered in this object (never in the
        bank) for the same path and stat key, so :meth:`update` does not hash again what :meth:`stale` hashed;
        ``fresh`` (``verify="hash"``) always reads the file."""
        key = (str(path), *stat_key)
        if fresh or key not in self._hashes:
            try:
                self._hashes[key] = file_sha1(path)
            except OSError:
                return None
        return self._hashes[key]

    def _data_readable(self, idx: pd.DataFrame) -> bool:
        """Whether the data file of the index opens and holds every row the index points at."""
        if not self._data_name:
            return False
        try:
            arr = np.load(self.path / self._data_name, mmap_mode="r")
        except (OSError, ValueError):
            return False
        n = int(idx.loc[idx["status"] == "ok", "row"].max()) + 1
        return arr.ndim == 3 and arr.shape[0] >= n

    # ----------------------------------------------------------- building
    def update(
        self,
        records: pd.DataFrame,
        *,
        verify: str = "stat",
        prune: bool = False,
        progress: Callable[[Iterable], Iterable] | None = None,
        workers: int = 1,
        scheduler: str | None = None,
    ) -> CacheSummary:
        """Bring the cache up to date for ``records`` (columns ``image_id``,
        ``path``, optional ``file_format``, ``photometric``).

        Fresh entries are reused, stale or new ones decoded: in this process,
        in ``workers`` processes, or on the dask.distributed cluster at
        ``scheduler`` (the files must be readable at the same paths there);
        the result is the same.  Files that fail to
        decode are recorded with ``status="error"`` and a fixed reason (and are
        retried when the file changes).  Entries whose file was moved or touched
        but holds the same content keep their pixels; their new mtime and size
        are stored (``CacheSummary.refreshed``).  ``prune`` drops entries not in
        ``records``.
        """
        if self._pinned:
            raise CacheError(f"{self.path}: a dataset's view of the cache is fixed; update it with XRayCache(root, prep)")
        records = records.drop_duplicates("image_id").reset_index(drop=True)
        summ = CacheSummary(path=self.path, total=len(records))
        remove_old_caches(self.path.parent)
        stale, touched = self._scan(records, verify)
        summ.stale = int((stale["reason"] != "not cached").sum())
        old = self.index()
        keep = old[~old["image_id"].isin(set(stale["image_id"]))].copy()
        if len(touched):
            at = keep["image_id"].map(dict(zip(touched["image_id"], range(len(touched)))))
            hit = at.notna().to_numpy()
            pos = at[hit].astype(int).to_numpy()
            for k in _STAT:
                keep.loc[hit, k] = touched[k].to_numpy()[pos]
            summ.refreshed = int(hit.sum())
        if prune:
            before = len(keep)
            keep = keep[keep["image_id"].isin(set(records["image_id"]))]
            summ.removed = before - len(keep)
        if stale.empty and summ.removed == 0 and self.exists():
            summ.reused = len(records)
            idx = keep
            if summ.refreshed:  # new time and size only: a new index beside the same data file
                self._write_index(keep, self._data_name or self.state().get("data"))
            summ.errors = int((idx[idx["image_id"].isin(set(records["image_id"]))]["status"] == "error").sum())
            summ.error_rows = error_rows(idx, records)
            return summ
        todo = records[records["image_id"].isin(set(stale["image_id"]))]
        self.path.mkdir(parents=True, exist_ok=True)
        n_ok_keep = int((keep["status"] == "ok").sum())
        token = uuid.uuid4().hex[:8]
        data_name = f"data-{token}.npy"
        tmp_data = self.path / f".{data_name}.tmp"
        size = int(self.prep.size)  # type: ignore[arg-type]
        # kept rows first, then each new image as its worker hands it back, straight into the memory-mapped array
        # (sized for all of them; an image that fails leaves its row unused and the array is compacted once at the
        # end), so memory stays flat however many images are decoded
        n_max = n_ok_keep + len(todo)
        out = np.lib.format.open_memmap(tmp_data, mode="w+", dtype=np.uint16, shape=(n_max, size, size))
        new_rows: list[dict] = []
        messages: dict[str, str] = {}  # full messages of this run's failures: for the terminal, not the index
        try:
            keep = keep.copy()
            r = 0
            if n_ok_keep:
                src = self.array()
                ok_keep = keep["status"] == "ok"
                old_rows = keep.loc[ok_keep, "row"].astype(int).to_numpy()
                for i0 in range(0, len(old_rows), 256):
                    chunk = old_rows[i0 : i0 + 256]
                    out[r : r + len(chunk)] = src[chunk]
                    r += len(chunk)
                keep.loc[ok_keep, "row"] = np.arange(n_ok_keep)
            inv = [inversion_args(x) for x in todo.to_dict("records")]
            fmts = todo["file_format"] if "file_format" in todo else [None] * len(todo)
            tasks = [(iid, str(path), _s(fmt), inv_args, self.prep)
                     for iid, path, fmt, inv_args in zip(todo["image_id"], todo["path"], fmts, inv)]
            done = sized(map_ordered(_decode_task, tasks, workers=workers, scheduler=scheduler), len(tasks))
            for row, a in (progress(done) if progress else done):
                if a is None:
                    messages[row["image_id"]] = row.pop("message")
                else:
                    out[r] = a
                    row["row"] = r
                    r += 1
                new_rows.append(row)
            out.flush()
            del out
            if r < n_max:  # some images failed: the array gets exactly its used rows
                _compact(tmp_data, r)
            os.replace(tmp_data, self.path / data_name)
        except BaseException:
            if tmp_data.exists():
                tmp_data.unlink()
            raise
        idx = pd.concat([keep, pd.DataFrame(new_rows, columns=_COLUMNS)], ignore_index=True)
        idx = self._write_index(idx, data_name, token)
        summ.decoded = len(todo)
        summ.reused = len(records) - len(todo)
        summ.error_rows = error_rows(idx, records, messages)
        summ.errors = len(summ.error_rows)
        return summ

    def _write_index(self, idx: pd.DataFrame, data_name: str, token: str | None = None) -> pd.DataFrame:
        """Write ``idx`` as a new index file, point ``state.json`` at it and ``data_name`` (atomically), and
        remove the files the previous state pointed at (unless still used)."""
        idx = idx[_COLUMNS].astype({"row": "int64", **{k: "int64" for k in _STAT}})
        index_name = f"index-{token or uuid.uuid4().hex[:8]}.parquet"
        idx.to_parquet(self.path / index_name, index=False)
        prev = self.state() if self.exists() else {}
        atomic_write(
            self.state_file,
            json.dumps({"params": {"format": _FORMAT, **asdict(self.prep)}, "data": data_name, "index": index_name,
                        "count": int(len(idx))}, indent=2),
        )
        for k in ("data", "index"):
            f = prev.get(k)
            if f and f not in (data_name, index_name) and (self.path / f).exists():
                try:
                    (self.path / f).unlink()
                except OSError:  # pragma: no cover - another process holds it (Windows)
                    pass
        self._arr, self._index, self._index_name, self._data_name = None, None, None, None
        return idx


def remove_old_caches(root: str | os.PathLike) -> list[Path]:
    """Remove the ``xray-*`` cache folders under ``root`` that an older cache format wrote; return them.

    This version never reads them (the format is part of the folder name), and formats before 4 hold each
    source file's path (1, 2) or an unsalted SHA-1 of it (3) inside the bank.  A folder is removed only when its
    ``state.json`` reads as a cache state whose ``params.format`` is an integer below the current one.
    """
    out = []
    for d in sorted(Path(root).glob("xray-*")) if Path(root).is_dir() else []:
        try:
            params = json.loads((d / "state.json").read_text()).get("params")
            fmt = params.get("format") if isinstance(params, dict) else None
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt < _FORMAT:
            try:
                shutil.rmtree(d)
            except OSError as e:  # a read-only bank: left, said on the log
                log.warning("could not remove old cache folder %s (%s)", d, type(e).__name__)
                continue
            log.info("removed old cache folder %s (format %d)", d, fmt)
            out.append(d)
    return out


def _decode_task(task: tuple) -> tuple[dict, np.ndarray | None]:
    """Decode and preprocess one ``(image_id, path, file_format, inversion args, prep)``: its index row and
    ``uint16`` array, or the row with ``status="error"`` and the reason (never raises for a bad file)."""
    iid, path, fmt, inv_args, prep = task
    row = {"image_id": iid, "row": -1, **{k: -1 for k in _STAT}, "sha1": None, "status": "ok", "error": None}
    try:
        # stat key, then content hash, then decode: a file rewritten meanwhile differs from the key or hash stored
        # next time (the hash taken after the decode could describe a newer file than the pixels)
        key = _stat_key(path, strict=True)
        row.update(zip(_STAT, key))
        row["sha1"] = file_sha1(path)
        a = preprocess_xray(read_xray(path, record=iid, file_format=fmt, **inv_args), prep)
        return row, np.clip(np.rint(a * _SCALE), 0, _SCALE).astype(np.uint16)
    except FileNotFoundError:
        row.update(status="error", error=f"FileNotFoundError: {MISSING}", message=f"{path} (record {iid}): image file is missing")
    except CovidbankError as e:
        row.update(status="error", error=f"{type(e).__name__}: {UNREADABLE}", message=str(e))
    except OSError as e:  # a symlink loop, a directory, no permission...
        row.update(status="error", error=f"{type(e).__name__}: {UNREADABLE}",
                   message=f"{path} (record {iid}): image file could not be read ({e.strerror or type(e).__name__})")
    return row, None


def _stat_key(path, strict: bool = False) -> tuple[int, int, int, int] | None:
    """``(mtime_ns, size, ctime_ns, inode)`` of the file at ``path`` (None when it cannot be stat'ed, unless
    ``strict``): os.utime cannot set the ctime back, and files that swap names keep their inodes."""
    try:
        st = os.stat(path)
    except OSError:
        if strict:
            raise
        return None
    return st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino


#: Fixed reasons stored in the index's ``error`` column (after the exception's class name).
MISSING = "image file is missing"
UNREADABLE = "image file could not be read"


def error_rows(idx: pd.DataFrame, records: pd.DataFrame, messages: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The failed entries of ``idx`` among ``records``: ``image_id``, ``path`` (from ``records``) and ``error``.

    ``error`` is the full message of a failure of this run (``messages``, by image id), else the index's
    fixed reason after the file's path and record (the index never holds the path).
    """
    messages = messages or {}
    errs = idx[(idx["status"] == "error") & idx["image_id"].isin(set(records["image_id"]))]
    paths = dict(zip(records["image_id"], records["path"]))
    rows = [(iid, str(paths[iid]), messages.get(iid) or f"{paths[iid]} (record {iid}): {err}")
            for iid, err in zip(errs["image_id"], errs["error"])]
    return pd.DataFrame(rows, columns=["image_id", "path", "error"])


def _compact(npy: Path, rows: int) -> None:
    """Rewrite the ``.npy`` at ``npy`` (a temporary file) with only its first ``rows`` rows."""
    src = np.load(npy, mmap_mode="r")
    tmp = npy.with_name(npy.name + ".part")
    try:
        dst = np.lib.format.open_memmap(tmp, mode="w+", dtype=src.dtype, shape=(rows, *src.shape[1:]))
        for i0 in range(0, rows, 256):
            dst[i0 : i0 + 256] = src[i0 : min(rows, i0 + 256)]
        dst.flush()
        del dst, src
        os.replace(tmp, npy)
    finally:
        if tmp.exists():
            tmp.unlink()


def _s(v) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)


def xray_records(bank, sources=None) -> pd.DataFrame:
    """Present radiograph records of a bank (what ``covidbank cache`` decodes)."""
    from ..bank import Bank

    b = bank if isinstance(bank, Bank) else Bank(bank)
    df = b.resolve_paths(b.query(
        "SELECT * FROM images "
        "WHERE path IS NOT NULL AND coalesce(file_present, true) AND coalesce(modality, 'X-ray') <> 'CT'"
    ))
    if sources:
        df = df[df["source"].isin(list(sources))]
    return df.reset_index(drop=True)


def build_cache(
    bank,
    size: int = 224,
    crop: str = "center",
    resample: str = "xrv",
    *,
    root: str | os.PathLike | None = None,
    sources=None,
    verify: str = "stat",
    prune: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> CacheSummary:
    """Decode and resize a bank's present radiographs once (Python form of ``covidbank cache``).

    Parameters
    ----------
    bank : Bank or path
    size, crop, resample
        See :class:`XRayPrep`.
    root : path-like, optional
        Parent folder of the cache; default ``BANK/cache``.
    sources : list of str, optional
        Only these sources.
    verify : {"stat", "hash"}
    prune : bool
        Drop entries of images no longer selected.
    workers, scheduler
        Decoding processes, or a dask.distributed scheduler address (see :meth:`XRayCache.update`).
    """
    from ..bank import Bank

    b = bank if isinstance(bank, Bank) else Bank(bank)
    cache = XRayCache(Path(root) if root else b.path / "cache", XRayPrep(size, crop, resample))
    return cache.update(xray_records(b, sources), verify=verify, prune=prune, progress=progress, workers=workers,
                        scheduler=scheduler)
