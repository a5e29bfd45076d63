"""Technical-validation statistics over a bank.

Every function takes a :class:`~covidbank.bank.Bank` and returns a plain
DataFrame; the report (:mod:`covidbank.validation.render`) turns them into tables
and figures.  Counting conventions follow the seed papers:

* a *session* (study) is counted once per modality it holds images of
  (BIMCV "sessions by modality"), so a session with CR and DX images counts in
  both rows;
* label tables count *positive* labels (value 1) as the source published them
  (origin ``source`` or ``report``); labels only implied by the hierarchy are
  left out unless asked for, as in BIMCV Table 6;
* the device table counts distinct sessions per ``Manufacturer Model`` (BIMCV
  Table 5).

Per-subject demographics use the ``subjects`` table when it has a value and
fall back to the subject's images otherwise; :data:`SEX_RULE` and
:data:`AGE_RULE` state the rules in the report.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd

from ..bank import Bank
from ..labels import LabelTree, normalize_label

__all__ = [
    "SEX_RULE",
    "AGE_RULE",
    "XRAY_MODALITIES",
    "counts_by_source",
    "counts_by_modality",
    "images_per_session",
    "sessions_per_subject",
    "subject_demographics",
    "sex_counts",
    "age_summary",
    "age_histogram",
    "photometric_counts",
    "vendor_table",
    "view_counts",
    "label_counts",
    "label_cooccurrence",
    "label_tree_counts",
    "test_counts",
    "days_to_closest_test",
    "ct_category_counts",
    "findings_by_view",
    "severity_scores",
    "severity_summary",
    "missing_files",
    "skipped_reasons",
    "missing_demographics",
    "excluded_images",
    "duplicate_summary",
    "leakage_summary",
]

#: Modalities counted as X-ray (photometric table, severity scores).
XRAY_MODALITIES = ("CR", "DX", "X-ray")

SEX_RULE = (
    "A subject's sex is the value in the subjects table; when that is empty, the most frequent value among "
    "the subject's images. Subjects whose images carry two different sexes are counted as `conflict` "
    "(and listed in the data-quality section) rather than guessed."
)
AGE_RULE = (
    "A subject's age is the value in the subjects table (age at the first study); when that is empty, the "
    "age on the subject's earliest image (smallest day offset, then youngest). Subjects whose image ages "
    "span more than 2 years are counted in the data-quality section."
)

_POSITIVE_ORIGINS = ("source", "report")


# --------------------------------------------------------------------- helpers
def _q(bank: Bank, sql: str) -> pd.DataFrame:
    return bank.query(sql)


def _has_table(bank: Bank, name: str) -> bool:
    return name in bank.extra_tables()


def _share(counts: pd.Series) -> pd.Series:
    tot = counts.sum()
    return (counts / tot).round(4) if tot else counts * 0.0


def _clean_text(v: object) -> str | None:
    """Strip the doubled quotes some DICOM exports keep (``"GE Healthcare"``)."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip().strip('"').strip()
    s = re.sub(r"\s+", " ", s)
    return s or None


def _hist(values: pd.Series, name: str, count_name: str) -> pd.DataFrame:
    vc = values.value_counts().sort_index()
    return pd.DataFrame({name: vc.index.astype(int), count_name: vc.values.astype(int)})


# ---------------------------------------------------------------------- counts
def counts_by_source(bank: Bank) -> pd.DataFrame:
    """Subjects, sessions, images and present files per source (and a total row)."""
    df = _q(
        bank,
        """
        SELECT source,
               count(DISTINCT subject_id) AS subjects,
               count(DISTINCT session_id) AS sessions,
               count(*) AS images,
               count(*) FILTER (WHERE file_present) AS files_present
        FROM images GROUP BY source ORDER BY source
        """,
    )
    if len(df) > 1:
        tot = _q(
            bank,
            """SELECT 'all' AS source, count(DISTINCT subject_id) AS subjects, count(DISTINCT session_id) AS sessions,
                      count(*) AS images, count(*) FILTER (WHERE file_present) AS files_present FROM images""",
        )
        df = pd.concat([df, tot], ignore_index=True)
    return df.astype({c: "int64" for c in ("subjects", "sessions", "images", "files_present")})


