"""The rules a key's settings are checked by, one function each, for the admin UI's
forms and the CLI's ``keys create`` and ``keys set`` alike: an expiry in the past is
refused, an allowlist pattern that matches no model on the fleet is warned about.

The fleet lookup is the routing package's ``Fleet``, whose health checks read every
backend's ``/api/tags`` (in the background under gunicorn; on demand otherwise). Any
failure means no suggestions and no warning, never an error.
"""

from __future__ import annotations

import logging
from datetime import datetime

import click
from flask import current_app

from .keys import split_list
from .lookups import parse_when
from .models import utcnow

log = logging.getLogger(__name__)

PAST_EXPIRY = (
    "The expiry is in the past: pick today or a later date, or leave it empty."
)


def expiry_refusal(expires_at: datetime | None, now: datetime) -> str | None:
    """Why ``expires_at`` is refused (a key dead on arrival), or None if fine."""
    if expires_at is not None and expires_at <= now:
        return PAST_EXPIRY
    return None


def fleet_model_names() -> list[str]:
    """Every model name the fleet serves (aliases included), sorted; [] when it
    cannot be known."""
    gate = current_app.extensions["ollama_gate"]
    try:
        gate.checker.ensure_fresh()
        return gate.fleet.model_names()
    except Exception as exc:  # suggestions only: a broken fleet must not break pages
        log.info("no model suggestions: %s", exc)
        return []


def unmatched(patterns: list[str], names: list[str]) -> list[str]:
    """The patterns no fleet model matches ([] when the fleet is unknown)."""
    from .limits.access import model_allowed  # here: limits' CLI imports this module

    if not names:
        return []
    return [p for p in patterns if not any(model_allowed(n, (p,)) for n in names)]


def allowlist_warning(allowlist: str | None) -> str | None:
    """The warning for a key's allowlist patterns that match no fleet model, or None."""
    missing = unmatched(split_list(allowlist), fleet_model_names())
    if not missing:
        return None
    return (
        f"No model on the fleet matches {', '.join(missing)}: check the spelling "
        "(calls for models it does not match are refused)."
    )


def cli_expiry(text: str | None) -> datetime | None:
    """``--expires`` as a UTC time, refused (a click error) by the form's rule."""
    when = parse_when(text)
    refusal = expiry_refusal(when, utcnow())
    if refusal:
        raise click.BadParameter(refusal, param_hint="'--expires'")
    return when


def expires_option(command):
    """Add ``--expires`` to ``keys set`` (``none`` removes the expiry)."""
    return click.option(
        "--expires",
        default=None,
        help="Expiry date (UTC), YYYY-MM-DD or ISO time; 'none': never.",
    )(command)


def set_expiry(key, text: str | None) -> None:
    """Apply ``keys set --expires`` to ``key``: None leaves it, ``none`` clears it."""
    if text is not None:
        none = text.strip().lower() in ("none", "")
        key.expires_at = None if none else cli_expiry(text)


def cli_warnings(key) -> None:
    """Print the form's warnings for ``key`` on stderr (the CLI's flash)."""
    warning = allowlist_warning(key.model_allowlist)
    if warning:
        click.echo(f"warning: {warning}", err=True)
