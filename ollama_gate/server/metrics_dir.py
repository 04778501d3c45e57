"""The master's side of multiprocess metrics: one folder of value files per run.

prometheus_client's multiprocess mode has each worker write its values to files in
``PROMETHEUS_MULTIPROC_DIR``; the folder must be set before a worker imports the
client, hence in the master before it forks, and emptied between runs (stale files
from a previous run would be added in). A dead worker's live gauges (calls in flight)
are dropped at once. Nothing here imports prometheus_client until a worker has died:
the master stays light.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_made: list[str] = []  # the folder this master made (removed at exit)


def prepare(server) -> None:
    """A fresh folder: the configured one emptied, or a new private one."""
    path = os.environ.get(VARIABLE, "").strip()
    if path:
        os.makedirs(path, mode=0o700, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="ollama-gate-metrics-")
        _made.append(path)
        os.environ[VARIABLE] = path  # inherited by every worker forked from now on


def forget_worker(server, worker) -> None:
    """Drop a dead worker's live gauges (its counters still count in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def remove(server) -> None:
    """Remove the folder this master made."""
    for path in _made:
        shutil.rmtree(path, ignore_errors=True)
