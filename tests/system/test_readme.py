"""The README's commands work as written, and those of the docs pages the README's
sections moved to (``DOCS``): every CLI command they show names a command and options
that exist, none needs an activated virtualenv, and their examples, pasted into a clean
shell after the quickstart, run against a live gateway."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from ollama_gate import console
from tests.helpers.live import LiveGateway
from tests.helpers.paths import ROOT

CLI = ".venv/bin/ollama-gate"
FLASK_CLI = ".venv/bin/flask --app ollama_gate"  # the same commands, but serve
# The README, then the pages that hold what it used to (read as one text: a section is
# found by its heading wherever it lives).
DOCS = [
    "README.md",
    "docs/use.md",
    "docs/admin.md",
    "docs/fleet.md",
    "docs/operate.md",
]
# Sections whose code blocks are run, in order, as a newcomer would paste them. The
# admins' block is only parsed: its commands prompt for passwords on the terminal.
RUN_SECTIONS = [
    "Quickstart",
    "A first call",
    "Calling the gateway",
    "Managing users and keys",
    "Limits: rate limits, quotas, model access",
    "History and usage",
    "Many backends",
    "Scheduling: capacity, a fair queue, affinity, model policy",
    "Response cache",
]
# Commands that work only with the virtualenv activated (or are another install's).
NEEDS_VENV = {"flask", "python", "python3", "pip", "pip3", "pytest", "gunicorn"}


def read_readme(text: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """The fenced blocks ``(heading, language, body)`` and the inline code spans
    ``(heading, code)`` of a Markdown text, whitespace in spans collapsed."""
    blocks, prose = [], {}
    heading, fence, body = "", None, []
    for line in text.splitlines():
        if fence is not None:
            if line.startswith("```"):
                blocks.append((heading, fence, "\n".join(body) + "\n"))
                fence = None
            else:
                body.append(line)
        elif line.startswith("```"):
            fence, body = line[3:].strip(), []
        else:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            prose.setdefault(heading, []).append(line)
    spans = [
        (section, " ".join(code.split()))
        for section, lines in prose.items()
        for code in re.findall(r"`([^`]+)`", "\n".join(lines))
    ]
    return blocks, spans


BLOCKS, SPANS = read_readme("\n".join((ROOT / page).read_text() for page in DOCS))


def shell_lines(body: str) -> list[str]:
    """A shell block's lines, backslash continuations joined."""
    return body.replace("\\\n", " ").splitlines()


def cli_words(command: str) -> list[list[str]]:
    """The words after each ``.venv/bin/ollama-gate`` (or ``.venv/bin/flask --app
    ollama_gate``) in a command line, up to a pipe, redirection, ``)`` or comment."""
    found = []
    for part in re.split(f"{re.escape(CLI)}|{re.escape(FLASK_CLI)}", command)[1:]:
        lexer = shlex.shlex(part, posix=True, punctuation_chars="|&;()<>")
        lexer.whitespace_split = True
        words = []
        for word in lexer:
            if set(word) <= set("|&;()<>"):
                break
            words.append(word)
        found.append(words)
    return found


def readme_cli_commands() -> list[list[str]]:
    """Every CLI command the README shows, in code blocks and inline code (where the
    prose names the command line itself, ``CLI`` alone, it is no command)."""
    lines = [
        line for _, lang, body in BLOCKS if lang == "sh" for line in shell_lines(body)
    ]
    spans = [code for _, code in SPANS if code not in (CLI, FLASK_CLI)]
    return [words for text in lines + spans for words in cli_words(text)]


def check_command(app, words: list[str]) -> str:
    """Parse ``words`` as the gateway's CLI would, running nothing; return the
    command's path, or raise with what is wrong (no such command, unknown option,
    option without its value, missing or extra argument)."""
    command, path = app.cli, []
    ctx = click.Context(command, info_name="flask")
    while isinstance(command, click.Group):
        if not words:
            raise click.UsageError(f"{' '.join(path)}: a subcommand is missing")
        name, words = words[0], words[1:]
        # ``serve`` is the ollama-gate command's own; the rest are the app's
        own = None if path else console.cli.commands.get(name)
        command = own or command.get_command(ctx, name)
        path.append(name)
        if command is None:
            raise click.UsageError(f"no command {' '.join(path)!r}")
        ctx = click.Context(command, info_name=name, parent=ctx)
    values, extra, _ = command.make_parser(ctx).parse_args(list(words))
    if extra:
        raise click.UsageError(f"{' '.join(path)}: unexpected {extra}")
    for param in command.params:
        if isinstance(param, click.Argument) and param.required:
            # a given value is text (a tuple for nargs > 1); a missing one None or
            # click's private UNSET
            if not isinstance(values.get(param.name), str | tuple):
                raise click.UsageError(f"{' '.join(path)}: {param.name} missing")
    return " ".join(path)


def test_every_cli_command_in_the_readme_exists_with_its_options(app):
    commands = readme_cli_commands()
    paths = {check_command(app, words) for words in commands}
    # the README shows the CLI of every package: a broken extraction finds far fewer
    assert {"users create", "keys create", "keys set", "admins create"} <= paths
    assert {"history export", "keys import", "db upgrade", "init"} <= paths
    assert len(commands) >= 25


