"""Every setting of the gateway, with its default; read from ``OLLAMA_GATE_*``
variables.

``SETTINGS`` joins the rows each package keeps in its ``settings.py``: (name, parser,
default, one-line description). The settings reference, ``docs/settings.md``, is
generated from it (``tests/system/test_docs.py`` and ``tests/core/test_config.py``
check it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import settings as core
from .accounts import settings as accounts
from .admin import settings as admin
from .cache import settings as cache
from .events import settings as events
from .history import settings as history
from .limits import settings as limits
from .metrics import settings as metrics
from .oidc import settings as oidc
from .ops import settings as ops
from .portal import settings as portal
from .routing import settings as routing
from .scheduler import settings as scheduler
from .selfserve import settings as selfserve
from .settings import Row
from .traces import settings as traces

PREFIX = "OLLAMA_GATE_"


# every package's rows, core first (names are unique across packages)
SETTINGS: list[Row] = [
    *core.ROWS,
    *routing.ROWS,
    *scheduler.ROWS,
    *limits.ROWS,
    *history.ROWS,
    *admin.ROWS,
    *accounts.ROWS,
    *oidc.ROWS,
    *ops.ROWS,
    *metrics.ROWS,
    *cache.ROWS,
    *selfserve.ROWS,
    *portal.ROWS,
    *traces.ROWS,
    *events.ROWS,
]


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the parsed settings from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, parser, default, _doc in SETTINGS:
        raw = env.get(PREFIX + name, default)
        try:
            out[name] = parser(raw)
        except ValueError as exc:
            raise RuntimeError(f"{PREFIX}{name}: {exc}") from None
    if env.get("DATABASE_URL"):
        out["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(env["DATABASE_URL"])
    return out


def _normalise_db_url(url: str) -> str:
    """Accept PaaS-style ``postgres://`` URLs and pick the psycopg 3 driver."""
    for old in ("postgres://", "postgresql://"):
        if url.startswith(old):
            return "postgresql+psycopg://" + url[len(old) :]
    return url


def ensure_secret_key(config: dict[str, Any], instance_path: str) -> None:
    """Use the configured secret, or in development keep a generated one in the instance
    folder."""
    if config.get("SECRET_KEY"):
        return
    if config.get("ENV_NAME") == "production":  # the factory's name for ``ENV``
        raise RuntimeError(
            "OLLAMA_GATE_SECRET_KEY is required when OLLAMA_GATE_ENV=production"
        )
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # created private: a write then a chmod would leave it readable a moment
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    config["SECRET_KEY"] = path.read_text().strip()
