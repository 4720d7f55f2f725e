"""Authentication: the authenticators on their own, then the matrix over real HTTP.

Over HTTP every rejected request must be a 401 with zero handler calls: every one-byte mutation of the
HMAC signature, of the timestamp and of the body; timestamps 299 s off (either way) are accepted and
301 s off rejected, in seconds and in milliseconds. Signatures are computed here with :mod:`hmac`
directly, not with the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from vapi_fast.errors import VapiFastError
from vapi_fast.mock._webhooks import auth_headers
from vapi_fast.protocol import Message
from vapi_fast.webhooks import (
    Authenticator,
    BearerAuth,
    HmacAuth,
    Router,
    SecretAuth,
    WebhookAuthError,
    WebhookRequest,
    auth_from_config,
)

from .conftest import Calls, Dispatch, client, compact, fixture_json, scaled, serving

SECRET = "hmac-s3cret-value"
TOKEN = "bearer-t0ken-value"
BODY = compact(fixture_json("19-tool-calls.json"))


def request(
    headers: dict[str, str], body: bytes = BODY, method: str = "POST", url: str = "http://h/x"
) -> WebhookRequest:
    return WebhookRequest(method, url, {k.lower(): v for k, v in headers.items()}, body)


def signature(body: bytes, timestamp: str, secret: str = SECRET, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, getattr(hashlib, algorithm)).hexdigest()


def now_ms(offset_s: float = 0) -> str:
    return str(int((time.time() + offset_s) * 1000))


def rejected(auth: Authenticator, req: WebhookRequest) -> str:
    with pytest.raises(WebhookAuthError) as info:
        auth.verify(req)
    return info.value.reason


# ---------------------------------------------------------------------------------------------
# The authenticators on their own


def test_bearer_accepts_the_token_in_any_scheme_case_and_nothing_else() -> None:
    auth = BearerAuth(TOKEN)
    auth.verify(request({"Authorization": f"Bearer {TOKEN}"}))
    auth.verify(request({"Authorization": f"bearer   {TOKEN} "}))
    assert rejected(auth, request({})) == "missing authorization header"
    assert "not a Bearer" in rejected(auth, request({"Authorization": TOKEN}))
    assert "not a Bearer" in rejected(auth, request({"Authorization": f"Basic {TOKEN}"}))
    for wrong in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), f"{TOKEN}, Bearer {TOKEN}"):
        assert "wrong token" in rejected(auth, request({"Authorization": f"Bearer {wrong}"}))


def test_bearer_with_a_custom_header_and_no_prefix() -> None:
    auth = BearerAuth(TOKEN, header_name="X-Api-Key", prefix_enabled=False)
    auth.verify(request({"X-Api-Key": TOKEN}))
    assert rejected(auth, request({"X-Api-Key": f"Bearer {TOKEN}"})) == "wrong token in x-api-key header"
    assert rejected(auth, request({"Authorization": f"Bearer {TOKEN}"})) == "missing x-api-key header"


def test_legacy_secret_header() -> None:
    auth = SecretAuth(SECRET)
    auth.verify(request({"X-Vapi-Secret": SECRET}))
    assert rejected(auth, request({})) == "missing x-vapi-secret header"
    assert "wrong token" in rejected(auth, request({"X-Vapi-Secret": SECRET + "!"}))
    assert (auth.header_name, auth.prefix_enabled) == ("x-vapi-secret", False)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha256="])
def test_hmac_algorithms_encodings_and_prefixes(algorithm: Any, encoding: Any, prefix: str) -> None:
    auth = HmacAuth(SECRET, algorithm=algorithm, signature_encoding=encoding, signature_prefix=prefix)
    stamp = now_ms()
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + BODY, getattr(hashlib, algorithm)).digest()
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    good = {"x-signature": prefix + encoded, "x-timestamp": stamp}
    auth.verify(request(good))
    assert auth.sign(BODY, timestamp=stamp) == prefix + encoded
    # Strict form: upper-case hex, a missing prefix or missing padding is a different signature.
    for variant in (prefix + encoded.upper(), encoded if prefix else "x" + encoded, prefix + encoded.rstrip("=")):
        if variant != good["x-signature"]:
            assert "wrong signature" in rejected(auth, request({**good, "x-signature": variant}))


def test_hmac_rejects_missing_and_malformed_headers() -> None:
    auth = HmacAuth(SECRET)
    stamp = now_ms()
    good = {"x-signature": signature(BODY, stamp), "x-timestamp": stamp}
    auth.verify(request(good))
    assert rejected(auth, request({"x-timestamp": stamp})) == "missing x-signature header"
    assert rejected(auth, request({"x-signature": good["x-signature"]})) == "missing x-timestamp header"
    for stamp_value in ("", "abc", "-1", "1.5e12", " ", "1" * 25, f"{stamp}, {stamp}"):
        assert "not a Unix time" in rejected(auth, request({**good, "x-timestamp": stamp_value}))
    assert "wrong signature" in rejected(auth, request(good, body=BODY + b" "))


@pytest.mark.parametrize("unit_ms", [True, False], ids=["ms", "s"])
def test_hmac_timestamp_tolerance_both_directions(unit_ms: bool) -> None:
    auth = HmacAuth(SECRET)
    for offset_s, ok in ((0, True), (299, True), (-299, True), (301, False), (-301, False), (86_400, False)):
        moment = time.time() + offset_s
        stamp = str(int(moment * 1000)) if unit_ms else str(int(moment))
        req = request({"x-signature": signature(BODY, stamp), "x-timestamp": stamp})
        if ok:
            auth.verify(req)
        else:
            assert "from now" in rejected(auth, req)
    tight = HmacAuth(SECRET, tolerance_s=5)
    stamp = now_ms(-10)
    assert "more than 5 s" in rejected(tight, request({"x-signature": signature(BODY, stamp), "x-timestamp": stamp}))


def test_hmac_payload_formats() -> None:
    body_only = HmacAuth(
        SECRET, include_timestamp=False, signature_header="x-vapi-signature", signature_prefix="sha256="
    )
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    body_only.verify(request({"x-vapi-signature": f"sha256={digest}"}))
    assert "wrong signature" in rejected(body_only, request({"x-vapi-signature": digest}))

    url = "https://hooks.example/vapi?x=1"
    full = HmacAuth(
        SECRET, payload_format="{method}\n{url}\n{timestamp}\n{svix-id}\n{body}", message_id_header="svix-id"
    )
    stamp = now_ms()
    signed = f"POST\n{url}\n{stamp}\nmsg_1\n".encode() + BODY
    good = {"x-signature": hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest(), "x-timestamp": stamp}
    full.verify(request({**good, "svix-id": "msg_1"}, url=url))
    assert "wrong signature" in rejected(full, request({**good, "svix-id": "msg_2"}, url=url))
    assert "wrong signature" in rejected(full, request({**good, "svix-id": "msg_1"}, url=url + "2"))
    assert full.sign(BODY, timestamp=stamp, url=url).startswith("")  # sign() takes the same inputs

    raw_key = b"\x00\x01binary-key\xff"
    b64 = HmacAuth(base64.b64encode(raw_key).decode(), secret_is_base64=True)
    good = {
        "x-signature": hmac.new(raw_key, f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest(),
        "x-timestamp": stamp,
    }
    b64.verify(request(good))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "md5"}, "algorithm"),
        ({"signature_encoding": "base32"}, "signature_encoding"),
        ({"payload_format": "{timestamp}.{nonce}.{body}"}, "unknown placeholder"),
        ({"include_timestamp": False, "payload_format": "{timestamp}{body}"}, "include_timestamp"),
        ({"payload_format": "{svix-id}.{body}"}, "message_id_header"),
        ({"tolerance_s": 0}, "tolerance_s"),
        ({"secret_is_base64": True}, "not base64"),
    ],
)
def test_hmac_configuration_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HmacAuth("not base64 !", **kwargs)


def test_empty_secrets_are_refused() -> None:
    for make in (
        lambda: BearerAuth(""),
        lambda: SecretAuth(b""),
        lambda: HmacAuth(""),
        lambda: BearerAuth("t", header_name=" "),
    ):
        with pytest.raises(ValueError):
            make()


def test_credentials_from_vapi_and_mock_shaped_mappings() -> None:
    assert auth_from_config({"type": "bearer", "token": TOKEN}) == BearerAuth(TOKEN)
    assert auth_from_config(
        {"type": "bearer", "token": TOKEN, "headerName": "X-Key", "bearerPrefixEnabled": False}
    ) == BearerAuth(TOKEN, header_name="X-Key", prefix_enabled=False)
    assert auth_from_config({"type": "secret", "secret": SECRET}) == SecretAuth(SECRET)
    hmac_auth = auth_from_config(
        {
            "type": "hmac",
            "secretKey": SECRET,
            "algorithm": "sha512",
            "signatureEncoding": "base64",
            "toleranceSeconds": 60,
        }
    )
    assert isinstance(hmac_auth, HmacAuth) and hmac_auth.algorithm == "sha512" and hmac_auth.tolerance_s == 60
    # The mock's own signer (an independent implementation) is accepted, for each credential type.
    for config in (
        {"type": "hmac", "secret": SECRET, "algorithm": "sha512", "signaturePrefix": "v1="},
        {"type": "bearer", "token": TOKEN},
        {"type": "secret", "secret": SECRET},
    ):
        auth_from_config(config).verify(request(auth_headers(config, BODY)))
    for bad in ({"type": "oauth2"}, {"type": "bearer"}, {"type": "hmac", "secretKey": 5}, {}):
        with pytest.raises(ValueError):
            auth_from_config(bad)


def test_errors_never_carry_secrets_or_values() -> None:
    auth = HmacAuth(SECRET)
    stamp = now_ms()
    wrong = signature(BODY, stamp, secret="other")
    reason = rejected(auth, request({"x-signature": wrong, "x-timestamp": stamp}))
    for text in (SECRET, wrong, stamp, BODY.decode()):
        assert text not in reason and text not in repr(auth)
    assert TOKEN not in repr(BearerAuth(TOKEN)) and SECRET not in repr(SecretAuth(SECRET))
    assert issubclass(WebhookAuthError, VapiFastError)


# ---------------------------------------------------------------------------------------------
# Over HTTP


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Calls]]:
    calls = Calls()

    def make(auth: Any) -> Router:
        router = Router(auth=auth)

        @router.tool("lookupOrder")
        def lookup(orderId: str) -> str:
            calls.add("tool")
            return "ok"

        @router.on("*")
        def every(message: Message) -> None:
            calls.add("event")

        return router

    routes = {
        "/hmac": make({"type": "hmac", "secret": SECRET}),
        "/bearer": make(BearerAuth(TOKEN)),
        "/secret": make(SecretAuth(SECRET)),
        "/rotating": make([BearerAuth("old-token"), BearerAuth(TOKEN)]),
    }
    with serving(Dispatch(routes)) as url:
        yield url, calls


def mutations(text: bytes) -> Iterator[bytes]:
    """Every one-byte mutation of ``text`` (each byte XOR 0x01: a digit stays a digit, hex stays ASCII)."""
    for i in range(len(text)):
        yield text[:i] + bytes([text[i] ^ 0x01]) + text[i + 1 :]


async def post_all(base_url: str, jobs: list[tuple[str, dict[str, str], bytes]], concurrency: int = 16) -> list[int]:
    """POST every (path, headers, body) job, ``concurrency`` at a time; returns the statuses in order."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses = [0] * len(jobs)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=scaled(20)) as http:
        queue = list(enumerate(jobs))

        async def worker() -> None:
            while queue:
                i, (path, headers, body) = queue.pop()
                statuses[i] = (await http.post(path, content=body, headers=headers)).status_code

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def test_every_one_byte_mutation_is_401_and_runs_no_handler(served: tuple[str, Calls]) -> None:
    base_url, calls = served
    stamp = now_ms()
    good = {"x-signature": signature(BODY, stamp), "x-timestamp": stamp}
    jobs = [("/hmac", {**good, "x-signature": sig.decode()}, BODY) for sig in mutations(good["x-signature"].encode())]
    jobs += [("/hmac", {**good, "x-timestamp": ts.decode()}, BODY) for ts in mutations(stamp.encode())]
    jobs += [("/hmac", good, body) for body in mutations(BODY)]
    assert len(jobs) == 64 + 13 + len(BODY)
    before = calls.total()
    statuses = asyncio.run(post_all(base_url, jobs))
    assert statuses == [401] * len(jobs)
    assert calls.total() == before
    # The unmutated request is accepted, and runs the tool and the "*" handler.
    with client(base_url) as http:
        response = http.post("/hmac", content=BODY, headers=good)
    assert response.status_code == 200 and response.json()["results"][0]["result"] == "ok"
    calls.wait_for("tool", 1)
    calls.wait_for("event", 1)


