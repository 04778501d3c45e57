"""Commands ``models list|set``: each model's num_ctx, keep_alive and warm copies."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ..audit import FleetError
from ..text import printable
from .manage import describe, policies, set_policy

models_cli = AppGroup(
    "models", help="Per-model policy: num_ctx, keep_alive, warm copies."
)


@models_cli.command("list")
def models_list() -> None:
    """Every model with a policy, and where it is loaded now."""
    gate = current_app.extensions["ollama_gate"]
    gate.checker.check_due(force=True)
    rows = policies()
    if not rows:
        click.echo(
            "no model has a policy; set one with: models set MODEL --num-ctx 8192"
        )
    for p in rows:
        loaded = [b.name for b in gate.fleet.backends() if p.model in b.loaded]
        click.echo(
            f"{printable(p.model)}  {describe(p)}  "
            f"loaded on: {', '.join(loaded) or '-'}"
        )


@models_cli.command("set")
@click.argument("model")
@click.option(
    "--num-ctx",
    type=int,
    default=None,
    help="Context length for its calls (0 removes it).",
)
@click.option(
    "--enforce-num-ctx/--default-num-ctx",
    default=None,
    help="Replace the client's num_ctx, or only add it when missing (the default).",
)
@click.option(
    "--keep-alive",
    default=None,
    help="How long it stays loaded after a call: 30m, 1h, -1 (forever); '' removes.",
)
@click.option(
    "--enforce-keep-alive/--default-keep-alive",
    default=None,
    help="Replace the client's keep_alive, or only add it when missing.",
)
@click.option(
    "--warm",
    type=int,
    default=None,
    help="Copies kept loaded across the backends that have it (0: none).",
)
def models_set(
    model: str, num_ctx, enforce_num_ctx, keep_alive, enforce_keep_alive, warm
) -> None:
    """Set MODEL's policy; workers apply it within HEALTH_INTERVAL."""
    try:
        row = set_policy(
            model,
            num_ctx=num_ctx,
            num_ctx_enforced=enforce_num_ctx,
            keep_alive=keep_alive,
            keep_alive_enforced=enforce_keep_alive,
            warm=warm,
        )
    except FleetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{model}: {describe(row) if row else 'no policy'}")
