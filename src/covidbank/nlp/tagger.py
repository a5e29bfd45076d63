"""A trained PHI tagger for Spanish clinical text: a linear-chain CRF over the 22 MEDDOCAN types.

The model (``models/deid_crf.crfsuite``, trained by ``scripts/train_deid.py`` on the MEDDOCAN ``train``
split, CC BY 4.0, see ``models/NOTICE``) ships in the package and is loaded on first use; nothing is
downloaded.  It reads tokens with their spelling, shape, affixes, the gazetteers' given-name, surname and
place lists and the form key the token follows (``Edad:``, ``NHC:``), two tokens either side, and tags them
in BIO over the MEDDOCAN types.  Training used every document twice, once as written and once lower-cased
and accent-stripped, so the tagger also reads BIMCV's published form.

Feature sets are named (:data:`FEATURES` ``"base"`` for the shipped model; ``"base+clusters"`` etc., see
:data:`FEATURE_EXTRAS`); a candidate model's window and feature set are stored next to it (``.json``,
:func:`save_model_settings`) and read back by :class:`PhiTagger`, so a model is always read with the features it
was trained with.

The CRF is python-crfsuite's (CRFsuite, Okazaki 2007; Lafferty et al. 2001).  Feature extraction is here
because it is what a CRF tagger is: CRFsuite takes string features.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

from . import gazetteers as gz
from .text import strip_accents

__all__ = ["MEDDOCAN_TYPES", "tokenize", "sentence_features", "PhiTagger", "default_tagger", "set_default_tagger",
           "MODEL_PATH", "WINDOW", "CLUSTERS_PATH", "FEATURES", "FEATURE_EXTRAS", "feature_extras", "word_clusters",
           "model_settings", "save_model_settings", "TRAINED_ON"]

#: The 22 PHI types annotated in the MEDDOCAN corpus (Marimon et al., IberLEF 2019).
MEDDOCAN_TYPES: tuple[str, ...] = (
    "NOMBRE_SUJETO_ASISTENCIA", "NOMBRE_PERSONAL_SANITARIO", "EDAD_SUJETO_ASISTENCIA", "SEXO_SUJETO_ASISTENCIA",
    "FAMILIARES_SUJETO_ASISTENCIA", "OTROS_SUJETO_ASISTENCIA", "PROFESION", "FECHAS", "CALLE", "TERRITORIO", "PAIS",
    "HOSPITAL", "INSTITUCION", "CENTRO_SALUD", "ID_SUJETO_ASISTENCIA", "ID_TITULACION_PERSONAL_SANITARIO",
    "ID_EMPLEO_PERSONAL_SANITARIO", "ID_CONTACTO_ASISTENCIAL", "ID_ASEGURAMIENTO", "NUMERO_TELEFONO", "NUMERO_FAX",
    "CORREO_ELECTRONICO",
)

MODEL_PATH = Path(__file__).with_name("models") / "deid_crf.crfsuite"
#: What a model whose sidecar does not say was trained on (every model before the sidecar recorded it): the
#: MEDDOCAN ``train`` split only, each document as written and lower-cased.
TRAINED_ON: dict = {"corpus": "MEDDOCAN", "parts": ["train"]}
#: distributional word clusters (``scripts/build_word_clusters.py``, from unlabeled MEDDOCAN train text)
CLUSTERS_PATH = Path(__file__).with_name("models") / "word_clusters.tsv"

_TOKEN = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_")
# the form key a token follows on its line: "Edad: 70 años Sexo: H" -> "sexo" for "H"
_KEY = re.compile(r"([^\W\d_][^\W\d_ ./]*(?: [^\W\d_]+){0,2})\s*:\s*$")


def tokenize(text: str) -> list[tuple[int, int]]:
    """Token offsets: runs of letters, runs of digits, and single other characters."""
    return [m.span() for m in _TOKEN.finditer(text)]


def _lines(text: str, toks: list[tuple[int, int]]) -> list[list[int]]:
    """Token indices grouped by line (the CRF's sequences)."""
    out: list[list[int]] = []
    cur: list[int] = []
    last_end = 0
    for i, (a, b) in enumerate(toks):
        if cur and "\n" in text[last_end:a]:
            out.append(cur)
            cur = []
        cur.append(i)
        last_end = b
    if cur:
        out.append(cur)
    return out


def _shape(w: str) -> str:
    s = []
    for c in w:
        k = "X" if c.isupper() else "x" if c.isalpha() else "d" if c.isdigit() else c
        if not s or s[-1] != k:
            s.append(k)
    return "".join(s)


@lru_cache(maxsize=200_000)
def _word_features(w: str) -> tuple[str, ...]:
    k = strip_accents(w.lower())
    f = ["w=" + k, "p3=" + k[:3], "s3=" + k[-3:], "s2=" + k[-2:], "sh=" + _shape(w)[:6], f"n={min(len(w), 9)}"]
    if w[:1].isupper():
        f.append("T" if not w.isupper() or len(w) == 1 else "U")
    if w.isdigit():
        f.append(f"d{len(w)}")
    if k in gz.first_names():
        f.append("fn")
    if k in gz.last_names():
        f.append("ln")
    if k in gz.places():
        f.append("pl")
    if k in gz.countries():
        f.append("co")
    return tuple(f)


_CONTEXT = ("w=", "sh=", "fn", "ln", "pl", "co", "T", "U")
#: how many tokens either side a token's context features read (the shipped model's choice)
WINDOW = 2
#: the feature set of the shipped model: ``"base"`` (the features above), or ``"base"`` plus extras joined by
#: ``+`` (``"base+clusters+affix4"``), each one of :data:`FEATURE_EXTRAS`
FEATURES = "base"
#: the optional feature groups a model can be trained with (its feature-set name lists them)
FEATURE_EXTRAS = {
    "clusters": "the word's distributional clusters at three granularities (k0= k1= k2=, :data:`CLUSTERS_PATH`), "
                "and the two coarser ones of the context tokens",
    "affix4": "4-letter prefix and suffix and 2-letter prefix",
    "dpos": "where the line lies in the text (fifths, dp=0..4)",
}


@lru_cache(maxsize=64)
def feature_extras(features: str) -> frozenset[str]:
    """The extras of a feature-set name (``"base+clusters"`` -> ``{"clusters"}``); raises on an unknown name."""
    parts = features.split("+")
    extras = frozenset(parts[1:])
    if parts[0] != "base" or len(extras) != len(parts) - 1 or not extras <= FEATURE_EXTRAS.keys():
        raise ValueError(f"unknown feature set {features!r}: 'base' optionally followed by +extras from "
                         f"{sorted(FEATURE_EXTRAS)}")
    return extras


@lru_cache(maxsize=None)
def word_clusters(path: Path = CLUSTERS_PATH) -> dict[str, tuple[str, ...]]:
    """Lower-cased, accent-stripped word -> its cluster ids, coarse to fine (read once)."""
    out: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            w, *ids = line.rstrip("\n").split("\t")
            out[w] = tuple(ids)
    return out


@lru_cache(maxsize=200_000)
def _extra_features(w: str, extras: frozenset[str]) -> tuple[str, ...]:
    if not extras:
        return ()
    k = strip_accents(w.lower())
    f: list[str] = []
    if "affix4" in extras:
        f += ["p4=" + k[:4], "s4=" + k[-4:], "p2=" + k[:2]]
    if "clusters" in extras:
        ids = word_clusters().get(k)
        if ids:
            f += [f"k{g}={c}" for g, c in enumerate(ids)]
    return tuple(f)


def sentence_features(text: str, toks: list[tuple[int, int]], idx: list[int], window: int = WINDOW,
                      features: str = FEATURES) -> list[list[str]]:
    """CRFsuite string features of the tokens ``idx`` (one line) of ``text``.

    ``window``: the context tokens read either side; ``features``: the feature-set name (:data:`FEATURES`,
    :func:`feature_extras`).  A model must be read with the window and feature set it was trained with.
    """
    extras = feature_extras(features)
    context = _CONTEXT + (("k0=", "k1=") if "clusters" in extras else ())
    offsets = [o for o in range(-window, window + 1) if o]
    words = [text[toks[i][0]:toks[i][1]] for i in idx]
    base = [_word_features(w) + _extra_features(w, extras) for w in words] if extras else [
        _word_features(w) for w in words]
    n = len(idx)
    line_start = text.rfind("\n", 0, toks[idx[0]][0]) + 1
    line_feats = [f"dp={min(4, 5 * line_start // max(1, len(text)))}"] if "dpos" in extras else []
    feats: list[list[str]] = []
    key = ""
    key_dist = 0
    for j in range(n):
        a = toks[idx[j]][0]
        if j and words[j - 1] == ":":
            m = _KEY.search(text, max(line_start, a - 40), a)
            key = strip_accents(m.group(1).lower()) if m else ""
            key_dist = 0
        f = list(base[j])
        f.append("bias")
        if j == 0:
            f.append("BOL")
        if j == n - 1:
            f.append("EOL")
        # spacing before the token: glued to the previous one or not
        if j and a == toks[idx[j - 1]][1]:
            f.append("glued")
        if key and key_dist < 8:
            f.append("key=" + key)
            f.append(f"kd={min(key_dist, 3)}")
        key_dist += 1
        for o in offsets:
            q = j + o
            if 0 <= q < n:
                for x in base[q]:
                    if x.startswith(context):
                        f.append(f"{o}{x}")
            else:
                f.append(f"{o}pad")
        if j:
            f.append("bg=" + base[j - 1][0][2:] + "|" + base[j][0][2:])
        if j + 1 < n:
            f.append("bg+=" + base[j][0][2:] + "|" + base[j + 1][0][2:])
        f.extend(line_feats)
        feats.append(f)
    return feats


def save_model_settings(model_path: str | Path, window: int, features: str, training: dict | None = None) -> Path:
    """Write the ``.json`` sidecar of a model: the window and feature set it must be read with.

    Parameters
    ----------
    model_path : path
        The model file; the sidecar is written next to it with the suffix ``.json``.
    window : int
        The context window the model was trained with.
    features : str
        Its feature-set name (:func:`feature_extras`).
    training : dict, optional
        What it was trained on (``scripts/train_deid.py``: the corpus parts, e.g. ``["train", "dev:choice"]``,
        and the number of documents), so a figure on a part it was trained on is not read as out-of-sample.
    """
    import json

    feature_extras(features)
    side = Path(model_path).with_suffix(".json")
    settings: dict = {"window": int(window), "features": features}
    if training is not None:
        settings["training"] = training
    side.write_text(json.dumps(settings) + "\n", encoding="utf-8")
    return side


def model_settings(model_path: str | Path) -> dict | None:
    """The window, feature set and training documents of a model, from its ``.json`` sidecar (written by
    ``scripts/train_deid.py``); ``None`` when it has none (then :data:`WINDOW`, :data:`FEATURES`, trained on
    :data:`TRAINED_ON`).  ``training`` is ``None`` when the sidecar does not say."""
    import json

    side = Path(model_path).with_suffix(".json")
    if not side.is_file():
        return None
    settings = json.loads(side.read_text(encoding="utf-8"))
    return {"window": int(settings.get("window", WINDOW)), "features": str(settings.get("features", FEATURES)),
            "training": settings.get("training")}


def spans_from_bio(toks: list[tuple[int, int]], idx: list[int], labels: list[str]) -> list[tuple[int, int, str]]:
    """Character spans ``(start, end, type)`` from BIO labels of the tokens ``idx``."""
    out: list[tuple[int, int, str]] = []
    cur: list | None = None
    for i, lab in zip(idx, labels):
        a, b = toks[i]
        if lab == "O":
            cur = None
            continue
        tag, typ = lab[0], lab[2:]
        if tag == "I" and cur is not None and cur[2] == typ:
            cur[1] = b
            continue
        cur = [a, b, typ]
        out.append(cur)  # type: ignore[arg-type]
    return [tuple(c) for c in out]  # type: ignore[misc]


class PhiTagger:
    """The shipped CRF tagger (lazy: the model file is opened on the first call).

    Parameters
    ----------
    model_path : path, optional
        A CRFsuite model trained by ``scripts/train_deid.py``; the packaged one by default.
    window : int, optional
        The context window the model was trained with; by default the model's ``.json`` sidecar's
        (:func:`model_settings`), else :data:`WINDOW`.  A value its sidecar contradicts raises ``ValueError``.
    features : str, optional
        The feature-set name the model was trained with (:data:`FEATURES`, :func:`feature_extras`); read
        from the sidecar like ``window``.
    """

    def __init__(self, model_path: str | Path | None = None, window: int | None = None,
                 features: str | None = None) -> None:
        self.model_path = Path(model_path) if model_path else MODEL_PATH
        given = {"window": window, "features": features}
        settings = model_settings(self.model_path)
        if settings is None:  # no sidecar (a model trained before they existed): what the caller says, else the defaults
            settings = {"window": WINDOW if window is None else window, "features": features or FEATURES}
        #: what the model was trained on (its sidecar's ``training``, else :data:`TRAINED_ON`)
        self.training: dict = settings.get("training") or TRAINED_ON
        for name, value in given.items():
            if value is not None and value != settings[name]:
                raise ValueError(f"{self.model_path.name} was trained with {name} {settings[name]!r}, not {value!r}")
        self.window = int(settings["window"])
        self.features = str(settings["features"])
        feature_extras(self.features)  # an unknown feature set fails here, not on the first text
        self._tagger = None
        self._lock = threading.Lock()

    def _load(self):
        if self._tagger is None:
            import pycrfsuite

            from ..errors import ReportError

            if not self.model_path.is_file():
                raise ReportError(f"{self.model_path}: the de-identification model is missing; reinstall covidbank "
                                     "or retrain it with scripts/train_deid.py")
            t = pycrfsuite.Tagger()
            t.open(str(self.model_path))
            self._tagger = t
        return self._tagger

    def tag(self, text: str) -> list[tuple[int, int, str]]:
        """PHI spans ``(start, end, MEDDOCAN type)`` of ``text``, in order."""
        if not text:
            return []
        toks = tokenize(text)
        if not toks:
            return []
        out: list[tuple[int, int, str]] = []
        with self._lock:  # a CRFsuite tagger is not thread-safe
            tagger = self._load()
            for idx in _lines(text, toks):
                labels = tagger.tag(sentence_features(text, toks, idx, self.window, self.features))
                out.extend(spans_from_bio(toks, idx, labels))
        return out


_DEFAULT: PhiTagger | None = None


def default_tagger() -> PhiTagger:
    """The packaged tagger, shared by every caller of the process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PhiTagger()
    return _DEFAULT


def set_default_tagger(tagger: PhiTagger | None) -> None:
    """Make ``tagger`` the one every caller of the process uses (a candidate model in a bench); ``None``
    goes back to the packaged one."""
    global _DEFAULT
    _DEFAULT = tagger
