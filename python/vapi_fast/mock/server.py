"""A local mock of Vapi's WebSocket-transport calls: ``POST /call``, the call socket, server URL events.

Start it with ``async with MockVapi() as mock:``; create calls with ``POST {mock.base_url}/call``
and an ``Authorization: Bearer <api_key>`` header, then connect to the returned
``transport.websocketCallUrl``. The assistant behind the socket is a script (:class:`MockBehaviour`)
with optional faults (:class:`MockFaults`); every call's record is in :attr:`MockVapi.calls`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TextIO

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..audio import AudioFormat
from ..errors import AudioFormatError
from ._call import SHUTDOWN, CallEvent, JsonObject, MockCall
from ._config import DEFAULT_CLIENT_MESSAGES, DEFAULT_SERVER_MESSAGES, MockBehaviour, MockFaults
from ._http import HttpRequest, HttpResponse, HttpServer, error_response, json_response
from ._webhooks import WebhookDelivery, WebhookSender, check_server_auth

__all__ = [
    "DEFAULT_CLIENT_MESSAGES",
    "DEFAULT_SERVER_MESSAGES",
    "CallEvent",
    "MockBehaviour",
    "MockCall",
    "MockFaults",
    "MockVapi",
    "WebhookDelivery",
    "run",
    "run_mock",
]

logger = logging.getLogger(__name__)

_SELECTORS = ("assistantId", "assistant", "squadId", "squad", "workflowId", "workflow")
_CALL_PATH = re.compile(r"^/call/([^/]+)/?$")
_WS_PATH = re.compile(r"^/([^/?]+)/transport/?(?:\?.*)?$")
#: How long close() lets live calls end gracefully before the socket server closes them, in ms.
_SHUTDOWN_GRACE_MS = 3000


class MockVapi:
    """A local Vapi for tests and demos: real HTTP and a real WebSocket on ``host`` (port 0 by default).

    Args:
        api_key: the private key ``POST /call`` must present as ``Authorization: Bearer <key>``.
        host: the address both listeners bind; it also goes into ``websocketCallUrl``.
        port: the HTTP port (0 picks a free one).
        ws_port: the WebSocket port (0 picks a free one).
        server_url: where to POST server URL events (``None``: nowhere).
        server_auth: how to authenticate them: ``{"type": "bearer", "token": ...}``,
            ``{"type": "hmac", "secret": ..., "algorithm": "sha256"}`` (headers ``x-signature`` =
            hex HMAC of ``f"{timestamp}.{body}"`` and ``x-timestamp`` in epoch ms) or
            ``{"type": "secret", "secret": ...}`` (``X-Vapi-Secret``).
        behaviour: the assistant's script (default :class:`MockBehaviour`).
        faults: faults injected into every call (default none).
        seed: makes audio, pacing and set-up delays reproducible (call n uses ``(seed, n)``).

    Raises:
        ValueError: a malformed ``server_auth``.
    """

    def __init__(
        self,
        api_key: str = "mock-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ws_port: int = 0,
        server_url: str | None = None,
        server_auth: Mapping[str, object] | None = None,
        behaviour: MockBehaviour | None = None,
        faults: MockFaults | None = None,
        seed: int = 0,
    ) -> None:
        check_server_auth(server_auth)
        self._api_key = api_key
        self._host = host
        self._ws_port_requested = ws_port
        self._behaviour = behaviour or MockBehaviour()
        self._faults = faults or MockFaults()
        self._seed = seed
        self._server_url = server_url
        self._server_auth = dict(server_auth) if server_auth is not None else None
        self._http = HttpServer(self._handle_http, host, port)
        # The WebSocket listener, set by start().
        self._ws_server: Server | None = None
        # (base_url, ws_url), known once both listeners are bound.
        self._urls: tuple[str, str] | None = None
        self._calls: dict[str, MockCall] = {}
        # Calls whose socket handshake has been accepted (one connection per call).
        self._claimed: set[str] = set()
        # Per-call timers that end calls nobody connects to.
        self._connect_timers: dict[str, asyncio.TimerHandle] = {}
        # Server URL delivery: the sender, and one ordered queue (and worker task) per call.
        self._webhooks: WebhookSender | None = None
        self._hook_queues: dict[str, asyncio.Queue[JsonObject | None]] = {}
        # Every task this object started, cancelled and awaited by close().
        self._tasks: set[asyncio.Task[None]] = set()
        self._state = "new"  # new -> started -> closing -> closed
        # False once close() has started cancelling tasks: no new server URL events.
        self._events_open = True
        self._closed_event: asyncio.Event | None = None

    # ----------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self) -> None:
        """Bind both listeners.

        Raises:
            RuntimeError: already started or closed.
            OSError: a port is unavailable.
        """
        if self._state != "new":
            raise RuntimeError("MockVapi.start() can only be called once")
        self._state = "started"
        self._closed_event = asyncio.Event()
        try:
            await self._http.start()
            self._ws_server = await serve(
                self._on_websocket,
                self._host,
                self._ws_port_requested,
                process_request=self._check_websocket_request,
                compression=None,
                close_timeout=5,
            )
            self._urls = (self._http.url, f"ws://{self._host}:{self._ws_server.sockets[0].getsockname()[1]}")
            if self._server_url is not None:
                self._webhooks = WebhookSender(self._server_url, self._server_auth, self._behaviour.webhook_timeout_ms)
                await self._webhooks.start()
        except BaseException:
            await self.close()
            raise
        logger.info("mock Vapi listening on %s and %s", self.base_url, self.ws_url)

    async def close(self) -> None:
        """End every call, close both listeners and every socket, cancel and await every task.

        Live calls get ``status-update`` ended (``worker-shutdown``) and close code 1001. Server URL
        deliveries still pending are cancelled. Idempotent; concurrent callers all wait for the end.
        """
        if self._state in ("closing", "closed"):
            if self._closed_event is not None:
                await self._closed_event.wait()
            return
        self._state = "closing"
        try:
            await self._http.close()
            for handle in self._connect_timers.values():
                handle.cancel()
            self._connect_timers.clear()
            live = [call for call in self._calls.values() if call.connected.is_set() and not call.ended.is_set()]
            for call in live:
                call.shutdown()
            if live:
                async with asyncio.timeout(_SHUTDOWN_GRACE_MS / 1000):
                    await asyncio.gather(*(call.ended.wait() for call in live), return_exceptions=True)
        except TimeoutError:
            logger.warning("mock: calls did not end within %d ms of close(); closing their sockets", _SHUTDOWN_GRACE_MS)
        finally:
            if self._ws_server is not None:
                self._ws_server.close()
                await self._ws_server.wait_closed()
            self._events_open = False
            for call in self._calls.values():
                call.never_connected(SHUTDOWN)  # calls nobody connected to (a no-op for the others)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._webhooks is not None:
                await self._webhooks.close()
            self._state = "closed"
            if self._closed_event is not None:
                self._closed_event.set()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------------------------------
    # Public state

    @property
    def base_url(self) -> str:
        """``http://host:port``: POST ``/call`` here (still readable after close()).

        Raises:
            RuntimeError: the mock was never started.
        """
        if self._urls is None:
            raise RuntimeError("the mock is not started")
        return self._urls[0]

    @property
    def ws_url(self) -> str:
        """``ws://host:port``: call sockets are ``{ws_url}/{call_id}/transport`` (still readable after close()).

        Raises:
            RuntimeError: the mock was never started.
        """
        if self._urls is None:
            raise RuntimeError("the mock is not started")
        return self._urls[1]

    @property
    def api_key(self) -> str:
        """The key ``POST /call`` expects."""
        return self._api_key

    @property
    def behaviour(self) -> MockBehaviour:
        """The default assistant script."""
        return self._behaviour

    @property
    def faults(self) -> MockFaults:
        """The faults injected into every call."""
        return self._faults

    @property
    def calls(self) -> dict[str, MockCall]:
        """Every call created so far, by id, in creation order."""
        return self._calls

    async def flush_webhooks(self) -> None:
        """Wait until every server URL event emitted so far has been delivered (or has failed)."""
        for queue in list(self._hook_queues.values()):
            await queue.join()

    # ----------------------------------------------------------------------------------------
    # HTTP API

    async def _handle_http(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        call_match = _CALL_PATH.match(path)
        allowed: tuple[str, ...]
        if path.rstrip("/") == "/call":
            allowed = ("GET", "POST")
        elif call_match:
            allowed = ("GET",)
        else:
            return error_response(404, f"Cannot {request.method} {path}")
        if request.method not in allowed:
            return error_response(405, f"Cannot {request.method} {path}", {"Allow": ", ".join(allowed)})
        if not self._authorized(request.headers.get("authorization", "")):
            return error_response(
                401, "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."
            )
        if call_match:
            call = self._calls.get(call_match.group(1))
            if call is None:
                return error_response(404, "Call not found")
            return json_response(200, call.call_object())
        if request.method == "GET":
            return json_response(200, [call.call_object() for call in reversed(self._calls.values())])
        return self._create_call(request.body)

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.strip().partition(" ")
        expected = self._api_key.encode()
        # compare_digest takes as long for any wrong key of the same length; the scheme is not secret.
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

    def _create_call(self, body: bytes) -> HttpResponse:
        try:
            request = json.loads(body)
        except ValueError:
            return error_response(400, ["body must be a JSON object"])
        if not isinstance(request, dict):
            return error_response(400, ["body must be a JSON object"])
        errors: list[str] = []
        fmt = AudioFormat("pcm_s16le", 16000)
        transport = request.get("transport")
        if not isinstance(transport, dict):
            errors.append('transport must be an object with provider "vapi.websocket"')
        else:
            if transport.get("provider") != "vapi.websocket":
                errors.append('transport.provider must be "vapi.websocket"')
            audio_format = transport.get("audioFormat", {})
            if not isinstance(audio_format, dict):
                errors.append("transport.audioFormat must be an object")
            else:
                try:
                    fmt = AudioFormat.from_vapi(audio_format)
                    fmt.to_vapi()
                except AudioFormatError as exc:
                    errors.append(f"transport.{exc}" if str(exc).startswith("audioFormat") else str(exc))
            if transport.get("conversationType", "voice") != "voice":
                errors.append('transport.conversationType must be "voice"')
        selectors = [key for key in _SELECTORS if request.get(key) is not None]
        if len(selectors) != 1:
            errors.append(f"exactly one of {', '.join(_SELECTORS)} is required (got {len(selectors)})")
        for key in ("phoneNumber", "phoneNumberId"):
            if key in request:
                errors.append(f"{key} is not allowed with the vapi.websocket transport")
        if "customers" in request:
            errors.append("customers (batch calls) is not supported by the mock")
        behaviour = self._behaviour_for(request, errors)
        if errors or behaviour is None:
            return error_response(400, errors)
        call = self._new_call(request, fmt, behaviour)
        return json_response(201, call.call_object())

    def _behaviour_for(self, request: JsonObject, errors: list[str]) -> MockBehaviour | None:
        """The default behaviour with the inline assistant's and assistantOverrides' settings applied."""
        changes: dict[str, Any] = {}
        for source in ("assistant", "assistantOverrides"):
            config = request.get(source)
            if not isinstance(config, dict):
                continue
            for key, value in config.items():
                where = f"{source}.{key}"
                if key == "firstMessage":
                    _set(changes, errors, "first_message", value, str, where)
                elif key == "firstMessageMode":
                    _set(changes, errors, "first_message_mode", value, str, where)
                elif key == "firstMessageInterruptionsEnabled":
                    _set(changes, errors, "first_message_interruptions_enabled", value, bool, where)
                elif key in ("clientMessages", "serverMessages"):
                    if isinstance(value, list) and all(isinstance(v, str) for v in value):
                        changes["client_messages" if key == "clientMessages" else "server_messages"] = tuple(value)
                    else:
                        errors.append(f"{where} must be an array of strings")
                elif key == "maxDurationSeconds":
                    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                        changes["max_duration_ms"] = round(value * 1000)
                    else:
                        errors.append(f"{where} must be a positive number")
        try:
            return dataclasses.replace(self._behaviour, **changes)
        except ValueError as exc:
            errors.append(str(exc))
            return None

    def _new_call(self, request: JsonObject, fmt: AudioFormat, behaviour: MockBehaviour) -> MockCall:
        call_id = str(uuid.uuid4())
        call = MockCall(
            call_id,
            fmt,
            request,
            behaviour,
            self._faults,
            websocket_url=f"{self.ws_url}/{call_id}/transport",
            seed=self._seed * 1_000_003 + len(self._calls),
            post_event=self._post_event,
            request_tool=self._request_tool,
            has_server_url=self._webhooks is not None,
        )
        self._calls[call_id] = call
        loop = asyncio.get_running_loop()
        self._connect_timers[call_id] = loop.call_later(
            behaviour.connect_timeout_ms / 1000, self._never_connected, call
        )
        logger.info("mock call created (%s %d Hz)", fmt.encoding, fmt.sample_rate)
        logger.debug("mock call %s created", call_id)
        return call

    def _never_connected(self, call: MockCall) -> None:
        self._connect_timers.pop(call.id, None)
        if call.id not in self._claimed:
            logger.info("mock call ended: nobody connected within %d ms", call.behaviour.connect_timeout_ms)
            call.never_connected()

    # ----------------------------------------------------------------------------------------
    # Call sockets

    def _call_for_path(self, path: str) -> MockCall | None:
        match = _WS_PATH.match(path)
        return self._calls.get(match.group(1)) if match else None

    def _check_websocket_request(self, connection: ServerConnection, request: Request) -> Response | None:
        call = self._call_for_path(request.path)
        if call is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        if call.id in self._claimed or call.status != "queued" or self._state != "started":
            return connection.respond(HTTPStatus.CONFLICT, "This call is not waiting for a connection.\n")
        self._claimed.add(call.id)
        timer = self._connect_timers.pop(call.id, None)
        if timer is not None:
            timer.cancel()
        return None

    async def _on_websocket(self, connection: ServerConnection) -> None:
        call = self._call_for_path(connection.request.path if connection.request else "")
        if call is None:  # cannot happen: the handshake checked the path
            return
        try:
            await call.serve(connection)
        except Exception:
            logger.exception("mock call failed")
            raise

    # ----------------------------------------------------------------------------------------
    # Server URL events

    def _post_event(self, call: MockCall, message: JsonObject) -> None:
        if self._webhooks is None or not self._events_open:
            return
        queue = self._hook_queues.get(call.id)
        if queue is None:
            queue = self._hook_queues[call.id] = asyncio.Queue()
            self._spawn(self._deliver(call, queue), "mock-webhooks")
        queue.put_nowait({**message, "call": call.call_object()})
        if message.get("type") == "end-of-call-report":
            queue.put_nowait(None)  # the last event of a call

    async def _deliver(self, call: MockCall, queue: asyncio.Queue[JsonObject | None]) -> None:
        assert self._webhooks is not None
        try:
            while (message := await queue.get()) is not None:
                try:
                    delivery, _ = await self._webhooks.post(message)
                    call.webhooks.append(delivery)
                finally:
                    queue.task_done()
            queue.task_done()
        finally:
            if self._hook_queues.get(call.id) is queue:
                del self._hook_queues[call.id]

    async def _request_tool(self, call: MockCall, message: JsonObject) -> str | None:
        """POST a tool-calls event and return the first result's text (``None`` if there is none)."""
        if self._webhooks is None:
            return None
        delivery, result = await self._webhooks.post({**message, "call": call.call_object()})
        call.webhooks.append(delivery)
        if result is None or delivery.error is not None:
            return None
        try:
            reply = result.json()
        except ValueError:
            logger.warning("mock: the tool-calls answer is not JSON")
            return None
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            logger.warning("mock: the tool-calls answer has no results")
            return None
        first = results[0]
        text = first.get("result", first.get("error"))
        return text if isinstance(text, str) else json.dumps(text)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("mock task %s failed", task.get_name(), exc_info=exc)


