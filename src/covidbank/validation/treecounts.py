"""BIMCV's ``tree_term_CUI_counts`` files: read them, and compare a bank's counts with them.

The file is the label tree printed with box-drawing characters, one node a
line::

    radiological finding [CUI:C0436485, counts:0, 4660]\\\\
    ├── unchanged [counts:521, 521]\\\\
    │   └── calcified mediastinal adenopathy [counts:0, 0]\\\\

``counts`` is the number of studies with the label itself and the second
number adds the children's second numbers (a node under two parents is
printed, and counted, under both).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import LabelError
from ..labels import LabelTree, normalize_label

__all__ = ["read_tree_counts", "tree_from_counts", "compare_tree_counts"]

_LINE = re.compile(
    r"^(?P<prefix>(?:[│ ]   |    )*(?:[├└]── )?)(?P<name>.+?)\s*\[(?:CUI:(?P<cui>C\d{7}),\s*)?counts:(?P<n>\d+),\s*(?P<nc>\d+)\]"
)


def read_tree_counts(path: str | Path) -> pd.DataFrame:
    """Parse a ``tree_term_CUI_counts`` file.

    Returns
    -------
    DataFrame
        ``label, cui, depth, parent, counts, n_with_children`` in file order.

    Raises
    ------
    LabelError
        When the file is missing or no line has the expected shape.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise LabelError(f"{p}: cannot read tree counts file ({e.strerror}); pass a tree_term_CUI_counts file") from None
    rows = []
    stack: list[str] = []
    bad = 0
    for line in text.splitlines():
        line = line.rstrip().removesuffix("\\\\").rstrip()
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            bad += 1
            continue
        depth = len(m.group("prefix")) // 4
        name = m.group("name").strip()
        del stack[depth:]
        parent = stack[-1] if stack else None
        stack.append(name)
        rows.append(
            {"label": name, "cui": m.group("cui"), "depth": depth, "parent": parent,
             "counts": int(m.group("n")), "n_with_children": int(m.group("nc"))}
        )
    if not rows:
        raise LabelError(f"{p}: no line of the form 'label [CUI:C..., counts:n, m]': not a tree_term_CUI_counts file")
    return pd.DataFrame(rows)


def tree_from_counts(ref: pd.DataFrame, tree: LabelTree | None = None) -> LabelTree:
    """A :class:`LabelTree` with the hierarchy of a parsed counts file (merged into ``tree``)."""
    t = tree if tree is not None else LabelTree()
    for r in ref.itertuples():
        t.add(r.label, r.cui if isinstance(r.cui, str) else None, r.parent if isinstance(r.parent, str) else None)
    return t


def compare_tree_counts(ours: pd.DataFrame, ref: pd.DataFrame, tree: LabelTree | None = None) -> pd.DataFrame:
    """Join a bank's tree counts (:func:`~covidbank.validation.stats.label_tree_counts`) with a reference file's.

    One row per label of the reference (first occurrence), with
    ``ref_counts, ref_n_with_children, counts, n_with_children`` and
    ``ratio = counts / ref_counts``; labels counted in the bank but absent
    from the reference are appended with null reference counts.  Labels are
    matched through ``tree`` when given (so ``COVID 19`` meets ``COVID-19``
    by CUI), else by normalized name.
    """

    def key(name: str) -> str:
        k = tree.resolve(name) if tree is not None else None
        return normalize_label(k if k is not None else name)

    r = ref.drop_duplicates("label").assign(key=lambda d: d["label"].map(key))
    o = ours.drop_duplicates("label").assign(key=lambda d: d["label"].map(key))
    o = o.drop_duplicates("key")
    m = r[["key", "label", "cui", "depth", "counts", "n_with_children"]].rename(
        columns={"counts": "ref_counts", "n_with_children": "ref_n_with_children"}
    ).merge(o[["key", "counts", "n_with_children"]], on="key", how="left")
    extra = o[~o["key"].isin(r["key"]) & (o["counts"] > 0)]
    if len(extra):
        m = pd.concat(
            [m, extra[["key", "label", "cui", "depth", "counts", "n_with_children"]].assign(ref_counts=pd.NA, ref_n_with_children=pd.NA)],
            ignore_index=True,
        )
    for c in ("ref_counts", "ref_n_with_children", "counts", "n_with_children"):
        m[c] = pd.to_numeric(m[c], errors="coerce").astype("Int64")
    m["ratio"] = (m["counts"].astype("Float64") / m["ref_counts"].astype("Float64").replace(0, pd.NA)).round(3)
    return m.drop(columns="key")[["label", "cui", "depth", "ref_counts", "counts", "ratio", "ref_n_with_children", "n_with_children"]]
