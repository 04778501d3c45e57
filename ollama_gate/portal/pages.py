"""The portal's pages for a signed-in person: my keys (with the form to make one),
my usage and budgets left, my history, the models I may use."""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask_login import login_required
from sqlalchemy import select

from ..accounts import policy as rules
from ..admin.audit import page_arg
from ..admin.forms import ConfirmForm
from ..extensions import db
from ..history.models import Request
from ..keyrules import fleet_model_names
from ..models import utcnow
from ..selfserve.report import usage_report
from .blueprint import bp, me
from .forms import MyKeyForm

HISTORY_PAGE = 50


def index_page(form: MyKeyForm | None = None, refused: str | None = None) -> str:
    """My keys, the policy in words and the new-key form (fresh or with errors)."""
    person, now = me(), utcnow()
    policy = rules.policy_for(person)
    form = form or MyKeyForm()
    latest = rules.latest_expiry(policy, now.date())
    if not form.is_submitted() and policy.expiry_required and latest:
        form.expires.data = latest  # the longest the team allows, to shorten
    keys = sorted(person.keys, key=lambda k: k.id, reverse=True)
    return render_template(
        "portal/index.html",
        person=person,
        keys=keys,
        active=len(rules.active_keys(person, now)),
        policy=policy,
        latest=latest,
        form=form,
        refused=refused,
        confirm=ConfirmForm(),
        pickable=rules.pickable(policy, fleet_model_names()),
        now=now,
    )


@bp.get("/")
@login_required
def index():
    """My keys and the form to make one."""
    return index_page()


@bp.get("/usage")
@login_required
def usage():
    """My use against my own budgets, my team's (one pool) and each key's."""
    person, now = me(), utcnow()
    reports = [usage_report(k) for k in rules.active_keys(person, now)]
    return render_template(
        "portal/usage.html", person=person, team=person.team, reports=reports
    )


def history_shown() -> bool:
    """Whether people see their own calls here (OLLAMA_GATE_PORTAL_HISTORY)."""
    return bool(current_app.config["GATE"]["PORTAL_HISTORY"])


def history_mode(person) -> str:
    """What the gateway records of the person's calls, unless a key says otherwise."""
    team = person.team
    return (
        person.history_mode
        or (team.history_mode if team is not None else None)
        or current_app.config["GATE"]["HISTORY_MODE"]
    )


@bp.get("/history")
@login_required
def history():
    """My recorded calls, newest first (what my history mode kept of them)."""
    if not history_shown():
        abort(404)
    person = me()
    query = (
        select(Request)
        .where(Request.user_id == person.id)
        .order_by(Request.started_at.desc(), Request.id.desc())
    )
    page = db.paginate(query, page=page_arg(), per_page=HISTORY_PAGE, error_out=False)
    return render_template("portal/history.html", page=page, mode=history_mode(person))


@bp.get("/models")
@login_required
def models():
    """The models I may pick for a key, and the rules that say so."""
    person = me()
    policy = rules.policy_for(person)
    names = fleet_model_names()
    return render_template(
        "portal/models.html",
        policy=policy,
        names=rules.pickable(policy, names),
        fleet_known=bool(names),
    )


def nav_links() -> list[tuple[str, str]]:
    """The portal's pages, for the navigation (history only when shown)."""
    links = [("portal.index", "My keys"), ("portal.usage", "My usage")]
    if history_shown():
        links.append(("portal.history", "My history"))
    links.append(("portal.models", "Models"))
    return links
