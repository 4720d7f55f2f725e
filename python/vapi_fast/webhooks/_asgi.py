"""The small part of ASGI the router needs: types, header access, bounded body reads, plain responses.

No web framework is imported: the router speaks ASGI 3 directly, so it runs under any ASGI server
(uvicorn, hypercorn, granian) and mounts inside Starlette or FastAPI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TypeAlias

__all__ = [
    "ASGIApp",
    "BodyDeadlines",
    "BodyTimeout",
    "BodyTooLarge",
    "ClientGone",
    "Receive",
    "Scope",
    "Send",
    "header_map",
    "read_body",
    "request_url",
    "route_path",
    "send_json",
    "send_response",
]

#: An ASGI connection scope.
Scope: TypeAlias = MutableMapping[str, Any]
#: An ASGI ``receive`` callable.
Receive: TypeAlias = Callable[[], Awaitable[MutableMapping[str, Any]]]
#: An ASGI ``send`` callable.
Send: TypeAlias = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: An ASGI 3 application.
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

_CLOSE = (b"connection", b"close")


class BodyTooLarge(Exception):
    """The body grew past the limit while it was read."""


class BodyTimeout(Exception):
    """The body did not arrive within its deadline."""


class ClientGone(Exception):
    """The client disconnected before the body was complete."""


def header_map(scope: Scope) -> dict[str, str]:
    """The request headers: names (lower-case in ASGI) and values decoded as Latin-1, repeats joined with ``", "``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        # ASGI servers send names lower-cased already.
        name = raw_name.decode("latin-1")
        if name in headers:
            headers[name] = f"{headers[name]}, {raw_value.decode('latin-1')}"
        else:
            headers[name] = raw_value.decode("latin-1")
    return headers


def request_url(scope: Scope, headers: dict[str, str]) -> str:
    """The URL of the request as this server saw it (``scheme://host/path?query``)."""
    host = headers.get("host")
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    root: str = scope.get("root_path", "")
    path: str = scope.get("path", "/")
    # ASGI servers (and Starlette >= 0.33 when mounting) put the full path, root_path included, in "path".
    if root and not path.startswith(root):
        path = root + path
    query: bytes = scope.get("query_string", b"")
    url = f"{scope.get('scheme', 'http')}://{host}{path}"
    return f"{url}?{query.decode('latin-1')}" if query else url


def route_path(scope: Scope) -> str:
    """The path below the mount point (``root_path``), for matching a router's own ``path``."""
    root: str = scope.get("root_path", "")
    path: str = scope.get("path", "/")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


class BodyDeadlines:
    """Cuts off request bodies that are not complete by their deadline, with one timer for all requests.

    A per-request timer (``asyncio.timeout``) costs a few microseconds on every request; this keeps the
    reading requests in a dict and checks them every ``tick_s`` while any is reading, so a body is
    cut off between its deadline and one tick later.

    Args:
        tick_s: How often to check, seconds.
    """

    __slots__ = ("_expired", "_loop", "_reading", "_tick_s", "_timer")

    def __init__(self, tick_s: float) -> None:
        self._tick_s = tick_s
        # Tasks reading a body, with their deadline (loop time); tasks cancelled for missing it.
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        # The check, while any task is reading, and the loop it runs on.
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, task: asyncio.Task[Any], deadline: float) -> None:
        """``task`` starts reading a body due by ``deadline``."""
        self._reading[task] = deadline
        loop = asyncio.get_running_loop()
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(self._tick_s, self._tick)

    def clear(self) -> None:
        """Forget every reader and stop the check (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop = None
        self._reading.clear()
        self._expired.clear()

    def leave(self, task: asyncio.Task[Any]) -> bool:
        """``task`` stopped reading; returns whether it was cancelled for missing its deadline."""
        self._reading.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for task, deadline in list(self._reading.items()):
            if deadline <= now:
                del self._reading[task]
                self._expired.add(task)
                task.cancel()
        self._timer = loop.call_later(self._tick_s, self._tick) if self._reading else None


async def read_body(receive: Receive, limit: int, timeout_s: float, deadlines: BodyDeadlines | None = None) -> bytes:
    """Read the whole request body, at most ``limit`` bytes, within ``timeout_s`` seconds.

    Args:
        receive: The ASGI receive callable.
        limit: Most bytes accepted.
        timeout_s: Time for the whole body.
        deadlines: The shared cut-off timer; without one, a timer of this request's own.

    Raises:
        BodyTooLarge: More than ``limit`` bytes arrived (the rest is not read).
        BodyTimeout: The body was not complete in time.
        ClientGone: The client disconnected first.
    """
    if deadlines is None:
        try:
            async with asyncio.timeout(timeout_s):
                return await _read_body(receive, limit)
        except TimeoutError:
            raise BodyTimeout from None
    task = asyncio.current_task()
    assert task is not None
    deadlines.enter(task, asyncio.get_running_loop().time() + timeout_s)
    try:
        body = await _read_body(receive, limit)
    except asyncio.CancelledError:
        # The timer cancels only tasks suspended in receive(), so its cancellation arrives here.
        if deadlines.leave(task):
            task.uncancel()
            raise BodyTimeout from None
        raise
    except BaseException:
        deadlines.leave(task)
        raise
    deadlines.leave(task)
    return body


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    close: bool = False,
) -> None:
    """Send a complete response with a ``Content-Length``; ``close`` asks the server to drop the connection."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra_headers]
    if close:
        headers.append(_CLOSE)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, obj: Any, extra_headers: Iterable[tuple[bytes, bytes]] = (), *, close: bool = False
) -> None:
    """Send ``obj`` as compact JSON."""
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    await send_response(send, status, body, extra_headers=extra_headers, close=close)
