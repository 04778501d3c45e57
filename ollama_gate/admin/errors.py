"""HTML error pages for the admin area (the API keeps its JSON errors)."""

from __future__ import annotations

from flask import render_template
from flask_wtf.csrf import CSRFError

from .blueprint import bp


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    """A form without a valid CSRF token: usually an old tab; say how to recover."""
    return render_template(
        "admin/error.html",
        title="This form has expired",
        message=f"Reload the page and submit the form again. ({exc.description})",
    ), 400


@bp.errorhandler(404)
def not_found(_exc):
    """An unknown admin page, user or key."""
    return render_template(
        "admin/error.html",
        title="Not found",
        message="That page, user or key does not exist (perhaps it was deleted).",
    ), 404
