"""Deadlines over real HTTP: a hung handler never holds a reply past its budget.

A "hung" handler is of one of two kinds, both of which the router must survive without waiting for
them: an ``async def`` that swallows every cancellation, and a plain ``def`` blocked in its worker
thread. They are released when each test ends, so that nothing outlives it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from vapi_fast.protocol import AssistantRequestResponse, ToolCall
from vapi_fast.webhooks import Router

from .conftest import Calls, Dispatch, client, compact, fixture_bytes, fixture_json, scaled, serving

FALLBACK = AssistantRequestResponse(error="Please call again later.")


class Hang:
    """Hung handlers of both kinds, released together by :meth:`release`."""

    def __init__(self, calls: Calls) -> None:
        self._released = threading.Event()
        self.calls = calls

    def release(self) -> None:
        self._released.set()

    async def ignoring_cancellation(self, *args: Any, **kwargs: Any) -> str:
        self.calls.add("async-hang")
        while not self._released.is_set():
            try:
                await asyncio.sleep(0.02)  # the "work"; every cancellation is swallowed
            except asyncio.CancelledError:
                self.calls.add("cancel-ignored")
        return "too late"

    def blocking(self, *args: Any, **kwargs: Any) -> str:
        self.calls.add("sync-hang")
        self._released.wait(scaled(60))
        return "too late"


@pytest.fixture
def hang() -> Iterator[Hang]:
    h = Hang(Calls())
    try:
        yield h
    finally:
        h.release()


def assistant_routes(hang: Hang, **options: Any) -> dict[str, Router]:
    routes = {}
    for path, fn in (("/async", hang.ignoring_cancellation), ("/sync", hang.blocking)):
        router = Router(auth=None, assistant_request_fallback=FALLBACK, **options)
        router.assistant_request(fn)
        routes[path] = router
    return routes


async def timed_posts(base_url: str, paths: list[str], body: bytes) -> list[tuple[int, bytes, float]]:
    """POST ``body`` to every path concurrently; each result is (status, body, seconds from send to reply)."""
    limits = httpx.Limits(max_connections=len(paths), max_keepalive_connections=len(paths))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=scaled(30)) as http:

        async def one(path: str) -> tuple[int, bytes, float]:
            started = time.perf_counter()
            response = await http.post(path, content=body)
            return response.status_code, response.content, time.perf_counter() - started

        return await asyncio.gather(*(one(path) for path in paths))


def check_trials(results: list[tuple[int, bytes, float]], budget_s: float) -> None:
    assert len(results) == 50
    for status, body, elapsed in results:
        assert status == 200 and json.loads(body) == FALLBACK.to_dict()
        # Not before the budget (the handler never answered), and at most 0.5 s after it.
        assert budget_s - 0.01 <= elapsed <= budget_s + scaled(0.5), elapsed


def test_hung_assistant_request_gets_the_fallback_within_6_5_s_in_50_of_50_trials(hang: Hang) -> None:
    """The default 6.0 s budget, 50 trials run concurrently against one server (they overlap, so the test
    takes about 6 s): 25 to a handler that ignores cancellation, 25 to one blocked in its thread."""
    body = fixture_bytes("02-assistant-request.json")
    with serving(Dispatch(assistant_routes(hang))) as base_url:
        results = asyncio.run(timed_posts(base_url, ["/async", "/sync"] * 25, body))
        hang.release()
    check_trials(results, 6.0)
    assert hang.calls.counts["async-hang"] == 25 and hang.calls.counts["sync-hang"] == 25
    assert hang.calls.counts["cancel-ignored"] >= 25  # each was cancelled at its deadline, and refused


def test_a_short_budget_holds_too(hang: Hang) -> None:
    """``assistant_request_budget_s=0.4``: 50 concurrent trials again, each within 0.4 s + 0.5 s."""
    routes = assistant_routes(hang, assistant_request_budget_s=0.4)
    body = fixture_bytes("02-assistant-request.json")
    with serving(Dispatch(routes)) as base_url:
        results = asyncio.run(timed_posts(base_url, ["/async", "/sync"] * 25, body))
        hang.release()
        stats = routes["/async"].stats()["types"]["assistant-request"]
    check_trials(results, 0.4)
    assert stats["count"] == 25 and stats["fallbacks"] == 25


def test_failing_or_empty_assistant_handlers_fall_back_at_once() -> None:
    def fails(message: Any) -> None:
        raise RuntimeError("database down")

    async def nothing(message: Any) -> None:
        return None

    async def garbage(message: Any) -> Any:
        return 42

    async def unusable(message: Any) -> Any:
        return {"name": "an assistant without its wrapper"}

    routes = {}
    for path, fn in (("/fails", fails), ("/none", nothing), ("/garbage", garbage), ("/unusable", unusable)):
        routes[path] = Router(auth=None, assistant_request_fallback="assistant-on-duty")
        routes[path].assistant_request(fn)
    routes["/missing"] = Router(auth=None)
    body = fixture_bytes("02-assistant-request.json")
    with serving(Dispatch(routes)) as base_url, client(base_url) as http:
        for path in ("/fails", "/none", "/garbage", "/unusable"):
            started = time.perf_counter()
            response = http.post(path, content=body)
            assert response.json() == {"assistantId": "assistant-on-duty"}
            assert time.perf_counter() - started < scaled(1.0)
        assert http.post("/missing", content=body).json() == {
            "error": "Sorry, we cannot take your call right now. Please try again later."
        }
        assert routes["/fails"].stats()["types"]["assistant-request"]["errors"] == 1


def tool_calls_body(*calls: tuple[str, str, dict[str, Any] | str]) -> bytes:
    """A tool-calls webhook body (the 19- fixture's envelope) with these (id, name, arguments) calls."""
    envelope = fixture_json("19-tool-calls.json")
    envelope["message"]["toolCallList"] = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        for call_id, name, arguments in calls
    ]
    return compact(envelope)


