"""The harmonized covidbank schema.

A bank holds a handful of tables; each source adapter, the DICOM ingest and the
report labeler produce rows for them.  This module is the single place that
says which tables exist, which columns they have, their types and meaning.

Identifiers (``subject_id``, ``session_id``, ``image_id``) are always prefixed
with the source name (``cohen:12``, ``bimcv:sub-S03809``) so that two datasets'
patient ``1`` never merge.

Label values are ``1`` positive, ``0`` negative, ``-1`` uncertain; a label that
is absent for an image is *unknown*.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pandas is imported where a frame is built: `covidbank query` starts without it
    import pandas as pd

__all__ = [
    "Column",
    "TABLES",
    "VIEWS",
    "VIEW_ENTITIES",
    "MODALITIES",
    "normalize_view",
    "view_entity",
    "POSITIVE",
    "NEGATIVE",
    "UNCERTAIN",
    "conform",
    "empty_table",
    "empty_select",
    "make_id",
    "schema_markdown",
]

POSITIVE = 1
NEGATIVE = 0
UNCERTAIN = -1

#: Views/projections covidbank knows; anything else becomes ``unknown`` (:func:`normalize_view`).
VIEWS = ("PA", "AP", "AP Supine", "L", "Decubitus", "Axial", "Coronal", "unknown")

#: The MIDS ``vp-`` entity of each radiograph view (file names written by ingest; read back the same).
VIEW_ENTITIES: dict[str, str] = {"PA": "pa", "AP": "ap", "AP Supine": "aps", "L": "ll", "Decubitus": "dec"}

# Every spelling met in sources, DICOM View Position (PS3.3 C.8.11.5: PA, AP, LL, RL, RLD, LLD, ...),
# MIDS entities and tables, upper-cased with '_' and '-' as spaces -> the covidbank view.
_VIEW_SPELLINGS: dict[str, str] = {
    "PA": "PA", "POSTERO ANTERIOR": "PA", "POSTEROANTERIOR": "PA",
    "AP": "AP", "ANTERO POSTERIOR": "AP", "ANTEROPOSTERIOR": "AP",
    "AP SUPINE": "AP Supine", "APS": "AP Supine", "APSUPINE": "AP Supine",
    "L": "L", "LL": "L", "RL": "L", "LAT": "L", "LATERAL": "L", "LEFT LATERAL": "L", "RIGHT LATERAL": "L",
    "LLD": "Decubitus", "RLD": "Decubitus", "DEC": "Decubitus", "DECUBITUS": "Decubitus",
    "LEFT LATERAL DECUBITUS": "Decubitus", "RIGHT LATERAL DECUBITUS": "Decubitus",
    "AXIAL": "Axial", "CORONAL": "Coronal",
}


def normalize_view(value: object) -> str:
    """The covidbank view (one of :data:`VIEWS`) of any spelling a source, a DICOM
    View Position or a MIDS ``vp-`` entity uses; ``unknown`` otherwise.

    The one view map: sources, the ingest index, MIDS file names
    (:func:`view_entity`) and the MIDS reader all go through it, so a view
    reads back as what was written (``LLD`` -> ``Decubitus`` -> ``vp-dec`` ->
    ``Decubitus``).

    >>> normalize_view("LL"), normalize_view("vp_ap".split("_")[1]), normalize_view("RLD")
    ('L', 'AP', 'Decubitus')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "unknown"
    key = " ".join(str(value).replace("_", " ").replace("-", " ").upper().split())
    if key in _VIEW_SPELLINGS:
        return _VIEW_SPELLINGS[key]
    return next((v for v in VIEWS if v.upper() == key), "unknown")


def view_entity(value: object) -> str | None:
    """The MIDS ``vp-`` entity of a view (any spelling :func:`normalize_view` knows), None when unknown."""
    return VIEW_ENTITIES.get(normalize_view(value))
#: Modalities: DICOM codes when the source says, ``X-ray`` when it does not.
MODALITIES = ("CR", "DX", "CT", "X-ray")


@dataclass(frozen=True)
class Column:
    """One column of a bank table.

    Parameters
    ----------
    name : str
        Column name.
    dtype : str
        pandas extension dtype (``string``, ``Int64``, ``Float64``, ``boolean``).
    description : str
        What the column holds.
    """

    name: str
    dtype: str
    description: str


_PROVENANCE = [
    Column("source", "string", "Source dataset name (`cohen`, `bimcv`, `mosmed`, `mids`, `ingest`, ...)"),
    Column("source_version", "string", "Source version or commit when known"),
    Column("original_id", "string", "Identifier of the record in the source, as published"),
]