def counts_by_modality(bank: Bank) -> pd.DataFrame:
    """Subjects, sessions and images per source and modality.

    A session is counted under every modality it has images of (the way the
    BIMCV paper counts "sessions by modality").
    """
    df = _q(
        bank,
        """
        SELECT source, coalesce(modality, 'unknown') AS modality,
               count(DISTINCT subject_id) AS subjects,
               count(DISTINCT session_id) AS sessions,
               count(*) AS images
        FROM images GROUP BY 1, 2 ORDER BY 1, sessions DESC, 2
        """,
    )
    df["session_share"] = df.groupby("source")["sessions"].transform(lambda s: (s / s.sum()).round(4))
    return df


def images_per_session(bank: Bank) -> pd.DataFrame:
    """Histogram: how many sessions have 1, 2, ... images (per source)."""
    df = _q(
        bank,
        """
        SELECT source, n AS images_in_session, count(*) AS sessions FROM
          (SELECT source, session_id, count(*) AS n FROM images GROUP BY 1, 2)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
    )
    return df.astype({"images_in_session": "int64", "sessions": "int64"})


def sessions_per_subject(bank: Bank) -> pd.DataFrame:
    """Histogram: how many subjects have 1, 2, ... sessions (per source)."""
    df = _q(
        bank,
        """
        SELECT source, n AS sessions_of_subject, count(*) AS subjects FROM
          (SELECT source, subject_id, count(DISTINCT session_id) AS n FROM images GROUP BY 1, 2)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
    )
    return df.astype({"sessions_of_subject": "int64", "subjects": "int64"})


# ---------------------------------------------------------------- demographics
def subject_demographics(bank: Bank) -> pd.DataFrame:
    """One row per subject: ``source, subject_id, sex, age`` by :data:`SEX_RULE`
    and :data:`AGE_RULE`, plus ``sex_values`` (distinct sexes on its images),
    ``age_min`` / ``age_max`` over its images and ``images``."""
    img = _q(
        bank,
        "SELECT source, subject_id, sex, age, offset_days FROM images",
    )
    subj = _q(bank, "SELECT source, subject_id, sex AS subj_sex, age AS subj_age FROM subjects")
    subj = subj.drop_duplicates("subject_id")
    img["sex"] = img["sex"].astype("string").str.strip().str.upper().replace({"": pd.NA})
    g = img.groupby(["source", "subject_id"], sort=True)
    agg = g.agg(images=("subject_id", "size"), age_min=("age", "min"), age_max=("age", "max")).reset_index()
    sexes = (
        img.dropna(subset=["sex"])
        .groupby("subject_id")["sex"]
        .agg(lambda s: (s.value_counts().index[0] if s.nunique() == 1 else "conflict", s.nunique()))
    )
    agg["img_sex"] = agg["subject_id"].map(lambda k: sexes[k][0] if k in sexes.index else pd.NA)
    agg["sex_values"] = agg["subject_id"].map(lambda k: sexes[k][1] if k in sexes.index else 0).astype("int64")
    first = (
        img.dropna(subset=["age"])
        .sort_values(["subject_id", "offset_days", "age"], na_position="last")
        .drop_duplicates("subject_id")
        .set_index("subject_id")["age"]
    )
    agg["img_age"] = agg["subject_id"].map(first)
    # subjects listed without images still count
    extra = subj[~subj["subject_id"].isin(agg["subject_id"])].copy()
    if len(extra):
        extra = extra.assign(images=0, age_min=np.nan, age_max=np.nan, img_sex=pd.NA, sex_values=0, img_age=np.nan)
        agg = pd.concat([agg, extra[agg.columns]], ignore_index=True)
    agg = agg.merge(subj[["subject_id", "subj_sex", "subj_age"]], on="subject_id", how="left")
    ssex = agg["subj_sex"].astype("string").str.strip().str.upper().replace({"": pd.NA})
    agg["sex"] = ssex.fillna(agg["img_sex"].astype("string"))
    agg["age"] = pd.to_numeric(agg["subj_age"], errors="coerce").fillna(pd.to_numeric(agg["img_age"], errors="coerce"))
    out = agg[["source", "subject_id", "sex", "age", "sex_values", "age_min", "age_max", "images"]].copy()
    out["age"] = out["age"].astype("Float64")
    return out.sort_values(["source", "subject_id"]).reset_index(drop=True)


