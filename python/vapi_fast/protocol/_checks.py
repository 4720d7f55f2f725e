"""Argument checks for outbound messages: each failure is a :class:`ControlMessageError` (a ValueError)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._json import copy_json, json_type
from .errors import ControlMessageError, ProtocolError

__all__: list[str] = []


def fail(owner: str, reason: str) -> ControlMessageError:
    """A :class:`ControlMessageError` about an argument of ``owner``."""
    return ControlMessageError(f"{owner}: {reason}")


def text(owner: str, name: str, value: object, *, optional: bool = False, empty_ok: bool = False) -> None:
    """Check a string argument (non-empty unless ``empty_ok``)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise fail(owner, f"{name} must be a string, got {json_type(value)}")
    if not value and not empty_ok:
        raise fail(owner, f"{name} must not be empty")


def flag(owner: str, name: str, value: object) -> None:
    """Check an optional boolean argument."""
    if value is not None and not isinstance(value, bool):
        raise fail(owner, f"{name} must be a bool or None, got {json_type(value)}")


def number(owner: str, name: str, value: object, *, minimum: float | None = None) -> None:
    """Check a finite number argument, at least ``minimum`` when given."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise fail(owner, f"{name} must be a finite number, got {json_type(value)}")
    if minimum is not None and value < minimum:
        raise fail(owner, f"{name} must be >= {minimum}")


def choice(owner: str, name: str, value: object, allowed: Iterable[str]) -> None:
    """Check a string argument against a closed set of values (Vapi rejects others on input)."""
    options = sorted(allowed)
    if not isinstance(value, str) or value not in options:
        shown = repr(value) if isinstance(value, str) and len(value) <= 40 else json_type(value)
        raise fail(owner, f"{name} must be one of {', '.join(options)}; got {shown}")


def json_object(owner: str, name: str, value: object, *, optional: bool = True) -> dict[str, Any] | None:
    """Check a JSON object argument and return a private deep copy of it."""
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise fail(owner, f"{name} must be a mapping, got {json_type(value)}")
    try:
        copied: dict[str, Any] = copy_json(value, name)
    except ProtocolError as exc:
        raise fail(owner, exc.reason) from None
    return copied


def text_or_object(owner: str, name: str, value: object) -> str | dict[str, Any] | None:
    """Check an optional argument that is a string or a JSON object; objects are copied."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return json_object(owner, name, value)
    raise fail(owner, f"{name} must be a string, a mapping or None, got {json_type(value)}")


def extra_keys(owner: str, extra: object, reserved: Iterable[str]) -> dict[str, Any] | None:
    """Check ``extra`` (additional wire keys): a JSON object whose keys do not clash with typed fields."""
    copied = json_object(owner, "extra", extra)
    if copied:
        clash = sorted(set(copied) & set(reserved))
        if clash:
            raise fail(owner, f"extra must not set {', '.join(clash)}: use the typed arguments")
    return copied


def exactly_one(owner: str, **options: object) -> str:
    """Check that exactly one of ``options`` is not ``None``; return its name."""
    given = [name for name, value in options.items() if value is not None]
    if len(given) != 1:
        names = ", ".join(options)
        raise fail(owner, f"give exactly one of {names} (got {', '.join(given) or 'none'})")
    return given[0]
