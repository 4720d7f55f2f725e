"""JSON helpers shared by the protocol modules: decoding, copying and typed field access.

Every failure is a :class:`~vapi_fast.protocol.ProtocolError` naming the field path and the JSON type
found, never the value (values may be secrets or personal data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import ProtocolError

__all__: list[str] = []


def json_type(value: object) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return f"Python {type(value).__name__}"


def dumps(obj: Mapping[str, Any]) -> str:
    """Compact JSON text for the wire, non-ASCII characters kept as they are."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity by default; they are not JSON.
    raise ValueError(f"{name} is not valid JSON")


def loads(data: str | bytes | bytearray) -> Any:
    """Decode one JSON text (UTF-8 when given bytes).

    Raises:
        ProtocolError: The text is not UTF-8 or not JSON, or nests too deeply.
    """
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: exc.doc is the payload.
        raise ProtocolError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("malformed JSON: nested too deeply") from None


def copy_json(value: Any, path: str = "") -> Any:
    """A deep copy of a JSON-like value (dicts with ``str`` keys, lists or tuples, scalars).

    Tuples become lists, so the copy is what ``json.loads`` would have produced.

    Raises:
        ProtocolError: ``value`` holds something JSON cannot represent, or nests too deeply.
    """
    try:
        return _copy(value, path)
    except RecursionError:
        raise ProtocolError("nested too deeply", path=path or None) from None


