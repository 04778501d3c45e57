"""The routing stage: which backend runs a call, the fleet's merged answers, and the
in-flight counts the choice is made on.

A model's candidates are the usable backends its route names, else those listing
it; the one that has it loaded comes first, then the fewest calls in flight per
unit of weight, ties broken at random so equal backends share the load. Over that
order, ``OLLAMA_GATE_ROUTING`` puts first a conversation's last backend (``affinity``,
``prefix``) and then the backend that served the longest start of the prompt, until
its slots are full (``prefix``: ``prefix.py``).
"""

from __future__ import annotations

import random

from flask import Flask

from ..call import Call
from ..errors import ApiError
from ..limits.access import MANAGE, MANAGE_ENDPOINTS
from ..model_names import canonical
from ..pipeline import Stage
from . import hops, merged, prefill, prefix
from .backends import BackendState
from .failover import Attempts, no_backend
from .fleet import Fleet
from .health import Checker
from .hops import HOPS_IN
from .prefixindex import DEFAULT_SLOTS

PIN_HEADER = "X-Ollama-Gate-Backend"
PINNED = "routing.pinned"  # call.extra: the backend a manage key asked for
SLOT = "routing.slot"  # call.extra: (backend name, in-flight token)
BLOCKS = "routing.blocks"  # call.extra: (model, its prompt's block hashes)
MANY = 10**9  # in-flight counts are counts, not caps (the scheduler caps)


