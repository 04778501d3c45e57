"""Ollama versions compared as versions: ``0.9.6`` < ``0.10.0`` (a fleet's merged
``/api/version`` answers the lowest of its backends').
"""

from __future__ import annotations


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
