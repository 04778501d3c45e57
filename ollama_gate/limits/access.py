"""Model access and endpoint scopes: which models and endpoints a key may use.

A key's allowlist holds shell patterns (``llama3*``, ``qwen2.5:7b``). Names and
patterns are read as Ollama reads a name, ``[host/][namespace/]model[:tag]``, with
``registry.ollama.ai`` and ``library`` filled in, and compared part by part: ``*`` and
``?`` match within one part, never across ``/`` or ``:``. So ``llama3*`` allows every
``llama3...`` model of the official library (``library/llama3`` is the same model) but
nothing of another namespace or host; ``team/*`` allows the models of namespace
``team`` on the default registry; ``hf.co/team/*`` those of ``team`` on ``hf.co``;
``*`` every library model, ``*/*`` every model on the default registry, ``*/*/*``
every model anywhere. A pattern with a tag is matched against the name's tag
(``latest`` when the request names none); a pattern without one matches every tag.
Matching is case-insensitive, as Ollama's is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from fnmatch import fnmatchcase

from flask import request

from ..call import Call
from ..errors import ApiError
from ..gofields import go_view
from ..model_names import name_parts
from ..subjects import Subject, levels_of, setting_levels

KEY = Subject("key", 0, "")  # a refusal's subject when the chain names no key

MANAGE = "manage"
SCOPES = (MANAGE,)  # every scope a key can hold; inference and model lists need none
# Endpoints that change what the Ollama server holds: they need the ``manage`` scope.
MANAGE_ENDPOINTS = frozenset(
    {
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/copy",
        "/api/delete",
        "/api/blobs/{digest}",
        "/api/signout",
    }
)
MANAGE_PREFIXES = ("/api/user/",)  # the Ollama account's keys
# Top-level body fields that name a model, per endpoint. Go's JSON decoder matches
# field names case-insensitively (simple folding, last spelling wins), so the check
# reads them the same way (``gofields``): {"MODEL": ...} is a model, "modeß" is not.
MODEL_FIELDS = {
    "/api/show": ("model", "name"),
    "/api/pull": ("model", "name"),
    "/api/push": ("model", "name"),
    "/api/delete": ("model", "name"),
    "/api/create": ("model", "name", "from"),
    "/api/copy": ("source", "destination"),
}
DEFAULT_FIELDS = ("model",)
LIST_ENDPOINTS = ("/api/tags", "/api/ps", "/v1/models")


def model_allowed(name: str, patterns: tuple[str, ...]) -> bool:
    """True if ``name`` matches one of ``patterns`` (none given: every model).

    A name pinned to a digest (``llama3@sha256:...``) matches no pattern: the digest,
    not the name before it, says which model answers, so an allowlist cannot vouch
    for it.
    """
    if not patterns:
        return True
    if "@" in name:
        return False
    parts, tag = name_parts(name)
    tag = tag or "latest"
    for pattern in patterns:
        wanted, wanted_tag = name_parts(pattern)
        if (
            len(wanted) == len(parts)
            and all(map(fnmatchcase, parts, wanted))
            and (wanted_tag is None or fnmatchcase(tag, wanted_tag))
        ):
            return True
    return False


def alias_allowed(alias: str, model: str, patterns: tuple[str, ...]) -> bool:
    """True if an allowlist that lets ``alias`` through (its patterns judge the names
    clients use) may also run the model behind it: the alias is named exactly, or
    the model is allowed. A wildcard never reaches a model through an alias an admin
    happened to name like it (``llama3*`` and ``llama3-big=qwen2.5:7b``)."""
    if not patterns or model_allowed(model, patterns):
        return True
    exact = tuple(p for p in patterns if not any(c in p for c in "*?["))
    return bool(exact) and model_allowed(alias, exact)  # () would allow every name


def alias_refusal(alias: str) -> ApiError:
    """The 403 of an alias its key's allowlist matches only by a wildcard."""
    return ApiError(
        403,
        f"this API key may not use model '{alias}': an alias is allowed only when "
        "the allowlist names it exactly or allows the model it runs",
    )


def _normal_path(path: str) -> str:
    return re.sub(r"/{2,}", "/", path).rstrip("/") or "/"


