"""Helpers for the webhook router tests: a real uvicorn server on 127.0.0.1 port 0, clients, the SDK models.

The server runs in its own thread with its own event loop, as a deployed router would run in its own
process: the tests talk to it over real sockets with httpx (or a raw socket where the HTTP framing
itself is under test). Every wait is bounded by a timeout scaled by ``VAPI_FAST_TIMEOUT_FACTOR``; no
sleep is used to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from vapi_fast.webhooks import ASGIApp, Receive, Router, Scope, Send

__all__ = [
    "FIXTURES",
    "TIMEOUT_FACTOR",
    "Calls",
    "Dispatch",
    "assert_no_extra",
    "client",
    "compact",
    "fixture_bytes",
    "fixture_json",
    "raw_request",
    "scaled",
    "sdk_validate",
    "serving",
]

#: Scales every timeout in the suite on slow machines (websockets' convention).
TIMEOUT_FACTOR = float(os.environ.get("VAPI_FAST_TIMEOUT_FACTOR", "1"))
#: The recorded protocol fixtures.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def scaled(seconds: float) -> float:
    """A timeout bound, scaled by ``VAPI_FAST_TIMEOUT_FACTOR``."""
    return seconds * TIMEOUT_FACTOR


def fixture_bytes(name: str) -> bytes:
    """A fixture file's bytes."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    """A fixture file, decoded."""
    return json.loads(fixture_bytes(name))


def compact(obj: Any) -> bytes:
    """``obj`` as compact JSON bytes (what Vapi sends: no trailing whitespace)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Calls:
    """A thread-safe record of handler calls (handlers run on the server's thread or its workers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.items: list[tuple[str, Any]] = []
        self._arrived = threading.Condition(self._lock)

    def add(self, name: str, item: Any = None) -> None:
        """Record a call of ``name``."""
        with self._arrived:
            self.counts[name] += 1
            self.items.append((name, item))
            self._arrived.notify_all()

    def total(self) -> int:
        """How many calls so far."""
        with self._lock:
            return sum(self.counts.values())

    def wait_for(self, name: str, count: int = 1, timeout_s: float = 5.0) -> None:
        """Block until ``name`` was called ``count`` times (scaled bound)."""
        with self._arrived:
            ok = self._arrived.wait_for(lambda: self.counts[name] >= count, timeout=scaled(timeout_s))
        assert ok, f"{name} called {self.counts[name]} times, expected {count}"


class Dispatch:
    """An ASGI app sending each path to its own router, so one server can host many configurations.

    Lifespan events are answered here; shutdown closes every router (drains their background work).
    """

    def __init__(self, routes: Mapping[str, Router]) -> None:
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await asyncio.gather(*(router.aclose() for router in self.routes.values()))
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        router = self.routes.get(scope["path"])
        if router is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await router(scope, receive, send)


@contextlib.contextmanager
def serving(app: ASGIApp, **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn (h11, lifespan on) on 127.0.0.1, port 0, in a thread; yields the base URL.

    The listening socket is bound before the server starts, so requests made at once wait in the
    backlog instead of racing the start-up. On exit the server shuts down (lifespan shutdown included)
    and the thread must end within a bound. Skips the test when uvicorn (the ``server`` extra) is missing.
    """
    uvicorn = pytest.importorskip("uvicorn")
    # IPPROTO_TCP, so that asyncio sets TCP_NODELAY on accepted connections.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    options: dict[str, Any] = {
        "lifespan": "on",
        "ws": "none",
        "http": "h11",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 5,
    }
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(scaled(15))
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    """A keep-alive httpx client for ``base_url`` with a bounded timeout."""
    return httpx.Client(base_url=base_url, timeout=scaled(20), **kwargs)


def raw_request(base_url: str, data: bytes, *, then: bytes | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes on a new connection and read one response (status, whole text until close or length).

    ``then`` is sent after the response arrived (to see whether the server still listens).
    """
    host, _, port = base_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=scaled(timeout_s)) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
            None,
        )
        while length is not None and len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        if then is not None:
            with contextlib.suppress(OSError):
                sock.sendall(then)
        return status, head + b"\r\n\r\n" + body


# ---------------------------------------------------------------------------------------------
# The official SDK's reply models


_RESPONSE_MODELS = (
    "ServerMessageResponseAssistantRequest",
    "ServerMessageResponseCallEndpointingRequest",
    "ServerMessageResponseKnowledgeBaseRequest",
    "ServerMessageResponseToolCalls",
    "ServerMessageResponseTransferDestinationRequest",
    "ServerMessageResponseHandoffDestinationRequest",
    "ServerMessageResponseCampaignPredial",
)


@functools.cache
def _sdk_adapter() -> Any:
    """One pydantic ``TypeAdapter`` over the SDK's reply models (their import-time rebuild skipped: the
    adapter builds the schemas once, seconds faster than importing each class normally)."""
    vt = pytest.importorskip("vapi.types")
    pydantic = pytest.importorskip("pydantic")
    typing_extensions = pytest.importorskip("typing_extensions")
    utils = pytest.importorskip("vapi.core.pydantic_utilities")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils, "update_forward_refs", lambda model, **localns: None)
        classes = {name: getattr(vt, name) for name in _RESPONSE_MODELS}
    probe = typing_extensions.TypedDict(
        "Probe", {name: typing_extensions.NotRequired[cls] for name, cls in classes.items()}
    )
    return pydantic.TypeAdapter(probe)


def sdk_validate(model: str, payload: Any) -> Any:
    """``payload`` validated by the ``vapi-server-sdk`` model ``model`` (raises pydantic's ValidationError)."""
    assert model in _RESPONSE_MODELS, model
    return _sdk_adapter().validate_python({model: payload})[model]


def assert_no_extra(model: Any, path: str = "") -> None:
    """No key anywhere in an SDK model instance fell into pydantic's extras (a misspelled or invented key)."""
    pydantic = pytest.importorskip("pydantic")
    if isinstance(model, pydantic.BaseModel):
        assert not model.model_extra, f"unknown keys at {path or '<root>'}: {sorted(model.model_extra)}"
        for name in type(model).model_fields:
            assert_no_extra(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            assert_no_extra(item, f"{path}[{i}]")
