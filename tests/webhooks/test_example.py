"""``examples/server.py`` runs as written: its router answers every kind of event, and its ``--demo`` call works."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from vapi_fast.webhooks import Router

from .conftest import client, compact, fixture_bytes, fixture_json, scaled, serving

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "server.py"
AUTH = {"Authorization": "Bearer example-token"}


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("VAPI_WEBHOOK_TOKEN", "example-token")
    monkeypatch.delenv("VAPI_HMAC_SECRET", raising=False)
    monkeypatch.delenv("VAPI_ASSISTANT_ID", raising=False)
    monkeypatch.delenv("FORWARD_ALL_CALLS_TO", raising=False)
    yield load_example("example_server")


def tool_call(name: str, arguments: str) -> bytes:
    envelope = fixture_json("19-tool-calls.json")
    envelope["message"]["toolCallList"] = [{"id": "c1", "function": {"name": name, "arguments": arguments}}]
    return compact(envelope)


def test_the_example_router_answers_every_kind_of_event(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    router: Router = example.router
    with serving(router) as url, client(url) as http:
        weather = http.post("/", content=tool_call("get_weather", '{"city": "Lyon"}'), headers=AUTH).json()
        assert weather["results"][0]["result"] == "Sunny, 22 C in Lyon"
        order = http.post("/", content=tool_call("lookup_order", '{"order_id": "a-1042"}'), headers=AUTH).json()
        assert '"status":"shipped on Aug 18 via UPS, arriving Aug 21"' in order["results"][0]["result"]
        missing = http.post("/", content=tool_call("lookup_order", '{"order_id": "Z-1"}'), headers=AUTH).json()
        assert missing["results"][0]["error"] == "No order Z-1 was found."

        assistant = http.post("/", content=fixture_bytes("02-assistant-request.json"), headers=AUTH).json()
        assert assistant["assistant"]["name"] == "vapi_fast example"
        monkeypatch.setenv("VAPI_ASSISTANT_ID", "saved-assistant")
        assert http.post("/", content=fixture_bytes("02-assistant-request.json"), headers=AUTH).json() == {
            "assistantId": "saved-assistant"
        }
        blocked = fixture_json("02-assistant-request.json")
        blocked["message"]["customer"]["number"] = "+15005550000"
        assert "error" in http.post("/", content=compact(blocked), headers=AUTH).json()

        text = "Your order shipped."
        voice = compact({"message": {"type": "voice-request", "text": text, "sampleRate": 8000}})
        audio = http.post("/", content=voice, headers=AUTH)
        assert audio.headers["content-type"] == "application/octet-stream"
        assert len(audio.content) == 3 * 8000 * 2 * 200 // 1000  # three words, 200 ms each, at 8 kHz

        assert http.post("/", content=fixture_bytes("08-end-of-call-report.json"), headers=AUTH).status_code == 200
        assert http.post("/", content=fixture_bytes("09-hang.json")).status_code == 401
    assert example.REPORTS[-1]["ended_reason"] == "customer-ended-call"


def test_without_a_credential_the_example_refuses_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAPI_WEBHOOK_TOKEN", raising=False)
    monkeypatch.delenv("VAPI_HMAC_SECRET", raising=False)
    module = load_example("example_server_unconfigured")
    with serving(module.router) as url, client(url) as http:
        assert http.post("/", content=fixture_bytes("09-hang.json"), headers=AUTH).status_code == 401


def test_the_demo_runs(example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("uvicorn")
    asyncio.run(asyncio.wait_for(example.demo(), scaled(30)))
    out = capsys.readouterr().out
    assert "assistant: 'The weather tool says: Sunny, 22 C in Paris'" in out
    assert "tool-calls 200" in out and "end-of-call-report 200" in out
    assert "voice-request -> " in out and "assistant-request -> {'assistant'" in out
    assert "'ended_reason': 'customer-ended-call'" in out
