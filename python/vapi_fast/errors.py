"""Exceptions raised by vapi_fast.

The tree::

    ValueError
    └── AudioFormatError        bad audio arguments or input (raised by the native core)
    RuntimeError
    └── NativeError             an internal fault in the native core (a bug; report it)
    Exception
    └── VapiFastError           base of every protocol, session and webhook error
        ├── ProtocolError       a malformed message (defined in vapi_fast.protocol, re-exported here)
        │   ├── ControlMessageError    bad arguments for an outbound message (also a ValueError)
        │   └── ConnectionClosedError  a send or receive the protocol state no longer allows
        ├── CallError           creating or joining a call failed (HTTP error, bad answer)
        ├── CallEnded           the call ended normally: close code, reason, ended reason, report
        └── ConnectionLost      the peer died or hung; raised within a bounded time

Audio errors are ``ValueError`` subclasses so that code catching ``ValueError`` for bad input keeps
working; everything about talking to Vapi derives from :class:`VapiFastError`.
"""

from __future__ import annotations

from typing import Any

from ._native import AudioFormatError, NativeError

__all__ = [
    "AudioFormatError",
    "CallEnded",
    "CallError",
    "ConnectionClosedError",
    "ConnectionLost",
    "ControlMessageError",
    "NativeError",
    "ProtocolError",
    "VapiFastError",
]


class VapiFastError(Exception):
    """Base class of the protocol, session and webhook errors."""


class CallError(VapiFastError):
    """Creating or joining a call failed.

    Attributes:
        status_code: The HTTP status of Vapi's answer, when there was one.
        body: Vapi's error body (parsed JSON or text), when there was one.
    """

    def __init__(self, message: str, *, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class CallEnded(VapiFastError):
    """The call ended normally (either side hung up, or Vapi ended it).

    Attributes:
        code: The WebSocket close code, if the socket closed with one.
        reason: The WebSocket close reason text.
        ended_reason: Vapi's ``endedReason`` (e.g. ``"customer-ended-call"``), when Vapi sent it.
        report: The end-of-call data known to the client: the ``end-of-call-report`` message's raw
            dict if one arrived on the socket, else ``None`` (Vapi normally sends it to the Server URL).
    """

    def __init__(
        self,
        code: int | None = None,
        reason: str = "",
        ended_reason: str | None = None,
        report: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"call ended (ended_reason={ended_reason}, close code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason
        self.ended_reason = ended_reason
        self.report = report


class ConnectionLost(VapiFastError):
    """The connection to Vapi died or hung without the call ending.

    Attributes:
        code: The WebSocket close code, if any (1006: closed without a close frame; 1011: keepalive
            ping timeout).
        reason: The close reason or the underlying error's text.
    """

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"connection to Vapi lost (close code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason


# The protocol errors live with the protocol (which imports VapiFastError from here): import them
# last so that both modules are complete when either is imported first.
from .protocol.errors import ConnectionClosedError, ControlMessageError, ProtocolError  # noqa: E402
