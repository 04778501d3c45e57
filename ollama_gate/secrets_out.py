"""Where a command shows a secret it made (the first admin's password, the first key).

On a terminal, or in a pipe (``KEY=$(... init | tail -1)``), the secret is printed
once as before. Under systemd, standard output goes to the journal, which every
admin of the host can read for months: there (systemd sets ``JOURNAL_STREAM``) the
secret goes to a file only its owner can read, and the journal gets its path.
"""

from __future__ import annotations

import os

import click
from flask import current_app

FILE_NAME = "initial-secrets.txt"
# (label, secret) of what this process printed: ``serve --init`` repeats them in
# its first-run block, once the server is up
SHOWN: list[tuple[str, str]] = []


def show_secret(
    text: str, secret: str, inline: bool = False, label: str | None = None
) -> None:
    """Print ``text`` and ``secret`` (on the same line, or alone on the next), or
    keep them in a private file when standard output is the journal."""
    if not os.environ.get("JOURNAL_STREAM"):
        click.echo(f"{text} {secret}" if inline else f"{text}\n{secret}")
        if label:
            SHOWN.append((label, secret))
        return
    path = os.path.join(current_app.instance_path, FILE_NAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:
        out.write(f"{text}\n{secret}\n")
    os.chmod(path, 0o600)  # an older file keeps no wider mode
    click.echo(f"{text.rstrip(':')} written to {path} (readable by its owner only)")
