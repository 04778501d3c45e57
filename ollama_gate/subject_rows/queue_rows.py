"""The scheduler's per-subject setting: a subject's weight in the fair queue."""

from __future__ import annotations

from sqlalchemy import Integer

from ..subject_row import SettingRow, parse_count
from .limit_rows import count_field


def parse_weight(text: str) -> int:
    """A weight of 1 or more."""
    n = parse_count(text)
    if n < 1:
        raise ValueError("must be 1 or more")
    return n


ROWS = [
    SettingRow(
        name="queue_weight",
        type=Integer,
        parse=parse_weight,
        none="1",
        help="Its share of backend slots when calls wait, e.g. 3: three times "
        "a key of weight 1 ('none': 1, or its user's or team's).",
        label="Queue weight",
        hint="Its share of backend slots when calls wait. Empty: 1.",
        field=count_field,
    ),
]
