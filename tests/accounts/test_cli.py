"""Account commands: ``users create|set --role``, ``users password``, and the old
``admins`` commands acting on users with the admin role."""

from __future__ import annotations

from ollama_gate.audit import AuditLog
from ollama_gate.extensions import db
from ollama_gate.models import ApiKey, User
from tests.helpers.admin import login


def account(app, name: str) -> User | None:
    """The user ``name`` (detached), or None."""
    with app.app_context():
        found = db.session.execute(
            db.select(User).where(User.name == name)
        ).scalar_one_or_none()
        if found is not None:
            db.session.expunge(found)
        return found


def audit(app, action: str) -> list[tuple[str, str]]:
    """(target, detail) of the audit entries of ``action``."""
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars()
        return [(r.target, r.detail) for r in rows]


def test_create_with_a_role_and_a_password_from_stdin(app, client, runner):
    result = runner.invoke(
        args=["users", "create", "tia", "--role", "team_admin", "--password-stdin"],
        input="tia's long password\n",
    )
    assert result.exit_code == 0, result.output
    tia = account(app, "tia")
    assert tia.role == "team_admin" and tia.check_password("tia's long password")
    assert audit(app, "role_changed") == [("tia", "Member -> Team admin")]
    assert login(client, "tia", "tia's long password").status_code == 302
    plain = runner.invoke(args=["users", "create", "app1"])
    assert plain.exit_code == 0 and account(app, "app1").role == "member"
    assert account(app, "app1").password_hash is None
    bad = runner.invoke(args=["users", "create", "x", "--role", "owner"])
    assert bad.exit_code == 2 and account(app, "x") is None
    short = runner.invoke(
        args=["users", "create", "y", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "at least 10" in short.output
    assert account(app, "y") is None


def test_set_role_is_audited_and_says_so(app, runner):
    runner.invoke(args=["users", "create", "bo"])
    runner.invoke(args=["users", "create", "cal"])  # a member: no role shown
    result = runner.invoke(args=["users", "set", "bo", "--role", "admin"])
    assert result.exit_code == 0 and "role admin" in result.output
    same = runner.invoke(args=["users", "set", "bo", "--role", "admin"])
    assert same.exit_code == 0 and "role" not in same.output
    assert audit(app, "role_changed") == [("bo", "Member -> Admin")]
    assert account(app, "bo").is_admin
    listing = runner.invoke(args=["users", "list"]).output
    assert "role=admin" in listing and listing.count("role=") == 1


def test_password_prompted_or_from_stdin_ends_sessions(app, runner):
    runner.invoke(args=["users", "create", "cy"])
    prompted = runner.invoke(
        args=["users", "password", "cy"], input="cy's long password\n" * 2
    )
    assert prompted.exit_code == 0, prompted.output
    token = account(app, "cy").session_token
    piped = runner.invoke(
        args=["users", "password", "cy", "--password-stdin"],
        input="cy's next password\n",
    )
    assert piped.exit_code == 0
    cy = account(app, "cy")
    assert cy.check_password("cy's next password") and cy.session_token != token
    assert [t for t, _ in audit(app, "password_changed")] == ["cy", "cy"]
    missing = runner.invoke(args=["users", "password", "nobody"], input="x" * 12)
    assert missing.exit_code != 0


def test_admins_commands_act_on_users_with_the_admin_role(app, runner):
    runner.invoke(args=["users", "create", "dee"])
    runner.invoke(args=["keys", "create", "dee"])
    made = runner.invoke(
        args=["admins", "create", "dee", "--password", "dee's long password"]
    )
    assert made.exit_code == 0, made.output  # the key owner becomes an admin
    assert account(app, "dee").is_admin
    assert "dee" in runner.invoke(args=["admins", "list"]).output
    gone = runner.invoke(args=["admins", "delete", "dee", "--yes"])
    assert gone.exit_code == 0
    dee = account(app, "dee")  # kept with their key, as a member, no password
    assert dee.role == "member" and dee.password_hash is None
    with app.app_context():
        assert db.session.execute(db.select(ApiKey)).scalar_one().user_id == dee.id
    assert "dee" not in runner.invoke(args=["admins", "list"]).output


def test_init_names_the_first_admin_around_a_user_called_admin(app, runner):
    runner.invoke(args=["users", "create", "admin"])  # an app, say, with keys
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "created admin 'admin-2'" in result.output
    assert account(app, "admin").role == "member"
    assert account(app, "admin-2").is_admin
