"""The upstream of a routed call: its candidates in order of preference, each tried
until one answers. Only what is safe moves on to the next: no connection, a connect
timeout, or Ollama's 503 "server busy", all before the first byte. A 4xx, a read
timeout (a model may take minutes to load) or anything after the first byte is the
call's answer."""

from __future__ import annotations

import json

import requests

from ..call import Call
from ..errors import ApiError
from ..scheduler.bounds import held_bytes
from ..upstream import StreamedBody, Upstream
from .backends import BackendState
from .health import mark_failed

BACKEND_HEADER = "X-Ollama-Gate-Backend"  # on each answer: the backend that gave it


def moves_on(exc: ApiError) -> bool:
    """True for a failure that left the backend no work to do (it never began)."""
    return exc.status == 502 or exc.message.endswith("(connect)")


class Attempts:
    """Duck-types ``Upstream`` for ``proxy.views.forward``: ``send`` and
    ``read_whole``; ``call.backend`` names the backend that answered."""

    read_whole = staticmethod(Upstream.read_whole)

    def __init__(
        self, router, call: Call, candidates: list[BackendState], model: str | None
    ):
        self.router = router
        self.call = call
        self.candidates = candidates
        self.model = model
        self.base_url = candidates[0].config.url if candidates else ""

    def send(self, method: str, path_qs: str, headers: dict[str, str], body):
        """The first candidate's answer that is not a failure to move on from."""
        reasons = []
        call = self.call
        last = len(self.candidates) - 1
        size = held_bytes(call.payload, call.rewritten, body)  # while it waits
        grants = self.router.scheduler.grants(call, self.candidates, self.model, size)
        for n, state in enumerate(grants):  # each with a slot held (may wait)
            if n and isinstance(body, StreamedBody):
                self.router.give_back(call)
                break  # a body read from the client as it went cannot be sent again
            self.router.take(call, state)
            try:
                resp = state.upstream.send(method, path_qs, headers, body)
            except ApiError as exc:
                self.router.give_back(call)
                call.backend = state.name
                if moves_on(exc):
                    mark_failed(state, exc.message, self.router.interval)
                if not moves_on(exc) or not last:
                    raise  # the one backend's own failure (502, 504) is the answer
                reasons.append(f"{state.name}: {exc.message}")
                continue
            if resp.status_code == 503 and last:
                reason = busy_reason(resp)
                self.router.give_back(call)
                reasons.append(f"{state.name}: {reason}")
                continue
            call.backend = state.name
            call.answer_headers[BACKEND_HEADER] = state.name
            return resp
        raise no_backend(self.model, reasons)


def busy_reason(resp: requests.Response) -> str:
    """What a backend's 503 said ("server busy, ..."), its body read and closed."""
    try:
        body = resp.content[:300]
    except (requests.RequestException, OSError):
        body = b""
    finally:
        resp.close()
    text = body.decode("utf-8", "replace")
    try:
        message = json.loads(text).get("error")
    except (ValueError, AttributeError):
        message = None
    return str(message or text.strip() or "503 Service Unavailable")[:200]


def no_backend(model: str | None, reasons: list[str]) -> ApiError:
    """The 503 of a call no backend could take, naming the model and why."""
    what = f"model '{model}'" if model else "this call"
    why = "; ".join(reasons) if reasons else "no backend is enabled and up"
    return ApiError(503, f"no backend could serve {what}: {why}", {"Retry-After": "2"})
