"""Presidio's DICOM image redactor as the benches run it: the peer of covidbank's burned-in text check.

One setup for every bench that compares against Presidio (bench/burned_in.py,
bench/ingest.py): offline (a blank spaCy pipeline, since no NER model may be
downloaded, so Presidio's pattern recognizers and the deny list it derives
from the DICOM header, ``use_metadata=True``, do the work), Tesseract through
pytesseract (Presidio's default OCR), redaction boxes filled with a contrasting
value and 2 px of padding around the image before OCR.

Imported by the bench scripts from their own folder (``python bench/<name>.py``
puts bench/ first on ``sys.path``).
"""
from __future__ import annotations

from pathlib import Path

#: Arguments of ``DicomImageRedactorEngine.redact_and_return_bbox`` used by the benches.
REDACT_ARGS = {"fill": "contrast", "padding_width": 2, "use_metadata": True}

_PRESIDIO = None


def presidio_engine():
    """Presidio's DicomImageRedactorEngine, offline, built once per process.

    A blank spaCy pipeline (no NER model can be downloaded), so its pattern
    recognizers and the header-derived deny list (``use_metadata=True``) do the
    work.  Raises ImportError (or whatever Presidio raises) when it cannot run.
    """
    global _PRESIDIO
    if _PRESIDIO is None:
        import tempfile

        import spacy
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_image_redactor import (
            DicomImageRedactorEngine,
            ImageAnalyzerEngine,
        )

        d = Path(tempfile.mkdtemp(prefix="blank-en-"))
        spacy.blank("en").to_disk(d)
        nlp = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy",
                                                   "models": [{"lang_code": "en", "model_name": str(d)}]}).create_engine()
        analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        _PRESIDIO = DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(analyzer_engine=analyzer))
    return _PRESIDIO


def presidio_redact(ds):
    """Redact the text Presidio finds in the pixels of ``ds`` (a pydicom dataset, not changed).

    Returns
    -------
    tuple
        The redacted copy (compressed inputs come back RLE Lossless, as
        Presidio writes them) and its boxes as ``(left, top, width, height)``.
    """
    red, bboxes = presidio_engine().redact_and_return_bbox(ds, **REDACT_ARGS)
    return red, [(int(b["left"]), int(b["top"]), int(b["width"]), int(b["height"])) for b in bboxes]
