"""Authentication of Vapi's server URL requests: bearer token, legacy ``X-Vapi-Secret``, HMAC.

Each authenticator checks one request (:class:`WebhookRequest`: method, URL, headers, raw body) and
raises :class:`WebhookAuthError` when the credential is missing or wrong. Comparisons are constant
time over bytes (:func:`hmac.compare_digest`); HMAC signatures are computed over the raw body bytes,
never over re-encoded JSON. Error reasons name the header and what was wrong with it, never a header
value, a secret or the body, so they are safe to log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from ..errors import VapiFastError

__all__ = [
    "AuthConfig",
    "Authenticator",
    "BearerAuth",
    "HmacAuth",
    "SecretAuth",
    "WebhookAuthError",
    "WebhookRequest",
    "auth_from_config",
]

#: HMAC algorithms Vapi's credential offers.
HmacAlgorithm: TypeAlias = Literal["sha1", "sha256", "sha512"]
#: How the HMAC signature is written in its header.
SignatureEncoding: TypeAlias = Literal["hex", "base64"]

_DIGESTS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_PLACEHOLDER = re.compile(r"\{(timestamp|body|method|url|svix-id)\}")
_ANY_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_DIGITS = re.compile(r"^[0-9]{1,19}$")
#: Timestamps at or above this are read as epoch milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 100_000_000_000


class WebhookAuthError(VapiFastError):
    """A server URL request without a valid credential; the router answers it with 401.

    It never reaches a handler. The message names the header and the problem, never a value.

    Args:
        reason: What is wrong, without header values or secrets.

    Attributes:
        reason: The same text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What an authenticator sees of one request.

    Attributes:
        method: The HTTP method (``"POST"``).
        url: The request URL as the server saw it (``scheme://host/path?query``); behind a proxy the
            scheme and host are those the proxy forwarded.
        headers: Header names lower-cased; a repeated header is joined with ``", "`` (so a request
            carrying two credentials matches neither).
        body: The raw body bytes, exactly as received.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


@runtime_checkable
class Authenticator(Protocol):
    """Anything with a ``verify(request)`` method that raises :class:`WebhookAuthError` to refuse.

    :class:`BearerAuth`, :class:`SecretAuth` and :class:`HmacAuth` implement it; write your own for
    other schemes (an OAuth2 token you issued, an IP allow-list behind a trusted proxy, ...).
    """

    def verify(self, request: WebhookRequest) -> None:
        """Accept ``request`` or raise :class:`WebhookAuthError`.

        Raises:
            WebhookAuthError: The credential is missing or wrong.
        """
        ...


def _secret_bytes(owner: str, value: str | bytes) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not value:
        raise ValueError(f"{owner}: the secret must be a non-empty str or bytes")
    return value


def _header_name(owner: str, name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{owner}: header names must be non-empty strings")
    return name.strip().lower()


@dataclass(frozen=True, slots=True, init=False)
class BearerAuth:
    """Vapi's bearer credential: a token in a header.

    With ``prefix_enabled`` (Vapi's ``bearerPrefixEnabled``, default true) the header must be
    ``Bearer <token>`` (the scheme in any case, as HTTP allows); without it, the header value is the
    token itself.

    Args:
        token: The token configured in the credential.
        header_name: The header Vapi sends it in (``headerName``; default ``Authorization``).
        prefix_enabled: Whether the value is ``Bearer <token>``.

    Raises:
        ValueError: An empty token or header name.
    """

    header_name: str
    prefix_enabled: bool
    _token: bytes = field(repr=False)

    def __init__(self, token: str | bytes, *, header_name: str = "Authorization", prefix_enabled: bool = True) -> None:
        owner = type(self).__name__
        object.__setattr__(self, "_token", _secret_bytes(owner, token))
        object.__setattr__(self, "header_name", _header_name(owner, header_name))
        object.__setattr__(self, "prefix_enabled", bool(prefix_enabled))

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request if the header carries the token.

        Raises:
            WebhookAuthError: The header is missing, has no ``Bearer`` scheme, or the token differs.
        """
        value = request.headers.get(self.header_name)
        if value is None:
            raise WebhookAuthError(f"missing {self.header_name} header")
        given = value.strip()
        if self.prefix_enabled:
            scheme, _, given = given.partition(" ")
            if scheme.lower() != "bearer":
                raise WebhookAuthError(f"{self.header_name} header is not a Bearer credential")
            given = given.strip()
        # compare_digest over bytes: as slow for a wrong token as for a right one of the same length.
        if not hmac.compare_digest(given.encode("latin-1", "replace"), self._token):
            raise WebhookAuthError(f"wrong token in {self.header_name} header")


class SecretAuth(BearerAuth):
    """Vapi's legacy server secret: ``X-Vapi-Secret: <secret>`` (no ``Bearer`` prefix).

    Equivalent to ``BearerAuth(secret, header_name="X-Vapi-Secret", prefix_enabled=False)``, which is
    also how new Vapi setups reproduce it.

    Args:
        secret: The ``serverUrlSecret`` / ``server.secret`` value.
        header_name: The header (default ``X-Vapi-Secret``).

    Raises:
        ValueError: An empty secret or header name.
    """

    __slots__ = ()

    def __init__(self, secret: str | bytes, *, header_name: str = "X-Vapi-Secret") -> None:
        super().__init__(secret, header_name=header_name, prefix_enabled=False)


@dataclass(frozen=True, slots=True, init=False)
class HmacAuth:
    """Vapi's HMAC credential: a signature of ``{timestamp}.{raw body}`` in ``x-signature``.

    The signature is ``signature_prefix + encode(HMAC(secret, payload))`` where the payload follows
    ``payload_format`` with the raw body bytes in place of ``{body}``. The timestamp (header
    ``timestamp_header``) may be Unix seconds or milliseconds (Vapi's unit is undocumented; values
    from 1e11 up are read as milliseconds) and must be within ``tolerance_s`` of this machine's clock,
    in either direction, so a captured request cannot be replayed later.

    Args:
        secret: The credential's ``secretKey``.
        algorithm: ``"sha256"`` (default), ``"sha512"`` or ``"sha1"``.
        signature_header: Header holding the signature (default ``x-signature``).
        timestamp_header: Header holding the timestamp (default ``x-timestamp``).
        signature_encoding: ``"hex"`` (lower case, default) or ``"base64"`` (standard, padded).
        signature_prefix: Text before the encoded digest, such as ``"sha256="``.
        payload_format: What is signed; placeholders ``{timestamp}``, ``{body}``, ``{method}``,
            ``{url}`` (the URL this server saw) and ``{svix-id}`` (needs ``message_id_header``).
            Default ``"{timestamp}.{body}"``, or ``"{body}"`` without ``include_timestamp``.
        include_timestamp: Whether requests carry a timestamp (Vapi's ``includeTimestamp``, default
            true). Without it there is no replay window: prefer keeping it on.
        tolerance_s: Largest accepted clock difference, seconds (default 300).
        secret_is_base64: The secret is base64 text of the key bytes (``secretIsBase64``).
        message_id_header: Header whose value replaces ``{svix-id}``.

    Raises:
        ValueError: An empty secret, an unknown algorithm or encoding, an unknown placeholder, a
            ``{timestamp}`` without ``include_timestamp``, ``{svix-id}`` without
            ``message_id_header``, or a tolerance that is not positive.
    """

    algorithm: HmacAlgorithm
    signature_header: str
    timestamp_header: str
    signature_encoding: SignatureEncoding
    signature_prefix: str
    payload_format: str
    include_timestamp: bool
    tolerance_s: float
    message_id_header: str | None
    _key: bytes = field(repr=False)
    _segments: tuple[str, ...] = field(repr=False)

    def __init__(
        self,
        secret: str | bytes,
        *,
        algorithm: HmacAlgorithm = "sha256",
        signature_header: str = "x-signature",
        timestamp_header: str = "x-timestamp",
        signature_encoding: SignatureEncoding = "hex",
        signature_prefix: str = "",
        payload_format: str | None = None,
        include_timestamp: bool = True,
        tolerance_s: float = 300.0,
        secret_is_base64: bool = False,
        message_id_header: str | None = None,
    ) -> None:
        owner = type(self).__name__
        key = _secret_bytes(owner, secret)
        if secret_is_base64:
            try:
                key = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{owner}: secret_is_base64 is set but the secret is not base64") from None
        if algorithm not in _DIGESTS:
            raise ValueError(f"{owner}: algorithm must be one of {sorted(_DIGESTS)}")
        if signature_encoding not in ("hex", "base64"):
            raise ValueError(f"{owner}: signature_encoding must be 'hex' or 'base64'")
        if not isinstance(signature_prefix, str):
            raise ValueError(f"{owner}: signature_prefix must be a string")
        if payload_format is None:
            payload_format = "{timestamp}.{body}" if include_timestamp else "{body}"
        segments = tuple(_PLACEHOLDER.split(payload_format))
        # re.split with one group alternates literal text (even indexes) and placeholder names (odd).
        literals = "".join(segments[0::2])
        if _ANY_PLACEHOLDER.search(literals):
            raise ValueError(f"{owner}: payload_format has an unknown placeholder")
        names = set(segments[1::2])
        if "timestamp" in names and not include_timestamp:
            raise ValueError(f"{owner}: payload_format uses {{timestamp}} but include_timestamp is off")
        if "svix-id" in names and not message_id_header:
            raise ValueError(f"{owner}: payload_format uses {{svix-id}} but no message_id_header is set")
        if not (isinstance(tolerance_s, int | float) and tolerance_s > 0):
            raise ValueError(f"{owner}: tolerance_s must be a positive number of seconds")
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_segments", segments)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "signature_header", _header_name(owner, signature_header))
        object.__setattr__(self, "timestamp_header", _header_name(owner, timestamp_header))
        object.__setattr__(self, "signature_encoding", signature_encoding)
        object.__setattr__(self, "signature_prefix", signature_prefix)
        object.__setattr__(self, "payload_format", payload_format)
        object.__setattr__(self, "include_timestamp", bool(include_timestamp))
        object.__setattr__(self, "tolerance_s", float(tolerance_s))
        header = _header_name(owner, message_id_header) if message_id_header else None
        object.__setattr__(self, "message_id_header", header)

    def sign(self, body: bytes, *, timestamp: str | None = None, method: str = "POST", url: str = "") -> str:
        """The signature header value for ``body`` (what Vapi would send); for tests and senders.

        Args:
            body: The raw body bytes.
            timestamp: The timestamp header value (required when ``include_timestamp``).
            method: The request method, for ``{method}``.
            url: The request URL, for ``{url}``.

        Returns:
            ``signature_prefix`` followed by the encoded digest.

        Raises:
            ValueError: ``timestamp`` is missing although the payload format needs it.
        """
        values = {"body": body, "method": method.encode(), "url": url.encode()}
        if timestamp is not None:
            values["timestamp"] = timestamp.encode("latin-1")
        elif "timestamp" in self._segments[1::2]:
            raise ValueError("HmacAuth.sign: this payload format needs a timestamp")
        values.setdefault("svix-id", b"")
        return self._expected(values).decode("ascii")

    def _expected(self, values: Mapping[str, bytes]) -> bytes:
        mac = hmac.new(self._key, digestmod=_DIGESTS[self.algorithm])
        for i, segment in enumerate(self._segments):
            mac.update(values[segment] if i % 2 else segment.encode("utf-8"))
        digest = mac.digest()
        encoded = digest.hex().encode("ascii") if self.signature_encoding == "hex" else base64.b64encode(digest)
        return self.signature_prefix.encode("utf-8") + encoded

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request if its signature matches and its timestamp is fresh.

        Raises:
            WebhookAuthError: A header is missing, the timestamp is not a number or is outside the
                tolerance, or the signature does not match.
        """
        headers = request.headers
        signature = headers.get(self.signature_header)
        if signature is None:
            raise WebhookAuthError(f"missing {self.signature_header} header")
        values: dict[str, bytes] = {"body": request.body}
        if self.include_timestamp:
            stamp = headers.get(self.timestamp_header)
            if stamp is None:
                raise WebhookAuthError(f"missing {self.timestamp_header} header")
            stamp = stamp.strip()
            if not _DIGITS.match(stamp):
                raise WebhookAuthError(f"{self.timestamp_header} header is not a Unix time")
            seconds = int(stamp) / 1000 if int(stamp) >= _MS_THRESHOLD else int(stamp)
            if abs(time.time() - seconds) > self.tolerance_s:
                raise WebhookAuthError(f"{self.timestamp_header} is more than {self.tolerance_s:g} s from now")
            values["timestamp"] = stamp.encode("ascii")
        if self.message_id_header is not None:
            values["svix-id"] = headers.get(self.message_id_header, "").encode("latin-1", "replace")
        values["method"] = request.method.encode("latin-1", "replace")
        values["url"] = request.url.encode("latin-1", "replace")
        given = signature.strip().encode("latin-1", "replace")
        if not hmac.compare_digest(given, self._expected(values)):
            raise WebhookAuthError(f"wrong signature in {self.signature_header} header")


#: What :class:`~vapi_fast.webhooks.Router` accepts as ``auth``: an authenticator, a credential-shaped
#: mapping (see :func:`auth_from_config`), a list of them (any may match), or ``None`` (no check).
AuthConfig: TypeAlias = Authenticator | Mapping[str, Any] | Sequence[Authenticator | Mapping[str, Any]] | None


def _get(config: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in config:
            return config[key]
    return default


def auth_from_config(config: Mapping[str, Any]) -> Authenticator:
    """An authenticator from a credential-shaped mapping (Vapi's names, or :class:`~vapi_fast.mock.MockVapi`'s).

    * ``{"type": "bearer", "token": ..., "headerName"?: ..., "bearerPrefixEnabled"?: bool}``
    * ``{"type": "secret", "secret": ...}`` (legacy ``X-Vapi-Secret``)
    * ``{"type": "hmac", "secretKey" | "secret": ..., "algorithm"?, "signatureHeader"?,
      "timestampHeader"?, "signatureEncoding"?, "signaturePrefix"?, "payloadFormat"?,
      "includeTimestamp"?, "secretIsBase64"?, "messageIdHeader"?, "toleranceSeconds"?}``

    Args:
        config: The mapping.

    Returns:
        A :class:`BearerAuth`, :class:`SecretAuth` or :class:`HmacAuth`.

    Raises:
        ValueError: An unknown ``type`` or a missing or invalid field.
    """
    kind = config.get("type")
    if kind == "bearer":
        token = _get(config, "token", "secret")
        if not isinstance(token, str | bytes):
            raise ValueError("a bearer credential needs a 'token' string")
        return BearerAuth(
            token,
            header_name=str(_get(config, "headerName", "header_name", default="Authorization")),
            prefix_enabled=bool(_get(config, "bearerPrefixEnabled", "prefix_enabled", default=True)),
        )
    if kind == "secret":
        secret = config.get("secret")
        if not isinstance(secret, str | bytes):
            raise ValueError("a secret credential needs a 'secret' string")
        return SecretAuth(secret, header_name=str(_get(config, "headerName", default="X-Vapi-Secret")))
    if kind == "hmac":
        secret = _get(config, "secretKey", "secret")
        if not isinstance(secret, str | bytes):
            raise ValueError("an hmac credential needs a 'secretKey' (or 'secret') string")
        return HmacAuth(
            secret,
            algorithm=_get(config, "algorithm", default="sha256"),
            signature_header=str(_get(config, "signatureHeader", default="x-signature")),
            timestamp_header=str(_get(config, "timestampHeader", default="x-timestamp")),
            signature_encoding=_get(config, "signatureEncoding", default="hex"),
            signature_prefix=str(_get(config, "signaturePrefix", default="")),
            payload_format=_get(config, "payloadFormat"),
            include_timestamp=bool(_get(config, "includeTimestamp", default=True)),
            tolerance_s=float(_get(config, "toleranceSeconds", default=300.0)),
            secret_is_base64=bool(_get(config, "secretIsBase64", default=False)),
            message_id_header=_get(config, "messageIdHeader"),
        )
    raise ValueError("credential type must be 'bearer', 'secret' or 'hmac'")


class _AnyOf:
    """Accepts a request that any of its authenticators accepts (key rotation, mixed setups)."""

    __slots__ = ("_authenticators",)

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = tuple(authenticators)

    def verify(self, request: WebhookRequest) -> None:
        reasons = []
        for authenticator in self._authenticators:
            try:
                authenticator.verify(request)
            except WebhookAuthError as exc:
                reasons.append(exc.reason)
            else:
                return
        raise WebhookAuthError("; ".join(reasons))


def build_authenticator(auth: AuthConfig | object) -> Authenticator | None:
    """Normalize a router's ``auth`` argument (see :data:`AuthConfig`).

    Raises:
        ValueError: A mapping that is not a valid credential, an empty sequence.
        TypeError: Something that is not an authenticator, a mapping or a sequence of them.
    """
    if auth is None:
        return None
    if isinstance(auth, Mapping):
        return auth_from_config(auth)
    if isinstance(auth, Authenticator):
        return auth
    if isinstance(auth, Sequence) and not isinstance(auth, str | bytes):
        items = [build_authenticator(item) for item in auth]
        found = [item for item in items if item is not None]
        if not found:
            raise ValueError("auth: an empty list would accept nothing; pass auth=None to turn authentication off")
        return found[0] if len(found) == 1 else _AnyOf(found)
    raise TypeError("auth must be an Authenticator, a credential mapping, a list of them, or None")
