"""The mock's HTTP API (POST /call, GET /call/{id}), its HTTP parser, the socket handshake, webhook clients."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from mockutil import MULAW, PCM16, Receiver, create_call, http_request, read_response, run, scaled
from vapi_fast.mock import MockBehaviour, MockVapi
from vapi_fast.mock._http import post_json
from vapi_fast.mock._webhooks import WebhookSender, auth_headers
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

AUTH = {"Authorization": "Bearer test-key"}
ASSISTANT_ID = "a1f3c9d2-7b44-4c1e-8f2a-6d5e0b9c3a17"


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def ws_transport(audio_format: dict[str, Any] | None = None) -> dict[str, Any]:
    transport: dict[str, Any] = {"provider": "vapi.websocket"}
    if audio_format is not None:
        transport["audioFormat"] = audio_format
    return transport


@pytest.mark.parametrize(
    ("audio_format", "expected"),
    [(MULAW, MULAW), (PCM16, PCM16), (None, PCM16), ({"format": "pcm_s16le", "sampleRate": 24000}, None)],
)
def test_create_call_answers_201_with_a_vapi_call_object(
    audio_format: dict[str, Any] | None, expected: dict[str, Any] | None
) -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            payload = body(assistantId=ASSISTANT_ID, transport=ws_transport(audio_format))
            status, headers, raw = await http_request(mock.base_url, "POST", "/call", payload, AUTH)
            assert status == 201
            assert headers["content-type"] == "application/json"
            call = json.loads(raw)
            assert uuid.UUID(call["id"]).version == 4
            assert call["type"] == "vapi.websocketCall"
            assert call["status"] == "queued"
            assert call["assistantId"] == ASSISTANT_ID
            assert call["cost"] == 0
            assert call["createdAt"].endswith("Z")
            datetime.fromisoformat(call["createdAt"].replace("Z", "+00:00"))
            transport = call["transport"]
            assert transport["provider"] == "vapi.websocket"
            assert transport["audioFormat"] == (
                expected or {"format": "pcm_s16le", "container": "raw", "sampleRate": 24000}
            )
            assert transport["websocketCallUrl"] == f"{mock.ws_url}/{call['id']}/transport"
            assert transport["websocketCallUrl"].startswith("ws://127.0.0.1:")
            assert list(mock.calls) == [call["id"]]

            status, _, raw = await http_request(mock.base_url, "GET", f"/call/{call['id']}", None, AUTH)
            assert status == 200 and json.loads(raw) == call
            status, _, raw = await http_request(mock.base_url, "GET", "/call", None, AUTH)
            assert status == 200 and json.loads(raw) == [call]

    run(main())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Bearer test-ke"},
        {"Authorization": "Basic test-key"},
        {"Authorization": "Bearer"},
        {"Authorization": "test-key"},
    ],
)
def test_create_call_needs_the_bearer_key(headers: dict[str, str]) -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            payload = body(assistantId=ASSISTANT_ID, transport=ws_transport())
            status, _, raw = await http_request(mock.base_url, "POST", "/call", payload, headers)
            assert status == 401
            error = json.loads(raw)
            assert error["statusCode"] == 401 and error["error"] == "Unauthorized"
            assert "test-key" not in raw.decode()
            status, _, _ = await http_request(mock.base_url, "GET", "/call/x", None, headers)
            assert status == 401
            assert not mock.calls

    run(main())


def test_bearer_scheme_is_case_insensitive() -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            payload = body(assistantId=ASSISTANT_ID, transport=ws_transport())
            status, _, _ = await http_request(
                mock.base_url, "POST", "/call", payload, {"Authorization": "bearer test-key"}
            )
            assert status == 201

    run(main())


BAD_BODIES: list[tuple[bytes, str]] = [
    (b"{not json", "JSON object"),
    (b"[1, 2]", "JSON object"),
    (body(assistantId=ASSISTANT_ID), "transport must be an object"),
    (body(assistantId=ASSISTANT_ID, transport={"provider": "twilio"}), "transport.provider"),
    (body(assistantId=ASSISTANT_ID, transport=ws_transport({"format": "alaw", "sampleRate": 8000})), "alaw"),
    (body(assistantId=ASSISTANT_ID, transport=ws_transport({"format": "pcm_s16le", "sampleRate": 0})), "0 Hz"),
    (body(assistantId=ASSISTANT_ID, transport=ws_transport({"format": "mulaw", "container": "wav"})), "container"),
    (body(assistantId=ASSISTANT_ID, transport={"provider": "vapi.websocket", "audioFormat": "mulaw"}), "object"),
    (body(transport=ws_transport()), "exactly one of"),
    (body(assistantId=ASSISTANT_ID, squadId="s", transport=ws_transport()), "exactly one of"),
    (body(assistantId=ASSISTANT_ID, phoneNumberId="p", transport=ws_transport()), "phoneNumberId is not allowed"),
    (body(assistant={"firstMessage": 3}, transport=ws_transport()), "assistant.firstMessage"),
    (body(assistant={"firstMessageMode": "never"}, transport=ws_transport()), "first_message_mode"),
    (body(assistant={"maxDurationSeconds": -1}, transport=ws_transport()), "maxDurationSeconds"),
]


@pytest.mark.parametrize(("payload", "expected"), BAD_BODIES)
def test_create_call_validates_like_vapi(payload: bytes, expected: str) -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            status, _, raw = await http_request(mock.base_url, "POST", "/call", payload, AUTH)
            assert status == 400, raw
            error = json.loads(raw)
            assert error["error"] == "Bad Request" and error["statusCode"] == 400
            assert isinstance(error["message"], list) and error["message"]
            assert any(expected in message for message in error["message"]), error["message"]
            assert not mock.calls

    run(main())


def test_inline_assistant_overrides_the_behaviour() -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            assistant = {"firstMessage": "Hi there", "clientMessages": ["status-update"], "maxDurationSeconds": 30}
            payload = body(assistant=assistant, transport=ws_transport(), assistantOverrides={"serverMessages": []})
            status, _, raw = await http_request(mock.base_url, "POST", "/call", payload, AUTH)
            assert status == 201
            call = mock.calls[json.loads(raw)["id"]]
            assert call.behaviour.first_message == "Hi there"
            assert call.behaviour.client_messages == ("status-update",)
            assert call.behaviour.server_messages == ()
            assert call.behaviour.max_duration_ms == 30_000
            assert json.loads(raw)["assistant"] == assistant

    run(main())


def test_http_errors() -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            url = mock.base_url
            status, _, raw = await http_request(url, "POST", "/calls", b"{}", AUTH)
            assert status == 404 and json.loads(raw)["statusCode"] == 404
            status, _, _ = await http_request(url, "GET", f"/call/{uuid.uuid4()}", None, AUTH)
            assert status == 404
            status, headers, _ = await http_request(url, "PUT", "/call", b"{}", AUTH)
            assert status == 405 and headers["allow"] == "GET, POST"
            status, headers, _ = await http_request(url, "DELETE", "/call/x", None, AUTH)
            assert status == 405 and headers["allow"] == "GET"
            # 413 is decided from Content-Length, before the body is read (none is sent here).
            status, headers, _ = await http_request(
                url, "POST", "/call", raw=b"POST /call HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"
            )
            assert status == 413 and headers["connection"] == "close"
            for garbage in (
                b"NONSENSE\r\n\r\n",
                b"GET /call HTTP/1.1 extra\r\n\r\n",
                b"GET call HTTP/1.1\r\n\r\n",
                b"GET /call HTTP/1.1\r\nno colon here\r\n\r\n",
                b"POST /call HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
                b"POST /call HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            ):
                status, _, _ = await http_request(url, "", "", raw=garbage)
                assert status == 400, garbage
            status, _, _ = await http_request(url, "", "", raw=b"GET /call HTTP/2.0\r\n\r\n")
            assert status == 505
            status, _, _ = await http_request(
                url, "", "", raw=b"POST /call HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
            assert status == 501
            status, _, _ = await http_request(url, "", "", raw=b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n")
            assert status == 431

    run(main())


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async def main() -> None:
        async with MockVapi("test-key") as mock:
            host, _, port = mock.base_url.removeprefix("http://").partition(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            payload = body(assistantId=ASSISTANT_ID, transport=ws_transport())
            head = f"POST /call HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-key\r\nContent-Length: {len(payload)}"
            request = (head + "\r\n\r\n").encode() + payload
            async with asyncio.timeout(scaled(2)):
                writer.write(request + request)
                first = await read_response(reader)
                second = await read_response(reader)
            assert first[0] == second[0] == 201
            assert first[1]["connection"] == "keep-alive"
            assert json.loads(first[2])["id"] != json.loads(second[2])["id"]
            writer.close()
            await writer.wait_closed()
            assert len(mock.calls) == 2

    run(main())


def test_websocket_handshake_rejects_unknown_and_taken_calls() -> None:
    async def main() -> None:
        async with MockVapi("test-key", behaviour=MockBehaviour(first_message="")) as mock:
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"{mock.ws_url}/{uuid.uuid4()}/transport"):
                    pass
            assert info.value.response.status_code == 404
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"{mock.ws_url}/not/a/call/path"):
                    pass
            assert info.value.response.status_code == 404
            call = await create_call(mock, MULAW)
            async with connect(call["transport"]["websocketCallUrl"]) as ws:
                await ws.recv()  # status-update in-progress
                with pytest.raises(InvalidStatus) as info:
                    async with connect(call["transport"]["websocketCallUrl"]):
                        pass
                assert info.value.response.status_code == 409

    run(main())


@pytest.mark.parametrize("use_httpx", [True, False])
def test_webhook_delivery_with_bearer_and_hmac(use_httpx: bool) -> None:
    async def main() -> None:
        async with Receiver("hook-token") as bearer_receiver, Receiver(hmac_secret="s3cret") as hmac_receiver:
            for receiver, auth in (
                (bearer_receiver, {"type": "bearer", "token": "hook-token"}),
                (hmac_receiver, {"type": "hmac", "secret": "s3cret", "algorithm": "sha256"}),
            ):
                sender = WebhookSender(receiver.url, auth, timeout_ms=scaled(2) * 1000)
                if use_httpx:
                    await sender.start()
                try:
                    delivery, result = await sender.post({"type": "status-update", "status": "in-progress"})
                finally:
                    await sender.close()
                assert delivery.status == 200 and delivery.error is None, delivery
                assert result is not None and result.json() == {}
                assert receiver.events == [{"type": "status-update", "status": "in-progress"}]
            wrong = WebhookSender(bearer_receiver.url, {"type": "bearer", "token": "nope"}, timeout_ms=2000)
            delivery, _ = await wrong.post({"type": "hang"})
            assert delivery.status == 401 and delivery.error == "HTTP 401"
            assert bearer_receiver.rejected == 1

    run(main())


def test_webhook_failures_are_recorded_not_raised() -> None:
    async def main() -> None:
        async with Receiver() as receiver:
            url = receiver.url
        # The receiver is closed now: nothing listens on its port.
        sender = WebhookSender(url, None, timeout_ms=scaled(2) * 1000)
        delivery, result = await sender.post({"type": "hang"})
        assert result is None and delivery.status is None and delivery.error
        with pytest.raises(ValueError, match="http"):
            await post_json("ftp://example.invalid/x", b"{}", {}, timeout_ms=1000)

    run(main())


def test_auth_headers() -> None:
    assert auth_headers(None, b"{}") == {}
    assert auth_headers({"type": "bearer", "token": "t"}, b"{}") == {"Authorization": "Bearer t"}
    assert auth_headers({"type": "bearer", "token": "t", "headerName": "X-Key", "bearerPrefixEnabled": False}, b"") == {
        "X-Key": "t"
    }
    assert auth_headers({"type": "secret", "secret": "s"}, b"{}") == {"X-Vapi-Secret": "s"}
    signed = auth_headers({"type": "hmac", "secret": "key"}, b'{"a":1}', now_ms=1700000000000)
    expected = hmac.new(b"key", b'1700000000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signed == {"x-signature": expected, "x-timestamp": "1700000000000"}
    for bad in ({"type": "oauth2"}, {"type": "bearer"}, {"type": "hmac", "secret": "k", "algorithm": "md5"}):
        with pytest.raises(ValueError):
            MockVapi(server_auth=bad)
