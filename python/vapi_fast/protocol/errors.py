"""Errors of the sans-I/O protocol layer.

The tree (under :class:`vapi_fast.errors.VapiFastError`)::

    VapiFastError
    └── ProtocolError               a malformed inbound message (bad JSON, no ``type``, a typed field
        │                           of the wrong JSON type, a missing required field)
        ├── ControlMessageError     bad arguments for an outbound control message or webhook response;
        │                           also a ``ValueError``, as bad user input is everywhere in vapi_fast
        └── ConnectionClosedError   a send after ``close()``, or a send or receive once the
                                    :class:`~vapi_fast.protocol.VapiProtocol` is ``CLOSED``

Error messages never contain payload text: they name the message ``type``, the field path and the
JSON type found, so they are safe to log.
"""

from __future__ import annotations

from ..errors import VapiFastError

__all__ = ["ConnectionClosedError", "ControlMessageError", "ProtocolError"]


class ProtocolError(VapiFastError):
    """A message that does not follow the Vapi protocol.

    Raised by :func:`~vapi_fast.protocol.parse_message` and the ``parse()`` class methods. The
    :class:`~vapi_fast.protocol.VapiProtocol` state machine never raises it for inbound text: it turns
    it into a :class:`~vapi_fast.protocol.MessageSkipped` event.

    Args:
        reason: What is wrong, without payload text.
        path: Where, as a dotted path inside the message object (``toolCallList[0].function``), if
            the problem is in one field.
        message_type: The message's ``type``, when it was read before the problem was found.

    Attributes:
        reason: What is wrong (includes ``path`` when there is one).
        path: The field path, or ``None``.
        message_type: The message ``type``, or ``None``.
    """

    def __init__(self, reason: str, *, path: str | None = None, message_type: str | None = None) -> None:
        if path:
            reason = f"{path}: {reason}"
        if message_type is not None:
            reason = f"{_short(message_type)} message: {reason}"
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.message_type = message_type


class ControlMessageError(ProtocolError, ValueError):
    """Bad arguments for an outbound message (a control message or a webhook response).

    Raised at construction, so an invalid message never reaches the wire. It is a ``ValueError`` too,
    like every other bad-argument error of vapi_fast.
    """


class ConnectionClosedError(ProtocolError):
    """A :class:`~vapi_fast.protocol.VapiProtocol` cannot do this any more.

    Raised by ``send_*`` after ``close()`` or once the state is ``CLOSED``, and by ``receive_*`` once
    ``CLOSED`` (a driver bug: the socket is gone).
    """


def _short(text: str, limit: int = 64) -> str:
    """``text`` cut to ``limit`` characters, for the few payload values (message types) errors quote."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
