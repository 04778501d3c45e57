"""The cache key: a hash of everything that can change an answer, and of who may see it.

The request's canonical JSON (top-level names folded as Ollama's Go decoder folds
them, ``gofields.fold_name``, so the key names exactly the fields it runs; keys
sorted, integral floats as integers) without what only changes framing or residency
(``stream``, ``stream_options``, ``keep_alive``), the endpoint, the model's
normalised name and its digest (a re-pulled model never answers from the old cache),
and the scope: the user (by default) or everyone, always with the key's model
allowlist, so an answer never crosses to a key whose allowlist differs. Behind an app
key (Open WebUI) the user is the app: each person it names is a scope of their own,
or a hit would tell one person that another asked exactly the same.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..gofields import fold_name, go_field
from ..keys import Identity
from ..model_names import full_name

# framing and residency only: the same answer either way
IGNORED = frozenset(
    fold_name(name) for name in ("stream", "stream_options", "keep_alive", "model")
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 0.0 and 0 are one temperature to Go
    return value


def scope_of(identity: Identity, shared: bool, person=None) -> str:
    """Who may be answered from an entry: the user, or the person behind an app key
    (``endusers.Known``), or all; and the allowlist."""
    who = "shared" if shared else f"user:{identity.user_id}"
    if person is not None and not shared:
        who += f"|person:{person.id}"
    allow = sorted({p.strip().lower() for p in identity.model_patterns})
    scope = who + "|allow:" + ",".join(allow)
    for level in identity.levels[1:]:  # a user's or team's allowlist bounds it too
        patterns = level.get("model_allowlist")
        if patterns:
            bound = sorted({p.strip().lower() for p in patterns})
            scope += f"|{level.subject.kind}:" + ",".join(bound)
    return scope


def cache_key(endpoint: str, payload: dict[str, Any], digest: str, scope: str) -> str:
    """The entry's key: a SHA-256 of the canonical request, model digest and scope
    (``payload`` spells no field twice: ``policy.bypass_reason``)."""
    names = {k: fold_name(k) for k in payload}
    request = {names[k]: v for k, v in payload.items() if names[k] not in IGNORED}
    text = json.dumps(
        [
            endpoint,
            full_name(go_field(payload, "model")),
            digest,
            scope,
            _canonical(request),
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=True,
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
