"""Aliases and routes: from the environment, then the database's rows (which win)."""

from __future__ import annotations

from ..extensions import db
from ..model_names import canonical
from .models import Alias, ModelRoute


class Aliases(dict):
    """Alias -> model, by canonical alias; ``written`` keeps each alias as the admin
    wrote it, which is how model lists show it (``gpt-4o``, not ``gpt-4o:latest``)."""

    def __init__(self):
        super().__init__()
        self.written: dict[str, str] = {}

    def add(self, alias: str, model: str) -> None:
        """Let ``alias`` name ``model``."""
        self[canonical(alias)] = model.strip()
        self.written[canonical(alias)] = alias.strip()


def parse_aliases(entries: list[str]) -> Aliases:
    """``alias=model`` entries; ValueError on a malformed one."""
    out = Aliases()
    for entry in entries:
        alias, sep, model = entry.partition("=")
        if not sep or not alias.strip() or not model.strip():
            raise ValueError(f"an alias is alias=model, not {entry!r}")
        out.add(alias, model)
    return out


def parse_routes(entries: list[str]) -> dict[str, list[str]]:
    """``model=backend|backend`` entries, by canonical model."""
    out = {}
    for entry in entries:
        model, sep, names = entry.partition("=")
        backends = [n.strip() for n in names.split("|") if n.strip()]
        if not sep or not model.strip() or not backends:
            raise ValueError(f"a route is model=backend|backend, not {entry!r}")
        out[canonical(model)] = backends
    return out


def aliases_and_routes(settings: dict) -> tuple[Aliases, dict[str, list[str]]]:
    """Every alias and route in force (needs an app context)."""
    aliases = parse_aliases(settings["ALIASES"])
    for row in db.session.execute(db.select(Alias)).scalars():
        aliases.add(row.name, row.model)
    routes = parse_routes(settings["ROUTES"])
    db_routes: dict[str, list[str]] = {}
    rows = db.session.execute(db.select(ModelRoute).order_by(ModelRoute.id))
    for row in rows.scalars():
        db_routes.setdefault(row.model, []).append(row.backend)
    routes.update(db_routes)  # a model routed in the database: those rows only
    return aliases, routes
