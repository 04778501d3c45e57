"""The app's call in a greenlet of its own (``GateHandler.run_application``).

A greenlet's Python frames live in a 16 KB stack chunk of its own, and the pages a
deep call chain touched stay resident for the greenlet's life. The app's call
(Flask, auth, the pipeline, urllib3) touched all of it, which every connection then
held while idle or relaying (bench/memory.py, bench/PROFILE.md). Run apart, the
connection's greenlet only ever goes as deep as the server's own loop, and the deep
chunks belong to a few runners, which calls take in turn.

A new greenlet for every call would do it too, but making one (its chunk mapped,
then unmapped) cost 17-20 us a call; a kept runner costs two switches.
"""

from __future__ import annotations

from greenlet import getcurrent, greenlet

# Runners kept between calls: about what a worker sets up at once. A crowd's calls
# past them get runners of their own, which end with their call.
KEEP = 32
_idle: list[greenlet] = []


def apart(function, *args):
    """``function(*args)`` in a runner greenlet, with the caller's context variables
    (Flask's request context among them: the same context, not a copy); its result
    returned or its exception raised here, as if called here."""
    here = getcurrent()
    runner = _idle.pop() if _idle else greenlet(_serve)
    try:
        runner.parent = here  # a runner not kept ends its call by ending, back here
    except ValueError:  # ``here`` descends from it (the hub, made in a runner)
        _idle.append(runner)
        runner = greenlet(_serve, parent=here)
    runner.gr_context = here.gr_context
    try:
        return runner.switch(function, args, here)
    finally:
        if runner in _idle:  # not when this greenlet was killed mid-call
            runner.gr_context = None  # a kept runner holds nothing of the call


def _serve(function, args, caller):
    """A runner's life: each call, then its result switched back to its caller (or
    raised there), waiting in that switch for the next call."""
    while True:
        try:
            result, failed = function(*args), None
        except BaseException as exc:  # noqa: BLE001 (raised in the caller)
            result, failed = None, exc
        function = args = None  # nothing of the call kept while idle
        if caller.dead:  # killed meanwhile (a worker stopping): nobody to answer
            return None  # the runner ends into the hub, where its caller would have
        if len(_idle) >= KEEP:
            if failed is not None:
                raise failed  # the runner ends; its parent, the caller, raises it
            return result
        _idle.append(getcurrent())
        back, caller = caller, None
        if failed is not None:
            function, args, caller = back.throw(failed)
        else:
            function, args, caller = back.switch(result)
