"""Exact Hamming-radius search over 64-bit hashes by multi-index hashing.

Every pair ``(query, item)`` whose 64-bit hashes differ in at most ``radius``
bits, found without comparing all pairs: multi-index hashing (Norouzi, Punjani
and Fleet, "Fast search in Hamming space with multi-index hashing", CVPR 2012)
with the generalized pigeonhole principle (Qin et al., "GPH: Similarity search
in Hamming space", ICDE 2018).  The 64 bits are cut into ``m`` chunks with
thresholds ``t_c`` summing to ``radius - m + 1``; two hashes within ``radius``
bits agree within ``t_c`` bits on some chunk ``c`` (if every chunk differed
in ``t_c + 1`` bits or more, the total would exceed ``radius``).  Each chunk's
item values are sorted once; a query probes every value within ``t_c`` bits
of its own chunk value (an offset table of the sorted values), and the items found are
verified on all 64 bits.  A pair is kept only by the first chunk that can find
it, so it is reported once.  The result is exact: the same pairs and distances
as comparing all pairs, for any radius (a chunk whose probes would cost more
than reading every item is scanned whole, so radius 64 works too).

The number of chunks is chosen per call from the data: the probes and the
items they would return are counted on a sample of queries and items, for
every ``m`` from 1 to ``radius + 1`` (at most 16; one chunk scanned whole is
all pairs), and the cheapest is used.

Why by hand: no small, well-kept Python library does an exact radius search
on 64-bit codes.  ``faiss-cpu`` has binary indexes (``IndexBinaryFlat``,
``IndexBinaryMultiHash``) but is a large compiled dependency (tens of MB) for
this one search, and its multi-hash index is exact only with flip settings
matched to the radius; ``bktree`` and ``pybktree`` are pure-Python trees (one
Python call per node visited: slower than NumPy at these sizes);
``imagehash`` compares one pair at a time.  This module is NumPy only (sort,
offset tables or ``searchsorted``, ``np.bitwise_count``).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb
from typing import Iterator

import numpy as np

__all__ = ["BITS", "radius_pairs", "plan_chunks"]

#: Bits of a hash.
BITS = 64
#: Relative cost of one probe (a table look-up) against one verified item.
_PROBE_COST = 2.0
#: Relative cost of comparing one (query, item) pair when a chunk is scanned whole (a vectorized row).
_SCAN_COST = 0.2
#: Chunks of at most this many bits are looked up in an offset table, wider ones by binary search.
_TABLE_BITS = 24
#: Largest number of (query, item) pairs expanded at once (memory bound).
_MAX_HITS = 1 << 22
#: Searches of at most this many (query, item) pairs read them all.
_SMALL = 1 << 20
#: Largest number of probes searched at once.
_MAX_PROBES = 1 << 21


def _volume(bits: int, t: int) -> int:
    """Number of ``bits``-bit values within ``t`` bits of a given one."""
    return sum(comb(bits, i) for i in range(min(t, bits) + 1))


@lru_cache(maxsize=64)
def _masks(bits: int, t: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``t`` bits set (uint64)."""
    out = [0]
    for k in range(1, min(t, bits) + 1):
        for c in combinations(range(bits), k):
            out.append(sum(1 << i for i in c))
    return np.asarray(out, dtype=np.uint64)


