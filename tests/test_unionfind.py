"""covidbank.unionfind: one disjoint-set implementation for splits and duplicates."""
from __future__ import annotations

import random

from covidbank.unionfind import UnionFind


def test_root_is_the_smallest_member_whatever_the_order():
    pairs = [(5, 9), (9, 2), (7, 8), (2, 7), (11, 12)]
    for seed in range(5):
        random.Random(seed).shuffle(pairs)
        uf = UnionFind(range(13))
        for a, b in pairs:
            uf.union(a, b)
        assert uf.find(9) == 2 and uf.find(8) == 2 and uf.find(12) == 11
        assert uf.groups(min_size=2) == {2: [2, 5, 7, 8, 9], 11: [11, 12]}


def test_groups_include_singletons_by_default():
    uf = UnionFind(["b", "a"])
    assert uf.groups() == {"a": ["a"], "b": ["b"]}