def test_timestamps_299_s_off_pass_and_301_s_off_fail(served: tuple[str, Calls]) -> None:
    base_url, _ = served
    with client(base_url) as http:
        for offset_s, status in ((299, 200), (-299, 200), (301, 401), (-301, 401)):
            for stamp in (now_ms(offset_s), str(int(time.time() + offset_s))):
                headers = {"x-signature": signature(BODY, stamp), "x-timestamp": stamp}
                assert http.post("/hmac", content=BODY, headers=headers).status_code == status, (offset_s, stamp)


def test_bearer_secret_and_rotation_over_http(served: tuple[str, Calls]) -> None:
    base_url, calls = served
    before = calls.counts["tool"]
    cases = [
        ("/bearer", {"Authorization": f"Bearer {TOKEN}"}, 200),
        ("/bearer", {}, 401),
        ("/bearer", {"Authorization": f"Basic {TOKEN}"}, 401),
        ("/bearer", {"X-Vapi-Secret": TOKEN}, 401),
        ("/secret", {"X-Vapi-Secret": SECRET}, 200),
        ("/secret", {"X-Vapi-Secret": ""}, 401),
        ("/secret", {"Authorization": f"Bearer {SECRET}"}, 401),
        ("/rotating", {"Authorization": "Bearer old-token"}, 200),
        ("/rotating", {"Authorization": f"Bearer {TOKEN}"}, 200),
        ("/rotating", {"Authorization": "Bearer older-token"}, 401),
    ]
    cases += [("/bearer", {"Authorization": f"Bearer {t.decode()}"}, 401) for t in mutations(TOKEN.encode())]
    with client(base_url) as http:
        for path, headers, status in cases:
            assert http.post(path, content=BODY, headers=headers).status_code == status, (path, headers)
        # Two credentials in one request (a repeated header) match neither.
        doubled = [("authorization", f"Bearer {TOKEN}"), ("authorization", f"Bearer {TOKEN}")]
        assert http.post("/bearer", content=BODY, headers=doubled).status_code == 401
    assert calls.counts["tool"] - before == 4


