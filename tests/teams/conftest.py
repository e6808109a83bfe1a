"""Fixtures of the single sign-on tests."""

import pytest


@pytest.fixture
def private_issuers(settings):
    """The identity providers of these tests run on loopback, which SSO refuses by default."""
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True
