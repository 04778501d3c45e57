"""The backends page's edit and remove pages: change a backend (everything the CLI's
``backends set`` can), and confirm before removing a backend (naming the routes that
go with it), an alias, a route or a model policy."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import login_required

from ..admin.blueprint import bp
from ..admin.forms import ConfirmForm
from ..audit import FleetError
from ..extensions import db
from ..scheduler.manage import set_policy
from .forms import EditBackendForm
from .manage import (
    env_config,
    remove_backend,
    row_of,
    set_backend,
    set_route,
)
from .models import ModelRoute


def _changed(message: str):
    """After a change: this worker sees it now (others within HEALTH_INTERVAL)."""
    current_app.extensions["ollama_gate"].checker.check_due(force=True)
    flash(message, "success")
    return redirect(url_for("admin.backends"))


def _config(name: str):
    """The backend ``name`` as the fleet has it (settings and environment), or 404."""
    fleet = current_app.extensions["ollama_gate"].fleet
    fleet.reload()
    backend = fleet.get(name)
    if backend is None:
        abort(404)
    return backend.config


def _edits(form: EditBackendForm, config) -> dict:
    """The fields the form changes (the token only when given or removed)."""
    wanted = {
        "url": form.url.data.strip(),
        "weight": form.weight.data or 1,
        "parallel": form.parallel.data or 0,
        "max_loaded": form.max_loaded.data or 0,
    }
    now = {
        "url": config.url,
        "weight": config.weight,
        "parallel": config.parallel or 0,
        "max_loaded": config.max_loaded or 0,
    }
    edits = {k: v for k, v in wanted.items() if v != now[k]}
    if form.remove_token.data:
        edits["token"] = "" if config.token else None
    elif form.token.data:
        edits["token"] = form.token.data
    return {k: v for k, v in edits.items() if v is not None}


@bp.route("/backends/<name>/edit", methods=["GET", "POST"])
@login_required
def backend_edit(name: str):
    """A backend's URL, token, weight and parallel, in one form."""
    config = _config(name)
    form = EditBackendForm()
    if not form.is_submitted():
        form.url.data, form.weight.data = config.url, config.weight
        form.parallel.data = config.parallel or None
        form.max_loaded.data = config.max_loaded or None
    elif form.validate():
        edits = _edits(form, config)
        if not edits:
            flash(f"Nothing changed on {name}.", "info")
            return redirect(url_for("admin.backends"))
        try:
            set_backend(current_app.config["GATE"], name, **edits)
        except FleetError as exc:
            form.url.errors.append(str(exc))
        else:
            what = ", ".join(sorted(edits))
            return _changed(f"Backend {name}: {what} changed.")
    page = render_template("admin/backend_edit.html", form=form, backend=config)
    return page, (400 if form.errors else 200)


def _confirm(title: str, message: str, button: str):
    return render_template(
        "admin/confirm.html",
        title=title,
        message=message,
        button=button,
        form=ConfirmForm(),
        cancel=url_for("admin.backends"),
    )


def _done(change, message: str):
    """Make ``change`` (a callable) unless it is refused; back to the page."""
    try:
        change()
    except FleetError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.backends"))
    return _changed(message)


@bp.route("/backends/<name>/remove", methods=["GET", "POST"])
@login_required
def backend_remove(name: str):
    """Ask, then remove a backend row (and its routes) or reset it to its settings."""
    settings = current_app.config["GATE"]
    if ConfirmForm().validate_on_submit():
        try:
            what = remove_backend(settings, name)
        except FleetError as exc:
            flash(str(exc), "error")
            return redirect(url_for("admin.backends"))
        return _changed(f"Backend {name}: {what}.")
    if row_of(name) is None:
        abort(404)  # OLLAMA_GATE_BACKENDS' own: disabled here, removed there
    if env_config(settings, name) is not None:
        return _confirm(
            f"Reset backend {name}?",
            f"The changes made here to {name} are dropped: it goes back to its "
            "OLLAMA_GATE_BACKENDS settings. Its routes stay.",
            "Reset backend",
        )
    routes = db.session.execute(
        db.select(ModelRoute.model).filter_by(backend=name).order_by(ModelRoute.model)
    ).scalars()
    routes = list(routes)
    goes = (
        f" Its routes go with it: {', '.join(routes)} (those models then run on any "
        "backend that has them, unless routed elsewhere too)."
        if routes
        else " No route names it."
    )
    return _confirm(
        f"Remove backend {name}?",
        f"Calls stop going to {name} within a health check.{goes}",
        "Remove backend",
    )


@bp.get("/backends/aliases/<path:alias>/remove")
@login_required
def alias_remove_confirm(alias: str):
    """Ask before removing an alias (the POST is ``aliases_remove``)."""
    return _confirm(
        f"Remove alias {alias}?",
        f"Calls naming {alias} are then refused unless a backend has a model of "
        "that name.",
        "Remove alias",
    )


@bp.route("/backends/routes/<path:model>/remove", methods=["GET", "POST"])
@login_required
def route_remove(model: str):
    """Ask, then unpin a model: it runs on any backend that has it."""
    if ConfirmForm().validate_on_submit():
        return _done(lambda: set_route(model, []), f"Route for {model} removed.")
    return _confirm(
        f"Remove the route for {model}?",
        f"{model} then runs on any backend that has it.",
        "Remove route",
    )


@bp.route("/backends/policies/<path:model>/remove", methods=["GET", "POST"])
@login_required
def policy_remove(model: str):
    """Ask, then drop a model's policy (num_ctx, keep_alive, warm copies)."""
    if ConfirmForm().validate_on_submit():
        empty = {"num_ctx": 0, "keep_alive": "", "warm": 0}
        return _done(lambda: set_policy(model, **empty), f"Policy for {model} removed.")
    return _confirm(
        f"Remove the policy for {model}?",
        f"Calls of {model} then keep the client's num_ctx and keep_alive, and no "
        "copy is kept warm.",
        "Remove policy",
    )