TABLES: dict[str, list[Column]] = {
    "subjects": [
        Column("subject_id", "string", "Patient id, prefixed with the source (`cohen:2`)"),
        *_PROVENANCE,
        Column("sex", "string", "`M`, `F` or null"),
        Column("age", "Float64", "Age in years (at the first study when it varies)"),
        Column("survival", "boolean", "Survived (true), died (false), unknown (null)"),
    ],
    "sessions": [
        Column("session_id", "string", "Study/session id, prefixed with the source"),
        Column("subject_id", "string", "Patient id"),
        *_PROVENANCE,
        Column("offset_days", "Float64", "Days since the subject's first study or symptom onset (source convention)"),
        Column("date", "string", "Study date as published (de-identified sources: shifted or absent)"),
        Column("modality", "string", "Modality of the session (`CR`, `DX`, `CT`, `X-ray`)"),
        Column("intubated", "boolean", "Patient intubated at some point"),
        Column("intubation_present", "boolean", "Intubation visible/present at this study"),
        Column("went_icu", "boolean", "Patient went to the ICU"),
        Column("in_icu", "boolean", "Patient in the ICU at this study"),
        Column("needed_supplemental_o2", "boolean", "Needed supplemental oxygen"),
        Column("extubated", "boolean", "Patient extubated"),
        Column("temperature", "Float64", "Temperature (Celsius)"),
        Column("po2_saturation", "Float64", "pO2 saturation (%)"),
        Column("leukocyte_count", "Float64", "Leukocyte count (10^3/uL)"),
        Column("neutrophil_count", "Float64", "Neutrophil count (10^3/uL)"),
        Column("lymphocyte_count", "Float64", "Lymphocyte count (10^3/uL)"),
        Column("clinical_notes", "string", "Clinical notes"),
        Column("location", "string", "Location (hospital, city, country) as published"),
        Column("report", "string", "Radiology report text (de-identified)"),
        Column("ct_category", "string", "CT severity category `CT-0`..`CT-4` (MosMed scale)"),
    ],
    "images": [
        Column("image_id", "string", "Image or series id, prefixed with the source"),
        Column("session_id", "string", "Study/session id"),
        Column("subject_id", "string", "Patient id"),
        *_PROVENANCE,
        Column("modality", "string", "`CR`, `DX`, `CT`, or `X-ray` when the source does not say"),
        Column("view", "string", "`PA`, `AP`, `AP Supine`, `L`, `Decubitus`, `Axial`, `Coronal` or `unknown` "
               "(`schema.normalize_view`)"),
        Column("sex", "string", "`M`, `F` or null (copied from the subject)"),
        Column("age", "Float64", "Age in years at this image"),
        Column("offset_days", "Float64", "Days offset of the session"),
        Column("path", "string", "Path of the image file or volume, relative to its source's root in `bank.json` "
               "(`Bank.resolve`, `Bank.resolve_paths`)"),
        Column("file_present", "boolean", "Whether the file exists on disk"),
        Column("file_format", "string", "`png`, `jpeg`, `nifti`, `dicom`, ..."),
        Column("license", "string", "License normalized to an SPDX-like id (`CC-BY-NC-SA-4.0`) or null"),
        Column("license_raw", "string", "License string as published"),
        Column("doi", "string", "DOI of the publication the image comes from"),
        Column("url", "string", "URL of the image's origin"),
        Column("photometric", "string", "DICOM Photometric Interpretation of the acquisition"),
        Column("presentation_lut_shape", "string", "DICOM Presentation LUT Shape of the acquisition (`IDENTITY`, `INVERSE`)"),
        Column("display_ready", "boolean", "The file's values are display-ready (white = dense; ingest's PNGs): never inverted, "
               "whatever `photometric` says (see `covidbank.pixels.needs_inversion`)"),
        Column("manufacturer", "string", "Device manufacturer"),
        Column("model", "string", "Device model name"),
        Column("body_part", "string", "Body part examined"),
        Column("mask_path", "string", "Path of a segmentation mask (lesion or lung) when present, relative like `path`"),
        Column("mask_kind", "string", "`lesion`, `lung`, ... for `mask_path`"),
        Column("ct_category", "string", "CT severity category `CT-0`..`CT-4`"),
        Column("severity_geographic_extent", "Float64", "X-ray geographic extent score 0-8 (mean of raters)"),
        Column("severity_opacity", "Float64", "X-ray opacity score 0-6 (mean of raters)"),
        Column("exclude", "boolean", "Source marks the image for exclusion"),
        Column("exclude_reason", "string", "Why the source excludes it"),
    ],
    "labels": [
        Column("image_id", "string", "Image the label belongs to"),
        Column("source", "string", "Source dataset name"),
        Column("label", "string", "Label name in the covidbank vocabulary"),
        Column("cui", "string", "UMLS CUI when one exists"),
        Column("value", "Int8", "1 positive, 0 negative, -1 uncertain"),
        Column("origin", "string", "`source` (as published), `implied` (parent of a label), `report` (labeler)"),
    ],
    "tests": [
        Column("subject_id", "string", "Patient id"),
        Column("source", "string", "Source dataset name"),
        Column("test_type", "string", "`PCR`, `IgG`, `IgM`, `antigen`, ..."),
        Column("result", "string", "`positive`, `negative`, `indeterminate`"),
        Column("date", "string", "Test date (shifted like the images' dates)"),
        Column("offset_days", "Float64", "Days relative to the subject's first study"),
    ],
    "skipped": [
        Column("source", "string", "Source dataset name"),
        Column("record", "string", "Row number or identifier of the skipped record"),
        Column("path", "string", "File the record came from (relative to the source's root)"),
        Column("reason", "string", "Why it was skipped (DICOM ingest: a reason code of covidbank.dicom.reasons)"),
        Column("attributes", "string", "DICOM keywords the reason is about (comma-separated; never a value)"),
        Column("run", "string", "Ingest run that skipped it (every run is kept)"),
    ],
}


