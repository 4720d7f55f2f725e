"""A minimal HTTP/1.1 server and JSON POST client on asyncio streams, for the mock only.

The server understands what the mock needs and rejects the rest cleanly: a request line, headers,
and a ``Content-Length`` body (no chunked request bodies), with keep-alive. It is not a general web
server: it exists so the mock needs no framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

try:
    import httpx
except ImportError:  # pragma: no cover - httpx is optional at run time
    httpx = None  # type: ignore[assignment]

__all__ = ["HttpRequest", "HttpResponse", "HttpServer", "PostResult", "json_response", "post_json"]

logger = logging.getLogger(__name__)

#: Largest request body the server reads, in bytes (larger ones get 413).
MAX_BODY_BYTES = 1 << 20
#: Longest request line or header line, in bytes (longer ones get 431).
MAX_LINE_BYTES = 16 * 1024
#: Most header lines in one request (more get 431).
MAX_HEADERS = 100
#: How long an idle keep-alive connection stays open, in ms.
KEEP_ALIVE_MS = 15_000

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class HttpRequest:
    """One parsed request.

    Attributes:
        method: the request method, upper case as sent (methods are case-sensitive).
        path: the target's path, without the query string.
        query: the raw query string (empty when absent).
        headers: header names lower-cased; repeated headers joined with ``", "``.
        body: the raw body bytes.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class HttpResponse:
    """A response to send: status, body and extra headers (``Content-Length`` is added)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, obj: object, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A JSON response with ``obj`` serialized compactly."""
    body = json.dumps(obj, separators=(",", ":")).encode()
    return HttpResponse(status, body, "application/json", dict(headers or {}))


def error_response(status: int, message: str | list[str], headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A Vapi-like (NestJS) error body: ``{"message", "error", "statusCode"}``."""
    return json_response(
        status, {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status}, headers
    )


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpServer:
    """Serve ``handler`` over HTTP/1.1 on ``host``:``port`` (0 picks a free port).

    Every connection runs in a task the server tracks, so :meth:`close` ends them all.

    Args:
        handler: called once per well-formed request; its exceptions become a 500.
        host: the address to bind.
        port: the port to bind; 0 picks a free one.
        max_body_bytes: larger declared bodies are refused with 413 before they are read.
    """

    def __init__(
        self, handler: Handler, host: str = "127.0.0.1", port: int = 0, *, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        # The listening server, set by start().
        self._server: asyncio.Server | None = None
        # One task per open client connection.
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the HTTP server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(self._on_connection, self._host, self._port, limit=MAX_LINE_BYTES)

    async def close(self) -> None:
        """Stop listening, close every connection and wait for their tasks. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._connections)
        for task, writer in list(self._connections.items()):
            writer.close()
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only close() cancels this task, and waits for it. Returning normally keeps asyncio's
            # stream callback (which calls task.exception()) from logging the cancellation as an error.
            pass
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                async with asyncio.timeout(KEEP_ALIVE_MS / 1000):
                    request_line = await reader.readline()
            except TimeoutError:
                return
            except ValueError:  # line longer than the stream limit
                await _write(writer, error_response(431, "request line too long"), keep_alive=False)
                return
            if not request_line:
                return  # the client closed between requests
            try:
                request, keep_alive = await self._read_request(request_line, reader)
            except _BadRequest as exc:
                await _write(writer, error_response(exc.status, exc.message), keep_alive=False)
                return
            try:
                response = await self._handler(request)
            except Exception:
                logger.exception("mock HTTP handler failed on %s %s", request.method, request.path)
                response = error_response(500, "internal error in the mock")
            await _write(writer, response, keep_alive=keep_alive)
            if not keep_alive:
                return

    async def _read_request(self, request_line: bytes, reader: asyncio.StreamReader) -> tuple[HttpRequest, bool]:
        if not request_line.endswith(b"\n"):
            raise _BadRequest(400, "truncated request line")
        try:
            method, target, version = request_line.decode("ascii").rstrip("\r\n").split(" ")
        except (UnicodeDecodeError, ValueError):
            raise _BadRequest(400, "malformed request line") from None
        if not method or not set(method) <= _TOKEN_CHARS or not target.startswith("/"):
            raise _BadRequest(400, "malformed request line")
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(505 if version.startswith("HTTP/") else 400, "unsupported HTTP version")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            try:
                line = await reader.readline()
            except ValueError:
                raise _BadRequest(431, "header line too long") from None
            if not line.endswith(b"\n"):
                raise _BadRequest(400, "truncated headers")
            if line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not name or not set(name) <= _TOKEN_CHARS:
                raise _BadRequest(400, "malformed header line")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        else:
            raise _BadRequest(431, "too many headers")
        if "transfer-encoding" in headers:
            raise _BadRequest(501, "chunked request bodies are not supported; send Content-Length")
        length_text = headers.get("content-length", "0")
        lengths = {part.strip() for part in length_text.split(",")}
        if len(lengths) != 1 or not (length := lengths.pop()).isdigit():
            raise _BadRequest(400, "malformed Content-Length")
        n_bytes = int(length)
        if n_bytes > self._max_body_bytes:
            raise _BadRequest(413, f"body of {n_bytes} bytes is over the limit of {self._max_body_bytes}")
        body = await reader.readexactly(n_bytes) if n_bytes else b""
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        path, _, query = target.partition("?")
        return HttpRequest(method, path, query, headers, body), keep_alive


