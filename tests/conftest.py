"""Shared fixtures. The open hand model is built once per test session into a private cache."""
from __future__ import annotations

import os
import tempfile

import pytest

# Set before any test imports s2hand code that resolves the cache, and inherited by CLI subprocesses.
os.environ.setdefault("S2HAND_CACHE", tempfile.mkdtemp(prefix="s2hand-test-cache-"))


@pytest.fixture(scope="session")
def open_hand_arrays():
    from s2hand.hand.model_files import load_model

    return load_model("open")


@pytest.fixture(scope="session")
def hand_model():
    from s2hand.hand.model import HandModel

    return HandModel("open")
