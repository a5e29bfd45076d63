"""Disjoint sets (union-find) with path halving, for grouping linked records.

Used for patient-level split units (subjects linked by duplicates or a group
column) and for duplicate-image groups.  The root of a set is always its
smallest member, so a group's name is deterministic whatever the order of the
unions.  Written by hand: ten lines, and neither SciPy's
``DisjointSet`` (SciPy is not a core dependency) nor networkx is worth an
import here.
"""
from __future__ import annotations

from typing import Generic, Hashable, Iterable, TypeVar

__all__ = ["UnionFind"]

T = TypeVar("T", bound=Hashable)


class UnionFind(Generic[T]):
    """Disjoint sets over ``items``; members must be mutually comparable.

    Examples
    --------
    >>> uf = UnionFind(["c", "a", "b"])
    >>> uf.union("c", "b")
    'b'
    >>> uf.find("c")
    'b'
    >>> uf.groups()
    {'a': ['a'], 'b': ['b', 'c']}
    """

    def __init__(self, items: Iterable[T] = ()) -> None:
        self.parent: dict[T, T] = {x: x for x in items}

    def add(self, x: T) -> None:
        """Add ``x`` as a set of its own (no-op when present)."""
        self.parent.setdefault(x, x)

    def find(self, x: T) -> T:
        """The root (smallest member) of ``x``'s set."""
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: T, b: T) -> T:
        """Merge the sets of ``a`` and ``b``; return the new root (the smaller one)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return ra

    def groups(self, min_size: int = 1) -> dict[T, list[T]]:
        """Root -> sorted members, for sets with at least ``min_size`` members."""
        out: dict[T, list[T]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), []).append(x)
        return {r: sorted(m) for r, m in sorted(out.items()) if len(m) >= min_size}