def test_one_hung_tool_of_three_the_others_answer_within_budget(hang: Hang) -> None:
    """``reply_budget_s=0.5``; per hung kind, 10 concurrent messages of three calls (ok, failing, hung)."""
    budget_s = 0.5
    routes = {}
    for path, hung in (("/async", hang.ignoring_cancellation), ("/sync", hang.blocking)):
        router = Router(auth=None, reply_budget_s=budget_s)

        @router.tool("quote")
        async def quote(symbol: str) -> dict[str, Any]:
            return {"symbol": symbol, "price": 12.5}

        @router.tool("explode")
        def explode() -> str:
            raise KeyError("secret detail")

        router.add_tool("stuck", hung)
        routes[path] = router
    body = tool_calls_body(("c1", "quote", '{"symbol":"ACME"}'), ("c2", "explode", "{}"), ("c3", "stuck", {}))
    with serving(Dispatch(routes)) as base_url:
        results = asyncio.run(timed_posts(base_url, ["/async", "/sync"] * 5, body))
        hang.release()
        stats = routes["/async"].stats()
    for status, content, elapsed in results:
        assert status == 200
        assert budget_s - 0.01 <= elapsed <= budget_s + scaled(0.1), elapsed
        assert json.loads(content) == {
            "results": [
                {"name": "quote", "toolCallId": "c1", "result": '{"symbol":"ACME","price":12.5}'},
                {"name": "explode", "toolCallId": "c2", "error": "The tool explode failed (KeyError)."},
                {"name": "stuck", "toolCallId": "c3", "error": "The tool stuck timed out."},
            ]
        }
    assert stats["tools"]["stuck"] == {"calls": 5, "errors": 0, "timeouts": 5}
    assert stats["tools"]["explode"] == {"calls": 5, "errors": 5, "timeouts": 0}


def test_a_tools_own_timeout_answers_before_the_budget(hang: Hang) -> None:
    router = Router(auth=None, reply_budget_s=5.0, tool_timeout_s=0.3)
    router.add_tool("stuck", hang.ignoring_cancellation)
    router.add_tool("stuck-longer", hang.blocking, timeout_s=0.6)
    body = tool_calls_body(("a", "stuck", {}), ("b", "stuck-longer", {}))
    with serving(router) as base_url, client(base_url) as http:
        started = time.perf_counter()
        response = http.post("/", content=body)
        elapsed = time.perf_counter() - started
        hang.release()
    assert 0.6 - 0.01 <= elapsed <= 0.6 + scaled(0.1), elapsed
    errors = [r["error"] for r in response.json()["results"]]
    assert errors == ["The tool stuck timed out.", "The tool stuck-longer timed out."]


