"""Fixtures for the integration tests that need more than tests/conftest.py gives."""

from tests.support.pcsc import pcscd, pcscd_session

__all__ = ["pcscd", "pcscd_session"]
