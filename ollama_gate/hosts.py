"""The names the gateway answers to without a key (DNS rebinding).

A web page at ``evil.example`` can point its own name at the gateway's address: the
browser then sends the page's calls there as same-origin, from the visitor's
machine, which may sit on a trusted network. Such a call carries ``Host:
evil.example``; a keyless call is served only when its ``Host`` names this machine
(``ALLOWED_HOSTS``, by default what Ollama allows). An IP literal can never be a
rebinding (no name to rebind). A call with a valid key needs no such check: the page
cannot know the key.
"""

from __future__ import annotations

import socket
from fnmatch import fnmatchcase

from .remote import normal_ip

# Ollama's own (server/routes.go, allowedHost): localhost and the local TLDs; the
# machine's hostname and every IP literal are added in ``AllowedHosts``
DEFAULT_ALLOWED_HOSTS = "localhost,*.localhost,*.local,*.internal"


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port or brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


class AllowedHosts:
    """Shell-style patterns of the gateway's own names; ``*`` allows every name."""

    def __init__(self, patterns: list[str]):
        self.patterns = [p.strip().lower() for p in patterns if p.strip()]
        self.anything = "*" in self.patterns
        self.names = {socket.gethostname().lower()}  # Ollama's os.Hostname()

    def allowed(self, host: str | None) -> bool:
        """True if a keyless call with this ``Host`` header may be served."""
        if self.anything or not host:  # HTTP/1.0 without a Host: Ollama allows it
            return True
        name = host_name(host)
        if normal_ip(name) is not None or name in self.names:
            return True
        return any(fnmatchcase(name, pattern) for pattern in self.patterns)
