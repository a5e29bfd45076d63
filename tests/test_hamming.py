"""Exact Hamming-radius search (multi-index hashing) against comparing all pairs."""
from __future__ import annotations

import numpy as np
import pytest

from covidbank import hamming
from covidbank.hamming import plan_chunks, radius_pairs


@pytest.fixture(autouse=True)
def _no_small_shortcut(monkeypatch):
    """Plan every search (small searches would otherwise read all pairs)."""
    monkeypatch.setattr(hamming, "_SMALL", 0)


def _all_pairs(q: np.ndarray, t: np.ndarray, r: int) -> set[tuple[int, int, int]]:
    d = np.bitwise_count(q[:, None] ^ t[None, :])
    a, b = np.nonzero(d <= r)
    return {(int(x), int(y), int(d[x, y])) for x, y in zip(a, b)}


def _found(q, t, r, **kw) -> list[tuple[int, int, int]]:
    out = []
    for a, b, d in radius_pairs(q, t, r, **kw):
        out += zip(a.tolist(), b.tolist(), d.tolist())
    return out


def _random(rng, n):
    return rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)


def _flip(rng, h, bits):
    """``h`` with ``bits`` random bits flipped (per row)."""
    out = h.copy()
    for i, k in enumerate(bits):
        for b in rng.choice(64, int(k), replace=False):
            out[i] ^= np.uint64(1) << np.uint64(b)
    return out


def _clustered(rng, n, spread=4):
    """Hashes around a few centres, as chest radiographs are (many within 12 bits of each other)."""
    centres = _random(rng, 3)
    return _flip(rng, centres[rng.integers(0, 3, n)], rng.integers(0, spread + 1, n))


@pytest.mark.parametrize("radius", [0, 1, 3, 6, 12, 20, 64])
def test_same_pairs_as_all_pairs_on_clustered_and_random_hashes(radius):
    rng = np.random.default_rng(radius)
    q = np.concatenate([_clustered(rng, 300), _random(rng, 200)])
    t = np.concatenate([_flip(rng, q, rng.integers(0, 9, len(q))), _clustered(rng, 700), _random(rng, 300)])
    got = _found(q, t, radius)
    if radius >= 1:  # a forced chunking too (on hashes this clustered the plan may read all pairs)
        forced = _found(q, t, radius, chunks=hamming._chunks(min(radius + 1, 5), radius))
        assert sorted(forced) == sorted(got)
    assert len(got) == len(set(got)), "a pair reported twice"
    assert set(got) == _all_pairs(q, t, radius)


@pytest.mark.parametrize("m", [2, 4, 7, 13])
def test_every_chunking_is_exact(m):
    """Forced chunkings (not the planned one): the pigeonhole thresholds make each exact."""
    rng = np.random.default_rng(m)
    q = _clustered(rng, 400, spread=8)
    t = np.concatenate([_flip(rng, q, rng.integers(0, 14, len(q))), _random(rng, 400)])
    got = _found(q, t, 12, chunks=hamming._chunks(m, 12))
    assert len(got) == len(set(got)) and set(got) == _all_pairs(q, t, 12)


def test_planned_chunking_is_not_all_pairs_on_a_large_search():
    rng = np.random.default_rng(0)
    q = _random(rng, 4000)
    plan = plan_chunks(q, np.concatenate([q, _random(rng, 40000)]), 12)
    assert len(plan) > 1 and all(b < 64 for _, b, _ in plan)
    assert sum(t for _, _, t in plan) == 12 - len(plan) + 1


def test_a_missed_pair_is_detected():
    """The oracle sees a pair dropped by a chunking whose thresholds are too low."""
    rng = np.random.default_rng(1)
    q = _random(rng, 50)
    t = _flip(rng, q, np.full(50, 12))  # every pair exactly 12 bits apart
    exact = _found(q, t, 12, chunks=hamming._chunks(4, 12))
    assert sorted(exact) == [(i, i, 12) for i in range(50)]
    too_low = [(s, b, 0) for s, b, _ in hamming._chunks(4, 12)]  # thresholds sum to 0 < 12 - 4 + 1
    assert set(_found(q, t, 12, chunks=too_low)) != _all_pairs(q, t, 12)


def test_edge_cases():
    rng = np.random.default_rng(2)
    q = _random(rng, 5)
    empty = np.zeros(0, dtype=np.uint64)
    assert _found(empty, q, 12) == [] and _found(q, empty, 12) == []
    assert _found(q, q, -1) == []
    assert set(_found(q, q, 0)) == {(i, i, 0) for i in range(5)} | _all_pairs(q, q, 0)
    assert len(_found(q, q, 64)) == 25 and len(_found(q, q, 100)) == 25
    ones = np.array([2**64 - 1], dtype=np.uint64)
    assert _found(ones, np.zeros(1, dtype=np.uint64), 64) == [(0, 0, 64)]
    assert _found(ones, np.zeros(1, dtype=np.uint64), 63) == []


def test_blocks_bound_memory(monkeypatch):
    """Results come in blocks of at most the block size and are the same."""
    rng = np.random.default_rng(3)
    q = _clustered(rng, 500)
    t = np.concatenate([_flip(rng, q, rng.integers(0, 9, 500)), q, q, q])
    whole = sorted(_found(q, t, 12))
    assert len(whole) > 10000
    monkeypatch.setattr(hamming, "_MAX_HITS", 1000)
    monkeypatch.setattr(hamming, "_MAX_PROBES", 500)
    blocks = list(radius_pairs(q, t, 12, chunks=hamming._chunks(4, 12)))
    assert max(len(a) for a, _, _ in blocks) <= 1000
    assert sorted(x for a, b, d in blocks for x in zip(a.tolist(), b.tolist(), d.tolist())) == whole
