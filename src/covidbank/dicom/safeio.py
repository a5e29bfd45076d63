"""Reading untrusted DICOM input within bounds: which files are read, how much, how long.

An input folder may hold anything: FIFOs (reading one blocks forever),
symbolic links to files elsewhere on the host, a 2 GB zero-filled file with a
``DICM`` preamble (pydicom parses it as millions of empty elements: about 35
minutes), a deflated dataset of 128 KiB that inflates to 2 GB, an image whose
header announces more pixels than memory holds.  This module is the one place
that bounds them:

* :func:`check_path` reads only regular files, follows a symbolic link only
  when it stays inside the input tree (unless the curator allows it) and
  refuses files larger than :attr:`Limits.max_file_bytes`;
* :func:`read_dataset` parses through :class:`BoundedReader`, which stops a
  parse past :attr:`Limits.max_header_bytes` (headers only) or after
  :attr:`Limits.max_reads` read calls (pydicom reads each element with one or
  two reads, so this bounds the element count and therefore the time);
* deflated datasets (PS3.5 A.5) are inflated here, streamed with a bound on
  the inflated size and the ratio, before pydicom sees them (pydicom would
  inflate everything at once);
* :func:`check_pixels` refuses an image whose decoded size exceeds
  :attr:`Limits.max_image_bytes` before it is decoded.

Together they keep a worker within the memory budget :data:`MEMORY_BUDGET`
(1 GiB) for any input: header parse, inflated dataset (at most 256 MiB) and
one decoded image (at most 256 MiB) with its float64 working copy for the
VOI step.  A CT series holds its slices in memory; its total is bounded by
:attr:`Limits.max_series_bytes`.

Written by hand: pydicom has no parse limits, and no DICOM library bounds
deflate or file types.
"""
from __future__ import annotations

import io
import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

from .reasons import ReasonError

__all__ = ["Limits", "BoundedReader", "check_path", "read_dataset", "check_pixels", "MEMORY_BUDGET",
           "DEFLATED"]

#: The memory budget of one ingest worker that the default limits keep (bytes).
MEMORY_BUDGET = 1 << 30
DEFLATED = "1.2.840.10008.1.2.1.99"


