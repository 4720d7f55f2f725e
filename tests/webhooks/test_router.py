"""The router's behaviour besides replies and deadlines: background handlers, lifespan, idempotency, stats,
mounting in Starlette, registration rules, the ASGI surface, and serving with uvicorn."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from vapi_fast.errors import VapiFastError
from vapi_fast.protocol import (
    EndOfCallReportMessage,
    Message,
    StatusUpdateMessage,
    ToolCallResult,
    ToolCallsMessage,
    ToolCallsResponse,
    TranscriptMessage,
)
from vapi_fast.webhooks import Router, ToolError, build_server, load_app

from .conftest import Calls, client, compact, fixture_bytes, fixture_json, raw_request, scaled, serving

EOC = fixture_bytes("08-end-of-call-report.json")


def test_events_without_reply_are_answered_before_their_handlers_finish() -> None:
    router = Router(auth=None)
    calls = Calls()
    answered = threading.Event()

    @router.on(EndOfCallReportMessage)
    def slow_sync(message: EndOfCallReportMessage) -> None:
        calls.add("sync-started", message.ended_reason)
        answered.wait(scaled(5))
        calls.add("sync-done", answered.is_set())

    @router.on("end-of-call-report")
    async def slow_async(message: Message) -> None:
        await asyncio.to_thread(answered.wait, scaled(5))
        calls.add("async-done", answered.is_set())

    @router.on("*")
    async def everything(message: Message) -> None:
        calls.add("*", message.type)

    with serving(router) as url, client(url) as http:
        response = http.post("/", content=EOC)
        answered.set()
        assert response.status_code == 200 and response.json() == {}
        calls.wait_for("sync-done")
        calls.wait_for("async-done")
        calls.wait_for("*")
    assert dict(calls.items)["sync-done"] is True and dict(calls.items)["async-done"] is True
    assert dict(calls.items)["sync-started"] == "customer-ended-call"


def test_shutdown_drains_background_handlers_then_cancels_the_rest() -> None:
    router = Router(auth=None, shutdown_timeout_s=0.3)
    calls = Calls()
    never = threading.Event()

    @router.on("end-of-call-report")
    async def finishes(message: Message) -> None:
        await asyncio.sleep(0.1)  # work that outlives the request
        calls.add("finished")

    @router.on("end-of-call-report")
    async def stuck(message: Message) -> None:
        try:
            await asyncio.to_thread(never.wait, scaled(10))
        except asyncio.CancelledError:
            calls.add("cancelled")
            never.set()  # let the worker thread go too
            raise

    with serving(router) as url, client(url) as http:
        assert http.post("/", content=EOC).status_code == 200
        # Leaving the block shuts the server down: lifespan shutdown waits, then cancels.
    assert calls.counts == {"finished": 1, "cancelled": 1}
    assert router.stats()["background"] == {"running": 0, "started": 2, "failed": 0, "cancelled": 1}


def test_handler_errors_are_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    router = Router(auth=None)

    @router.on("status-update")
    def broken(message: StatusUpdateMessage) -> None:
        raise ValueError("bad handler")

    with serving(router) as url, client(url) as http:
        for _ in range(3):
            assert http.post("/", content=fixture_bytes("18-status-update.ended.json")).status_code == 200
    assert router.stats()["background"]["failed"] == 3
    assert sum("handler" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records) == 3


def test_duplicate_deliveries_are_answered_once_with_the_same_reply() -> None:
    router = Router(auth=None, idempotency_ttl_s=60)
    calls = Calls()
    gate = threading.Event()

    @router.tool("lookupOrder")
    def lookup(orderId: str) -> str:
        calls.add("tool")
        gate.wait(scaled(5))
        return f"result {calls.counts['tool']}"

    @router.on("end-of-call-report")
    def report(message: Message) -> None:
        calls.add("report")

    tool_calls = fixture_json("19-tool-calls.json")

    async def deliver_twice_at_once(url: str) -> list[Any]:
        import httpx

        async with httpx.AsyncClient(base_url=url, timeout=scaled(10)) as http:
            first = asyncio.ensure_future(http.post("/", content=compact(tool_calls)))
            second = asyncio.ensure_future(http.post("/", content=compact(tool_calls)))
            await asyncio.to_thread(calls.wait_for, "tool")
            gate.set()
            return [(await f).json() for f in (first, second)]

    with serving(router) as url:
        replies = asyncio.run(deliver_twice_at_once(url))
        with client(url) as http:
            again = http.post("/", content=compact(tool_calls)).json()
            retried = dict(tool_calls, message={**tool_calls["message"], "timestamp": 1787245453724})
            fresh = http.post("/", content=compact(retried)).json()
            for _ in range(3):
                assert http.post("/", content=EOC).status_code == 200
        calls.wait_for("report")
    assert replies[0] == replies[1] == again
    assert replies[0]["results"][0]["result"] == "result 1" and fresh["results"][0]["result"] == "result 2"
    assert calls.counts == {"tool": 2, "report": 1}
    assert router.stats()["duplicates"] == 4


def test_stats_count_and_time_every_type() -> None:
    router = Router(auth=None)

    @router.tool("lookupOrder")
    async def lookup(orderId: str) -> str:
        return "ok"

    with serving(router) as url, client(url) as http:
        for _ in range(5):
            http.post("/", content=fixture_bytes("19-tool-calls.json"))
        http.post("/", content=EOC)
        http.post("/", content=b"{")
        http.get("/")
    stats = router.stats()
    assert json.loads(json.dumps(stats)) == stats  # JSON-friendly
    assert stats["requests"] == 8 and stats["statuses"] == {"200": 6, "400": 1, "405": 1}
    assert stats["rejected"]["bad_request"] == 1 and stats["rejected"]["method"] == 1
    tools = stats["types"]["tool-calls"]
    assert tools["count"] == 5 and tools["errors"] == 0
    latency = tools["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"] < 1000
    assert sum(tools["histogram_ms"].values()) == 5
    assert stats["types"]["end-of-call-report"]["count"] == 1
    assert stats["tools"]["lookupOrder"] == {"calls": 5, "errors": 0, "timeouts": 0}


def test_mounts_inside_starlette_with_its_lifespan() -> None:
    starlette = pytest.importorskip("starlette.applications")
    routing = pytest.importorskip("starlette.routing")
    responses = pytest.importorskip("starlette.responses")
    router = Router(auth=None, path="/events")
    calls = Calls()

    @router.on("end-of-call-report")
    async def report(message: Message) -> None:
        await asyncio.sleep(0.05)
        calls.add("report")

    async def health(request: Any) -> Any:
        return responses.PlainTextResponse("ok")

    app = starlette.Starlette(
        routes=[routing.Route("/health", health), routing.Mount("/vapi", app=router)], lifespan=router.lifespan
    )
    with serving(app) as url, client(url) as http:
        assert http.get("/health").text == "ok"
        assert http.post("/vapi/events", content=EOC).status_code == 200
        assert http.post("/vapi/other", content=EOC).status_code == 404
    # Starlette's lifespan closed the router: the background handler was drained.
    assert calls.counts == {"report": 1}


def test_registration_rules() -> None:
    router = Router(auth=None)

    @router.assistant_request
    def first(message: Any) -> str:
        return "a"

    with pytest.raises(ValueError, match="already has a handler"):
        router.assistant_request(first)
    router.tool("t")(lambda: "x")
    with pytest.raises(ValueError, match="already has a function"):
        router.tool("t")(lambda: "y")
    with pytest.raises(ValueError, match="on\\('tool-calls'\\)"):
        router.on("tool-calls")(lambda m: None)
    with pytest.raises(ValueError):
        router.tool("u", timeout_s=0)
    with pytest.raises(TypeError, match="positional-only"):
        router.add_tool("v", lambda a, /: a)
    with pytest.raises(ValueError):
        router.on()
    with pytest.raises(ValueError):
        router.on(Message)
    with pytest.raises(TypeError):
        router.add_handler("hang", "not callable")  # type: ignore[arg-type]
    router.voice(lambda m: b"")
    with pytest.raises(ValueError, match="voice-request already"):
        router.voice(format=None)(lambda m: b"")
    for bad in ({"auth": None, "reply_budget_s": 0}, {"auth": None, "max_body_bytes": -1}, {"auth": "token"}):
        with pytest.raises((ValueError, TypeError)):
            Router(**bad)
    with pytest.raises(TypeError):
        Router()  # type: ignore[call-arg]  # auth is required: no silent "no authentication"


def test_on_registers_every_wire_name_of_a_class() -> None:
    router = Router(auth=None)
    calls = Calls()
    router.on(TranscriptMessage)(lambda m: calls.add(m.type))
    final_only = fixture_json("20-transcript.final-only-subscription.json")
    with serving(router) as url, client(url) as http:
        http.post("/", content=fixture_bytes("20-transcript.final.json"))
        http.post("/", content=compact(final_only))
        calls.wait_for("transcript")
        calls.wait_for(final_only["message"]["type"])


def test_a_whole_message_tool_calls_handler_still_answers_every_id_once() -> None:
    router = Router(auth=None)

    @router.on("tool-calls")
    async def answer(message: ToolCallsMessage) -> ToolCallsResponse:
        # Answers a call twice and forgets another: the router keeps the first, fills in the missing one.
        first = message.tool_calls[0]
        results = [ToolCallResult.for_call(first, result="one"), ToolCallResult.for_call(first, result="two")]
        return ToolCallsResponse(results[:1])

    body = fixture_json("19-tool-calls.json")
    body["message"]["toolCallList"].append({"id": "second", "function": {"name": "other", "arguments": "{}"}})
    with serving(router) as url, client(url) as http:
        results = http.post("/", content=compact(body)).json()["results"]
    assert [r["toolCallId"] for r in results] == ["call_Xk29vQmP4tLr8sNaB3dE7fGh", "second"]
    assert results[0]["result"] == "one" and results[1]["error"] == "The tool did not answer."


def test_tool_return_values() -> None:
    router = Router(auth=None)
    values: dict[str, Any] = {
        "text": "plain",
        "none": None,
        "number": 1.5,
        "mapping": {"ok": True, "items": [1, "é"]},
        "result": ToolCallResult(tool_call_id="wrong-id", result="typed"),
    }
    for name, value in values.items():
        router.add_tool(name, lambda value=value: value)
    router.add_tool("bytes", lambda: b"\x00")
    router.add_tool("tool-error", lambda: (_ for _ in ()).throw(ToolError("Out of stock.")))
    names = [*values, "bytes", "tool-error"]
    body = compact(
        {"message": {"type": "tool-calls", "toolCallList": [{"id": n, "function": {"name": n}} for n in names]}}
    )
    with serving(router) as url, client(url) as http:
        results = {r["toolCallId"]: r for r in http.post("/", content=body).json()["results"]}
    assert results["text"]["result"] == "plain" and results["none"]["result"] == ""
    assert results["number"]["result"] == "1.5"
    assert results["mapping"]["result"] == '{"ok":true,"items":[1,"é"]}'
    assert results["result"] == {"name": "result", "toolCallId": "result", "result": "typed"}
    assert results["bytes"]["error"] == "The tool bytes returned an unusable value."
    assert results["tool-error"]["error"] == "Out of stock."


def test_the_asgi_surface_directly() -> None:
    """Lifespan and websocket scopes, without a server."""
    router = Router(auth=None)
    sent: list[MutableMapping[str, Any]] = []

    async def run(scope: dict[str, Any], inbound: list[dict[str, Any]]) -> None:
        queue = list(inbound)

        async def receive() -> MutableMapping[str, Any]:
            return queue.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await router(scope, receive, send)

    asyncio.run(run({"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    asyncio.run(run({"type": "websocket", "path": "/"}, [{"type": "websocket.connect"}]))
    assert sent == [{"type": "websocket.close", "code": 1003}]


def test_load_app_and_build_server(tmp_path: Path) -> None:
    module = tmp_path / "my_hooks.py"
    module.write_text("from vapi_fast.webhooks import Router\nrouter = Router(auth=None)\nnot_an_app = 3\n")
    loaded = load_app(f"{module}:router")
    assert isinstance(loaded, Router)
    by_module: object = load_app("vapi_fast.webhooks:Router")
    assert by_module is Router
    for target, message in (
        ("no-colon", "module:attribute"),
        ("vapi_fast.no_such_module:x", "cannot import"),
        ("vapi_fast.webhooks:nothing_here", "no attribute"),
        (f"{module}:not_an_app", "not an ASGI app"),
        (f"{tmp_path / 'missing.py'}:router", "no file"),
    ):
        with pytest.raises(VapiFastError, match=message):
            load_app(target)
    pytest.importorskip("uvicorn")
    server = build_server(loaded, port=0)
    assert server.config.lifespan == "on" and server.config.access_log is False


def test_serve_runs_a_router_until_interrupted(tmp_path: Path) -> None:
    """``serve()`` in a child process (what ``vapi-fast serve module:router`` runs), stopped with SIGINT."""
    pytest.importorskip("uvicorn")
    module = tmp_path / "hooks.py"
    module.write_text(
        textwrap.dedent(
            """
            from vapi_fast.webhooks import Router
            router = Router(auth={"type": "bearer", "token": "t"})

            @router.tool("lookupOrder")
            def lookup(orderId: str) -> str:
                return "served " + orderId
            """
        )
    )
    code = f"from vapi_fast.webhooks import serve; serve({str(module) + ':router'!r}, port=0, log_level='info')"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stderr is not None
        url = None
        for line in child.stderr:
            found = re.search(r"Uvicorn running on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "the server did not start"
        with client(url) as http:
            response = http.post(
                "/", content=fixture_bytes("19-tool-calls.json"), headers={"Authorization": "Bearer t"}
            )
            assert response.json()["results"][0]["result"] == "served A-1042"
            assert http.post("/", content=fixture_bytes("19-tool-calls.json")).status_code == 401
        child.send_signal(2)  # SIGINT, as Ctrl+C
        child.wait(scaled(10))
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr is not None:
            child.stderr.close()


def test_a_router_serves_again_after_a_shutdown() -> None:
    """Closing a router (lifespan shutdown) leaves it ready for another server and event loop."""
    router = Router(auth=None, body_timeout_s=0.3, idempotency_ttl_s=60)
    router.add_tool("lookupOrder", lambda orderId: "again")
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    for _ in range(2):
        with serving(router) as url, client(url) as http:
            reply = http.post("/", content=fixture_bytes("19-tool-calls.json")).json()
            assert reply["results"][0]["result"] == "again"
            assert raw_request(url, head)[0] == 408  # the body never completes
    assert router.stats()["rejected"]["body_timeout"] == 2
    assert router.stats()["duplicates"] == 0  # the cache was cleared with the first server
