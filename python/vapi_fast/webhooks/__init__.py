"""Vapi's server URL events as a typed router: an ASGI app with Vapi's authentication and deadlines.

Besides the call socket, Vapi POSTs events to your server URL; several need an answer, some under a
hard deadline (``assistant-request``: 7.5 s end to end). :class:`Router` turns that into a few
decorated functions::

    from vapi_fast.webhooks import HmacAuth, Router

    router = Router(auth=HmacAuth(os.environ["VAPI_HMAC_SECRET"]))

    @router.tool("get_weather")
    async def get_weather(city: str) -> str:
        return f"Sunny and 22 C in {city}"

    @router.on("end-of-call-report")
    def report(message: EndOfCallReportMessage) -> None:
        save(message.ended_reason, message.summary)

It is an ASGI app (``uvicorn module:router``, ``vapi-fast serve module:router``, or mounted in
Starlette/FastAPI) and needs no web framework.

* Authentication (:class:`BearerAuth`, :class:`SecretAuth`, :class:`HmacAuth`) runs over the raw
  body before anything else; a missing or wrong credential is a 401 and no handler runs.
* Request-style events are answered within their budget, with a fallback reply when a handler
  fails or hangs; tools run concurrently, each under its own timeout.
* ``voice-request`` audio in any format is converted natively to the PCM Vapi asks for and streamed.
* Malformed input is a 4xx, never a 500 and never a handler call.
"""

from __future__ import annotations

from ._asgi import ASGIApp, Receive, Scope, Send
from ._auth import (
    AuthConfig,
    Authenticator,
    BearerAuth,
    HmacAuth,
    SecretAuth,
    WebhookAuthError,
    WebhookRequest,
    auth_from_config,
)
from ._replies import (
    AssistantReply,
    EndpointingReply,
    HandoffReply,
    KnowledgeBaseReply,
    ToolError,
    TransferReply,
)
from ._router import DEFAULT_ASSISTANT_FALLBACK, Router
from ._serve import build_server, load_app, serve
from ._voice import VoiceAudio, VoiceReply, pcm_stream

__all__ = [
    "DEFAULT_ASSISTANT_FALLBACK",
    "ASGIApp",
    "AssistantReply",
    "AuthConfig",
    "Authenticator",
    "BearerAuth",
    "EndpointingReply",
    "HandoffReply",
    "HmacAuth",
    "KnowledgeBaseReply",
    "Receive",
    "Router",
    "Scope",
    "SecretAuth",
    "Send",
    "ToolError",
    "TransferReply",
    "VoiceAudio",
    "VoiceReply",
    "WebhookAuthError",
    "WebhookRequest",
    "auth_from_config",
    "build_server",
    "load_app",
    "pcm_stream",
    "serve",
]
