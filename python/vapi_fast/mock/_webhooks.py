"""Server URL delivery for the mock: JSON envelopes with Vapi-style authentication headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ._http import PostResult, post_json

try:
    import httpx
except ImportError:  # pragma: no cover - httpx is optional at run time
    httpx = None  # type: ignore[assignment]

__all__ = ["WebhookDelivery", "WebhookSender", "auth_headers", "check_server_auth"]

logger = logging.getLogger(__name__)

_HMAC_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def check_server_auth(auth: Mapping[str, object] | None) -> None:
    """Validate a ``server_auth`` mapping.

    Supported: ``{"type": "bearer", "token": str, "headerName"?: str, "bearerPrefixEnabled"?: bool}``,
    ``{"type": "hmac", "secret": str, "algorithm"?: "sha1"|"sha256"|"sha512", "signatureHeader"?: str,
    "timestampHeader"?: str, "signaturePrefix"?: str}`` and the legacy ``{"type": "secret", "secret": str}``
    (header ``X-Vapi-Secret``).

    Raises:
        ValueError: an unknown type or a missing or mistyped field.
    """
    if auth is None:
        return
    kind = auth.get("type")
    required = {"bearer": "token", "hmac": "secret", "secret": "secret"}.get(str(kind))
    if required is None:
        raise ValueError(f"server_auth type must be 'bearer', 'hmac' or 'secret', not {kind!r}")
    if not isinstance(auth.get(required), str) or not auth[required]:
        raise ValueError(f"server_auth of type {kind!r} needs a non-empty string {required!r}")
    if kind == "hmac" and str(auth.get("algorithm", "sha256")) not in _HMAC_ALGORITHMS:
        raise ValueError(f"server_auth algorithm must be one of {sorted(_HMAC_ALGORITHMS)}")


def auth_headers(auth: Mapping[str, object] | None, body: bytes, now_ms: int | None = None) -> dict[str, str]:
    """The headers that authenticate ``body`` under ``auth`` (see :func:`check_server_auth`).

    HMAC signs ``f"{timestamp}.{body}"`` with the secret and sends the hex digest (with the optional
    prefix) in ``x-signature`` and the epoch-ms timestamp in ``x-timestamp``.
    """
    if auth is None:
        return {}
    kind = auth["type"]
    if kind == "bearer":
        token = str(auth["token"])
        prefix = auth.get("bearerPrefixEnabled", True)
        return {str(auth.get("headerName", "Authorization")): f"Bearer {token}" if prefix else token}
    if kind == "secret":
        return {"X-Vapi-Secret": str(auth["secret"])}
    timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
    digest = hmac.new(
        str(auth["secret"]).encode(),
        timestamp.encode() + b"." + body,
        _HMAC_ALGORITHMS[str(auth.get("algorithm", "sha256"))],
    ).hexdigest()
    return {
        str(auth.get("signatureHeader", "x-signature")): str(auth.get("signaturePrefix", "")) + digest,
        str(auth.get("timestampHeader", "x-timestamp")): timestamp,
    }


@dataclass(frozen=True)
class WebhookDelivery:
    """One server URL request the mock made.

    Attributes:
        type: the message type.
        status: the HTTP status, or ``None`` when no answer came.
        error: why delivery failed (``None`` on a 2xx answer).
        elapsed_ms: time from sending to the answer or failure.
    """

    type: str
    status: int | None
    error: str | None
    elapsed_ms: float


class WebhookSender:
    """POSTs ``{"message": ...}`` envelopes to one server URL with the configured authentication."""

    def __init__(self, url: str, auth: Mapping[str, object] | None, timeout_ms: float) -> None:
        check_server_auth(auth)
        self.url = url
        self._auth = dict(auth) if auth is not None else None
        self._timeout_ms = timeout_ms
        # httpx client, when httpx is installed; else each POST opens its own connection.
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the HTTP client."""
        if httpx is not None and self._client is None:
            self._client = httpx.AsyncClient()

    async def close(self) -> None:
        """Close the HTTP client. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def post(self, message: Mapping[str, object]) -> tuple[WebhookDelivery, PostResult | None]:
        """Deliver one message; never raises for delivery problems (they are logged and returned)."""
        body = json.dumps({"message": message}, separators=(",", ":")).encode()
        kind = str(message.get("type"))
        started = time.monotonic()
        try:
            result = await post_json(
                self.url, body, auth_headers(self._auth, body), timeout_ms=self._timeout_ms, client=self._client
            )
        except (OSError, TimeoutError, ValueError) as exc:
            elapsed = (time.monotonic() - started) * 1000
            logger.warning("mock: server URL delivery of %s failed: %s", kind, exc or type(exc).__name__)
            return WebhookDelivery(kind, None, str(exc) or type(exc).__name__, elapsed), None
        elapsed = (time.monotonic() - started) * 1000
        error = None if 200 <= result.status < 300 else f"HTTP {result.status}"
        if error:
            logger.warning("mock: server URL answered %s to %s", result.status, kind)
        return WebhookDelivery(kind, result.status, error, elapsed), result
