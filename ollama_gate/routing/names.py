"""Model names matched the way Ollama matches them.

Ollama reads ``llama3`` as ``registry.ollama.ai/library/llama3:latest`` and compares
names case-insensitively, so ``Llama3``, ``llama3`` and ``llama3:latest`` are one
model, while ``llama3:70b`` and ``llama3:8b`` are two. Every name the gateway
compares (inventory, routes, aliases, requests) goes through ``canonical`` once.
"""

from __future__ import annotations

DEFAULT_HOST = "registry.ollama.ai/"
DEFAULT_NAMESPACE = "library/"
DEFAULT_TAG = "latest"


def canonical(name: str) -> str:
    """The one spelling of a model name: lower case, default host and namespace
    dropped, ``:latest`` added when no tag is given."""
    n = name.strip().lower()
    if n.startswith(DEFAULT_HOST):
        n = n[len(DEFAULT_HOST) :]
    if n.startswith(DEFAULT_NAMESPACE):
        n = n[len(DEFAULT_NAMESPACE) :]
    base, _, digest = n.partition("@")  # ``name@sha256:...`` pins a digest
    last = base.rsplit("/", 1)[-1]
    if ":" not in last:
        base += ":" + DEFAULT_TAG
    return base + ("@" + digest if digest else "")


def version_key(version: str) -> tuple:
    """A version string as a tuple that sorts as versions do: ``0.9.6`` < ``0.10.0``,
    and a pre-release (``0.10.0-rc1``) before its release."""
    core, _, pre = version.strip().lstrip("v").partition("-")
    parts = []
    for piece in core.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    parts += [0] * (4 - len(parts))  # ``0.10`` is ``0.10.0``
    # a release sorts after each of its pre-releases
    return (*parts, 0 if pre else 1, pre)


def lowest_version(versions: list[str]) -> str | None:
    """The lowest of ``versions`` compared as versions (not as strings), or None."""
    known = [v for v in versions if v]
    return min(known, key=version_key) if known else None
