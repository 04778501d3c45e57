"""The account on ``users``: passwords, session ids, roles (``accounts.mixin``)."""

from __future__ import annotations

import pytest

from ollama_gate.accounts.sessions import landing_url, user_from_session_id
from ollama_gate.extensions import db
from ollama_gate.models import Team, User


def test_an_account_without_a_password_matches_none():
    app_user = User(name="obsidian")
    assert app_user.password_hash is None
    for guess in ("", "anything at all", "None"):
        assert not app_user.check_password(guess)


def test_a_password_is_hashed_and_a_new_one_ends_sessions():
    person = User(name="ann")
    with pytest.raises(ValueError, match="at least 10"):
        person.set_password("short")
    person.set_password("ann's long password")
    first = person.session_token
    assert person.password_hash.startswith("scrypt:")
    assert "ann's long password" not in person.password_hash
    assert person.check_password("ann's long password")
    person.set_password("ann's next password")
    assert person.session_token != first
    person.clear_password()
    assert person.password_hash is None and not person.check_password("x" * 12)


@pytest.mark.parametrize(
    "role, admin, team_admin, staff, landing",
    [
        ("admin", True, False, True, "/admin/"),
        ("team_admin", False, True, True, "/admin/"),
        ("member", False, False, False, "/portal/"),
    ],
)
def test_roles(role, admin, team_admin, staff, landing):
    person = User(name="p", role=role, team_id=4)
    assert (person.is_admin, person.is_team_admin, person.is_staff) == (
        admin,
        team_admin,
        staff,
    )
    assert landing_url(person) == landing
    assert person.can_manage_team(4) == staff
    assert person.can_manage_team(5) == admin  # another team: admins only
    assert person.can_manage_team(None) == admin


def test_a_new_user_is_a_member_in_the_database(app):
    with app.app_context():
        db.session.add(User(name="bo", team=Team(name="ml")))
        db.session.commit()
        bo = db.session.execute(db.select(User)).scalar_one()
        assert bo.role == "member" and bo.password_hash is None


def test_session_id_is_tied_to_the_session_token(app):
    with app.app_context():
        person = User(name="cy")
        person.set_password("first password")
        db.session.add(person)
        db.session.commit()
        sid = person.get_id()
        assert user_from_session_id(sid) is person
        for bad in ("", "x", f"{person.id}", f"{person.id}:", f"{person.id}:no", "9:a"):
            assert user_from_session_id(bad) is None
        person.end_sessions()
        db.session.commit()
        assert user_from_session_id(sid) is None
        assert user_from_session_id(person.get_id()) is person


def test_an_account_that_never_signed_in_gets_a_token_when_it_does(app):
    with app.app_context():
        person = User(name="dee")
        db.session.add(person)
        db.session.commit()
        assert person.session_token is None
        assert user_from_session_id(f"{person.id}:") is None
        sid = person.get_id()  # login_user asks for it: a token is made
        db.session.commit()
        assert user_from_session_id(sid) is person
