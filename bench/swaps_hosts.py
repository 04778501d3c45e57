"""``bench/swaps.py --hosts``: the trace through two gateway hosts (two gunicorn
masters of ``cluster_hosts.WORKERS`` gevent workers each, on two loopback ports) that
share one Redis database and one PostgreSQL database, as two hosts of a company do.
The calls go to either host in turn; the fake GPU is ``swaps.py``'s, in this process.

The gateway's code is any checkout's (``root``): before and after a change are
measured by the same fake and client.
"""

from __future__ import annotations

import time
from pathlib import Path

from cluster_hosts import BACKEND, Cluster, Host


class SwapHosts(Cluster):
    """Two hosts in front of ``fake_url`` (the fake of ``Cluster`` is not used)."""

    def __init__(self, root: Path, tmp: Path, fake_url: str, env: dict[str, str]):
        super().__init__(root, tmp, 1, 0.0, env)
        self.env["OLLAMA_GATE_BACKENDS"] = f"{BACKEND}={fake_url}"

    def start_hosts(self, capped: bool) -> list[str]:
        """Start both hosts (the backend ``--parallel 1``, ``--max-loaded 1`` when
        ``capped``); their base URLs, and ``self.keys["bench"]`` a key."""
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        a, b = (
            Host(n, self.tmp / n, self.root, self.env) for n in ("host-a", "host-b")
        )
        a.flask("init")
        args = ["--parallel", "1"] + (["--max-loaded", "1"] if capped else [])
        a.flask("backends", "set", BACKEND, *args)
        self.keys = a.tenants({"bench": 1})
        self.hosts = [a.start(), b.start()]
        time.sleep(3)  # every worker has read the backend's row (HEALTH_INTERVAL)
        return [f"http://127.0.0.1:{h.port}" for h in self.hosts]