def _set(changes: dict[str, Any], errors: list[str], name: str, value: object, kind: type, where: str) -> None:
    if isinstance(value, kind):
        changes[name] = value
    else:
        errors.append(f"{where} must be a {'boolean' if kind is bool else 'string'}")


async def run_mock(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    ws_port: int = 0,
    api_key: str = "mock-key",
    server_url: str | None = None,
    server_auth: Mapping[str, object] | None = None,
    behaviour: MockBehaviour | None = None,
    faults: MockFaults | None = None,
    seed: int = 0,
    out: TextIO | None = None,
    on_ready: Callable[[MockVapi], object] | None = None,
) -> None:
    """Run a :class:`MockVapi` until cancelled, after printing where it listens.

    Prints ``Mock Vapi listening: http://HOST:PORT (POST /call), ws://HOST:WSPORT`` and how to
    authenticate to ``out`` (default stdout). The arguments are :class:`MockVapi`'s; ``on_ready`` is
    called with the running mock once it listens.
    """
    stream = out if out is not None else sys.stdout
    async with MockVapi(
        api_key,
        host=host,
        port=port,
        ws_port=ws_port,
        server_url=server_url,
        server_auth=server_auth,
        behaviour=behaviour,
        faults=faults,
        seed=seed,
    ) as mock:
        print(f"Mock Vapi listening: {mock.base_url} (POST /call), {mock.ws_url}", file=stream)
        key_hint = f"Bearer {api_key}" if api_key == "mock-key" else "Bearer <the key you passed>"
        print(f"Authorization: {key_hint}. Press Ctrl+C to stop.", file=stream, flush=True)
        if on_ready is not None:
            on_ready(mock)
        await asyncio.Event().wait()


def run(port: int = 0, **kwargs: Any) -> int:
    """Run :func:`run_mock` in a new event loop until Ctrl+C; returns the exit status (0)."""
    try:
        asyncio.run(run_mock(port, **kwargs))
    except KeyboardInterrupt:
        pass
    return 0
