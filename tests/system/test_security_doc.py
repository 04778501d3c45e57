"""SECURITY.md maps every promise to a test: each test it names must exist."""

from __future__ import annotations

import re

from tests.helpers.paths import ROOT


def test_every_test_security_md_names_exists():
    text = (ROOT / "SECURITY.md").read_text()
    checked = 0
    for row in text.splitlines():
        if not row.startswith("| ") or "tests/" not in row:
            continue
        paths = re.findall(r"tests/(?:\w+/)*test_\w+\.py", row)
        sources = [(ROOT / path).read_text() for path in paths]  # each file exists
        for name in re.findall(r"(?:::|`)(test_\w+)(?=`|,|\s|\))", row):
            assert any(f"def {name}(" in source for source in sources), name
            checked += 1
    assert checked > 30
