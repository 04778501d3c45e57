"""Priority bands: a waiting ``interactive`` call goes before every waiting ``batch``
call; a batch call that waited ``BATCH_MAX_WAIT`` seconds counts as interactive
(aging: batch is never starved), and a batch call that finds a slot free takes it
(idle capacity).

A call's band is its chain's ``priority`` (the most specific level that sets one,
else interactive). The ``X-Ollama-Gate-Priority`` header may only lower it: ``batch``
from any key, ``interactive`` never raises a call its chain puts in batch (no scope
to hand out, and no key gains over others by asking). A call a peer gateway offloads
here (it came with the hop header) is batch: a gateway's own callers go first.
"""

from __future__ import annotations

from ..call import Call
from ..errors import ApiError
from ..subject_rows.queue_rows import BANDS
from ..subjects import levels_of, nearest
from ..upstream.headers import HOPS

PRIORITY_HEADER = "X-Ollama-Gate-Priority"
INTERACTIVE, BATCH = 0, 1  # a waiter's band: lower goes first


def band_of(call: Call) -> int:
    """The call's band; 400 when its priority header names none."""
    own = nearest(levels_of(call), "priority", "interactive")
    band = BATCH if own == "batch" else INTERACTIVE
    asked = call.request_headers.get(PRIORITY_HEADER)
    if asked is not None:
        word = asked.strip().lower()
        if word not in BANDS:
            raise ApiError(
                400,
                f"{PRIORITY_HEADER} must be one of {', '.join(BANDS)}, not "
                f"{asked[:20]!r}",
            )
        if word == "batch":
            band = BATCH  # lowering is always allowed; raising never is
    hops = (call.request_headers.get(HOPS) or "").strip()  # checked: routing.hops
    if hops.isdigit() and int(hops) > 0:
        band = BATCH  # a peer's offload waits behind this gateway's own callers
    return band


def band_name(band: int) -> str:
    """``interactive`` or ``batch``."""
    return BANDS[band]
