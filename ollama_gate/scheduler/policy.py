"""Per-model policy on the path: a call of a model with a policy gets its
``num_ctx`` (in ``options``) and ``keep_alive`` (a top-level field, never in
``options``) added when it has none, or replaced when the policy enforces them.

Ollama reloads a model whenever two calls ask for different ``num_ctx``; one value
per model keeps it loaded once. Only native calls carry these fields (Ollama's
OpenAI-compatible endpoints take neither).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..call import Call
from ..extensions import db
from ..gofields import go_field, without
from ..gofields import spellings as go_spellings
from ..model_names import canonical
from ..pipeline import Stage
from .models import ModelPolicy

APPLIES = ("/api/generate", "/api/chat", "/api/embed", "/api/embeddings")
KEEP_ALIVE_ONLY = ("/api/embed", "/api/embeddings")  # no options that matter


@dataclass(frozen=True)
class Policy:
    """A policy row, copied out of the database for the hot path."""

    model: str
    num_ctx: int | None = None
    num_ctx_enforced: bool = False
    keep_alive: str | None = None
    keep_alive_enforced: bool = False
    warm: int = 0


class Policies:
    """Every model's policy, read again by the health loop."""

    def __init__(self):
        self.by_model: dict[str, Policy] = {}

    def reload(self) -> None:
        """Read the table (needs an app context)."""
        rows = db.session.execute(db.select(ModelPolicy)).scalars()
        self.by_model = {
            r.model: Policy(
                r.model,
                r.num_ctx,
                r.num_ctx_enforced,
                r.keep_alive,
                r.keep_alive_enforced,
                r.warm,
            )
            for r in rows
        }

    def get(self, model: str) -> Policy | None:
        """The policy of ``model``, if it has one."""
        return self.by_model.get(canonical(model)) if self.by_model else None


def _set(payload: dict, name: str, value, enforced: bool, exact=False) -> bool:
    """Set ``payload[name]`` if absent or enforced; True when it changed. Names match
    as Go reads them: a struct field by ``gofields``, a map's key (``exact``) as is."""
    if exact:
        spellings = [name] if name in payload else []
    else:
        spellings = go_spellings(payload, name)
    if spellings and not enforced:
        return False
    if spellings and len(spellings) == 1 and payload[spellings[0]] == value:
        return False
    for k in spellings:
        del payload[k]
    payload[name] = value
    return True


def apply(policy: Policy, call: Call) -> None:
    """Add or enforce the policy's fields on ``call.payload``."""
    payload = dict(call.payload)
    changed = False
    if policy.keep_alive is not None:
        value = policy.keep_alive
        keep = int(value) if value.lstrip("-").isdigit() else value  # 0, -1: numbers
        changed |= _set(payload, "keep_alive", keep, policy.keep_alive_enforced)
    if policy.num_ctx and call.endpoint not in KEEP_ALIVE_ONLY:
        options = go_field(payload, "options")
        options = dict(options) if isinstance(options, dict) else {}
        # options is a map to Go: its names are matched exactly
        if _set(options, "num_ctx", policy.num_ctx, policy.num_ctx_enforced, True):
            payload = without(payload, "options")
            payload["options"] = options
            changed = True
    if changed:
        call.payload, call.rewritten = payload, True


class ModelPolicyStage(Stage):
    """Apply each model's policy to its native calls (after aliases: the real model)."""

    name = "model-policy"

    def __init__(self, policies: Policies):
        self.policies = policies

    def admit(self, call: Call) -> None:
        """Add or enforce ``num_ctx`` and ``keep_alive``."""
        if call.endpoint not in APPLIES or call.payload is None:
            return
        model = call.upstream_model or call.model
        policy = self.policies.get(model) if model else None
        if policy is not None:
            apply(policy, call)
