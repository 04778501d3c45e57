"""Export records as JSON Lines or CSV; import such files (ids kept, no duplicates)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, select

from ..extensions import db
from ..models import ApiKey, Team, User
from .content import storable
from .models import Request, valid_id

COLUMNS = [c.key for c in Request.__table__.columns]
# A spreadsheet runs a cell that starts like a formula, and it starts a cell after
# every separator and line break when it misreads the quoting (a ";" locale reading
# a "," file, a line-based importer). So a formula start at the start of the text or
# after any of those (spaces and double quotes between skipped) gets a "'" before it;
# "'" itself is escaped the same way, so the import strips exactly those quotes and
# the round trip is exact.
FORMULA_START = frozenset("=+-@\t\r'")
SEPARATORS = frozenset(",;\t\r\n|")
SKIPPED = frozenset(' "')
CHUNK = 500


def _kind(name: str) -> str:
    col_type = Request.__table__.columns[name].type
    for cls, kind in (
        (JSON, "json"),
        (Boolean, "bool"),
        (DateTime, "time"),
        (Float, "float"),
        (Integer, "int"),
    ):
        if isinstance(col_type, cls):
            return kind
    return "str"


KINDS = {name: _kind(name) for name in COLUMNS}
# text columns that are never NULL: an empty CSV cell means ""
REQUIRED_STR = {
    c.key for c in Request.__table__.columns if KINDS[c.key] == "str" and not c.nullable
}


def jsonl_lines(rows: Iterable[Request]) -> Iterator[str]:
    """One JSON object per record and line."""
    for row in rows:
        yield json.dumps(row.to_dict(), ensure_ascii=False) + "\n"


def csv_lines(rows: Iterable[Request]) -> Iterator[str]:
    """A header line, then one CSV line per record (JSON columns as JSON text)."""
    buf = io.StringIO()
    # every cell quoted: a bare CR, a separator or a quote never ends a cell early
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(name, value) for name, value in row.to_dict().items()])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def _cell(name: str, value: Any) -> str:
    kind = KINDS[name]
    if value is None:
        return ""
    if kind == "json":
        text = json.dumps(value, ensure_ascii=False)
    elif kind == "bool":
        return "true" if value else "false"
    else:
        text = str(value)
    return guard(text) if kind in ("str", "json") else text


def guard(text: str) -> str:
    """``text`` with a "'" before every formula start a spreadsheet could see."""
    out = []
    at_start = True
    for ch in text:
        if at_start and ch in FORMULA_START:
            out.append("'")
        out.append(ch)
        at_start = ch in SEPARATORS or (at_start and ch in SKIPPED)
    return "".join(out)


def unguard(text: str) -> str:
    """The text ``guard`` was given: the quotes it added removed, no others."""
    out = []
    at_start = True
    for ch in text:
        if at_start and ch == "'":
            at_start = False  # the next character is the guarded one, kept as is
            continue
        out.append(ch)
        at_start = ch in SEPARATORS or (at_start and ch in SKIPPED)
    return "".join(out)


def _from_cell(name: str, text: str) -> Any:
    kind = KINDS[name]
    if text == "":
        return "" if name in REQUIRED_STR else None
    if kind in ("str", "json"):
        text = unguard(text)
    if kind == "json":
        return json.loads(text) if text else None
    return _convert(name, text)


def _convert(name: str, value: Any) -> Any:
    """A JSON or CSV value as the column's Python value; ValueError if wrong."""
    kind = KINDS[name]
    if value is None:
        return None
    if kind == "time":
        when = datetime.fromisoformat(str(value))
        if when.tzinfo is not None:  # stored times are naive UTC
            try:
                when = when.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:
                raise ValueError(f"{name}: out of range") from None
        return when
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0", ""):
            return False
        raise ValueError(f"{name}: not a boolean")
    if kind == "int":
        try:
            number = int(value)
        except OverflowError:  # 1e400 reads as infinity
            raise ValueError(f"{name}: out of range") from None
        if not -(2**31) <= number < 2**31:  # INTEGER columns
            raise ValueError(f"{name}: out of range")
        return number
    if kind == "float":
        return float(value)
    if kind == "json":
        return value
    return storable(str(value))  # NUL or lone surrogates: U+FFFD, as recorded ones


def read_records(text: Iterable[str], fmt: str) -> Iterator[dict[str, Any]]:
    """Parse an export (``jsonl`` or ``csv``) into column dicts; errors name lines."""
    if fmt == "csv":
        reader = csv.DictReader(text)
        for number, raw in enumerate(reader, start=2):
            try:
                yield {k: _from_cell(k, v or "") for k, v in raw.items() if k in KINDS}
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None
        return
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            yield {k: _convert(k, v) for k, v in obj.items() if k in KINDS}
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None


def import_records(records: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Insert records with new ids; return (added, skipped). Users and teams
    match by name."""
    users = dict(db.session.execute(select(User.name, User.id)).all())
    teams = dict(db.session.execute(select(Team.name, Team.id)).all())
    keys = {
        (uid, prefix): kid
        for kid, uid, prefix in db.session.execute(
            select(ApiKey.id, ApiKey.user_id, ApiKey.prefix)
        ).all()
    }
    added = skipped = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal added, skipped
        ids = [r["id"] for r in batch]
        present = set(
            db.session.execute(select(Request.id).where(Request.id.in_(ids))).scalars()
        )
        fresh = {
            r["id"]: r for r in batch if r["id"] not in present
        }  # also dedups the file
        for rec in fresh.values():
            db.session.add(Request(**rec))
        db.session.commit()
        added += len(fresh)
        skipped += len(batch) - len(fresh)
        batch.clear()

    for number, rec in enumerate(records, start=1):
        if not isinstance(rec.get("id"), str) or not valid_id(rec["id"]):
            raise ValueError(f"record {number}: missing or malformed id")
        if not isinstance(rec.get("started_at"), datetime):
            raise ValueError(f"record {number}: missing started_at")
        # the other gateway's row ids mean nothing here: link by user name, key prefix
        rec["user_id"] = users.get(rec.get("user_name") or "")
        rec["key_id"] = keys.get((rec["user_id"], rec.get("key_prefix") or ""))
        rec["team_id"] = teams.get(rec.get("team_name") or "")
        rec["end_user_id"] = None  # a person there is not one here: the name stays
        batch.append(rec)
        if len(batch) >= CHUNK:
            flush()
    if batch:
        flush()
    return added, skipped
