"""The answers of the whole fleet: ``/api/tags`` and ``/v1/models`` (each model once,
aliases listed), ``/api/ps`` (each loaded model per backend, naming it),
``/api/version`` (the lowest, compared as versions) and the heartbeat ``/``.

Each asks every usable backend at once, so a list is as fresh as the backends.
"""

from __future__ import annotations

import json

from flask import Response

from ..errors import ApiError
from ..model_names import canonical
from .backends import BackendState, tags_of
from .fanout import fan_out
from .fleet import Fleet
from .health import get_json
from .versions import lowest_version

MERGED = ("/api/tags", "/v1/models", "/api/ps", "/api/version")


def ask_all(
    fleet: Fleet, path: str, hops: int = 0
) -> list[tuple[BackendState, object]]:
    """``(backend, JSON answer)`` of every usable backend that answered ``path``;
    asked by another gateway (``hops`` > 0), only those that are not peers."""

    def ask(state: BackendState):
        try:
            return state, get_json(state, path, hops + 1)
        except (ApiError, ValueError):
            return state, None

    usable = [b for b in fleet.backends() if b.usable and not (hops and b.peer)]
    return [(b, doc) for b, doc in fan_out(ask, usable) if isinstance(doc, dict)]


def json_response(doc) -> Response:
    """A JSON answer shaped like Ollama's (compact, UTF-8)."""
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, 200, content_type="application/json; charset=utf-8")


def tags(fleet: Fleet, only_routed: bool, hops: int = 0) -> Response:
    """``/api/tags`` of every backend, each model once, with the aliases."""
    seen: dict[str, dict] = {}
    for state, doc in ask_all(fleet, "/api/tags", hops):
        models = tags_of(doc)
        state.models = models  # fresher than the last health check
        for name, tag in models.items():
            seen.setdefault(name, tag)
    if only_routed:
        seen = {n: t for n, t in seen.items() if n in fleet.routes}
    for alias, model in fleet.aliases.items():
        target, written = seen.get(canonical(model)), fleet.aliases.written[alias]
        if target is not None:
            seen.setdefault(alias, {**target, "name": written, "model": written})
    return json_response({"models": list(seen.values())})


def v1_models(fleet: Fleet, only_routed: bool, hops: int = 0) -> Response:
    """``/v1/models`` of every backend, each id once, with the aliases (never null)."""
    seen: dict[str, dict] = {}
    for _state, doc in ask_all(fleet, "/v1/models", hops):
        for entry in doc.get("data") or []:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                seen.setdefault(canonical(entry["id"]), entry)
    if only_routed:
        seen = {n: e for n, e in seen.items() if n in fleet.routes}
    for alias, model in fleet.aliases.items():
        target, written = seen.get(canonical(model)), fleet.aliases.written[alias]
        if target is not None:
            seen.setdefault(alias, {**target, "id": written})
    return json_response({"object": "list", "data": list(seen.values())})


def ps(fleet: Fleet, counts=None, hops: int = 0, queue=None) -> Response:
    """``/api/ps``: each loaded model once per backend that holds it, naming it, with
    the gateway's own counts of its calls running and waiting (``counts``), and its
    queue per model and band (``queue()``, a field clients ignore)."""
    models = []
    for state, doc in ask_all(fleet, "/api/ps", hops):
        entries = [m for m in doc.get("models") or [] if isinstance(m, dict)]
        if counts is not None:
            entries = [
                {**m, **counts(state.name, m.get("name") or "")} for m in entries
            ]
        state.loaded = {
            canonical(m.get("name") or m.get("model") or ""): m for m in entries
        }  # noqa: E501
        models += [{**m, "backend": state.name} for m in entries]
    doc = {"models": models}
    if queue is not None:
        doc["queue"] = queue()
    return json_response(doc)


def version(fleet: Fleet, hops: int = 0) -> Response:
    """``/api/version``: the lowest version in the fleet, so a client never counts on
    a feature one backend lacks."""
    versions = []
    for state, doc in ask_all(fleet, "/api/version", hops):
        if isinstance(doc.get("version"), str):
            state.version = doc["version"]
            versions.append(doc["version"])
    lowest = lowest_version(versions)
    if lowest is None:
        raise ApiError(503, "no Ollama backend is up to tell its version")
    return json_response({"version": lowest})


def heartbeat(fleet: Fleet) -> Response:
    """``GET``/``HEAD /``: Ollama's "is it running" for the whole fleet."""
    up = [b for b in fleet.backends() if b.usable]
    ok = any(b.healthy for b in up) or bool(ask_all(fleet, "/api/version"))
    text = "Ollama is running" if ok else "no Ollama backend is reachable"
    return Response(text, 200 if ok else 503, content_type="text/plain; charset=utf-8")


def answer(
    fleet: Fleet,
    path: str,
    only_routed: bool,
    counts=None,
    hops: int = 0,
    queue=None,
) -> Response:
    """The merged answer of a ``MERGED`` path (``hops``: asked by a peer, which
    gets this gateway's own backends' lists, never its peers' again)."""
    if path == "/api/tags":
        return tags(fleet, only_routed, hops)
    if path == "/v1/models":
        return v1_models(fleet, only_routed, hops)
    if path == "/api/ps":
        return ps(fleet, counts, hops, queue)
    return version(fleet, hops)
