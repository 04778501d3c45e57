"""Measurement only (bench/memory.py --tracemalloc): a worker dumps a tracemalloc
snapshot to $MEM_DUMP_DIR on SIGRTMIN+3."""

import os
import signal


def _install():
    import tracemalloc

    def dump(signum, frame):
        if not tracemalloc.is_tracing():
            return
        n = len(os.listdir(os.environ["MEM_DUMP_DIR"]))
        tracemalloc.take_snapshot().dump(
            os.path.join(os.environ["MEM_DUMP_DIR"], f"{n:02d}.snap")
        )

    signal.signal(signal.SIGRTMIN + 3, dump)


if os.environ.get("MEM_DUMP_DIR"):
    os.register_at_fork(after_in_child=_install)