class Routing(Stage):
    """Choose each call's backend; answer the merged lists; count calls in flight."""

    name = "routing"

    def __init__(self, app: Flask, fleet: Fleet, checker: Checker, slots, scheduler):
        s = app.config["GATE"]
        self.fleet = fleet
        self.checker = checker
        self.slots = slots  # shared.slots' Memory/RedisSlots, keyed by name
        self.scheduler = scheduler  # slots per model, the fair queue, affinity
        self.interval = s["HEALTH_INTERVAL"]
        self.only_routed = s["LIST_MODELS"] == "routed"
        self.max_hops = s["MAX_HOPS"]
        self.mode = s["ROUTING"]  # prefix, affinity or least-busy
        self.block = s["PREFIX_BLOCK"]
        self.prefixes = prefix.index_for(app) if self.mode == "prefix" else None
        self.wait_most = s["PREFIX_WAIT"]  # seconds a call may wait for its home
        self.rates = prefill.PrefillRates()  # each backend's ms per prompt token

    def admit(self, call: Call) -> None:
        """A call that went round too many gateways is refused (508); a manage key
        may pick its call's backend (``X-Ollama-Gate-Backend``)."""
        hops.admit(call, call.request_headers, self.max_hops)
        wanted = call.request_headers.get(PIN_HEADER)
        if wanted is None:
            return
        if MANAGE not in call.identity.scopes:
            raise ApiError(403, f"{PIN_HEADER} needs a key with the '{MANAGE}' scope")
        state = self.fleet.get(wanted.strip())
        if state is None:
            raise ApiError(400, f"{PIN_HEADER}: no backend is named {wanted!r}")
        if not state.config.enabled:  # disabled means no calls at all, picked or not
            raise ApiError(403, f"{PIN_HEADER}: backend {state.name!r} is disabled")
        call.extra[PINNED] = state

    def answer(self, call: Call):
        """The fleet's merged lists and version (a pinned call asks its backend)."""
        if (
            call.method == "GET"
            and call.path in merged.MERGED
            and not call.extra.get(PINNED)
            and (self.merges() or call.path == "/api/ps")  # ps: the gateway's counts
        ):
            self.checker.ensure_fresh()
            return merged.answer(
                self.fleet,
                call.path,
                self.only_routed,
                self.counts,
                call.extra.get(HOPS_IN, 0),
                self.scheduler.queue.summary,
            )
        return None

    def counts(self, backend: str, model: str) -> dict[str, int]:
        """The gateway's calls of ``model`` on ``backend``: running, and waiting for
        any backend of it."""
        return {
            "running": self.scheduler.running(backend, model),
            "waiting": self.scheduler.queue.waiting()[canonical(model)],
        }

    def merges(self) -> bool:
        """True when lists need merging: several backends, aliases, or only routed
        models listed. A fleet of one passes its answers through byte for byte."""
        return (
            len(self.fleet.states) > 1 or bool(self.fleet.aliases) or self.only_routed
        )

    def route(self, call: Call) -> Attempts:
        """The call's candidates, best first, to be tried in turn."""
        model = call.upstream_model or call.model
        found = self.candidates(call, model)
        if call.extra.get(HOPS_IN, 0) >= self.max_hops and len(found) > 1:
            # a peer would refuse it (508): its own Ollama backends only
            found = [b for b in found if not b.peer] or found
        return Attempts(self, call, found, model)

    def candidates(self, call: Call, model: str | None) -> list[BackendState]:
        """Where the call may run, best first; 503 when nowhere."""
        pinned = call.extra.get(PINNED)
        if pinned is not None:
            return [self.allowed_pick(call, model, pinned)]
        if len(self.fleet.states) == 1:
            # no choice to make: the one backend answers, even one marked down (it
            # may be back; its own failure is the most honest answer)
            return self.fleet.backends()
        self.checker.ensure_fresh()
        if not model or call.endpoint in MANAGE_ENDPOINTS:
            return self.default_only(model)
        found = self.fleet.serving(model)
        if not found and not self.fleet.known(model) and self.checker.refresh_unknown():
            found = self.fleet.serving(model)
        if not found and self.fleet.known(model) and self.revive_for(model):
            found = self.fleet.serving(model)  # one of them is back
        if found:
            return self.ordered(call, self.ranked(found, model), model)
        if self.fleet.known(model):  # listed, but by no backend that is up
            raise no_backend(model, self.why_not(model))
        # no backend lists it: the default one answers as Ollama does (404, or a
        # model pulled a moment ago)
        return self.default_only(model)

    def allowed_pick(
        self, call: Call, model: str | None, picked: BackendState
    ) -> BackendState:
        """The backend the header picked, unless the model's route names others:
        a route keeps a model's prompts on its backends, whoever asks. Management
        calls (pull, delete, ...) run no prompt and may go to any enabled one."""
        if not model or call.endpoint in MANAGE_ENDPOINTS:
            return picked
        route = self.fleet.routes.get(canonical(model))
        if route and picked.name not in route:
            raise ApiError(
                403,
                f"{PIN_HEADER}: model {model!r} is routed to {'|'.join(route)} "
                f"only, not {picked.name}",
            )
        return picked

    def default_only(self, model: str | None) -> list[BackendState]:
        """The default backend, if it is usable."""
        state = self.fleet.default()
        if state is not None and not state.usable:
            self.checker.revive([state])  # it may be back: look before refusing
        if state is None or not state.usable:
            raise no_backend(model, self.why_not(None))
        return [state]

    def revive_for(self, model: str) -> bool:
        """Check again now the down backends that would serve ``model`` (its route's,
        else those listing it); True when one answers."""
        name = canonical(model)
        route = self.fleet.routes.get(name)
        states = [
            b
            for b in self.fleet.backends()
            if (b.name in route if route else name in b.models)
        ]
        return self.checker.revive(states)

    def ordered(self, call: Call, ranked: list, model: str) -> list:
        """``ranked`` as the routing setting orders it: a conversation's last backend
        first (``affinity``, and ``prefix`` as a tie-break), then the longest prompt
        prefix served among backends not saturated (``prefix``)."""
        if self.mode == "least-busy" or len(ranked) < 2:
            return ranked
        ranked = self.scheduler.prefer(call, ranked)
        text = prefix.rendered(call, model) if self.prefixes is not None else None
        hashes = prefix.block_hashes(text, self.block) if text else None
        if not hashes:
            return ranked
        call.extra[BLOCKS] = (canonical(model), hashes)
        names = [b.name for b in ranked]
        matched = self.prefixes.matches(names, canonical(model), hashes)
        if not matched:
            return ranked
        loads = {b.name: self.slots.in_flight(b.name) / b.config.weight for b in ranked}
        least = min(loads.values())

        def saturated(b: BackendState) -> bool:
            # full slots (the scheduler's cap), or without one, well past the least
            # busy: the next best prefix then reads the prompt again
            if b.config.parallel:
                return self.scheduler.running(b.name, model) >= b.config.parallel
            return loads[b.name] >= least + prefix.SPREAD

        last = call.last_backend  # a conversation's backend before a new one
        full = {b.name for b in ranked if saturated(b)}
        order = prefix.by_prefix(ranked, matched, lambda b: b.name in full, last)
        if full:  # the prompt's home may be among them: worth waiting a little for?
            home = prefix.by_prefix(ranked, matched, lambda b: False, last)[0]
            if home is not order[0]:
                self.hold(call, home, order[0], matched)
        return order

    def hold(self, call: Call, home: BackendState, other: BackendState, matched):
        """Ask the scheduler to wait for a slot on ``home`` (whose slots are full)
        as long as ``other`` would take to read the blocks only ``home`` holds
        (``prefill.py``), before it takes ``other``'s."""
        if not home.config.parallel or home.healthy is not True:
            return  # no cap: it was not full, only busier than the rest
        blocks, held = matched.get(home.name, (0,))[0], matched.get(other.name, (0, 0))
        if held[1] >= 0.5:  # most of other's calls are this prompt's: it is at home
            blocks -= held[0]  # there too, and reads only what it lacks
        # else its slots are another prompt's: whatever the call reads there, it
        # evicts that prompt, whose next call reads it cold (as long, for a team's)
        seconds = prefill.hold_seconds(
            self.rates, home, other, blocks, self.block, self.wait_most
        )
        if seconds > 0:
            call.home_hold = (home, seconds)

    def record(self, calls: list[Call]) -> None:
        """Learn each backend's prompt reading rate from the answers (``prefix``)."""
        if self.prefixes is not None and self.wait_most > 0:
            self.rates.learn_calls(calls)

    def ranked(self, found: list[BackendState], model: str) -> list[BackendState]:
        """Loaded first, then the fewest calls in flight per weight, then chance."""
        if len(found) == 1:
            return found
        name = canonical(model)
        count = self.slots.in_flight

        def key(b: BackendState):
            return (
                b.healthy is not True,
                name not in b.loaded,
                count(b.name) / b.config.weight,
                random.random(),
            )

        return sorted(found, key=key)

    def why_not(self, model: str | None) -> list[str]:
        """Why each backend cannot take the call, for the 503's message."""
        name = canonical(model) if model else None
        reasons = []
        for b in self.fleet.backends():
            if not b.config.enabled:
                reasons.append(f"{b.name} is disabled")
            elif b.healthy is False:
                reasons.append(f"{b.name} is down ({b.last_error})")
            elif name and name not in b.models and name not in self.fleet.routes:
                reasons.append(f"{b.name} does not have it")
        return reasons

    def take(self, call: Call, state: BackendState) -> None:
        """Count the call in flight on ``state`` (before it is sent)."""
        call.extra[SLOT] = (state.name, self.slots.acquire(state.name, MANY))
        blocks = call.extra.get(BLOCKS)
        if blocks and self.prefixes is not None:  # its next caller finds them here
            slots = state.config.parallel or DEFAULT_SLOTS
            self.prefixes.record(state.name, *blocks, slots)

    def give_back(self, call: Call) -> None:
        """Stop counting the call in flight and free its slot (it ended, or moved
        on to another backend)."""
        slot = call.extra.pop(SLOT, None)
        if slot is not None:
            self.slots.release(*slot)
        self.scheduler.give_back(call)

    def release(self, call: Call) -> None:
        """On every path: the in-flight count goes back down; a management call
        that changed a backend's models has it checked again at once."""
        self.give_back(call)
        self.scheduler.remember(call)  # the conversation's next turn comes back here
        if call.endpoint in MANAGE_ENDPOINTS and call.backend:
            state = self.fleet.get(call.backend)
            if state is not None:
                state.next_check = 0.0
