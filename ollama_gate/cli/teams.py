"""Commands ``teams create|list|set|delete``: groups of users whose settings bound
every member's keys (one quota pool, one concurrency cap, an allowlist...).

The options are made from ``subject_settings.TABLE``; every change is audited.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from ..audit import record
from ..extensions import db
from ..limits.cli import usage_lines
from ..models import Team, User
from ..subject_settings import apply_options, describe, diff, options, snapshot
from ..text import printable
from .users import check_user_name

teams_cli = AppGroup(
    "teams", help="Manage teams (users whose keys share limits and settings)."
)


def get_team(name: str) -> Team:
    """The team called ``name``, or a click error."""
    team = db.session.execute(
        db.select(Team).where(Team.name == name)
    ).scalar_one_or_none()
    if team is None:
        raise click.ClickException(f"no team named {name!r}")
    return team


def team_lines(team: Team) -> list[str]:
    """What a team sets, and who is in it."""
    members = ", ".join(printable(u.name) for u in team.members) or "-"
    own = describe(team, "team") or ["no settings of its own"]
    usage = usage_lines(f"team:{team.id}", team) if team.id is not None else []
    return [f"team {printable(team.name)}: members {members}", *own, *usage]


@teams_cli.command("create")
@click.argument("name")
@options("team")
def teams_create(name: str, **values: Any) -> None:
    """Create a team; its settings bound every member's keys."""
    check_user_name(name)
    if db.session.execute(
        db.select(Team).where(Team.name == name)
    ).scalar_one_or_none():
        raise click.ClickException(f"team {name!r} already exists")
    team = Team(name=name)
    blank = snapshot(team, "team")
    apply_options(team, "team", values)
    db.session.add(team)
    record("team_created", name, ", ".join(diff(blank, team, "team")))
    db.session.commit()
    click.echo("\n".join(team_lines(team)))


@teams_cli.command("set")
@click.argument("name")
@options("team")
def teams_set(name: str, **values: Any) -> None:
    """Change a team's settings; give an option as 'none' to remove it."""
    if all(v is None for v in values.values()):
        raise click.UsageError("give at least one option to change (see --help)")
    team = get_team(name)
    before = snapshot(team, "team")
    apply_options(team, "team", values)
    changes = diff(before, team, "team")
    if changes:
        record("team_updated", team.name, ", ".join(changes))
    db.session.commit()
    click.echo("\n".join(team_lines(team)))


@teams_cli.command("list")
def teams_list() -> None:
    """List teams with their members and settings."""
    for team in db.session.execute(db.select(Team).order_by(Team.name)).scalars():
        own = "; ".join(describe(team, "team")) or "-"
        click.echo(
            f"{printable(team.name)}\tmembers={len(team.members)}\t"
            f"created={team.created_at:%Y-%m-%d}\t{own}"
        )


@teams_cli.command("delete")
@click.argument("name")
@click.option(
    "--force", is_flag=True, help="Delete it even with members (they leave the team)."
)
def teams_delete(name: str, force: bool) -> None:
    """Delete a team; one with members only with --force (they become team-less)."""
    team = get_team(name)
    members = [u.name for u in team.members]
    if members and not force:
        raise click.ClickException(
            f"team {name!r} has {len(members)} member(s) "
            f"({', '.join(map(printable, members[:5]))}"
            f"{', ...' if len(members) > 5 else ''}); move them with "
            f"'users set NAME --team none' or give --force (they become team-less)"
        )
    for user in list(team.members):
        user.team = None
    db.session.delete(team)
    detail = f"members left team-less: {', '.join(members)}" if members else ""
    record("team_deleted", name, detail[:500])
    db.session.commit()
    click.echo(f"deleted team {name!r}")


def set_team(user: User, team_name: str | None) -> list[str]:
    """Put ``user`` in team ``team_name`` ('none': in no team); the audit change."""
    if team_name is None:
        return []
    before = user.team.name if user.team else "none"
    user.team = None if team_name.lower() in ("none", "") else get_team(team_name)
    after = user.team.name if user.team else "none"
    return [] if before == after else [f"team: {before} → {after}"]


__all__ = ["get_team", "set_team", "teams_cli"]
