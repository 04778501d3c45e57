"""Model names read the way Ollama reads them: the one place that splits and spells
them.

Ollama reads ``llama3`` as ``registry.ollama.ai/library/llama3:latest``: a name is
``[host/][namespace/]model[:tag]``, the missing leading parts are the defaults, a
scheme is dropped and ``\\`` is ``/`` (as on Windows), and names compare
case-insensitively. So ``Llama3``, ``llama3`` and ``library/llama3:latest`` are one
model, while ``llama3:70b`` and ``llama3:8b`` are two.

- ``name_parts`` splits a name (or an allowlist pattern) into its parts and tag;
- ``canonical`` is the short spelling every comparison uses (inventory, routes,
  aliases, policies, requests): the default host and namespace dropped, ``:latest``
  added when no tag is given;
- ``full_name`` is the long spelling, every part filled in (the cache key's).
"""

from __future__ import annotations

import functools

DEFAULT_PARTS = ("registry.ollama.ai", "library")  # what Ollama fills in
DEFAULT_TAG = "latest"


def name_parts(name: str) -> tuple[list[str], str | None]:
    """A model name or pattern as ([host, namespace, model], tag or None), lower-case.

    A name of more than three parts (which Ollama refuses) keeps all of them, so no
    pattern matches it. A digest (``@sha256:...``) is not split off here: the
    allowlists refuse pinned names, ``canonical`` keeps the digest apart.
    """
    n = name.strip().lower().replace("\\", "/")
    if "://" in n:
        n = n.split("://", 1)[1]
    slash = n.rfind("/")
    colon = n.rfind(":")
    tag = None
    if colon > slash:
        n, tag = n[:colon], n[colon + 1 :]
    parts = n.split("/")
    return [*DEFAULT_PARTS[: max(0, 3 - len(parts))], *parts], tag


# a few names come back on every call (routing, the scheduler, policies each ask);
# bounded, as the names are the clients'
@functools.lru_cache(maxsize=4096)
def canonical(name: str) -> str:
    """The one short spelling of a model name (``llama3:latest``, ``team/m:7b``,
    ``hf.co/team/m:q4``); a pinned digest is kept after the tag."""
    base, _, digest = name.strip().partition("@")
    parts, tag = name_parts(base)
    if parts[0] == DEFAULT_PARTS[0]:
        parts = parts[2:] if parts[1] == DEFAULT_PARTS[1] else parts[1:]
    spelled = "/".join(parts) + ":" + (tag or DEFAULT_TAG)
    return spelled + ("@" + digest.lower() if digest else "")


def full_name(name: str) -> str:
    """Every part filled in: ``registry.ollama.ai/library/llama3:latest``."""
    parts, tag = name_parts(name)
    return "/".join(parts) + ":" + (tag or DEFAULT_TAG)
