"""Debian's Chromium for tests that drive the live console as a person would."""

import shutil

import pytest

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's Chromium is not installed (apt-get install chromium)"
)
