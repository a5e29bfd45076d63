"""Fixtures of the severity tests: generated HU phantoms (see ct_phantoms.py)."""
from __future__ import annotations

import pytest

from .ct_phantoms import Phantom, make_phantom


@pytest.fixture(scope="session")
def phantom() -> Phantom:
    return make_phantom()


@pytest.fixture(scope="session")
def touching_phantom() -> Phantom:
    return make_phantom(touching=True, seed=1)