async def _write(writer: asyncio.StreamWriter, response: HttpResponse, *, keep_alive: bool) -> None:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    headers = {
        "Content-Type": response.content_type,
        "Content-Length": str(len(response.body)),
        "Connection": "keep-alive" if keep_alive else "close",
        **response.headers,
    }
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()


@dataclass(frozen=True)
class PostResult:
    """What a POST got back: the status code and the raw body."""

    status: int
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON.
        """
        return json.loads(self.body)


async def post_json(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_ms: float,
    client: httpx.AsyncClient | None = None,
) -> PostResult:
    """POST ``body`` (already-serialized JSON) to ``url``.

    Uses ``client`` (an ``httpx.AsyncClient``) when given, else a one-shot HTTP/1.1 connection.

    Raises:
        OSError: connecting or talking to the server failed.
        TimeoutError: no full answer within ``timeout_ms``.
        ValueError: the URL or the response is malformed.
    """
    all_headers = {"Content-Type": "application/json", **headers}
    if client is not None:
        try:
            reply = await client.post(url, content=body, headers=all_headers, timeout=timeout_ms / 1000)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc) or "timed out") from exc
        except httpx.HTTPError as exc:
            raise OSError(str(exc) or type(exc).__name__) from exc
        return PostResult(reply.status_code, reply.content)
    async with asyncio.timeout(timeout_ms / 1000):
        return await _post_raw(url, body, all_headers)


async def _post_raw(url: str, body: bytes, headers: Mapping[str, str]) -> PostResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("only http:// and https:// URLs are supported")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rpartition("@")[2]
    request_headers = {"Host": host_header, "Content-Length": str(len(body)), "Connection": "close", **headers}
    head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request_headers.items()) + "\r\n"
    ssl_context = ssl.create_default_context() if parts.scheme == "https" else None
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=ssl_context)
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
            raise ValueError("malformed HTTP status line")
        status = int(fields[1])
        response_headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        if "chunked" in response_headers.get("transfer-encoding", "").lower():
            payload = await _read_chunked(reader)
        elif (length := response_headers.get("content-length", "")).isdigit():
            payload = await reader.readexactly(int(length))
        else:
            payload = await reader.read()
        return PostResult(status, payload)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = (await reader.readline()).split(b";")[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ValueError("malformed chunk size") from None
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