#: DuckDB type of each schema dtype (what Parquet files written from the schema's dtypes hold).
DUCKDB_TYPES = {"string": "VARCHAR", "Float64": "DOUBLE", "Int64": "BIGINT", "Int8": "TINYINT", "boolean": "BOOLEAN"}


def empty_select(name: str) -> str:
    """SQL selecting no rows with the columns and types of table ``name`` (an empty view without pandas)."""
    cols = ", ".join(f'CAST(NULL AS {DUCKDB_TYPES[c.dtype]}) AS "{c.name}"' for c in TABLES[name])
    return f"SELECT {cols} WHERE false"


def empty_table(name: str) -> pd.DataFrame:
    """Return an empty DataFrame with the columns and dtypes of table ``name``."""
    import pandas as pd

    cols = TABLES[name]
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in cols})


def conform(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Give ``df`` every column of table ``name`` with the schema's dtypes.

    Missing columns are added as nulls, known columns are cast, extra columns
    are kept after the schema's columns.

    Raises
    ------
    KeyError
        If ``name`` is not a table of the schema.
    """
    import pandas as pd

    cols = TABLES[name]
    out = {}
    n = len(df)
    for c in cols:
        if c.name in df.columns:
            s = df[c.name]
            if str(s.dtype) == c.dtype or (c.dtype == "string" and isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is pd.NA):
                pass  # already conformed (a second conform is free)
            elif c.dtype == "string" and isinstance(s.dtype, pd.StringDtype):
                s = s.astype("string")  # Arrow text with NaN as missing -> the same buffers with NA
            elif c.dtype == "string":
                s = pd.Series(pd.array(s.astype("object").where(s.notna(), None).to_numpy(), dtype="string"), index=s.index)
            elif c.dtype == "boolean":
                s = s.astype("boolean")
            else:
                s = pd.to_numeric(s, errors="coerce").astype(c.dtype)
            out[c.name] = s.reset_index(drop=True)
        else:
            out[c.name] = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype=c.dtype)  # a scalar: no n-long list
    known = {c.name for c in cols}
    for extra in df.columns:
        if extra not in known:
            out[extra] = df[extra].reset_index(drop=True)
    return pd.DataFrame(out)


def make_id(source: str, *parts: object) -> str:
    """Build a source-prefixed identifier: ``make_id("cohen", 12) == "cohen:12"``."""
    return source + ":" + "/".join(str(p) for p in parts)


def schema_markdown(tables: Iterable[str] | None = None) -> str:
    """Render the schema as Markdown tables (used for the README)."""
    lines = []
    for t in tables or TABLES:
        lines.append(f"#### `{t}`\n")
        lines.append("| column | type | meaning |")
        lines.append("|---|---|---|")
        for c in TABLES[t]:
            lines.append(f"| `{c.name}` | {c.dtype} | {c.description} |")
        lines.append("")
    return "\n".join(lines)
