"""The pipeline: one ordered list of stages that every API call walks.

A stage is one concern on the path (limits, history, later routing, the cache,
metrics) and overrides only the steps it takes. ``Pipeline`` sorts the stages into
one list per step once, at start, so a step no stage takes costs nothing per call
and the order of the stages is the order of each step. The list itself is built in
one place, ``proxy.stages.build_stages``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from .call import Call
from .errors import ApiError

log = logging.getLogger("ollama_gate.pipeline")

STEPS = ("admit", "answer", "route", "filter", "stream", "release", "record")


class Stage:
    """One concern on the path of every API call; a stage overrides only its steps."""

    name = "stage"

    def admit(self, call: Call) -> None:
        """Refuse the call by raising ``ApiError`` (limits, quotas, queue admission)."""

    def answer(self, call: Call) -> Any:
        """A ``Response`` that answers without any upstream (a cache hit), or None."""
        return None

    def route(self, call: Call) -> Any:
        """The ``Upstream`` to send the call to, or None to leave it to the next."""
        return None

    def filter(self, call: Call, body: bytes) -> bytes:
        """A whole (not streamed) answer, changed or not (model lists, aliases)."""
        return body

    def stream(self, call: Call) -> Callable[[bytes], bytes] | None:
        """A function every piece of the call's streamed answer passes through on its
        way to the client (after it was kept for the record), or None (most calls).

        A function per piece, not a wrapper of the stream: the relay applies it
        wherever the piece goes, in the event loop's callback (``Relay.pump``) or in
        the stream's greenlet. It must keep a ``LastPiece``'s type, and may return
        ``b""`` to send nothing."""
        return None

    def release(self, call: Call) -> None:
        """Run exactly once when the call ends, on every path (free its slots)."""

    def record(self, calls: list[Call]) -> None:
        """Run in the background on a batch of finished calls (usage, history)."""


def takes(stage: Stage, step: str) -> bool:
    """True when ``stage`` overrides ``step`` (the base class's does nothing)."""
    return getattr(type(stage), step) is not getattr(Stage, step)


class Pipeline:
    """The stages in order, and for each step the bound methods of those taking it."""

    def __init__(self, stages: Sequence[Stage]):
        self.stages = list(stages)
        steps = {
            step: [getattr(s, step) for s in self.stages if takes(s, step)]
            for step in STEPS
        }
        self._admit = steps["admit"]
        self._answer = steps["answer"]
        self._route = steps["route"]
        self._filter = steps["filter"]
        self._stream = steps["stream"]
        self._release = steps["release"]
        self.recorders: list[Callable[[list[Call]], None]] = steps["record"]

    def admit(self, call: Call) -> None:
        """Every admission check in order; the first refusal (``ApiError``) wins."""
        for admit in self._admit:
            admit(call)

    def answer(self, call: Call) -> Any:
        """The first answer a stage gives without an upstream, or None."""
        for answer in self._answer:
            response = answer(call)
            if response is not None:
                return response
        return None

    def route(self, call: Call) -> Any:
        """The upstream chosen by the first stage that routes the call."""
        for route in self._route:
            upstream = route(call)
            if upstream is not None:
                return upstream
        raise ApiError(502, "no upstream Ollama server for this call")

    def filter(self, call: Call, body: bytes) -> bytes:
        """A whole answer through every filter in order."""
        for step in self._filter:
            body = step(call, body)
        return body

    def stream(self, call: Call) -> list[Callable[[bytes], bytes]]:
        """The stream steps' functions for this call's pieces, in order."""
        return [f for f in (step(call) for step in self._stream) if f is not None]

    def release(self, call: Call) -> None:
        """Every release step; one failing (Redis gone) must not keep the others."""
        for release in self._release:
            try:
                release(call)
            except Exception:  # the answer and its record must survive
                log.exception("release step %r failed", release)
