"""Optional dependencies: import them on first use, or say which extra installs them.

One place for what nibabel's ``optional_package`` and MONAI's
``optional_import`` do in those libraries: a feature that needs a package from
an extra calls :func:`require` where it starts, and a user without the extra
gets a :class:`~covidbank.errors.MissingExtraError` naming the package and
the ``pip install 'covidbank[extra]'`` command, instead of a traceback from
deep inside the feature.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

__all__ = ["require", "EXTRA_OF"]

#: Top-level module -> the covidbank extra that installs it.
EXTRA_OF: dict[str, str] = {
    "scipy": "ct",
    "skimage": "ct",
    "SimpleITK": "ct",
    "highdicom": "ct",
    "matplotlib": "report",
    "imagehash": "duplicates",
    "torch": "torch",
    "monai": "torch",
    "faker": "nlp",
    "sklearn": "nlp",
    "fastapi": "web",
    "uvicorn": "web",
    "jinja2": "web",
    "distributed": "dask",
    "pylibjpeg": "dicom",
    "pynetdicom": "pacs",
    "dicomweb_client": "pacs",
    "pytesseract": "ocr",
}


def require(module: str, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming its extra.

    Parameters
    ----------
    module : str
        Module to import (``"scipy.ndimage"``).
    extra : str, optional
        The covidbank extra that installs it; default from :data:`EXTRA_OF`
        by the module's top-level package.
    purpose : str, optional
        What needs it, for the message (``"CT severity"``).

    Returns
    -------
    module
        The imported module.

    Examples
    --------
    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        missing = (e.name or top).split(".")[0]
        if missing != top and missing in EXTRA_OF:
            top = missing
        elif missing != top:
            raise  # the module exists but one of its own imports failed: not an extra problem
        raise MissingExtraError(top, extra or EXTRA_OF.get(top, "all"), purpose) from None
