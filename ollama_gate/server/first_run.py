"""The block ``ollama-gate serve`` prints once start-up is done: the admin URL at the
real address, on a fresh install the admin's password and the first key (as
``export KEY=...``), the backends and their models, and how to stop.

``serve --init`` runs ``init`` and looks at the backends before gunicorn takes over
its process, and hands what it found over a pipe (``FD``: secrets never touch a file
or the environment); the master reads it when ready, before any worker is forked,
and the first worker prints the block once its app is built. Stdlib only: the
master imports this.
"""

from __future__ import annotations

import json
import os
import socket
import sys

FD = "_OLLAMA_GATE_FIRST_RUN_FD"  # internal: the pipe serve --init hands gunicorn
_notes: dict = {}  # the master's, inherited by the workers it forks


def hand_over(notes: dict) -> None:
    """In ``serve``, before the exec: ``notes`` in a pipe gunicorn inherits."""
    read, write = os.pipe()
    os.write(write, json.dumps(notes).encode())  # far below a pipe's buffer
    os.close(write)
    os.set_inheritable(read, True)
    os.environ[FD] = str(read)


def take_over(server) -> None:
    """In the master, when ready: read the pipe, and note where it listens."""
    fd = os.environ.pop(FD, "")
    if fd.isdigit():
        with os.fdopen(int(fd), "rb") as pipe:
            _notes.update(json.loads(pipe.read() or b"{}"))
    _notes["urls"] = [public_url(str(listener)) for listener in server.LISTENERS]


def public_url(listening: str) -> str:
    """``http://0.0.0.0:8080`` as a client would type it (the machine's name)."""
    scheme, _, rest = listening.partition("://")
    host, _, port = rest.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::"):
        host = socket.gethostname()
    return f"{scheme}://{host}:{port}"


def block(notes: dict) -> str:
    """The first-run block's text."""
    urls = notes.get("urls") or []
    url = urls[0] if urls else "http://127.0.0.1:8080"
    lines = [
        "",
        "=" * 72,
        f"ollama-gate is ready at {url}",
        f"  admin UI:  {url}/admin",
    ]
    for label, secret in notes.get("secrets", []):
        if secret.startswith("og_"):  # the first key, ready to paste
            lines.append(f"  {label}:  export KEY={secret}")
        else:
            lines.append(f"  {label}:  {secret}")
    for b in notes.get("backends", []):
        models = ", ".join(b.get("models") or []) or "no models"
        state = models if b["state"] == "up" else b["state"]
        lines.append(f"  backend {b['name']} ({b['url']}): {state}")
    lines += ["  stop:      Ctrl-C (a second one stops at once)", "=" * 72, ""]
    return "\n".join(lines)


def show(worker) -> None:
    """In the first worker, its app built: print the block once."""
    if worker.age == 1 and _notes:
        try:
            text = block(_notes)
        except Exception:  # a block is no reason to stop a worker
            worker.log.exception("the first-run block failed")
            return
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        _notes.pop("secrets", None)  # shown once; not kept in the worker's memory
