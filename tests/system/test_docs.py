"""The docs: the settings reference matches the code, and the site builds with
``mkdocs build --strict`` (a broken link fails)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from ollama_gate.config import PREFIX, SETTINGS
from ollama_gate.settings_doc import SERVER, render
from tests.helpers.paths import ROOT


def test_the_settings_page_is_generated_from_the_code():
    assert (ROOT / "docs" / "settings.md").read_text() == render(), (
        "regenerate: python -m ollama_gate.settings_doc > docs/settings.md"
    )
    page = render()
    assert all(f"`{PREFIX}{name}`" in page for name, *_ in SETTINGS)


def test_the_server_rows_name_what_gunicorn_conf_reads_with_its_defaults():
    conf = (ROOT / "ollama_gate" / "server" / "gunicorn_conf.py").read_text()
    read = dict(
        re.findall(r"os\.environ\.get\(\s*['\"](\w+)['\"],\s*['\"]([^'\"]*)", conf)
    )
    documented = {name: default for name, default, _ in SERVER}
    for name, default in read.items():
        if name == "OLLAMA_GATE_LOG_LEVEL":  # a gateway setting, in SETTINGS
            continue
        assert documented.get(name) == default, name


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (make test does)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"]
        + ["-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "settings" / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (make test does)")
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "index.md").write_text("# x\n\n[gone](nowhere.md)\n")
    config = (
        (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    )
    (tmp_path / "mkdocs.yml").write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"]
        + ["-f", str(tmp_path / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "nowhere.md" in done.stderr