def has_dot_segment(path: str) -> bool:
    """True for a path with a ``.`` or ``..`` segment (after percent-decoding)."""
    return any(segment in (".", "..") for segment in path.split("/"))


def needs_manage(call: Call) -> bool:
    """True when the call changes the server's models (pull, push, create, ...)."""
    path = _normal_path(call.path)
    endpoint = "/api/blobs/{digest}" if path.startswith("/api/blobs/") else path
    return endpoint in MANAGE_ENDPOINTS or path.startswith(MANAGE_PREFIXES)


def named_models(call: Call) -> list[str]:
    """Every model a call names, in any field Ollama would read one from."""
    names = [call.model] if call.model else []
    if call.payload:
        fields = MODEL_FIELDS.get(_normal_path(call.path), DEFAULT_FIELDS)
        for value in go_view(call.payload, fields).values():
            if isinstance(value, str) and value:
                names.append(value)
    return names


def check_access(call: Call) -> None:
    """Admission check: the key's scopes and model allowlist (403 when refused)."""
    identity = call.identity
    if has_dot_segment(call.path):
        # the raw path goes upstream as sent: a proxy or server there that resolves
        # "/api/tags/../pull" would run an endpoint these checks never saw
        raise ApiError(400, "the path must not contain '.' or '..' segments")
    if MANAGE not in identity.scopes and needs_manage(call):
        raise ApiError(
            403,
            f"{scope_holder(call).phrase} lacks the '{MANAGE}' scope needed for "
            f"{call.method} {call.path}",
        )
    bounds = allowlists(call)
    if not bounds:
        return
    if (
        call.payload is None
        and call.method in ("POST", "PUT", "PATCH", "DELETE")
        and not call.path.startswith("/api/blobs/")
        and _has_body()
    ):
        # a body we could not read as a JSON object might still name a model upstream
        raise ApiError(400, "request body must be a JSON object")
    for name in named_models(call):
        for subject, patterns in bounds:  # every level that sets one must allow it
            if not model_allowed(name, patterns):
                raise ApiError(403, f"{subject.phrase} may not use model '{name}'")


def scope_holder(call: Call) -> Subject:
    """The level that withholds ``manage``: a user or team whose scopes bound the
    key's, else the key."""
    levels = levels_of(call)
    for level in levels:
        bound = level.get("scopes")
        if level.subject.kind not in ("key", "end_user") and bound is not None:
            if MANAGE not in bound:
                return level.subject
    return next((lv.subject for lv in levels if lv.subject.kind == "key"), KEY)


def _has_body() -> bool:
    return (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


def allowlists(call: Call) -> list[tuple[Subject, tuple[str, ...]]]:
    """(subject, patterns) of each level of the call's chain that sets an allowlist:
    a model must be allowed by every one (a team's bounds its members' keys)."""
    return [
        (level.subject, level.get("model_allowlist"))
        for level in setting_levels(levels_of(call), "model_allowlist")
    ]


def allowed_by_all(name: str, bounds: list[tuple[Subject, tuple[str, ...]]]) -> bool:
    """True if every allowlist of ``bounds`` allows ``name``."""
    return all(model_allowed(name, patterns) for _, patterns in bounds)


def filter_model_list(call: Call, body: bytes) -> bytes:
    """Response filter: cut the model lists (tags, ps, /v1/models) to what every
    level's allowlist allows (the rule admission applies)."""
    bounds = allowlists(call)
    if not bounds:
        return body
    return cut_model_list(call, body, lambda name: allowed_by_all(name, bounds))


def cut_model_list(call: Call, body: bytes, keep: Callable[[str], bool]) -> bytes:
    """A model list answer (tags, ps, /v1/models) with only the models ``keep``
    keeps; any other answer as it is."""
    if call.status != 200 or _normal_path(call.path) not in LIST_ENDPOINTS:
        return body
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if not isinstance(doc, dict):
        return body
    field, name_of = (
        ("data", "id") if call.path.startswith("/v1/") else ("models", "name")
    )
    entries = doc.get(field)
    if entries is None and field == "data":
        entries = []  # Ollama sends null for none; [] reads the same to clients
    if not isinstance(entries, list):
        return body
    doc[field] = [
        e
        for e in entries
        if isinstance(e, dict) and keep(str(e.get(name_of) or e.get("model") or ""))
    ]
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
