"""What the gateway knows of each backend: its settings (environment and database
joined) and its live state (health, models, loaded models, version)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..extensions import db
from ..model_names import canonical
from .models import Backend


@dataclass(frozen=True)
class BackendConfig:
    """A backend as configured: from ``OLLAMA_GATE_BACKENDS``, a row, or both."""

    name: str
    url: str
    token: str | None = None
    enabled: bool = True
    weight: int = 1
    parallel: int | None = None
    max_loaded: int | None = None  # models it holds at once (None: learned, or any)
    source: str = "env"  # env, database, or env+database (a row overrides the entry)
    shadows: str | None = None  # the entry's URL, when a row replaces it by another


@dataclass(eq=False)
class BackendState:
    """A backend's live state in this worker, kept by the health checks and calls."""

    config: BackendConfig
    upstream: object  # the ``Upstream`` client of its URL, for calls
    probe: object = None  # another, with short timeouts, for health checks
    healthy: bool | None = None  # None: not checked yet
    models: dict[str, dict] = field(default_factory=dict)  # canonical name -> tag
    loaded: dict[str, dict] = field(default_factory=dict)  # canonical name -> ps entry
    version: str | None = None
    last_error: str | None = None
    checked_at: float = 0.0  # time.monotonic() of the last check
    failures: int = 0  # health checks failed in a row (the backoff)
    up_since: float = 0.0  # time.monotonic() it last came up (warm models reload)
    next_check: float = 0.0
    peer: bool = False  # another gateway (it answers the hop header), not an Ollama
    refreshing: bool = False  # its /api/ps is being read again (after a cold load)

    @property
    def name(self) -> str:
        """The backend's name."""
        return self.config.name

    @property
    def usable(self) -> bool:
        """Enabled and not known to be down (unchecked counts as up: calls fail
        over)."""
        return self.config.enabled and self.healthy is not False


def name_of_url(url: str) -> str:
    """The name of a backend given as a bare URL: its host and port."""
    return urlsplit(url).netloc or url


def parse_backends(entries: list[str]) -> list[BackendConfig]:
    """``name=url`` or bare ``url`` entries of ``OLLAMA_GATE_BACKENDS``."""
    out: dict[str, BackendConfig] = {}
    for entry in entries:
        head = entry.split("://", 1)[0]
        if "=" in head:
            name, url = entry.split("=", 1)
        else:
            name, url = "", entry
        url = url.strip().rstrip("/")
        check_url(url)
        name = name.strip() or name_of_url(url)
        out[name] = BackendConfig(name=name, url=url)
    return list(out.values())


def check_url(url: str) -> str:
    """The URL of a backend, or ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a backend URL is http(s)://host[:port], not {url!r}")
    if parts.query or parts.fragment or parts.username:
        raise ValueError(f"a backend URL has no query, fragment or user: {url!r}")
    return url.rstrip("/")


def configured(env_entries: list[str]) -> list[BackendConfig]:
    """Every backend: the environment's, each overridden by a row of its name, then
    the rows of their own, in order of creation."""
    env = {b.name: b for b in parse_backends(env_entries)}
    rows = db.session.execute(db.select(Backend).order_by(Backend.id)).scalars()
    out = dict(env)
    for row in rows:
        out[row.name] = BackendConfig(
            name=row.name,
            url=row.url,
            token=row.token or None,
            enabled=row.enabled,
            weight=max(1, row.weight or 1),
            parallel=row.parallel,
            max_loaded=row.max_loaded,
            source="env+database" if row.name in env else "database",
            shadows=_shadowed(env.get(row.name), row.url),
        )
    return list(out.values())


def _shadowed(entry: BackendConfig | None, url: str) -> str | None:
    """The environment entry's URL, when a row of its name points elsewhere."""
    return entry.url if entry is not None and entry.url != url.rstrip("/") else None


def tags_of(body: dict) -> dict[str, dict]:
    """The models of an ``/api/tags`` answer, by canonical name."""
    models = body.get("models") or []
    return {
        canonical(m.get("name") or m.get("model") or ""): m
        for m in models
        if isinstance(m, dict) and (m.get("name") or m.get("model"))
    }
