"""The settings file: ``.env`` in the working directory, or the file named by
``OLLAMA_GATE_ENV_FILE``. The app, gunicorn's master (bind, port, workers, timeouts)
and every command load it the same way, so one file drives them all.

Light on purpose: gunicorn's master imports it (through ``server/gunicorn_conf.py``)
before any gevent patching.
"""

from __future__ import annotations

import os

VARIABLE = "OLLAMA_GATE_ENV_FILE"


def env_file_path() -> str | None:
    """The settings file to read, or None when there is none."""
    named = os.environ.get(VARIABLE, "").strip()
    if named:
        if not os.path.isfile(named):  # a typo would silently fall back to defaults
            raise RuntimeError(f"{VARIABLE}={named}: no such file")
        return named
    return ".env" if os.path.isfile(".env") else None


def load_env_file() -> str | None:
    """Add the settings file's variables to the environment (a variable already set
    there wins); return the file's path, or None."""
    path = env_file_path()
    if path is not None:
        from dotenv import load_dotenv

        load_dotenv(path, override=False)
    return path
