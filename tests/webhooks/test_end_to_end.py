"""A whole call: the mock Vapi POSTs its server URL events, signed, to a Router under uvicorn on loopback.

The caller (a :class:`~vapi_fast.session.Session`) speaks; the mock's assistant calls the
``get_weather`` tool through the router and speaks its result on the call; hanging up brings the
end-of-call report to the router, through real HTTP, with every delivery accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from vapi_fast.mock import MockBehaviour, MockVapi
from vapi_fast.protocol import EndOfCallReportMessage, Message, StatusUpdateMessage, ToolCall, VoiceInputMessage
from vapi_fast.session import Session
from vapi_fast.webhooks import Router

from .conftest import Calls, scaled, serving

KEY = "e2e-key"


def speech(sample_rate: int, seconds: float) -> bytes:
    """Loud harmonic audio the mock's voice detector takes for speech."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    x = sum(np.sin(2 * np.pi * 160 * h * t) / h for h in range(1, 10))
    return np.asarray(np.round(6000 * x), dtype=np.int16).tobytes()


async def until(session: Session, predicate: Callable[[Message], bool]) -> Message:
    found: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def check(message: Message) -> None:
        if not found.done() and predicate(message):
            found.set_result(message)

    remove = session.on("*", check)
    try:
        return await asyncio.wait_for(found, scaled(10))
    finally:
        remove()


@pytest.mark.parametrize(
    "credential",
    [
        {"type": "hmac", "secret": "e2e-hmac-secret", "algorithm": "sha256"},
        {"type": "bearer", "token": "e2e-token"},
        {"type": "secret", "secret": "e2e-legacy"},
    ],
    ids=["hmac", "bearer", "secret"],
)
def test_tool_calls_and_the_end_of_call_report_arrive_through_real_http(credential: dict[str, Any]) -> None:
    calls = Calls()
    router = Router(auth=credential, path="/vapi/events")

    @router.tool("get_weather")
    async def get_weather(city: str, call: ToolCall) -> str:
        calls.add("tool", (city, call.id))
        return f"Sunny, 22 C in {city}"

    @router.on("status-update")
    def status(message: StatusUpdateMessage) -> None:
        calls.add("status", message.status)

    @router.on("end-of-call-report")
    async def report(message: EndOfCallReportMessage) -> None:
        calls.add("report", (message.call_id, message.ended_reason))

    behaviour = MockBehaviour(
        pacing="fast", tool_call_every_n_turns=1, first_message="", setup_spike_ms=(0, 0), reply_ms=300
    )

    async def scenario(url: str) -> tuple[str, str]:
        async with MockVapi(KEY, server_url=f"{url}/vapi/events", server_auth=credential, behaviour=behaviour) as mock:
            session = await Session.create(KEY, assistant_id="assistant", base_url=mock.base_url)
            async with session:
                spoken = asyncio.ensure_future(
                    until(session, lambda m: isinstance(m, VoiceInputMessage) and "weather" in m.input)
                )
                await session.send_audio(speech(16000, 0.6))
                said = await spoken
                assert isinstance(said, VoiceInputMessage)
            await asyncio.to_thread(calls.wait_for, "report")
            await mock.flush_webhooks()
            call = mock.calls[session.call_id or ""]
            deliveries = [(d.type, d.status) for d in call.webhooks]
            assert deliveries and all(status == 200 for _, status in deliveries), deliveries
            assert {"tool-calls", "status-update", "end-of-call-report"} <= {kind for kind, _ in deliveries}
            return session.call_id or "", said.input

    with serving(router) as url:
        call_id, said = asyncio.run(asyncio.wait_for(scenario(url), scaled(30)))
    assert said == "The weather tool says: Sunny, 22 C in Paris"
    assert next(item for name, item in calls.items if name == "tool")[0] == "Paris"
    assert [item for name, item in calls.items if name == "report"] == [(call_id, "customer-ended-call")]
    assert "in-progress" in [item for name, item in calls.items if name == "status"]
    stats = router.stats()
    assert stats["rejected"]["auth_failed"] == 0 and stats["types"]["tool-calls"]["count"] >= 1
    assert stats["types"]["end-of-call-report"]["count"] == 1