@pytest.mark.parametrize(
    "words, problem",
    [
        ("keys frobnicate x", "no command 'keys frobnicate'"),
        ("keys create alice --nam laptop", "--nam"),
        ("keys create alice --name", "--name"),
        ("keys disable", "prefix missing"),
        ("keys list extra", "unexpected"),
        ("keys", "subcommand is missing"),
    ],
)
def test_the_check_finds_a_drifted_command(app, words, problem):
    with pytest.raises(click.UsageError, match=re.escape(problem)):
        check_command(app, shlex.split(words))


def command_starts(line: str) -> list[str]:
    """The first word of each command on a shell line (after ``export`` and VAR=value
    prefixes, inside ``$(...)`` too), and of one named after ``or:`` in a comment."""
    code, _, comment = line.partition("#")
    starts = []
    for segment in re.split(r"\$\(|[|;&()]", code):
        words = segment.split()
        while words and (words[0] == "export" or re.match(r"\w+=", words[0])):
            words.pop(0)
        starts += words[:1]
    return starts + re.findall(r"\bor:\s*(\S+)", comment)


def test_no_command_needs_an_activated_virtualenv():
    lines = [
        line for _, lang, body in BLOCKS if lang == "sh" for line in shell_lines(body)
    ]
    # Deploying says what the Procfile and the systemd unit run, with their own PATH
    spans = [code for section, code in SPANS if section != "Deploying"]
    bare = [
        text
        for text in lines + spans
        for word in command_starts(text)
        if word in NEEDS_VENV
    ]
    assert bare == []
    shown = "A=1 X=$(flask x) | python y && export K=$(pytest)  # or: pip z"
    assert command_starts(shown) == ["flask", "python", "pytest", "pip"]


def test_the_quickstart_is_make_run_and_make_test():
    quickstart = [body for section, lang, body in BLOCKS if section == "Quickstart"]
    first = [line.split("#")[0].split() for line in shell_lines(quickstart[0])]
    assert first == [["make", "run"], ["make", "test"]]
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
    shown = {
        line.split()[line.split().index("make") + 1]
        for _, lang, body in BLOCKS
        if lang == "sh"
        for line in shell_lines(body)
        if "make" in line.split("#")[0].split()
    }
    assert shown and shown <= set(targets), (shown, targets)


def pasted_script(url: str, tmp: Path) -> str:
    """The code blocks of RUN_SECTIONS as one shell script for a new shell, the
    quickstart's ``make`` lines left out (the gateway already runs); each Python
    example saved as a file and run with ``.venv/bin/python``, as the README says."""
    parts = []
    for section in RUN_SECTIONS:
        blocks = [(lang, body) for name, lang, body in BLOCKS if name == section]
        assert blocks, f"README section {section!r} has no code blocks"
        for lang, body in blocks:
            body = body.replace("http://localhost:8080", url)
            body = body.replace("http://127.0.0.1:8080", url)
            if lang == "python":
                path = tmp / f"example{len(parts)}.py"
                path.write_text(body)
                parts.append(f".venv/bin/python {path}\n")
            elif lang == "text":  # what a command prints, not a command
                continue
            elif not any("make" in command_starts(line) for line in shell_lines(body)):
                assert lang == "sh", (section, lang)
                parts.append(body)
    script = "".join(parts)
    assert ":8080" not in script  # every address now points at the live gateway
    return script


@pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "ollama-gate").exists(),
    reason="the README's commands use .venv/bin/ollama-gate, which `make test` builds",
)
@pytest.mark.skipif(
    not os.path.exists("/usr/bin/curl"),
    reason="the README's examples use curl: to run this test, `apt-get install curl`",
)
def test_the_examples_run_pasted_into_a_new_shell(tmp_path, fake):
    gw = LiveGateway(tmp_path, fake.url).start()
    try:
        script = pasted_script(gw.url, tmp_path)
        bin_dir = tmp_path / "bin"  # curl that fails on an HTTP error, else unchanged
        bin_dir.mkdir()
        (bin_dir / "curl").write_text(
            '#!/bin/sh\nexec /usr/bin/curl -sS --fail-with-body "$@"\n'
        )
        (bin_dir / "curl").chmod(0o755)
        done = subprocess.run(
            ["/bin/bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env={  # a new shell: nothing activated, only the gateway's database
                "HOME": str(tmp_path),
                "PATH": f"{bin_dir}:/usr/bin:/bin",
                "DATABASE_URL": gw.db_url,
                "OLLAMA_GATE_SECRET_KEY": gw.env["OLLAMA_GATE_SECRET_KEY"],
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,  # some twenty CLI starts: slow on a loaded machine
        )
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
        out = done.stdout
        assert out.count("The quick brown fox jumps over the lazy") >= 2  # both clients
        assert re.search(r"key og_\S{8} is now revoked", out)
        assert "scopes: manage" in out and "tokens 0 / no budget" in out
        assert '"data":' in out  # the key's own history
        assert re.search(r"(?i)x-ollama-gate-cache: hit", out)  # the cache's example
    finally:
        gw.stop()


def test_the_readme_is_short_and_links_every_page_holding_its_old_sections():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150  # the rest lives in docs/
    for page in DOCS[1:]:
        assert f"]({page})" in readme, page
    own = {section for section, _, _ in read_readme(readme)[0]}
    assert {"Quickstart", "A first call"} <= own