def _chunks(m: int, radius: int) -> list[tuple[int, int, int]]:
    """``(shift, bits, threshold)`` of ``m`` chunks covering 64 bits; thresholds sum to ``radius - m + 1``."""
    sizes = [BITS // m + (1 if c < BITS % m else 0) for c in range(m)]
    total = radius - m + 1
    ts = [total // m + (1 if c < total % m else 0) for c in range(m)]
    out, shift = [], 0
    for b, t in zip(sizes, ts):
        out.append((shift, b, t))
        shift += b
    return out


class _Index:
    """One chunk's item values, sorted, with the range of each value: an offset table (``bits`` <= 24) or a
    binary search."""

    def __init__(self, vals: np.ndarray, bits: int):
        self.order = np.argsort(vals, kind="stable")
        self.table = bits <= _TABLE_BITS
        if self.table:
            counts = np.bincount(vals.astype(np.int64), minlength=1 << bits)
            self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        else:
            self.keys = vals[self.order]

    def ranges(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(first sorted position, count)`` of the items equal to each probe."""
        if self.table:
            p = probes.astype(np.int64)
            lo = self.starts[p]
            return lo, self.starts[p + 1] - lo
        lo = np.searchsorted(self.keys, probes, "left")
        return lo, np.searchsorted(self.keys, probes, "right") - lo


def _scans(bits: int, t: int, n_items: int) -> bool:
    """Whether reading every item is cheaper than probing the values within ``t`` bits."""
    return t >= bits or _PROBE_COST * _volume(bits, t) >= _SCAN_COST * n_items


def plan_chunks(queries: np.ndarray, items: np.ndarray, radius: int, *, sample: int = 512,
                seed: int = 0) -> list[tuple[int, int, int]]:
    """The cheapest chunking ``[(shift, bits, threshold), ...]`` for this search.

    The cost of each chunking (probes plus items returned) is counted on up to
    ``sample`` queries against up to ``64 * sample`` items and scaled up.
    """
    n_q, n_t = len(queries), len(items)
    if float(n_q) * n_t <= _SMALL:
        return [(0, BITS, radius)]  # a few thousand pairs: reading them all is cheapest
    rng = np.random.default_rng(seed)
    qs = queries if n_q <= sample else queries[rng.choice(n_q, sample, replace=False)]
    ts = items if n_t <= 64 * sample else items[rng.choice(n_t, 64 * sample, replace=False)]
    scale = (n_q / max(len(qs), 1)) * (n_t / max(len(ts), 1))
    best, best_cost = [(0, BITS, radius)], _SCAN_COST * n_q * n_t  # one chunk scanned whole: all pairs
    for m in range(1, min(radius + 1, 16) + 1):
        plan = _chunks(m, radius)
        # probes and scans alone (a lower bound): skip the counting when already dearer
        cost = sum(_SCAN_COST * n_q * n_t if _scans(b, t, n_t) else _PROBE_COST * n_q * _volume(b, t) for _, b, t in plan)
        if cost >= best_cost:
            continue
        cost = 0.0
        for shift, bits, t in plan:
            if _scans(bits, t, n_t):
                cost += _SCAN_COST * n_q * n_t
                continue
            mask = np.uint64((1 << bits) - 1)
            vals = (ts >> np.uint64(shift)) & mask
            few = qs[: max(16, _MAX_PROBES // _volume(bits, t))]  # fewer sampled queries when each probes much
            probes = (((few >> np.uint64(shift)) & mask)[:, None] ^ _masks(bits, t)[None, :]).ravel()
            if bits <= _TABLE_BITS:
                hits = np.bincount(vals.astype(np.int64), minlength=1 << bits)[probes.astype(np.int64)]
            else:
                keys = np.sort(vals)
                hits = np.searchsorted(keys, probes, "right") - np.searchsorted(keys, probes, "left")
            cost += _PROBE_COST * n_q * _volume(bits, t) + scale * len(qs) / len(few) * float(hits.sum())
        if cost < best_cost:
            best, best_cost = plan, cost
    return best


def radius_pairs(queries: np.ndarray, items: np.ndarray, radius: int, *,
                 chunks: list[tuple[int, int, int]] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every ``(query index, item index, distance)`` with ``popcount(q ^ t) <= radius``.

    Parameters
    ----------
    queries, items : numpy.ndarray
        1-D ``uint64`` hashes.
    radius : int
        Max Hamming distance (any integer; negative finds nothing, 64 or more finds every pair).
    chunks : list of (shift, bits, threshold), optional
        The chunking (default: :func:`plan_chunks`); thresholds must sum to at
        least ``radius - len(chunks) + 1`` for the result to be exact.

    Yields
    ------
    tuple of numpy.ndarray
        Blocks of query indices (int64), item indices (int64) and distances
        (uint8); each pair within ``radius`` appears in exactly one block, once.
        Memory is bounded by the block size, not by the number of pairs.
    """
    queries = np.ascontiguousarray(queries, dtype=np.uint64)
    items = np.ascontiguousarray(items, dtype=np.uint64)
    n_q, n_t = len(queries), len(items)
    if radius < 0 or n_q == 0 or n_t == 0:
        return
    plan = chunks if chunks is not None else plan_chunks(queries, items, radius)
    # a pair is kept by the first chunk (in plan order) that finds it
    earlier: list[tuple[np.uint64, int]] = []
    for shift, bits, t in plan:
        mask = np.uint64((1 << bits) - 1)
        if _scans(bits, t, n_t):  # every item, a block of queries at a time (all pairs)
            yield from _scan(queries, items, radius, earlier)
            earlier.append((mask << np.uint64(shift), bits))  # nothing is left for later chunks
            continue
        index = _Index((items >> np.uint64(shift)) & mask, bits)
        ordered = items[index.order]  # items in chunk order: each probe's items are contiguous
        masks = _masks(bits, t)
        block = max(1, _MAX_PROBES // len(masks))
        for q0 in range(0, n_q, block):
            qb = queries[q0 : q0 + block]
            probes = (((qb >> np.uint64(shift)) & mask)[:, None] ^ masks[None, :]).ravel()
            lo, cnt = index.ranges(probes)
            nz = np.nonzero(cnt)[0]
            yield from _expand(queries, ordered, index.order, nz // len(masks) + q0, lo[nz], cnt[nz], radius, earlier)
        earlier.append((mask << np.uint64(shift), t))


def _later(x: np.ndarray, earlier) -> np.ndarray:
    """Which differences ``x`` no earlier chunk finds (each pair is reported by the first chunk that finds it)."""
    keep = np.ones(len(x), dtype=bool)
    for cmask, ct in earlier:
        keep &= np.bitwise_count(x & cmask) > ct
    return keep


def _scan(queries, items, radius, earlier):
    """Every (query, item) pair compared, ``_MAX_HITS`` at a time."""
    block = max(1, _MAX_HITS // len(items))
    for q0 in range(0, len(queries), block):
        for t0 in range(0, len(items), _MAX_HITS):
            x = queries[q0 : q0 + block, None] ^ items[None, t0 : t0 + _MAX_HITS]
            q, it = np.nonzero(np.bitwise_count(x) <= radius)
            x = x[q, it]
            if len(earlier):
                keep = _later(x, earlier)
                q, it, x = q[keep], it[keep], x[keep]
            if len(q):
                yield q + q0, it + t0, np.bitwise_count(x)


def _expand(queries, ordered, order, qidx, lo, cnt, radius, earlier):
    """Verify the items of each ``(query, sorted range)`` in pieces of at most ``_MAX_HITS`` pairs."""
    if not len(cnt):
        return
    idx = np.int32 if len(ordered) < 2**31 - _MAX_HITS else np.int64
    lo, cnt = lo.astype(idx), cnt.astype(idx)
    ends = np.cumsum(cnt, dtype=np.int64)
    start = 0
    while start < len(cnt):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + _MAX_HITS, "right")), start + 1)
        c = cnt[start:stop]
        last = ends[start:stop] - base  # end of each range in this piece
        pos = np.repeat(lo[start:stop] - (last - c).astype(idx), c) + np.arange(int(last[-1]), dtype=idx)
        x = np.repeat(queries[qidx[start:stop]], c) ^ ordered[pos]
        keep = np.nonzero(np.bitwise_count(x) <= radius)[0]
        pos, x = pos[keep], x[keep]
        q = qidx[start:stop][np.searchsorted(last, keep, "right")]
        if len(earlier):
            later = _later(x, earlier)
            q, pos, x = q[later], pos[later], x[later]
        if len(q):
            yield q, order[pos], np.bitwise_count(x)
        start = stop
