"""The one JSON serialiser of the read model: typed records (frozen dataclasses) in, plain JSON
data out. The CLI's ``--json``, the viewer's JSON API and the exports all go through
:func:`to_json`, so one record always has one JSON shape (docs/archivist.md, JSON output).

Rules, applied recursively:

- a dataclass becomes an object of its fields in declaration order; a field declared with
  ``json_field(name="from")`` is written under that name, one with ``json_field(skip=True)``
  is left out (an ORM object kept for a template, a raw value shown another way);
- a dataclass may add computed members through a class attribute ``json_extra``: a mapping of
  JSON name to a function of the record (``{"understood_as": lambda page: page.query.describe()}``);
- datetimes and dates become ISO 8601 strings, enums their value, tuples and sets lists,
  mappings objects with string keys; ``None``, strings, numbers and booleans stay as they are.

Anything else is a ``TypeError``: a record that would serialise by accident is a bug.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]
JSON_NAME = "json_name"
JSON_SKIP = "json_skip"
_PLAIN = frozenset({str, int, float, bool, type(None)})  # exactly these types (not a StrEnum)


def json_field(*, name: str | None = None, skip: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with a JSON name other than its own, or left out of the JSON."""
    metadata = {JSON_NAME: name, JSON_SKIP: skip}
    return dataclasses.field(metadata=metadata, **kwargs)


def to_json(value: Any) -> JSONValue:
    """Plain JSON data (dicts, lists, strings, numbers, booleans, None) for a record or value."""
    if type(value) in _PLAIN:  # most values: no isinstance chain
        return value
    if isinstance(value, enum.Enum):  # a StrEnum/IntEnum is also a str/int: write its value
        return to_json(value.value)
    if isinstance(value, bool | int | float | str):  # another subclass of a scalar
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields, extra = _plan(type(value))
        out: dict[str, Any] = {name: to_json(getattr(value, attribute)) for attribute, name in fields}
        for name, compute in extra:
            out[name] = to_json(compute(value))
        return out
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not a read-model record")


@functools.cache
def _plan(
    record_type: type,
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Callable[[Any], Any]], ...]]:
    """A record type's JSON members, read once per type (exports serialise a record per
    version): (attribute, JSON name) of each field written, then the ``json_extra`` members."""
    fields = tuple(
        (f.name, f.metadata.get(JSON_NAME) or f.name)
        for f in dataclasses.fields(record_type)
        if not f.metadata.get(JSON_SKIP)
    )
    extra: Mapping[str, Callable[[Any], Any]] = getattr(record_type, "json_extra", {})
    return fields, tuple(extra.items())


def json_text(value: Any) -> str:
    """One line of JSON text for a record (the CLI's ``--json`` lines); non-ASCII kept as is."""
    return json.dumps(to_json(value), ensure_ascii=False)
