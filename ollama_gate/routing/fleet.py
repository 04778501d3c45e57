"""The fleet: every backend's settings and live state in this worker, the aliases
and routes, and the answers other parts ask of it (who serves a model, is anything
up, a model's digest)."""

from __future__ import annotations

import logging
import threading
import time

from ..model_names import canonical
from ..upstream import Upstream
from .backends import BackendConfig, BackendState, configured, parse_backends
from .rules import Aliases, aliases_and_routes, parse_aliases, parse_routes

log = logging.getLogger("ollama_gate.routing")


class Fleet:
    """The backends of one worker, kept fresh by ``health.Checker``."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.states: dict[str, BackendState] = {}
        self.aliases = Aliases()  # canonical alias -> model as configured
        self.routes: dict[str, list[str]] = {}  # canonical model -> backend names
        self.loaded_at = 0.0  # when the configuration was last read
        self._lock = threading.Lock()
        # until the database is read, the environment's backends and rules serve
        # (parsed here, so a malformed entry stops the start with its name)
        try:
            env = (
                parse_backends(settings["BACKENDS"]),
                parse_aliases(settings["ALIASES"]),
                parse_routes(settings["ROUTES"]),
            )
        except ValueError as exc:
            raise RuntimeError(f"OLLAMA_GATE_BACKENDS/ALIASES/ROUTES: {exc}") from None
        self.apply(*env)
        self.loaded_at = 0.0  # the database's rows are not read yet: due at once

    # -- configuration -----------------------------------------------------------

    def reload(self) -> None:
        """Read backends, routes and aliases again (needs an app context)."""
        backends = configured(self.settings["BACKENDS"])
        aliases, routes = aliases_and_routes(self.settings)
        self.apply(backends, aliases, routes)

    def apply(
        self,
        backends: list[BackendConfig],
        aliases: Aliases,
        routes: dict[str, list[str]],
    ) -> None:
        """Use this configuration; a backend whose URL and token are unchanged keeps
        its live state (health, models, pooled connections)."""
        with self._lock:
            states = {}
            for config in backends:
                old = self.states.get(config.name)
                if old and (old.config.url, old.config.token) == (
                    config.url,
                    config.token,
                ):
                    old.config = config
                    states[config.name] = old
                else:
                    states[config.name] = BackendState(
                        config, self._upstream(config), probe=self._probe(config)
                    )
            self.states = states
            self.aliases, self.routes = aliases, routes
            self.loaded_at = time.monotonic()

    def _upstream(self, config: BackendConfig) -> Upstream:
        s = self.settings
        return Upstream(
            config.url,
            s["CONNECT_TIMEOUT"],
            s["READ_TIMEOUT"],
            s["POOL_SIZE"],
            token=config.token,
        )

    def _probe(self, config: BackendConfig) -> Upstream:
        """A client with the health check's short timeouts (a small answer)."""
        t = self.settings["PROBE_TIMEOUT"]
        return Upstream(config.url, t, t, 4, token=config.token)

    # -- questions ---------------------------------------------------------------

    def backends(self) -> list[BackendState]:
        """Every backend, in configured order."""
        return list(self.states.values())

    def get(self, name: str) -> BackendState | None:
        """The backend called ``name``, if there is one."""
        return self.states.get(name)

    def default(self) -> BackendState | None:
        """The backend for management calls and calls naming no known model."""
        wanted = self.settings["DEFAULT_BACKEND"]
        if wanted and wanted in self.states:
            return self.states[wanted]
        usable = [b for b in self.states.values() if b.config.enabled]
        return (usable or list(self.states.values()) or [None])[0]

    def any_healthy(self) -> bool:
        """True when at least one enabled backend passed its last health check."""
        return any(b.config.enabled and b.healthy for b in self.states.values())

    def resolve(self, model: str) -> str | None:
        """The model an alias names, or None when ``model`` is no alias."""
        return self.aliases.get(canonical(model))

    def serving(self, model: str) -> list[BackendState]:
        """Usable backends for ``model``: its route's, else those listing it."""
        name = canonical(model)
        pinned = self.routes.get(name)
        if pinned:
            return [
                self.states[n]
                for n in pinned
                if n in self.states and self.states[n].usable
            ]
        return [b for b in self.states.values() if b.usable and name in b.models]

    def known(self, model: str) -> bool:
        """True when a route or some backend's model list names ``model``."""
        name = canonical(model)
        return name in self.routes or any(
            name in b.models for b in self.states.values()
        )

    def digest(self, model: str) -> str | None:
        """The digest of ``model`` on the first backend listing it (the cache's key)."""
        real = self.resolve(model) or model
        name = canonical(real)
        for b in self.serving(real) or self.states.values():
            tag = b.models.get(name)
            if tag and tag.get("digest"):
                return tag["digest"]
        return None

    def model_names(self) -> list[str]:
        """Every model of every backend and every alias, each once, sorted."""
        names = {
            tag.get("name") or n
            for b in self.states.values()
            for n, tag in b.models.items()
        }
        return sorted(names | set(self.aliases.written.values()))
