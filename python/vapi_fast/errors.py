"""Exceptions raised by vapi_fast.

The tree::

    ValueError
    └── AudioFormatError        bad audio arguments or input (raised by the native core)
    RuntimeError
    └── NativeError             an internal fault in the native core (a bug; report it)
    Exception
    └── VapiFastError           base of every protocol, session and webhook error

Audio errors are ``ValueError`` subclasses so that code catching ``ValueError`` for bad input keeps
working; everything about talking to Vapi derives from :class:`VapiFastError`.
"""

from __future__ import annotations

from ._native import AudioFormatError, NativeError

__all__ = ["AudioFormatError", "NativeError", "VapiFastError"]


class VapiFastError(Exception):
    """Base class of the protocol, session and webhook errors."""
