"""Import each named module alone: ``python import_alone.py --preload a,b MOD...``.

Run in the folder that holds the package. A fresh interpreter per module is slow
(each pays for Flask and SQLAlchemy again), so this one imports the third-party
modules named by ``--preload`` once, then forks a child per module: each child starts
with none of the project's modules loaded, imports its one module and reports. The
last line of the output is a JSON object: module name -> traceback, or null.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback


def import_in_child(name: str) -> str | None:
    """Import ``name`` in a forked child; None, or the child's traceback."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: import, report through the pipe, leave at once
        os.close(read)
        try:
            importlib.import_module(name)
            report = b""
        except BaseException:
            report = traceback.format_exc().encode() or b"failed"
        with os.fdopen(write, "wb") as out:
            out.write(report)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read()  # to the end first: a long traceback fills the pipe
    _, status = os.waitpid(pid, 0)
    if report:
        return report.decode(errors="replace")
    return None if status == 0 else f"the child exited with status {status}"


def main(argv: list[str]) -> None:
    """Preload, then import each module alone and print the JSON report."""
    sys.path[0] = os.getcwd()  # the project's folder, not tests/
    preload = []
    if argv[:1] == ["--preload"]:
        preload, argv = [p for p in argv[1].split(",") if p], argv[2:]
    for dependency in preload:
        try:
            importlib.import_module(dependency)
        except Exception:  # an optional one; the module that needs it will say
            pass
    ours = {name.partition(".")[0] for name in argv}
    loaded = [m for m in sys.modules if m.partition(".")[0] in ours]
    assert not loaded, f"preloading imported the project's own modules: {loaded}"
    print(json.dumps({name: import_in_child(name) for name in argv}))


if __name__ == "__main__":
    main(sys.argv[1:])