def sex_counts(bank: Bank, demo: pd.DataFrame | None = None) -> pd.DataFrame:
    """Subjects per source and sex (``F``, ``M``, ``unknown``, ``conflict``) with shares.

    ``share`` is over all subjects of the source; ``share_known`` over those of
    known sex (F or M).
    """
    demo = subject_demographics(bank) if demo is None else demo
    s = demo.assign(sex=demo["sex"].fillna("unknown").astype(str))
    df = s.groupby(["source", "sex"]).size().rename("subjects").reset_index()
    df["share"] = df.groupby("source")["subjects"].transform(lambda x: (x / x.sum()).round(4))
    known = df[df["sex"].isin(["F", "M"])].groupby("source")["subjects"].sum()
    df["share_known"] = [
        round(r.subjects / known.get(r.source, 0), 4) if r.sex in ("F", "M") and known.get(r.source, 0) else np.nan
        for r in df.itertuples()
    ]
    order = {"F": 0, "M": 1, "unknown": 2, "conflict": 3}
    df = df.sort_values(["source", "sex"], key=lambda c: c.map(order) if c.name == "sex" else c)
    return df.reset_index(drop=True)


def age_summary(bank: Bank, demo: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source: subjects with an age, missing, mean, SD (sample), min, median, max."""
    demo = subject_demographics(bank) if demo is None else demo
    rows = []
    for src, d in demo.groupby("source"):
        a = pd.to_numeric(d["age"], errors="coerce").astype(float).dropna()
        rows.append(
            {
                "source": src,
                "subjects_with_age": int(len(a)),
                "subjects_without_age": int(len(d) - len(a)),
                "mean": round(float(a.mean()), 2) if len(a) else np.nan,
                "sd": round(float(a.std(ddof=1)), 2) if len(a) > 1 else np.nan,
                "min": float(a.min()) if len(a) else np.nan,
                "median": float(a.median()) if len(a) else np.nan,
                "max": float(a.max()) if len(a) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["source", "subjects_with_age", "subjects_without_age", "mean", "sd", "min", "median", "max"])


def age_histogram(bank: Bank, width: int = 10, demo: pd.DataFrame | None = None) -> pd.DataFrame:
    """Subjects per source and age bin (``[0, 10)``, ``[10, 20)``, ...)."""
    demo = subject_demographics(bank) if demo is None else demo
    a = demo.assign(age=pd.to_numeric(demo["age"], errors="coerce").astype(float)).dropna(subset=["age"])
    if a.empty:
        return pd.DataFrame(columns=["source", "age_from", "age_to", "subjects"])
    a["age_from"] = (np.floor(a["age"] / width) * width).astype(int)
    df = a.groupby(["source", "age_from"]).size().rename("subjects").reset_index()
    df["age_to"] = df["age_from"] + width
    return df[["source", "age_from", "age_to", "subjects"]]


# ----------------------------------------------------------------- acquisition
def photometric_counts(bank: Bank, modalities: Iterable[str] = XRAY_MODALITIES) -> pd.DataFrame:
    """X-ray images per source and DICOM Photometric Interpretation, with shares."""
    mods = ", ".join("'" + m.replace("'", "''") + "'" for m in modalities)
    df = _q(
        bank,
        f"""SELECT source, coalesce(photometric, 'unknown') AS photometric, count(*) AS images
            FROM images WHERE modality IN ({mods}) GROUP BY 1, 2 ORDER BY 1, images DESC""",
    )
    df["share"] = df.groupby("source")["images"].transform(lambda s: (s / s.sum()).round(4))
    return df


def vendor_table(bank: Bank, modalities: Iterable[str] | None = None) -> pd.DataFrame:
    """Studies per device in the BIMCV Table 5 form.

    Returns one row per ``Manufacturer Model`` (manufacturer and model name
    joined by a space, surrounding quotes removed) with the number of distinct
    sessions (``studies``), images and the share of studies, most frequent
    first.  Images without manufacturer and model are left out.
    """
    where = ""
    if modalities is not None:
        where = "WHERE modality IN (" + ", ".join("'" + m + "'" for m in modalities) + ")"
    df = _q(bank, f"SELECT source, session_id, manufacturer, model FROM images {where}")
    man = [_clean_text(v) for v in df["manufacturer"]]
    mod = [_clean_text(v) for v in df["model"]]
    name = [" ".join(p for p in (a, b) if isinstance(p, str) and p) for a, b in zip(man, mod)]
    df = df.assign(**{"Manufacturer Model": name})
    df = df[df["Manufacturer Model"] != ""]
    out = (
        df.groupby("Manufacturer Model")
        .agg(studies=("session_id", "nunique"), images=("session_id", "size"), sources=("source", lambda s: ",".join(sorted(set(s)))))
        .reset_index()
        .sort_values(["studies", "Manufacturer Model"], ascending=[False, True])
        .reset_index(drop=True)
    )
    out["share"] = _share(out["studies"]) if len(out) else out["studies"]
    return out


def view_counts(bank: Bank) -> pd.DataFrame:
    """Images per source, modality and view/projection."""
    return _q(
        bank,
        """SELECT source, coalesce(modality, 'unknown') AS modality, coalesce(view, 'unknown') AS view,
                  count(*) AS images, count(DISTINCT session_id) AS sessions
           FROM images GROUP BY 1, 2, 3 ORDER BY 1, 2, images DESC""",
    )


# -------------------------------------------------------------------- findings
def _positive_labels(bank: Bank, include_implied: bool) -> pd.DataFrame:
    origins = "" if include_implied else "AND coalesce(l.origin, 'source') IN ('source', 'report')"
    df = _q(
        bank,
        f"""SELECT l.source, l.image_id, i.session_id, i.view, i.modality, l.label, l.cui
            FROM labels l JOIN images i ON l.image_id = i.image_id
            WHERE l.value = 1 {origins}""",
    )
    df["key"] = df["label"].map(normalize_label)
    return df


def _display_names(df: pd.DataFrame, tree: LabelTree | None = None) -> pd.DataFrame:
    """Most frequent spelling and CUI per normalized label key.

    With a ``tree``, a CUI the vocabulary gives to a *different* label is not
    shown (a source's CUI list misaligned with its label list), and labels
    without a CUI in the bank get the vocabulary's.
    """
    names = df.groupby("key")["label"].agg(lambda s: s.value_counts().index[0])
    cands = df.dropna(subset=["cui"]).groupby("key")["cui"].agg(lambda s: list(s.value_counts().index))
    cuis = {}
    for k, name in names.items():
        node = tree.resolve(name) if tree is not None else None
        chosen = None
        for c in cands.get(k, []):
            other = tree.resolve(c) if tree is not None else None
            if node is None or other is None or other == node:
                chosen = c
                break
        if chosen is None and tree is not None:
            chosen = tree.cui(name)
        cuis[k] = chosen
    return pd.DataFrame({"label": names, "cui": pd.Series(cuis, dtype="object").reindex(names.index)})


def label_counts(
    bank: Bank,
    unit: str = "session",
    include_implied: bool = False,
    by_source: bool = True,
    tree: LabelTree | None = None,
) -> pd.DataFrame:
    """Positive labels counted per ``session`` (BIMCV Table 6) or per ``image``.

    Label names are normalized (case, spacing, quotes) before counting, so
    `` normal`` and ``normal`` are one label; the most frequent spelling and
    CUI are shown.

    Parameters
    ----------
    unit : {"session", "image"}
        What one count is.
    include_implied : bool
        Count labels implied by the hierarchy (origin ``implied``) too.
    by_source : bool
        One block of rows per source (else all sources together).
    tree : LabelTree, optional
        Vocabulary giving the CUI of labels the bank stores without one.

    Returns
    -------
    DataFrame
        ``source, label, cui, <unit>s, share`` where ``share`` is the count over
        the number of units of the source, most frequent first.
    """
    if unit not in ("session", "image"):
        raise ValueError(f"unit must be 'session' or 'image', not {unit!r}")
    col = "session_id" if unit == "session" else "image_id"
    df = _positive_labels(bank, include_implied)
    totals = _q(bank, f"SELECT source, count(DISTINCT {col}) AS n FROM images GROUP BY 1").set_index("source")["n"]
    cname = unit + "s"
    if df.empty:
        return pd.DataFrame(columns=["source", "label", "cui", cname, "share"])
    if not by_source:
        df = df.assign(source="all")
        totals = pd.Series({"all": int(totals.sum())})
    names = _display_names(df, tree)
    out = df.groupby(["source", "key"])[col].nunique().rename(cname).reset_index()
    out = out.join(names, on="key")
    out["share"] = [round(c / totals.get(s, np.nan), 4) for s, c in zip(out["source"], out[cname])]
    out = out.sort_values(["source", cname, "label"], ascending=[True, False, True])
    return out[["source", "label", "cui", cname, "share"]].reset_index(drop=True)


def label_cooccurrence(bank: Bank, top: int = 15, unit: str = "session", source: str | None = None) -> pd.DataFrame:
    """Co-occurrence matrix of the ``top`` most frequent labels.

    Cell ``(a, b)`` is the number of units (sessions or images) positive for
    both ``a`` and ``b``; the diagonal holds each label's own count.
    """
    col = "session_id" if unit == "session" else "image_id"
    df = _positive_labels(bank, include_implied=False)
    if source is not None:
        df = df[df["source"] == source]
    if df.empty:
        return pd.DataFrame()
    names = _display_names(df)["label"]
    freq = df.groupby("key")[col].nunique().sort_values(ascending=False)
    keys = list(freq.index[:top])
    d = df[df["key"].isin(keys)].drop_duplicates([col, "key"])
    onehot = pd.crosstab(d[col], d["key"]).clip(upper=1)
    onehot = onehot.reindex(columns=keys, fill_value=0)
    m = onehot.T.dot(onehot)
    labels = [names[k] for k in keys]
    m.index = labels
    m.columns = labels
    return m.astype("int64")


def label_tree_counts(bank: Bank, tree: LabelTree, unit: str = "session", source: str | None = None) -> pd.DataFrame:
    """The label tree with counts, in the shape of BIMCV's ``tree_term_CUI_counts`` file.

    For each node (depth-first from the roots, children alphabetically; a node
    with two parents appears under both):

    * ``counts``: units with the label itself as published (no implied labels);
    * ``n_with_children``: ``counts`` plus the children's ``n_with_children``
      (BIMCV's definition: a sum along the tree, so a unit can count twice);
    * ``n_distinct``: units with the label or any descendant (what a search for
      the label finds).

    Labels of the bank that the tree does not know are listed at the end with
    depth 0 and ``in_tree`` false.
    """
    col = "session_id" if unit == "session" else "image_id"
    df = _positive_labels(bank, include_implied=False)
    if source is not None:
        df = df[df["source"] == source]
    df["node"] = df["label"].map(lambda s: tree.resolve(s))
    direct = df.dropna(subset=["node"]).groupby("node")[col].apply(set).to_dict()
    labs = {lab.name: lab for lab in tree}
    children: dict[str, list[str]] = {}
    for name, lab in labs.items():
        for p in lab.parents:
            children.setdefault(p, []).append(name)
    roots = sorted(n for n, lab in labs.items() if not lab.parents)
    memo: dict[str, tuple[int, set]] = {}

    def sub(n: str, stack: tuple = ()) -> tuple[int, set]:
        if n in memo:
            return memo[n]
        own = direct.get(n, set())
        total, units = len(own), set(own)
        for c in sorted(children.get(n, [])):
            if c in stack:
                continue
            t, u = sub(c, stack + (n,))
            total += t
            units |= u
        memo[n] = (total, units)
        return memo[n]

    rows = []

    def walk(n: str, depth: int, path: tuple) -> None:
        t, u = sub(n)
        rows.append(
            {"label": n, "aliases": "|".join(sorted(labs[n].aliases)), "cui": labs[n].cui, "depth": depth, "counts": len(direct.get(n, ())), "n_with_children": t,
             "n_distinct": len(u), "in_tree": True}
        )
        for c in sorted(children.get(n, [])):
            if c not in path:
                walk(c, depth + 1, path + (n,))

    for r in roots:
        walk(r, 0, ())
    unknown = df[df["node"].isna()]
    if not unknown.empty:
        names = _display_names(unknown)
        cnt = unknown.groupby("key")[col].nunique()
        for k, c in cnt.sort_values(ascending=False).items():
            rows.append(
                {"label": names.loc[k, "label"], "aliases": "", "cui": names.loc[k, "cui"], "depth": 0, "counts": int(c),
                 "n_with_children": int(c), "n_distinct": int(c), "in_tree": False}
            )
    out = pd.DataFrame(rows, columns=["label", "aliases", "cui", "depth", "counts", "n_with_children", "n_distinct", "in_tree"])
    out["cui"] = out["cui"].astype("string")
    out.insert(0, "tree", ["\u2003" * int(d) + ("└ " if d else "") + str(n) for n, d in zip(out["label"], out["depth"])])
    return out


# ------------------------------------------------------------ diagnostic tests
def test_counts(bank: Bank) -> pd.DataFrame:
    """Tests per source, type and result, with the number of subjects tested."""
    return _q(
        bank,
        """SELECT source, coalesce(test_type, 'unknown') AS test_type, coalesce(result, 'unknown') AS result,
                  count(*) AS tests, count(DISTINCT subject_id) AS subjects
           FROM tests GROUP BY 1, 2, 3 ORDER BY 1, 2, tests DESC""",
    )


def _days(date_a: pd.Series, date_b: pd.Series) -> pd.Series:
    a = pd.to_datetime(date_a, errors="coerce", format="mixed")
    b = pd.to_datetime(date_b, errors="coerce", format="mixed")
    return (b - a).dt.total_seconds() / 86400.0


def days_to_closest_test(bank: Bank, test_type: str | None = None) -> pd.DataFrame:
    """For each image, the signed days from the image to its subject's closest test.

    Positive means the test came after the image.  Day offsets are used when
    both the image and the test have one; otherwise the dates (when both
    parse).  Images of subjects without a dated test are left out.

    Returns
    -------
    DataFrame
        ``source, image_id, test_type, result, days, abs_days``.
    """
    img = _q(
        bank,
        """SELECT i.source, i.image_id, i.subject_id, i.offset_days AS img_off, s.date AS img_date
           FROM images i LEFT JOIN (SELECT DISTINCT session_id, date FROM sessions) s ON i.session_id = s.session_id""",
    )
    tst = _q(bank, "SELECT subject_id, test_type, result, date AS t_date, offset_days AS t_off FROM tests")
    cols = ["source", "image_id", "test_type", "result", "days", "abs_days"]
    if test_type is not None:
        tst = tst[tst["test_type"] == test_type]
    if tst.empty or img.empty:
        return pd.DataFrame(columns=cols)
    m = img.merge(tst, on="subject_id", how="inner")
    by_off = pd.to_numeric(m["t_off"], errors="coerce").astype(float) - pd.to_numeric(m["img_off"], errors="coerce").astype(float)
    m["days"] = by_off.fillna(_days(m["img_date"], m["t_date"]))
    m = m.dropna(subset=["days"])
    if m.empty:
        return pd.DataFrame(columns=cols)
    m["abs_days"] = m["days"].abs()
    m = m.sort_values(["image_id", "abs_days", "days"]).drop_duplicates("image_id")
    return m[cols].reset_index(drop=True)


# ---------------------------------------------------------- per-source details
def ct_category_counts(bank: Bank) -> pd.DataFrame:
    """Studies per source and CT severity category (MosMed's CT-0..CT-4)."""
    df = _q(
        bank,
        """SELECT i.source, coalesce(i.ct_category, s.ct_category) AS ct_category,
                  count(DISTINCT i.session_id) AS studies, count(*) AS images
           FROM images i LEFT JOIN (SELECT DISTINCT session_id, ct_category FROM sessions) s
                ON i.session_id = s.session_id
           WHERE coalesce(i.ct_category, s.ct_category) IS NOT NULL
           GROUP BY 1, 2 ORDER BY 1, 2""",
    )
    df["share"] = df.groupby("source")["studies"].transform(lambda s: (s / s.sum()).round(4))
    return df


def findings_by_view(bank: Bank, source: str | None = None, include_implied: bool = True) -> pd.DataFrame:
    """Positive images per label and view, the way torchxrayvision's
    ``COVID19_Dataset`` summarizes the COVID-19 Image Data Collection.

    Rows are labels (implied parents included, so ``Pneumonia`` counts every
    pneumonia), columns are views plus ``total``; the last row counts all
    images per view.
    """
    df = _positive_labels(bank, include_implied)
    img = _q(bank, "SELECT source, image_id, coalesce(view, 'unknown') AS view FROM images")
    if source is not None:
        df = df[df["source"] == source]
        img = img[img["source"] == source]
    if df.empty:
        return pd.DataFrame()
    df = df.assign(view=df["view"].fillna("unknown"))
    names = _display_names(df)["label"]
    d = df.drop_duplicates(["image_id", "key"])
    tab = pd.crosstab(d["key"].map(names), d["view"])
    order = img["view"].value_counts().index.tolist()
    tab = tab.reindex(columns=[v for v in order if v in tab.columns] + [v for v in tab.columns if v not in order], fill_value=0)
    tab["total"] = tab.sum(axis=1)
    tab = tab.sort_values("total", ascending=False)
    allrow = img["view"].value_counts().reindex(tab.columns[:-1], fill_value=0)
    tab.loc["(all images)"] = list(allrow.values) + [len(img)]
    tab.index.name = "label"
    tab.columns.name = None
    return tab.astype("int64").reset_index()


def severity_scores(bank: Bank) -> pd.DataFrame:
    """X-ray severity scores (geographic extent 0-8, opacity 0-6) of the images that have them."""
    return _q(
        bank,
        """SELECT source, image_id, severity_geographic_extent AS geographic_extent, severity_opacity AS opacity
           FROM images WHERE severity_geographic_extent IS NOT NULL OR severity_opacity IS NOT NULL
           ORDER BY 1, 2""",
    )


def severity_summary(bank: Bank) -> pd.DataFrame:
    """Per source and score: images scored, mean, SD, min, median, max."""
    sev = severity_scores(bank)
    rows = []
    for (src, d) in sev.groupby("source"):
        for score, hi in (("geographic_extent", 8), ("opacity", 6)):
            v = pd.to_numeric(d[score], errors="coerce").astype(float).dropna()
            if v.empty:
                continue
            rows.append({"source": src, "score": f"{score} (0-{hi})", "images": int(len(v)), "mean": round(float(v.mean()), 2),
                         "sd": round(float(v.std(ddof=1)), 2) if len(v) > 1 else np.nan, "min": float(v.min()),
                         "median": float(v.median()), "max": float(v.max())})
    return pd.DataFrame(rows, columns=["source", "score", "images", "mean", "sd", "min", "median", "max"])


# ----------------------------------------------------------------- data quality
def missing_files(bank: Bank) -> pd.DataFrame:
    """Images per source whose file is present, missing, or of unknown state."""
    return _q(
        bank,
        """SELECT source, count(*) AS images,
                  count(*) FILTER (WHERE file_present) AS present,
                  count(*) FILTER (WHERE file_present = false) AS missing,
                  count(*) FILTER (WHERE file_present IS NULL) AS unknown
           FROM images GROUP BY 1 ORDER BY 1""",
    )


def skipped_reasons(bank: Bank) -> pd.DataFrame:
    """Skipped records per source and reason (the text before the first ``:``)."""
    df = _q(bank, "SELECT source, reason FROM skipped")
    if df.empty:
        return pd.DataFrame(columns=["source", "reason", "records"])
    df["reason"] = df["reason"].fillna("unknown").astype(str).str.split(":").str[0].str.strip()
    return df.groupby(["source", "reason"]).size().rename("records").reset_index().sort_values(["source", "records"], ascending=[True, False]).reset_index(drop=True)


def missing_demographics(bank: Bank, demo: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source: images without sex / age, subjects without sex / age, and
    subjects whose images disagree on sex or span more than 2 years of age."""
    demo = subject_demographics(bank) if demo is None else demo
    img = _q(
        bank,
        """SELECT source, count(*) AS images,
                  count(*) FILTER (WHERE sex IS NULL OR trim(sex) = '') AS images_without_sex,
                  count(*) FILTER (WHERE age IS NULL) AS images_without_age
           FROM images GROUP BY 1 ORDER BY 1""",
    )
    s = demo.groupby("source").agg(
        subjects=("subject_id", "size"),
        subjects_without_sex=("sex", lambda x: int(x.isna().sum())),
        subjects_without_age=("age", lambda x: int(x.isna().sum())),
        subjects_sex_conflict=("sex", lambda x: int((x == "conflict").sum())),
    )
    span = (demo["age_max"].astype(float) - demo["age_min"].astype(float)) > 2
    s["subjects_age_span_over_2y"] = span.groupby(demo["source"]).sum().astype(int)
    return img.merge(s.reset_index(), on="source", how="outer").fillna(0)


def excluded_images(bank: Bank) -> pd.DataFrame:
    """Images the source marks for exclusion, per source and reason."""
    return _q(
        bank,
        """SELECT source, coalesce(exclude_reason, 'unspecified') AS reason, count(*) AS images
           FROM images WHERE exclude GROUP BY 1, 2 ORDER BY 1, images DESC""",
    )


_GROUP_COLS = ("group_id", "group", "duplicate_group", "dup_group", "cluster")


def _group_col(df: pd.DataFrame) -> str | None:
    for c in _GROUP_COLS:
        if c in df.columns:
            return c
    return None


def duplicate_summary(bank: Bank) -> pd.DataFrame | None:
    """Duplicate groups from the bank-wide ``duplicates`` table, or None when absent.

    Returns one row per group size: ``images_in_group``, ``groups``, and how
    many of those groups span more than one source.
    """
    if not _has_table(bank, "duplicates"):
        return None
    d = bank.table("duplicates")
    gc = _group_col(d)
    if gc is None or "image_id" not in d.columns:
        return pd.DataFrame({"note": [f"duplicates table has columns {list(d.columns)}: no group/image_id column"]})
    if "source" not in d.columns:
        d = d.assign(source=d["image_id"].astype(str).str.split(":").str[0])
    g = d.groupby(gc).agg(n=("image_id", "nunique"), sources=("source", "nunique"))
    out = g.groupby("n").agg(groups=("sources", "size"), cross_source=("sources", lambda s: int((s > 1).sum())))
    return out.reset_index().rename(columns={"n": "images_in_group"})


def leakage_summary(bank: Bank) -> pd.DataFrame | None:
    """Leakage across splits from the bank-wide ``splits`` table, or None when absent.

    Counts subjects found in more than one split and duplicate groups (when a
    ``duplicates`` table exists) whose images fall in more than one split.
    """
    if not _has_table(bank, "splits"):
        return None
    sp = bank.table("splits")
    if "split" not in sp.columns:
        return pd.DataFrame({"check": ["splits table"], "status": [f"no `split` column in {list(sp.columns)}"]})
    img = _q(bank, "SELECT image_id, subject_id FROM images")
    if "image_id" in sp.columns:
        # the images table's subject wins; the split table's own subject_id (`covidbank split` writes one)
        # fills images no longer in the bank
        own = ["subject_id"] if "subject_id" in sp.columns else []
        m = sp[["image_id", "split", *own]].drop_duplicates("image_id").merge(
            img, on="image_id", how="left", suffixes=("_split", ""))
        if own:
            m["subject_id"] = m["subject_id"].where(m["subject_id"].notna(), m.pop("subject_id_split"))
    elif "subject_id" in sp.columns:
        m = img.merge(sp[["subject_id", "split"]], on="subject_id", how="inner")
    else:
        return pd.DataFrame({"check": ["splits table"], "status": ["no image_id or subject_id column"]})
    rows = []
    per_subj = m.dropna(subset=["subject_id"]).groupby("subject_id")["split"].nunique()
    rows.append({"check": "subjects in more than one split", "count": int((per_subj > 1).sum()),
                 "of": int(len(per_subj))})
    counts = m.groupby("split")["image_id"].nunique()
    for k, v in counts.items():
        rows.append({"check": f"images in split {k}", "count": int(v), "of": int(len(m))})
    if _has_table(bank, "duplicates"):
        d = bank.table("duplicates")
        gc = _group_col(d)
        if gc and "image_id" in d.columns:
            dm = d[[gc, "image_id"]].merge(m[["image_id", "split"]], on="image_id", how="inner")
            per_g = dm.groupby(gc)["split"].nunique()
            rows.append({"check": "duplicate groups in more than one split", "count": int((per_g > 1).sum()),
                         "of": int(len(per_g))})
    out = pd.DataFrame(rows)
    out["status"] = ["LEAK" if (r.check.startswith(("subjects", "duplicate")) and r.count) else "ok" for r in out.itertuples()]
    return out