def test_every_tool_call_id_answered_exactly_once_in_call_order() -> None:
    router = Router(auth=None)
    calls = Calls()

    @router.tool("echo")
    def echo(text: str, call: ToolCall) -> str:
        calls.add(call.id)
        return text

    @router.tool("add")
    async def add(a: int, b: int = 0, **more: int) -> int:
        return a + b + sum(more.values())

    body = tool_calls_body(
        ("x", "echo", '{"text": "one", "ignored": true}'),
        ("y", "add", {"a": 1, "b": 2, "c": 3}),
        ("x", "echo", '{"text": "repeated id"}'),
        ("z", "unknown", "{}"),
        ("w", "echo", "{}"),
        ("v", "add", "null"),
    )
    with serving(router) as base_url, client(base_url) as http:
        results = http.post("/", content=body).json()["results"]
    assert results == [
        {"name": "echo", "toolCallId": "x", "result": "one"},
        {"name": "add", "toolCallId": "y", "result": "6"},
        {"name": "unknown", "toolCallId": "z", "error": "No handler for tool 'unknown'."},
        {"name": "echo", "toolCallId": "w", "error": "Invalid arguments: missing 'text'."},
        {"name": "add", "toolCallId": "v", "error": "Invalid arguments: missing 'a'."},
    ]
    assert calls.counts == {"x": 1}


def test_a_single_hung_async_tool_is_answered_within_budget(hang: Hang) -> None:
    """One ``async def`` tool per message runs in the request's own task (the fast path); at the deadline a
    timer sends the reply. 10 concurrent messages per kind: one tool ignoring cancellation, one honouring it."""
    budget_s = 0.4
    calls = Calls()

    async def cooperative() -> str:
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        except asyncio.CancelledError:
            calls.add("cancelled")
            raise
        return "unreachable"

    routes = {}
    for path, tool in (("/ignores", hang.ignoring_cancellation), ("/cooperates", cooperative)):
        routes[path] = Router(auth=None, reply_budget_s=budget_s)
        routes[path].add_tool("stuck", tool)
    routes["/fast"] = Router(auth=None)
    routes["/fast"].add_tool("stuck", lambda: "quick")
    body = tool_calls_body(("only", "stuck", {}))
    with serving(Dispatch(routes)) as base_url:
        results = asyncio.run(timed_posts(base_url, ["/ignores", "/cooperates"] * 10, body))
        # The server is still fine, on fresh and on kept-alive connections.
        with client(base_url) as http:
            for _ in range(3):
                assert http.post("/fast", content=body).json()["results"][0]["result"] == "quick"
        calls.wait_for("cancelled", 10)
        hang.release()
        stats = {path: routes[path].stats() for path in ("/ignores", "/cooperates")}
    for status, content, elapsed in results:
        assert status == 200
        assert budget_s - 0.01 <= elapsed <= budget_s + scaled(0.1), elapsed
        assert json.loads(content) == {
            "results": [{"name": "stuck", "toolCallId": "only", "error": "The tool stuck timed out."}]
        }
    for path_stats in stats.values():
        assert path_stats["tools"]["stuck"] == {"calls": 10, "errors": 0, "timeouts": 10}
        assert path_stats["types"]["tool-calls"]["count"] == 10 and path_stats["statuses"] == {"200": 10}


def test_a_duplicate_of_a_timed_out_tool_call_gets_the_same_reply(hang: Hang) -> None:
    router = Router(auth=None, reply_budget_s=0.3, idempotency_ttl_s=60)
    router.add_tool("stuck", hang.ignoring_cancellation)
    body = tool_calls_body(("only", "stuck", {}))
    with serving(router) as base_url, client(base_url) as http:
        first = http.post("/", content=body)
        started = time.perf_counter()
        second = http.post("/", content=body)
        assert time.perf_counter() - started < scaled(0.2)  # answered from the cache, not after a new wait
        hang.release()
    assert first.json() == second.json() and first.json()["results"][0]["error"] == "The tool stuck timed out."
    assert hang.calls.counts["async-hang"] == 1 and router.stats()["duplicates"] == 1