def _copy(value: Any, path: str) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ProtocolError(f"object key of type {json_type(key)}, expected string", path=path or None)
            out[key] = _copy(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list | tuple):
        return [_copy(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise ProtocolError(f"{json_type(value)} is not a JSON value", path=path or None)


def timestamp_ms(value: object, path: str, message_type: str | None = None) -> float:
    """Normalize a timestamp to Unix epoch milliseconds.

    Accepts a number (already epoch ms), a string of digits (epoch ms) or an ISO-8601 string (a naive
    one is taken as UTC).

    Raises:
        ProtocolError: Any other value.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(value, path, message_type)
    if isinstance(value, str):
        text = value.strip()
        try:
            return _finite(float(text), path, message_type)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.timestamp() * 1000.0
        except (ValueError, OverflowError):
            raise ProtocolError(
                "expected epoch milliseconds or an ISO-8601 string", path=path, message_type=message_type
            ) from None
    raise ProtocolError(
        f"expected a timestamp (number or string), got {json_type(value)}", path=path, message_type=message_type
    )


def _finite(value: int | float, path: str, message_type: str | None) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ProtocolError("expected a finite number", path=path, message_type=message_type)
    return number


class Fields:
    """Typed, path-aware reads from one JSON object of a message.

    A missing key and an explicit ``null`` both read as absent. A present value of the wrong JSON type
    raises :class:`ProtocolError` with the field path.

    Args:
        obj: The JSON object (owned by the message being built); a mapping that is not a ``dict`` is
            copied into one.
        path: The object's path inside the message (``""`` for the message itself).
        message_type: The message ``type``, for error messages.
    """

    __slots__ = ("message_type", "obj", "path")

    def __init__(self, obj: Mapping[str, Any], path: str = "", message_type: str | None = None) -> None:
        self.obj: dict[str, Any] = obj if isinstance(obj, dict) else dict(obj)
        self.path = path
        self.message_type = message_type

    def at(self, key: str) -> str:
        """The path of ``key`` inside this object."""
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> ProtocolError:
        """A :class:`ProtocolError` about ``key``."""
        return ProtocolError(reason, path=self.at(key), message_type=self.message_type)

    def _wrong(self, key: str, expected: str, value: object) -> ProtocolError:
        return self.error(key, f"expected {expected}, got {json_type(value)}")

    def _missing(self, key: str) -> ProtocolError:
        return self.error(key, "required field is missing")

    def has(self, key: str) -> bool:
        """Whether ``key`` is present and not ``null``."""
        return self.obj.get(key) is not None

    def any(self, key: str) -> Any:
        """The value of ``key`` whatever its type, or ``None``."""
        return self.obj.get(key)

    def opt_str(self, key: str) -> str | None:
        """A string field, or ``None`` when absent."""
        value = self.obj.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(key, "a string", value)

    def req_str(self, key: str) -> str:
        """A required string field."""
        value = self.opt_str(key)
        if value is None:
            raise self._missing(key)
        return value

    def opt_number(self, key: str) -> float | None:
        """A finite number field as ``float``, or ``None`` when absent."""
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _finite(value, self.at(key), self.message_type)
        raise self._wrong(key, "a number", value)

    def req_number(self, key: str) -> float:
        """A required finite number field."""
        value = self.opt_number(key)
        if value is None:
            raise self._missing(key)
        return value

    def opt_int(self, key: str) -> int | None:
        """An integer field (``2`` or ``2.0``), or ``None`` when absent."""
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self._wrong(key, "an integer", value)

    def req_int(self, key: str) -> int:
        """A required integer field."""
        value = self.opt_int(key)
        if value is None:
            raise self._missing(key)
        return value

    def opt_bool(self, key: str) -> bool | None:
        """A boolean field, or ``None`` when absent."""
        value = self.obj.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self._wrong(key, "a boolean", value)

    def opt_object(self, key: str) -> dict[str, Any] | None:
        """An object field (the message's own dict, not a copy), or ``None`` when absent."""
        value = self.obj.get(key)
        if value is None or isinstance(value, dict):
            return value
        raise self._wrong(key, "an object", value)

    def req_object(self, key: str) -> dict[str, Any]:
        """A required object field."""
        value = self.opt_object(key)
        if value is None:
            raise self._missing(key)
        return value

    def opt_str_or_object(self, key: str) -> str | dict[str, Any] | None:
        """A field that is a string or an object (such as a destination's spoken ``message``)."""
        value = self.obj.get(key)
        if value is None or isinstance(value, str | dict):
            return value
        raise self._wrong(key, "a string or an object", value)

    def child(self, key: str) -> Fields | None:
        """The object at ``key`` as :class:`Fields`, or ``None`` when absent."""
        value = self.opt_object(key)
        return None if value is None else Fields(value, self.at(key), self.message_type)

    def opt_list(self, key: str) -> list[Any] | None:
        """An array field, or ``None`` when absent."""
        value = self.obj.get(key)
        if value is None or isinstance(value, list):
            return value
        raise self._wrong(key, "an array", value)

    def objects(self, key: str) -> tuple[dict[str, Any], ...]:
        """An array of objects as a tuple; ``()`` when absent."""
        return tuple(item.obj for item in self.children(key))

    def children(self, key: str) -> list[Fields]:
        """An array of objects as :class:`Fields`; ``[]`` when absent."""
        items = self.opt_list(key) or []
        out: list[Fields] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self._wrong(f"{key}[{i}]", "an object", item)
            out.append(Fields(item, f"{self.at(key)}[{i}]", self.message_type))
        return out

    def opt_strings(self, key: str) -> tuple[str, ...] | None:
        """An array of strings as a tuple, or ``None`` when absent."""
        items = self.opt_list(key)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self._wrong(f"{key}[{i}]", "a string", item)
        return tuple(items)

    def opt_numbers(self, key: str) -> tuple[float, ...] | None:
        """An array of finite numbers as a tuple of ``float``, or ``None`` when absent."""
        items = self.opt_list(key)
        if items is None:
            return None
        out: list[float] = []
        for i, item in enumerate(items):
            if not isinstance(item, int | float) or isinstance(item, bool):
                raise self._wrong(f"{key}[{i}]", "a number", item)
            out.append(_finite(item, f"{self.at(key)}[{i}]", self.message_type))
        return tuple(out)

    def opt_timestamp_ms(self, key: str) -> float | None:
        """A timestamp field normalized to epoch ms (see :func:`timestamp_ms`), or ``None``."""
        value = self.obj.get(key)
        return None if value is None else timestamp_ms(value, self.at(key), self.message_type)
