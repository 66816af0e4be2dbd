"""Test helpers that stand in for real parts: a fake smart card and a private pcscd."""
