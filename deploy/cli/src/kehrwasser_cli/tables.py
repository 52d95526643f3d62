"""Plain-text output for a person: aligned tables and key/value blocks.

Only the standard library: a dozen lines suffice, and rich would reflow columns to the width of a terminal that
a pipe or a test does not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

Cell = object
EMPTY = "-"


def text(value: Cell) -> str:
    """A value as a table shows it: times to the minute with their offset, lists joined, nothing as '-'."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, list | tuple):
        return ", ".join(text(each) for each in value)
    return str(getattr(value, "value", value))  # an enum shows its value


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], empty: str = "(none)") -> str:
    """Columns aligned to their widest cell; numbers stay left-aligned like the rest (they carry signs)."""
    cells = [[text(value) for value in row] for row in rows]
    if not cells:
        return empty
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    lines = [headers, *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def block(pairs: Mapping[str, Cell]) -> str:
    """One ``key  value`` line per field, the values aligned."""
    width = max(len(key) for key in pairs)
    return "\n".join(f"{key.ljust(width)}  {text(value)}" for key, value in pairs.items())


class Names:
    """Member names by id, as the members service knows them; an id it does not know shows as itself."""

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self._names = dict(names or {})

    def __call__(self, member_id: str | None) -> str:
        if member_id is None:
            return EMPTY
        return self._names.get(member_id, member_id)

    def of(self, member_ids: Iterable[str]) -> str:
        return ", ".join(self(each) for each in member_ids) or EMPTY
