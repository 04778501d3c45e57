"""The rules that admit a person and give them a team and a role, and the settings
they read (no provider needed)."""

from __future__ import annotations

import pytest

from ollama_gate.oidc.rules import groups_of, judge, name_of
from ollama_gate.oidc.settings import parse_issuer, parse_map, parse_role_map

SETTINGS = {
    "OIDC_TEAM_MAP": {"research": "Research", "ops": "Operations"},
    "OIDC_ROLE_MAP": {"leads": "team_admin", "it": "admin"},
    "OIDC_ALLOW_UNKNOWN": False,
    "OIDC_DEFAULT_TEAM": "Everyone",
}


def rules(**changes):
    return {**SETTINGS, **changes}


def test_the_first_listed_group_names_the_team_and_the_strongest_role_wins():
    verdict = judge(["ops", "research", "leads", "it"], SETTINGS, is_new=True)
    assert (verdict.admitted, verdict.team, verdict.role) == (True, "Research", "admin")


def test_a_person_in_a_team_group_only_is_a_member():
    verdict = judge(["ops"], SETTINGS, is_new=False)
    assert (verdict.team, verdict.role) == ("Operations", "member")


def test_a_role_group_alone_admits_and_a_new_person_gets_the_default_team():
    verdict = judge(["leads"], SETTINGS, is_new=True)
    assert (verdict.admitted, verdict.team, verdict.role) == (
        True,
        "Everyone",
        "team_admin",
    )
    # someone already here keeps the team an admin gave them
    assert judge(["leads"], SETTINGS, is_new=False).team is None


def test_unknown_people_are_refused_unless_allowed():
    refused = judge(["marketing"], SETTINGS, is_new=True)
    assert not refused.admitted and "none of the groups" in refused.reason
    allowed = judge([], rules(OIDC_ALLOW_UNKNOWN=True), is_new=True)
    assert (allowed.admitted, allowed.team, allowed.role) == (
        True,
        "Everyone",
        "member",
    )
    no_default = judge([], rules(OIDC_ALLOW_UNKNOWN=True, OIDC_DEFAULT_TEAM=""), True)
    assert no_default.team is None


def test_without_a_role_map_roles_stay_as_the_gateway_has_them():
    verdict = judge(["research"], rules(OIDC_ROLE_MAP={}), is_new=False)
    assert verdict.admitted and verdict.role is None


def test_a_role_map_demotes_someone_who_left_the_admin_group():
    assert judge(["research"], SETTINGS, is_new=False).role == "member"


@pytest.mark.parametrize(
    "claims, name",
    [
        ({"preferred_username": "ann", "email": "a@x"}, "ann"),
        ({"email": "a@x", "email_verified": True}, "a@x"),
        ({"email": "a@x"}, "a@x"),  # many providers never say
        ({"email": "a@x", "email_verified": False}, None),
        ({"preferred_username": "  ", "email": "a@x"}, "a@x"),
        ({"preferred_username": "a\x00b"}, None),
        ({"preferred_username": "x" * 121}, None),
        ({"preferred_username": 7}, None),
        ({}, None),
    ],
)
def test_the_name_is_the_first_usable_claim(claims, name):
    assert name_of(claims, ["preferred_username", "email"]) == name


@pytest.mark.parametrize(
    "value, groups",
    [(["a", "b"], ["a", "b"]), ("a", ["a"]), (None, []), ([1, "a"], ["a"]), (3, [])],
)
def test_groups_come_as_a_list_or_one_string(value, groups):
    assert groups_of({"groups": value}, "groups") == groups


def test_maps_parse_in_order_and_refuse_nonsense():
    assert list(parse_map("b=Team B, a = Team A,")) == ["b", "a"]
    assert parse_map("/eng/ml=Machine learning") == {"/eng/ml": "Machine learning"}
    for bad in ("research", "=team", "group="):
        with pytest.raises(ValueError):
            parse_map(bad)
    assert parse_role_map("leads=team_admin") == {"leads": "team_admin"}
    with pytest.raises(ValueError, match="not one of"):
        parse_role_map("leads=owner")


@pytest.mark.parametrize(
    "value, parsed",
    [
        (
            "https://login.example.com/tenant/v2.0/",
            "https://login.example.com/tenant/v2.0",
        ),
        ("http://localhost:8080/realms/x", "http://localhost:8080/realms/x"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("", ""),
    ],
)
def test_the_issuer_is_https_or_on_this_machine(value, parsed):
    assert parse_issuer(value) == parsed


@pytest.mark.parametrize(
    "value", ["http://idp.example.com", "ftp://idp", "https://", "idp.example.com"]
)
def test_an_issuer_anyone_on_the_way_could_play_is_refused(value):
    with pytest.raises(ValueError):
        parse_issuer(value)