@dataclass(frozen=True)
class Limits:
    """Per-file bounds of an ingest (defaults keep a worker under 1 GiB).

    Attributes
    ----------
    max_file_bytes : int
        Larger files are skipped unread (512 MiB: a CR/DX image or a CT slice is far smaller).
    max_header_bytes : int
        A header (everything before Pixel Data) longer than this is refused.
    max_reads : int
        Read calls one parse may make (bounds the element count; a real header needs a few thousand).
    max_inflated_bytes : int
        Inflated size of a deflated dataset.
    max_inflate_ratio : float
        Inflated / deflated size of a deflated dataset (real data compresses far less than 200:1).
    max_image_bytes : int
        Decoded size of one image (rows x columns x frames x samples x bytes per sample).
    max_series_bytes : int
        Decoded size of one CT series (all its slices).
    """

    max_file_bytes: int = 512 << 20
    max_header_bytes: int = 64 << 20
    max_reads: int = 100_000
    max_inflated_bytes: int = 256 << 20
    max_inflate_ratio: float = 200.0
    max_image_bytes: int = 256 << 20
    max_series_bytes: int = 384 << 20

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class _Stop(Exception):
    """Raised inside a parse when a bound is reached."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class BoundedReader(io.RawIOBase):
    """A read-only, seekable file wrapper that stops a parse at a byte position or a number of reads.

    A forward seek (how pydicom skips a value it was not asked for, see
    ``specific_tags`` of :func:`read_dataset`) counts as a read of the bytes
    skipped: the same bounds, reasons and read count as reading them.

    Parameters
    ----------
    raw : binary file object
    max_pos : int or None
        Raise when a read would go past this position.
    max_reads : int
        Raise after this many read calls.
    name : str
        Reported as ``name`` (pydicom records it).
    size : int or None
        Size of ``raw``: a read or skip past it is reported as ``unreadable_header``.
    """

    def __init__(self, raw, max_pos: int | None, max_reads: int, name: str = "", size: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._size = size
        self._max_pos = max_pos
        self._reads_left = max_reads
        self._pos = raw.tell()  # kept here: one tell() of the raw file per read costs as much as the read
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _check(self, size: int | None) -> None:
        self._reads_left -= 1
        if self._reads_left < 0:
            raise _Stop("header_too_large", "too many elements (read-call limit reached)")
        if self._max_pos is not None and (size is None or size < 0 or self._pos + size > self._max_pos):
            if self._size is not None and size is not None and self._pos + size > self._size:
                raise _Stop("unreadable_header", "an element's length runs past the end of the file")
            raise _Stop("header_too_large", f"header longer than {self._max_pos} bytes")

    def read(self, size: int = -1) -> bytes:
        self._check(size)
        data = self._raw.read(size)
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0 and offset > self._pos:  # a skip: bounded like a read of what it skips
            self._check(offset - self._pos)
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def check_path(path: str | os.PathLike, root: str | os.PathLike | None, limits: Limits = Limits(),
               follow_symlinks: bool = False) -> None:
    """Raise :class:`ReasonError` unless ``path`` is a regular file inside ``root`` within the size limit.

    ``os.lstat``/``os.stat`` never open the file, so a FIFO or a device is
    refused without blocking.
    """
    p = Path(path)
    try:
        lst = os.lstat(p)
    except OSError as e:
        raise ReasonError("not_regular_file", f"{p}: cannot stat ({e.strerror})") from None
    if stat.S_ISLNK(lst.st_mode):
        if not follow_symlinks and root is not None:
            real = os.path.realpath(p)
            base = os.path.realpath(root)
            if not (real == base or real.startswith(base.rstrip(os.sep) + os.sep)):
                raise ReasonError("symlink_outside_input", f"{p}: symbolic link to {real}, outside {base}; "
                                  "pass --follow-symlinks to read it")
        try:
            st = os.stat(p)
        except OSError:
            raise ReasonError("not_regular_file", f"{p}: broken symbolic link") from None
    else:
        st = lst
    if not stat.S_ISREG(st.st_mode):
        kind = ("FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode)
                else "device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a file")
        raise ReasonError("not_regular_file", f"{p}: {kind}; not read")
    if st.st_size > limits.max_file_bytes:
        raise ReasonError("file_too_large", f"{p}: {st.st_size} bytes, above the limit of {limits.max_file_bytes}")


def _inflate(fp, limits: Limits, deflated_size: int, path: str) -> bytes:
    """Inflate the rest of ``fp`` (raw deflate), refusing past the size or ratio limit."""
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    cap = min(limits.max_inflated_bytes, int(max(deflated_size, 1) * limits.max_inflate_ratio))
    out = bytearray()
    while True:
        chunk = fp.read(1 << 16)
        if not chunk:
            break
        data = chunk
        while data:
            piece = d.decompress(data, cap + 1 - len(out))
            out += piece
            if len(out) > cap:
                raise ReasonError("decompressed_too_large",
                                  f"{path}: deflated dataset inflates past {cap} bytes "
                                  f"({deflated_size} bytes deflated; limits {limits.max_inflated_bytes} bytes, "
                                  f"ratio {limits.max_inflate_ratio:g})", ("TransferSyntaxUID",))
            data = d.unconsumed_tail
    out += d.flush()
    if len(out) > cap:
        raise ReasonError("decompressed_too_large", f"{path}: deflated dataset inflates past {cap} bytes",
                          ("TransferSyntaxUID",))
    return bytes(out)


def read_dataset(path: str | os.PathLike, limits: Limits = Limits(), stop_before_pixels: bool = False,
                 specific_tags: list | None = None):
    """Read a DICOM file with pydicom within ``limits``.

    With ``specific_tags`` (keywords or tags of the top-level dataset) only
    those elements are kept; the others are skipped, not parsed (a
    defined-length sequence is not walked), each skip bounded like a read
    (:class:`BoundedReader`).  Discovery reads headers this way: a header is
    then parsed in full once, by the worker that converts the file.

    Raises
    ------
    ReasonError
        ``header_too_large``, ``decompressed_too_large`` (bounds reached) or
        ``not_dicom`` / ``unreadable_header`` (pydicom could not parse it).
    """
    import pydicom
    from pydicom.dataset import FileDataset
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.filereader import read_dataset as _read_body

    path = str(path)
    size = os.path.getsize(path)
    max_pos = limits.max_header_bytes if stop_before_pixels else None
    try:
        with open(path, "rb") as raw:
            fp = BoundedReader(raw, max_pos, limits.max_reads, name=path, size=size)
            ts = None
            try:  # peek at the file meta: a deflated dataset is inflated here, within bounds
                preamble = read_preamble(fp, False)
                meta = _read_file_meta_info(fp)
                ts = str(meta.get("TransferSyntaxUID", "") or "")
            except Exception:
                preamble, meta = None, None
            if ts == DEFLATED:
                body_start = fp.tell()
                inflated = _inflate(raw, limits, size - body_start, path)
                buf = BoundedReader(io.BytesIO(inflated), None, limits.max_reads, name=path)

                def _at_pixels(tag, vr, length) -> bool:
                    return stop_before_pixels and int(tag) >= 0x7FE00010

                body = _read_body(buf, is_implicit_VR=False, is_little_endian=True, stop_when=_at_pixels,
                                  specific_tags=_tags(specific_tags))
                ds = FileDataset(path, body, preamble=preamble, file_meta=meta, is_implicit_VR=False,
                                 is_little_endian=True)
                return ds
            fp.seek(0)
            ds = pydicom.dcmread(fp, stop_before_pixels=stop_before_pixels, specific_tags=specific_tags)
            if stop_before_pixels:  # where the Pixel Data element starts: to tell an intact copy from a cut one
                ds._covidbank_pixel_complete = _pixel_data_complete(raw, fp.tell(), size, ds)
            return ds
    except ReasonError:
        raise
    except _Stop as e:
        raise ReasonError(e.code, f"{path}: {e}") from None
    except InvalidDicomError:
        raise ReasonError("not_dicom", f"{path}: no DICM preamble and not parseable as DICOM") from None
    except MemoryError:
        raise ReasonError("out_of_memory", f"{path}: out of memory while reading") from None
    except Exception as e:  # truncated/corrupt headers raise many types
        raise ReasonError("unreadable_header", f"{path}: {type(e).__name__}: {e}") from None


def _tags(specific_tags: list | None) -> list | None:
    """``specific_tags`` as tags (pydicom's ``read_dataset`` takes no keywords)."""
    if not specific_tags:
        return None
    from pydicom.tag import Tag

    return [Tag(t) for t in specific_tags]


def _pixel_data_complete(raw, pos: int, size: int, ds) -> bool:
    """Whether the Pixel Data element starting at ``pos`` ends within the file (encapsulated: its
    sequence delimiter is there).  A file without pixel data counts as complete."""
    import struct

    if pos >= size:
        return True
    raw.seek(pos)
    head = raw.read(12)
    little = getattr(ds, "is_little_endian", True) is not False
    implicit = bool(getattr(ds, "is_implicit_VR", False))
    end = "<" if little else ">"
    if len(head) < 8:
        return False
    group, elem = struct.unpack(end + "HH", head[:4])
    if (group, elem) != (0x7FE0, 0x0010):
        return True  # not pixel data where the header ended: nothing to judge
    if implicit:
        length, hlen = struct.unpack(end + "I", head[4:8])[0], 8
    elif head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"UT", b"SQ", b"UC", b"UR"):
        length, hlen = struct.unpack(end + "I", head[8:12])[0], 12
    else:
        length, hlen = struct.unpack(end + "H", head[6:8])[0], 8
    if length == 0xFFFFFFFF:  # encapsulated: the sequence delimitation item must be in the file
        raw.seek(max(pos, size - 1024))
        return (b"\xfe\xff\xdd\xe0" if little else b"\xff\xfe\xe0\xdd") in raw.read(1024)
    return pos + hlen + length <= size


def decoded_bytes(ds) -> int:
    """Decoded pixel size of a dataset from its header (rows x columns x frames x samples x bytes)."""
    def _i(kw, default=1):
        try:
            return max(int(ds.get(kw, default) or default), 0)
        except (TypeError, ValueError):
            return default

    return _i("Rows", 0) * _i("Columns", 0) * _i("NumberOfFrames") * _i("SamplesPerPixel") * max(1, (_i("BitsAllocated", 16) + 7) // 8)


def check_pixels(ds, limits: Limits = Limits(), path: str = "") -> int:
    """Raise :class:`ReasonError` (``image_too_large``) when the decoded image would exceed the limit; return its size."""
    n = decoded_bytes(ds)
    if n > limits.max_image_bytes:
        raise ReasonError("image_too_large", f"{path}: decoded image of {n} bytes above the limit of "
                          f"{limits.max_image_bytes}", ("Rows", "Columns", "NumberOfFrames"))
    return n
