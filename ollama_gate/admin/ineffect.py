"""The settings in effect (``/admin/settings``): every settings row with its value,
where it came from and its help text; secrets only as set or not, and passwords in
URLs masked. Read-only: settings change in the environment or ``.env``."""

from __future__ import annotations

import os
import re

from dotenv import dotenv_values, find_dotenv
from flask import current_app, render_template
from flask_login import login_required
from markupsafe import Markup, escape
from sqlalchemy import func, select

from ..extensions import db
from .blueprint import bp
from .words import plural

PREFIX = "OLLAMA_GATE_"  # config.PREFIX
SECRETS = {"SECRET_KEY", "METRICS_TOKEN", "OIDC_CLIENT_SECRET"}
# headings of the packages' rows, by the name config imports them as
HEADINGS = {
    "core": "Gateway",
    "routing": "Backends and routing",
    "scheduler": "Queue",
    "limits": "Limits",
    "history": "History",
    "admin": "Admin UI",
    "accounts": "Accounts and sign-in",
    "oidc": "Sign-in with an identity provider",
    "ops": "Operations",
    "metrics": "Metrics",
    "cache": "Response cache",
    "selfserve": "Self-service",
    "portal": "The portal",
    "traces": "Traces",
    "events": "Events and webhooks",
}
PASSWORD_IN_URL = re.compile(r"(//[^/@:\s]*:)[^@/\s]+@")
CODE = re.compile(r"`([^`]+)`")


def masked(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` hidden."""
    return PASSWORD_IN_URL.sub(r"\1•••@", text)


def help_html(text: str) -> Markup:
    """A row's help text, escaped, its `code` spans as <code>."""
    return Markup(CODE.sub(r"<code>\1</code>", str(escape(text))))


def _dotenv() -> dict[str, str | None]:
    """The ``.env`` file's values, as the app factory's ``load_dotenv`` found it."""
    path = find_dotenv()  # from this package up, as load_dotenv() searches from app.py
    return dotenv_values(path) if path else {}


def _source(name, parser, default, in_effect, dotenv) -> tuple[str, str]:
    """(where the value came from, its text as given)."""
    var = PREFIX + name
    if var in os.environ:
        raw = os.environ[var]
        return (".env file" if dotenv.get(var) == raw else "environment"), raw
    try:
        overridden = parser(default) != in_effect
    except ValueError:
        overridden = False
    if overridden:  # create_app's overrides (a test or an embedding app)
        return "set by the app", str(in_effect)
    return "default", default


def _secret(name: str, raw: str) -> str:
    """A secret as set or not: never its value, nor a part of it."""
    held = current_app.secret_key if name == "SECRET_KEY" else raw
    return "set" if held else "not set"


def in_database(config) -> dict[str, tuple[str, tuple[str, str]]]:
    """The settings the admin UI adds to from the database, as each package's settings
    module declares them (``IN_DATABASE``): name -> (table, what a row is called)."""
    return {
        name: held
        for module in HEADINGS
        for name, held in getattr(getattr(config, module), "IN_DATABASE", {}).items()
    }


def rows() -> list[tuple[str, list[dict]]]:
    """Each group's settings: name, value text, source, help, secret, database note."""
    from .. import config  # not at import: config imports this package's rows

    gate, dotenv = current_app.config["GATE"], _dotenv()
    held = in_database(config)
    out = []
    for module, heading in HEADINGS.items():
        group = getattr(config, module).ROWS
        items = []
        for name, parser, default, doc in group:
            source, raw = _source(name, parser, default, gate.get(name), dotenv)
            secret = name in SECRETS
            if name == "SECRET_KEY" and source == "default":
                source = "generated (instance folder)"
            note = ""
            if name in held:
                table, what = held[name]
                count = db.session.execute(
                    select(func.count()).select_from(db.metadata.tables[table])
                )
                note = f"and {plural(count.scalar_one(), *what)} in the database"
            items.append(
                {
                    "name": PREFIX + name,
                    # a space after each comma: lists wrap between their items
                    "value": _secret(name, raw)
                    if secret
                    else masked(raw).replace(",", ", "),
                    "source": source,
                    "help": help_html(doc),
                    "secret": secret,
                    "database": note,
                }
            )
        out.append((heading, items))
    return out


@bp.get("/settings")
@login_required
def settings_in_effect():
    """Every setting with its value, where it came from, and what it does."""
    url = db.engine.url
    database = f"{url.get_backend_name()}" + (
        f" ({url.database})" if url.database else ""
    )
    return render_template(
        "admin/settings.html", groups=rows(), database=masked(database)
    )
