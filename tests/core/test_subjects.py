"""Subjects and a call's chain of levels: key -> user -> team, and the end-user seam."""

from __future__ import annotations

from datetime import datetime

import pytest

from ollama_gate.errors import ApiError
from ollama_gate.extensions import db
from ollama_gate.history.record import call_mode
from ollama_gate.keys import Identity
from ollama_gate.limits.counters import MemoryCounters
from ollama_gate.limits.quotas import Quotas
from ollama_gate.models import ApiKey, Team, User
from ollama_gate.scheduler.core import weight_of
from ollama_gate.subjects import Level, Subject, levels_of, nearest, prepend_level
from tests.helpers.keys import add_key


class FakeCall:
    """What the stages read of a call."""

    def __init__(self, identity: Identity):
        self.identity = identity
        self.levels: tuple = ()
        self.extra: dict = {}
        self.endpoint = "/api/chat"
        self.started_at = datetime(2026, 12, 7, 12)
        self.stats: dict = {}


def identity_of(app, **team_settings) -> Identity:
    add_key(app, "bob")
    with app.app_context():
        bob = db.session.execute(db.select(User)).scalar_one()
        bob.team = Team(name="ml", **team_settings)
        db.session.commit()
        return Identity.from_key(db.session.execute(db.select(ApiKey)).scalar_one())


def test_a_keys_chain_is_key_user_team_with_stable_refs(app):
    ident = identity_of(app, history_mode="off", queue_weight=3)
    kinds = [level.subject.kind for level in ident.levels]
    assert kinds == ["key", "user", "team"]
    key, user, team = (level.subject for level in ident.levels)
    assert key.ref == str(ident.limits_id)  # today's counter names
    assert (user.ref, team.ref) == (f"user:{ident.user_id}", f"team:{team.id}")
    assert team.phrase == "team 'ml'" and key.phrase == "this API key"
    # the most specific level that sets one: here the team's
    assert ident.history_mode == "off" and ident.queue_weight == 3
    call = FakeCall(ident)
    assert call_mode(call, "full") == "off"
    assert weight_of(call) == 3


def test_a_key_setting_is_more_specific_than_its_teams(app):
    ident = identity_of(app, history_mode="off", queue_weight=3)
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        key.queue_weight, key.history_mode = 2, "metadata"
        db.session.commit()
        ident = Identity.from_key(key)
    assert (ident.queue_weight, ident.history_mode) == (2, "metadata")
    assert nearest(ident.levels, "calls_per_day", "none") == "none"


def test_an_end_user_level_prepended_applies_its_own_quota(app):
    ident = identity_of(app)
    quotas = Quotas(MemoryCounters(lambda ref, period: (0, 0)))
    end_user = Level(Subject("end_user", "owui:42", "ann"), {"calls_per_day": 1})
    first, second = FakeCall(ident), FakeCall(ident)
    for call in (first, second):
        prepend_level(call, end_user)
        assert levels_of(call)[0] is end_user and len(levels_of(call)) == 4
    quotas(first)
    with pytest.raises(ApiError) as refused:
        quotas(second)
    assert "quota of end user 'ann' is used up" in refused.value.message
    assert levels_of(FakeCall(ident)) == ident.levels  # others keep the key's chain
