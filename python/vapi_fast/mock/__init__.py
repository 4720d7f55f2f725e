"""A local mock of Vapi for tests and demos: ``POST /call``, the call WebSocket and server URL events.

Example::

    async with MockVapi() as mock:
        # POST {mock.base_url}/call with "Authorization: Bearer mock-key", then connect to the
        # returned transport.websocketCallUrl; mock.calls[call_id] records what happened.
        ...

The command line runs one with ``vapi-fast mock``.
"""

from __future__ import annotations

from ._audio import Pacing
from ._config import DEFAULT_CLIENT_MESSAGES, DEFAULT_SERVER_MESSAGES, FirstMessageMode, MockBehaviour, MockFaults
from .server import CallEvent, MockCall, MockVapi, WebhookDelivery, run, run_mock

__all__ = [
    "DEFAULT_CLIENT_MESSAGES",
    "DEFAULT_SERVER_MESSAGES",
    "CallEvent",
    "FirstMessageMode",
    "MockBehaviour",
    "MockCall",
    "MockFaults",
    "MockVapi",
    "Pacing",
    "WebhookDelivery",
    "run",
    "run_mock",
]
