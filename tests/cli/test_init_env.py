"""``ollama-gate init`` offers a settings file: in a terminal with no ``.env`` yet it
writes one from the answers (backend, port, bind address) or copies the example; with
stdin no terminal it asks nothing and writes nothing."""

from __future__ import annotations

import os
import stat

import pytest
from dotenv import dotenv_values

from ollama_gate.cli import envsetup
from ollama_gate.config import load_settings
from tests.helpers.paths import ROOT


@pytest.fixture()
def here(tmp_path, monkeypatch):
    """A working directory with no settings file, none named either."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OLLAMA_GATE_ENV_FILE", raising=False)
    return tmp_path


@pytest.fixture()
def terminal(monkeypatch):
    """Stdin a person types into (CliRunner's own stream is no terminal)."""
    monkeypatch.setattr(envsetup, "interactive", lambda: True)


def test_in_a_terminal_init_writes_env_from_the_answers(here, terminal, runner):
    done = runner.invoke(
        args=["init"], input="a\nhttp://gpu-box:11434\n9000\n127.0.0.1\n"
    )
    assert done.exit_code == 0, done.output
    assert "Ollama server (backend URL)" in done.output
    written = dotenv_values(here / ".env")
    assert written["OLLAMA_GATE_BACKENDS"] == "http://gpu-box:11434"
    assert written["PORT"] == "9000"
    assert written["OLLAMA_GATE_HOST"] == "127.0.0.1"
    assert stat.S_IMODE(os.stat(here / ".env").st_mode) == 0o600
    # the file the server reads: the gateway's settings parse it
    settings = load_settings({k: v for k, v in written.items() if v is not None})
    assert settings["BACKENDS"] == ["http://gpu-box:11434"]
    # the rest of the example comes along, commented
    assert "# OLLAMA_GATE_REDIS_URL=" in (here / ".env").read_text()
    # init went on: its last line is still the first key
    assert done.output.strip().splitlines()[-1].startswith("og_")


def test_a_wrong_answer_is_asked_again(here, terminal, runner):
    answers = "a\nftp://x\nhttp://x:1\n0\n8081\nnot an address!\n::1\n"
    done = runner.invoke(args=["init"], input=answers)
    assert done.exit_code == 0, done.output
    assert done.output.count("Ollama server (backend URL)") == 2
    assert done.output.count("Port to serve on") == 2
    assert done.output.count("Address to listen on") == 2
    written = dotenv_values(here / ".env")
    assert (written["OLLAMA_GATE_BACKENDS"], written["PORT"]) == ("http://x:1", "8081")
    assert written["OLLAMA_GATE_HOST"] == "::1"


def test_copy_writes_the_example_which_is_the_checkouts(here, terminal, runner):
    done = runner.invoke(args=["init"], input="c\n")
    assert done.exit_code == 0, done.output
    assert (here / ".env").read_text() == envsetup.EXAMPLE
    assert (ROOT / ".env.example").read_text() == envsetup.EXAMPLE


def test_skip_writes_nothing(here, terminal, runner):
    done = runner.invoke(args=["init"], input="s\n")
    assert done.exit_code == 0, done.output
    assert not (here / ".env").exists()


def test_no_terminal_no_question_no_file(here, runner):
    done = runner.invoke(args=["init"], input="a\nhttp://gpu-box:11434\n9000\n::\n")
    assert done.exit_code == 0, done.output
    assert "settings file" not in done.output
    assert not (here / ".env").exists()


def test_ask_asks_without_a_terminal_and_no_ask_never(here, runner, monkeypatch):
    monkeypatch.setattr(envsetup, "interactive", lambda: True)
    quiet = runner.invoke(args=["init", "--no-ask"], input="a\n")
    assert quiet.exit_code == 0 and not (here / ".env").exists()
    monkeypatch.setattr(envsetup, "interactive", lambda: False)
    asked = runner.invoke(args=["init", "--ask"], input="c\n")
    assert asked.exit_code == 0, asked.output
    assert (here / ".env").read_text() == envsetup.EXAMPLE


def test_an_existing_settings_file_is_kept_and_nothing_asked(here, terminal, runner):
    (here / ".env").write_text("OLLAMA_GATE_BACKENDS=http://mine:11434\n")
    done = runner.invoke(args=["init"], input="a\n")
    assert done.exit_code == 0, done.output
    assert "settings file" not in done.output
    assert (here / ".env").read_text() == "OLLAMA_GATE_BACKENDS=http://mine:11434\n"
