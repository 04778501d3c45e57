"""The short form of bench/soak.py: paced streams with keys, limits and history on,
hang-ups and quota refusals among them; every call answered or refused correctly,
every record written, no connection left open (the 10-minute form is in bench/)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import ROOT


def test_short_soak_accounts_for_every_call():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--seconds",
            "15",
            "--streams",
            "40",
            "--out",
            "-",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Problems: none" in done.stdout
    assert "| bad answers | 0 |" in done.stdout
