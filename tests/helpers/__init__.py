"""Helpers the tests import (the fixtures stay in tests/conftest.py)."""
