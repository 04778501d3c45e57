"""The gunicorn server hooks named in ``gunicorn.conf.py`` (in the master, except
``worker_exit``, which runs in the worker as it leaves)."""

from __future__ import annotations

from . import first_run, metrics_dir
from .guard import refuse_unshared_workers


def on_starting(server) -> None:
    """Before any worker: refuse unshared limits, prepare the metrics folder, make
    Ctrl-C drain."""
    refuse_unshared_workers(server)
    metrics_dir.prepare(server)
    # Ctrl-C (SIGINT) stops as SIGTERM does: the calls in flight get graceful_timeout
    # to finish and be recorded; a second Ctrl-C meanwhile is gunicorn's quick stop
    server.handle_int = server.handle_term


def child_exit(server, worker) -> None:
    """A worker has exited: its in-flight gauge no longer counts."""
    metrics_dir.forget_worker(server, worker)


def on_exit(server) -> None:
    """The master is stopping: remove the metrics folder it made."""
    metrics_dir.remove(server)


def worker_exit(server, worker) -> None:
    """A worker leaves (SIGTERM: after its calls in flight ended, or the grace ran
    out): write the records still queued, which its recorder batches for a moment."""
    extensions = getattr(worker.wsgi, "extensions", None) or {}
    gate = extensions.get("ollama_gate")
    if gate is not None:
        gate.recorder.flush()


def when_ready(server) -> None:
    """The master listens: gather what the first-run block shows."""
    first_run.take_over(server)


def post_worker_init(worker) -> None:
    """The first worker has built its app: the first-run block."""
    first_run.show(worker)
