"""Leak-free train/validation/test splits written into the bank.

A split assigns *units* to sides.  A unit is a set of patients that must stay
together: one patient (``--by patient``), joined with every patient who shares
a duplicate image group (bank table ``duplicates``) and, with ``--group-by``,
every patient who shares a value of that column (a site, a hospital).

Units are taken in an order fixed by ``sha256(seed:unit)`` and each goes to the
side furthest below its target ratio (counting images), per stratum when
``--stratify LABEL`` is given.  The same bank and seed therefore give the same
table, and a split is *sticky*: when the table already exists, every patient in
it keeps its side and only new patients are assigned (so adding sources never
moves a patient already split).

The table ``splits`` has one row per image: ``image_id``, ``subject_id``,
``source``, ``split``, ``unit``, ``stratum`` and the parameters (``seed``,
``by``, ``ratios``, ``group_by``, ``stratify``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .bank import Bank
from .errors import ArgumentError, SplitError
from .labels import LabelTree, default_tree
from .schema import POSITIVE
from .unionfind import UnionFind

__all__ = [
    "SPLIT_NAMES",
    "SplitResult",
    "LeakageReport",
    "make_split",
    "assign_sides",
    "write_split",
    "check_leakage",
    "label_matrix",
    "check_labels",
    "parse_ratios",
]

#: Default names of the sides, in the order of the ratios.
SPLIT_NAMES = ("train", "val", "test")
#: Aliases tried, in order, for ``--group-by site``.
SITE_COLUMNS = ("site", "location", "institution", "hospital")
SPLITS_TABLE = "splits"


def parse_ratios(text: str | Sequence[float]) -> tuple[float, ...]:
    """Parse ``"0.7,0.15,0.15"`` (or a sequence) into ratios summing to 1.

    Raises
    ------
    SplitError
        If a ratio is negative, they are not numbers, or they sum to 0.
    """
    try:
        vals = tuple(float(x) for x in (text.split(",") if isinstance(text, str) else text))
    except ValueError:
        raise SplitError(f"ratios {text!r}: give comma-separated numbers such as 0.7,0.15,0.15") from None
    if not vals or any(v < 0 for v in vals) or sum(vals) <= 0:
        raise SplitError(f"ratios {text!r}: need non-negative numbers with a positive sum")
    s = sum(vals)
    if abs(s - 1) > 1e-6 and abs(s - 100) > 1e-6:
        raise SplitError(f"ratios {text!r} sum to {s}: they must sum to 1 (or 100)")
    return tuple(v / s for v in vals)


@dataclass
class SplitResult:
    """A split table and what happened while making it."""

    table: pd.DataFrame
    kept: int = 0  # subjects whose existing side was kept
    new: int = 0  # subjects newly assigned
    moved: list[str] = field(default_factory=list)  # subjects moved to resolve a duplicate/site conflict

    def summary(self) -> pd.DataFrame:
        """Images and subjects per side (and stratum when stratified)."""
        t = self.table
        keys = ["split"] + (["stratum"] if (t["stratum"].fillna("") != "").any() else [])
        g = t.groupby(keys, dropna=False).agg(images=("image_id", "size"), subjects=("subject_id", "nunique"))
        g = g.reset_index()
        g["image_share"] = (g["images"] / len(t)).round(3) if len(t) else 0
        return g


def _hash_key(seed: int, unit: str) -> str:
    return hashlib.sha256(f"{seed}:{unit}".encode()).hexdigest()


def check_labels(bank: Bank, labels: Sequence[str], tree: LabelTree | None = None) -> None:
    """Raise :class:`ArgumentError` for a label neither the vocabulary nor the bank knows.

    The message lists the labels the bank's images have (preferred names), so
    ``labels=["Covid"]`` says ``COVID-19`` instead of giving all-NaN targets.
    """
    tree = tree or default_tree()
    unknown = [l for l in labels if tree.resolve(l) is None]
    if not unknown:
        return
    in_bank = set(bank.query("SELECT DISTINCT label FROM labels WHERE label IS NOT NULL")["label"])
    bad = [l for l in unknown if l not in in_bank]
    if bad:
        names = sorted({tree.resolve(x) or x for x in in_bank})
        raise ArgumentError(f"unknown label {', '.join(repr(l) for l in bad)}: labels of this bank are "
                            f"{', '.join(names) or 'none'} (`covidbank labels` lists the whole vocabulary)")


def assign_sides(units: Sequence[str], ratios: Sequence[float] | str, names: Sequence[str], seed: int = 0,
                 weight: Callable[[str], float] | None = None, stratum: Callable[[str], object] | None = None,
                 counts: dict[object, np.ndarray] | None = None) -> dict[str, str]:
    """Assign units (patients, groups of patients) to sides, reproducibly.

    Units are taken in the order of ``sha256(seed:unit)`` and each goes to the
    side furthest below its target share (of the units' weights, per stratum);
    ties go to the side with the larger target, then the first side.  The same
    units and seed always give the same sides, whatever order they come in.

    Parameters
    ----------
    units : sequence of str
    ratios : sequence of float or str
        Target shares (:func:`parse_ratios`).
    names : sequence of str
        Side names, one per ratio.
    seed : int
    weight : callable, optional
        unit -> weight (images, say); default 1 per unit.
    stratum : callable, optional
        unit -> stratum key; shares are balanced within each stratum.
    counts : dict, optional
        stratum -> weights already on each side (updated in place).

    Returns
    -------
    dict
        unit -> side name.

    Examples
    --------
    >>> sides = assign_sides([f"sub-{i}" for i in range(10)], (0.7, 0.3), ("rules", "validation"), seed=1)
    >>> sorted(sides.values()).count("rules")
    7
    """
    ratios = parse_ratios(ratios)
    names = tuple(names)
    if len(names) != len(ratios):
        raise SplitError(f"{len(ratios)} ratios but {len(names)} split names")
    target = np.asarray(ratios)
    counts = {} if counts is None else counts
    out: dict[str, str] = {}
    for u in sorted(units, key=lambda u: _hash_key(seed, u)):
        key = stratum(u) if stratum else None
        c = counts.setdefault(key, np.zeros(len(names)))
        w = weight(u) if weight else 1
        deficit = target * (c.sum() + w) - c
        i = int(np.lexsort((np.arange(len(names)), -target, -deficit))[0])
        c[i] += w
        out[u] = names[i]
    return out


def label_matrix(bank: Bank, image_ids: Sequence[str] | None, labels: Sequence[str], tree: LabelTree | None = None) -> pd.DataFrame:
    """Values of ``labels`` per image, with the hierarchy applied.

    A label is 1 when the image has it or any descendant positive, 0 when it
    or an ancestor is explicitly negative (and nothing makes it positive), -1
    when it or a descendant is uncertain (and nothing else decides), and NaN
    when the bank says nothing.

    Returns
    -------
    DataFrame
        Index ``image_id``, one float column per requested label.
    """
    tree = tree or default_tree()
    lab = bank.query("SELECT image_id, label, value FROM labels WHERE value IS NOT NULL")
    if image_ids is not None:
        lab = lab[lab["image_id"].isin(set(image_ids))]
        index = pd.Index(list(dict.fromkeys(image_ids)), name="image_id")
    else:
        index = pd.Index(sorted(set(lab["image_id"])), name="image_id")
    out = pd.DataFrame(index=index)
    norm = lab["label"].astype(str)
    for name in labels:
        if tree.resolve(name) is None:
            raise SplitError(f"unknown label {name!r}: see `covidbank labels` for the vocabulary")
        down = tree.names(name)
        up = set()
        for a in tree.ancestors(name):
            up |= tree.names(a, include_descendants=False)
        same_or_down = lab[norm.isin(down)]
        pos = set(same_or_down.loc[same_or_down["value"] == POSITIVE, "image_id"])
        unc = set(same_or_down.loc[same_or_down["value"] == -1, "image_id"])
        own = lab[norm.isin(tree.names(name, include_descendants=False) | up)]
        neg = set(own.loc[own["value"] == 0, "image_id"])
        col = pd.Series(np.nan, index=index, dtype="float64")
        col[col.index.isin(neg)] = 0.0
        col[col.index.isin(unc - neg)] = -1.0
        col[col.index.isin(pos)] = 1.0
        out[name] = col
    return out


def _group_column(bank: Bank, images: pd.DataFrame, column: str) -> pd.Series:
    """Values of ``column`` per image, looked up in images, sessions, then subjects."""
    cands = SITE_COLUMNS if column == "site" else (column,)
    for c in cands:
        if c in images.columns and images[c].notna().any():
            return images[c]
    for table, key in (("sessions", "session_id"), ("subjects", "subject_id")):
        t = bank.table(table)
        for c in cands:
            if c in t.columns and t[c].notna().any():
                m = t.dropna(subset=[key]).drop_duplicates(key).set_index(key)[c]
                return images[key].map(m)
    raise SplitError(
        f"--group-by {column}: no column {' / '.join(cands)} with values in images, sessions or subjects of bank {bank.path}"
    )


def _read_existing(bank: Bank) -> pd.DataFrame | None:
    if SPLITS_TABLE in bank.extra_tables():
        return bank.table(SPLITS_TABLE)
    return None


def make_split(
    bank: Bank,
    *,
    by: str = "patient",
    ratios: Sequence[float] | str = (0.7, 0.15, 0.15),
    names: Sequence[str] | None = None,
    seed: int = 0,
    stratify: str | None = None,
    group_by: str | None = None,
    sources: Sequence[str] | None = None,
    tree: LabelTree | None = None,
    fresh: bool = False,
    use_duplicates: bool = True,
    present_only: bool = False,
) -> SplitResult:
    """Compute a patient-level split of the bank's images (see module doc).

    Parameters
    ----------
    bank : Bank
    by : {"patient"}
        The unit kept whole.  Only patient-level splits are offered: any finer
        unit leaks patients.
    ratios : sequence of float or str
        Target share of images per side (``0.7,0.15,0.15``).
    names : sequence of str, optional
        Side names; default ``train, val, test`` (``train, test`` for two ratios).
    seed : int
    stratify : str, optional
        A label; units are balanced separately for positives (hierarchy
        applied) and the rest.
    group_by : str, optional
        Keep patients sharing this column's value together (``site``).
    sources : sequence of str, optional
        Only split these sources' images (the rest of an existing table is kept).
    tree : LabelTree, optional
    fresh : bool
        Ignore an existing ``splits`` table instead of extending it.
    use_duplicates : bool
        Join patients who share a duplicate group (table ``duplicates``).
    present_only : bool
        Split only images whose file is present (marked present and found on
        disk): the ratios then hold for what a dataset can load (Cohen's 141
        present X-rays give 122/7/12 when split with the 751 listed records).

    Raises
    ------
    SplitError
        On bad ratios, an unknown label or column, an existing table made with
        other parameters (unless ``fresh``), or no images.
    """
    if by not in ("patient", "subject"):
        raise SplitError(f"--by {by!r}: only 'patient' is supported (finer units leak patients)")
    ratios = parse_ratios(ratios)
    names = _side_names(ratios, names)
    images = _images_to_split(bank, sources, present_only, group_by)
    params = {"seed": int(seed), "by": "patient", "ratios": ",".join(f"{r:g}" for r in ratios),
              "group_by": group_by or "", "stratify": stratify or "", "names": ",".join(names),
              "present_only": "yes" if present_only else ""}
    existing = None if fresh else _read_existing(bank)
    if existing is not None and not len(existing):
        existing = None
    _check_same_params(bank, existing, params)
    images["unit"] = _units(bank, images, group_by, use_duplicates)
    images["stratum"] = _strata(bank, images, stratify, tree)
    res = SplitResult(table=pd.DataFrame())
    unit_side = _sides_kept(images, existing, res)
    _assign_new_units(images, unit_side, ratios, names, seed, res)
    images["split"] = images["unit"].map(unit_side)
    res.table = _split_table(images, params, existing, sources)
    return res


def _side_names(ratios: Sequence[float], names: Sequence[str] | None) -> tuple[str, ...]:
    """Side names: given, or ``train, val, test`` (``train, test`` for two ratios, ``splitN`` beyond three)."""
    if names is None:
        names = SPLIT_NAMES[: len(ratios)] if len(ratios) <= 3 else tuple(f"split{i}" for i in range(len(ratios)))
        if len(ratios) == 2:
            names = ("train", "test")
    names = tuple(names)
    if len(names) != len(ratios):
        raise SplitError(f"{len(ratios)} ratios but {len(names)} split names")
    return names


def _images_to_split(bank: Bank, sources: Sequence[str] | None, present_only: bool = False,
                     group_by: str | None = None) -> pd.DataFrame:
    """The bank's images (of ``sources``; only those whose file is present with ``present_only``),
    one row per image id; an image without a subject is its own subject.

    Only the columns a split reads unless ``group_by`` may name another one or ``present_only`` needs the
    paths (a million-row images table is read in a fraction of the time).
    """
    images = (bank.table("images") if group_by or present_only
              else bank.query("SELECT image_id, subject_id, source FROM images"))
    if sources:
        images = images[images["source"].isin(list(sources))]
    images = images.dropna(subset=["image_id"]).drop_duplicates("image_id").reset_index(drop=True)
    if present_only:
        import os

        flag = images["file_present"].fillna(False).astype(bool)
        on_disk = bank.resolve_paths(images)["path"].map(lambda p: isinstance(p, str) and os.path.isfile(p))
        images = images[flag & on_disk].reset_index(drop=True)
    if images.empty:
        raise SplitError(f"bank {bank.path} has no images to split" + (" whose file is present" if present_only else ""))
    images["subject_id"] = images["subject_id"].fillna("image:" + images["image_id"].astype(str))
    return images


def _check_same_params(bank: Bank, existing: pd.DataFrame | None, params: dict) -> None:
    """A split is extended only with the parameters it was made with."""
    if existing is None:
        return
    old = {k: str(existing[k].iloc[0]) if k in existing.columns else "" for k in params}
    old_params = {k: (v if v != "nan" and v != "<NA>" else "") for k, v in old.items()}
    if {k: str(v) for k, v in params.items()} != old_params:
        raise SplitError(
            f"bank {bank.path} already has a split made with {json.dumps(old_params)}; "
            f"rerun with the same parameters to extend it, or pass --fresh to replace it"
        )


def _units(bank: Bank, images: pd.DataFrame, group_by: str | None, use_duplicates: bool) -> list[str]:
    """The unit kept whole of each image: its patient, joined with patients sharing a ``group_by``
    value or a duplicate group (the unit is named by its smallest subject id)."""
    subjects = sorted(set(images["subject_id"].tolist()))  # tolist: iterating an Arrow column costs 20x
    uf = UnionFind(subjects)

    def join(ids) -> None:
        s = sorted(set(ids))
        for x in s[1:]:
            uf.union(s[0], x)

    if group_by:
        gv = _group_column(bank, images, group_by)
        for _, grp in images.assign(_g=gv.values).dropna(subset=["_g"]).groupby("_g")["subject_id"]:
            join(grp)
    if use_duplicates and "duplicates" in bank.extra_tables():
        dup = bank.table("duplicates")
        subj_of = images.set_index("image_id")["subject_id"]
        dup = dup[dup["image_id"].isin(subj_of.index)]
        for _, grp in dup.groupby("group_id")["image_id"]:
            join(subj_of.loc[list(grp)])
    return [uf.find(s) for s in images["subject_id"].tolist()]


def _strata(bank: Bank, images: pd.DataFrame, stratify: str | None, tree: LabelTree | None) -> pd.Series | str:
    """``label=1`` for units with a positive image of ``stratify`` (hierarchy applied), ``label!=1`` otherwise."""
    if not stratify:
        return ""
    lm = label_matrix(bank, images["image_id"].tolist(), [stratify], tree)
    pos = images["image_id"].map(lm[stratify]).eq(1.0)
    unit_pos = pos.groupby(images["unit"]).any()
    return images["unit"].map(lambda u: f"{stratify}=1" if unit_pos[u] else f"{stratify}!=1")


def _sides_kept(images: pd.DataFrame, existing: pd.DataFrame | None, res: SplitResult) -> dict[str, str]:
    """Sides of units with subjects split earlier (sticky splits).

    A duplicate or site group joining subjects split earlier keeps the side
    holding most of its images; the others move (and are reported in ``res.moved``).
    """
    unit_side: dict[str, str] = {}
    if existing is None:
        return unit_side
    ex = existing.dropna(subset=["subject_id", "split"])
    side_of_subject = ex.drop_duplicates("subject_id").set_index("subject_id")["split"].to_dict()
    # only units holding a subject split earlier, with their subjects and images per subject (no scan per unit)
    rows = images[images["unit"].isin(set(images.loc[images["subject_id"].isin(side_of_subject), "unit"]))]
    unit_subjects = {u: sorted(set(g)) for u, g in rows.groupby("unit")["subject_id"]}
    subject_images = rows.groupby("subject_id").size().to_dict()
    for u in sorted(unit_subjects):
        known = [s for s in unit_subjects[u] if s in side_of_subject]
        per_side: dict[str, int] = {}
        for s in known:
            per_side[side_of_subject[s]] = per_side.get(side_of_subject[s], 0) + subject_images[s]
        side = max(sorted(per_side), key=lambda k: per_side[k])  # most images; the first side name on a tie
        unit_side[u] = side
        for s in known:
            if side_of_subject[s] != side:
                res.moved.append(s)
            else:
                res.kept += 1
    return unit_side


def _assign_new_units(images: pd.DataFrame, unit_side: dict[str, str], ratios: Sequence[float],
                      names: tuple[str, ...], seed: int, res: SplitResult) -> None:
    """Give each unit not yet split the side furthest below its target share, per stratum, in keyed order."""
    by_unit = images.groupby("unit")
    unit_weight = by_unit.size().to_dict()  # plain dicts: units are looked up one by one below
    unit_nsub = by_unit["subject_id"].nunique().to_dict()
    strata = by_unit["stratum"].first().to_dict()

    def stratum(u):
        key = strata.get(u)
        return key if pd.notna(key) else None

    counts: dict[object, np.ndarray] = {}
    for u, side in unit_side.items():  # existing sides count first
        counts.setdefault(stratum(u), np.zeros(len(names)))[names.index(side)] += unit_weight[u]
    todo = [u for u in unit_weight if u not in unit_side]
    unit_side.update(assign_sides(todo, ratios, names, seed, weight=unit_weight.get, stratum=stratum, counts=counts))
    res.new += sum(unit_nsub[u] for u in todo)


def _split_table(images: pd.DataFrame, params: dict, existing: pd.DataFrame | None,
                 sources: Sequence[str] | None) -> pd.DataFrame:
    """The ``splits`` table: one row per image with its side, unit, stratum and the parameters."""
    cols = ["image_id", "subject_id", "source", "split", "unit", "stratum"]
    t = images[cols].copy()
    for k, v in params.items():
        t[k] = v
    if existing is not None and sources:
        # keep rows of sources not split this time
        rest = existing[~existing["image_id"].isin(set(t["image_id"]))]
        rest = rest[~rest["source"].isin(list(sources))]
        t = pd.concat([rest[t.columns.intersection(rest.columns)], t], ignore_index=True)
    t = t.sort_values("image_id", kind="mergesort").reset_index(drop=True)
    for c in ("image_id", "subject_id", "source", "split", "unit", "stratum", "by", "ratios", "group_by", "stratify", "names"):
        t[c] = t[c].astype("string")
    t["seed"] = t["seed"].astype("int64")
    return t


def write_split(bank: Bank, **kwargs) -> SplitResult:
    """:func:`make_split` and write the table ``splits`` into the bank."""
    res = make_split(bank, **kwargs)
    bank.write_table(SPLITS_TABLE, res.table)
    return res


@dataclass
class LeakageReport:
    """What :func:`check_leakage` found.

    Attributes
    ----------
    subject_leaks : DataFrame
        Subjects whose images are in more than one split.
    duplicate_leaks : DataFrame
        Duplicate groups whose images are in more than one split.
    group_leaks : DataFrame
        Values of the split's ``group_by`` column found in more than one split.
    unassigned : int
        Images of the bank missing from the split table (run ``covidbank split`` again).
    orphaned : int
        Rows of the split table whose image is no longer in the bank.
    """

    subject_leaks: pd.DataFrame
    duplicate_leaks: pd.DataFrame
    group_leaks: pd.DataFrame
    unassigned: int
    orphaned: int
    images: int
    subjects: int
    duplicate_groups: int

    @property
    def ok(self) -> bool:
        return self.subject_leaks.empty and self.duplicate_leaks.empty and self.group_leaks.empty

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "images": self.images,
            "subjects": self.subjects,
            "duplicate_groups_checked": self.duplicate_groups,
            "subjects_in_several_splits": self.subject_leaks.to_dict(orient="records"),
            "duplicate_groups_in_several_splits": self.duplicate_leaks.to_dict(orient="records"),
            "groups_in_several_splits": self.group_leaks.to_dict(orient="records"),
            "unassigned_images": self.unassigned,
            "orphaned_rows": self.orphaned,
        }


def _multi(df: pd.DataFrame, key: str) -> pd.DataFrame:
    g = df.dropna(subset=[key, "split"]).groupby(key)["split"].agg(lambda s: sorted(set(s)))
    g = g[g.map(len) > 1]
    return pd.DataFrame({key: g.index.astype(str), "splits": [",".join(v) for v in g.values]})


def check_leakage(bank: Bank) -> LeakageReport:
    """Prove that no subject, duplicate group or split group crosses sides.

    Subjects are taken from the bank's ``images`` table (not only from the
    split table), so a subject re-keyed after the split is checked too.

    Raises
    ------
    SplitError
        If the bank has no ``splits`` table.
    """
    if SPLITS_TABLE not in bank.extra_tables():
        raise SplitError(f"bank {bank.path} has no split: run `covidbank split {bank.path}` first")
    sp = bank.table(SPLITS_TABLE)
    images = bank.query("SELECT image_id, subject_id, source FROM images")
    side = sp.drop_duplicates("image_id").set_index("image_id")["split"]
    im = images.assign(split=images["image_id"].map(side))
    subj_rows = pd.concat(
        [im[["subject_id", "split"]], sp[["subject_id", "split"]]], ignore_index=True
    )
    subject_leaks = _multi(subj_rows, "subject_id")
    dup_leaks = pd.DataFrame(columns=["group_id", "splits"])
    ngroups = 0
    if "duplicates" in bank.extra_tables():
        dup = bank.table("duplicates")
        ngroups = int(dup["group_id"].nunique())
        d = dup.assign(split=dup["image_id"].map(side))
        dup_leaks = _multi(d, "group_id")
    group_leaks = pd.DataFrame(columns=["group", "splits"])
    gcol = str(sp["group_by"].dropna().iloc[0]) if "group_by" in sp.columns and sp["group_by"].notna().any() else ""
    if gcol:
        full = bank.table("images")
        full = full[full["image_id"].isin(side.index)].reset_index(drop=True)
        gv = _group_column(bank, full, gcol)
        g = pd.DataFrame({"group": gv.values, "split": full["image_id"].map(side).values})
        group_leaks = _multi(g, "group")
    return LeakageReport(
        subject_leaks=subject_leaks,
        duplicate_leaks=dup_leaks,
        group_leaks=group_leaks,
        unassigned=int(im["split"].isna().sum()),
        orphaned=int((~sp["image_id"].isin(set(images["image_id"]))).sum()),
        images=len(im),
        subjects=int(im["subject_id"].nunique()),
        duplicate_groups=ngroups,
    )