def test_nothing_secret_is_logged(served: tuple[str, Calls], caplog: pytest.LogCaptureFixture) -> None:
    base_url, _ = served
    caplog.set_level(logging.DEBUG)
    marker = "BODY-MARKER-5f2a"
    body = compact({"message": {"type": "tool-calls", "toolCallList": [{"id": marker, "function": {"name": marker}}]}})
    stamp = now_ms()
    with client(base_url) as http:
        http.post("/hmac", content=body, headers={"x-signature": signature(body, stamp) + "0", "x-timestamp": stamp})
        http.post(
            "/hmac",
            content=b"{" + marker.encode(),
            headers={"x-signature": signature(b"{", stamp), "x-timestamp": stamp},
        )
        http.post("/bearer", content=body, headers={"Authorization": f"Bearer {TOKEN}x"})
        http.post("/secret", content=body, headers={"X-Vapi-Secret": SECRET[::-1]})
        http.post(
            "/bearer", content=b'{"message": [' + marker.encode() + b"]}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert caplog.records, "the rejections were not logged at all"
    for record in caplog.records:
        text = record.getMessage() + (caplog.text if record.exc_info else "")
        for secret in (SECRET, SECRET[::-1], TOKEN, marker, signature(body, stamp)):
            assert secret not in text, (record.name, record.getMessage())
