"""The grant logic: authlib's server components wired to the in-memory store.

authlib's :class:`authlib.oauth2.rfc6749.AuthorizationServer` is framework-neutral: a
framework integration supplies ``create_oauth2_request``, ``create_json_request``,
``handle_response`` and ``send_signal``. Here the "framework" is a plain
:class:`ParsedRequest` built by the aiohttp front end, and responses come back as a plain
:class:`AuthlibResponse`; authlib's calls are synchronous, which is fine for a memory store.

The grant subclasses only implement storage hooks; the protocol logic (validation, error
codes, PKCE, the device-code state machine, ID tokens) is authlib's.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AuthorizationServer as _AuthlibServer,
)
from authlib.oauth2.rfc6749 import JsonRequest, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter  # type: ignore[import-untyped]

from .core import ServerCore
from .grants import (
    ClientCredentials,
    DeviceAuthorization,
    DeviceCode,
    Introspection,
    OpenIDExtension,
    Pkce,
    Refresh,
    Revocation,
    ServerAuthorizationCode,
    register_assertion_methods,
)
from .models import IssuedToken, RegisteredClient

__all__ = ["AuthlibResponse", "AuthlibServer", "ParsedRequest"]


@dataclass(frozen=True)
class ParsedRequest:
    """An HTTP request as the authlib layer needs it.

    ``params`` are the OAuth parameters: the query for the authorization endpoint, the
    form body for the others (RFC 6749 §3.2 sends token requests in the body only).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    params: Sequence[tuple[str, str]] = ()

    def __repr__(self) -> str:
        return f"ParsedRequest({self.method} {self.url.split('?')[0]})"


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in params:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _OAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, parsed: ParsedRequest) -> None:
        super().__init__(method=parsed.method, uri=parsed.url, headers=parsed.headers)
        self.payload = _Payload(parsed.params)

    @property
    def args(self) -> dict[str, str]:
        return dict(self.payload.data)

    @property
    def form(self) -> dict[str, str]:
        return dict(self.payload.data)


class _JsonPayload:
    def __init__(self, data: Any) -> None:
        self.data = data


@dataclass
class AuthlibResponse:
    """A response authlib produced: status, body, headers (``location`` for redirects)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @location.setter
    def location(self, value: str) -> None:
        self.headers["Location"] = value


class _Issuer(IssuerParameter):  # type: ignore[misc]
    """RFC 9207 §2: the ``iss`` parameter in every authorization response."""

    def __init__(self, core: ServerCore) -> None:
        self._core = core

    def get_issuer(self) -> str | None:
        return self._core.issuer


class AuthlibServer(_AuthlibServer):  # type: ignore[misc]
    """authlib's authorization server bound to one :class:`ServerCore`."""

    def __init__(self, core: ServerCore) -> None:
        super().__init__(scopes_supported=None)
        self.core = core
        self._minted: dict[str, IssuedToken] = {}
        self.register_token_generator("default", self._generate_token)
        register_assertion_methods(self, core)
        self.register_grant(ClientCredentials)
        self.register_grant(ServerAuthorizationCode, [Pkce(required=True), OpenIDExtension(core)])
        self.register_grant(Refresh)
        self.register_grant(DeviceCode)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_endpoint(DeviceAuthorization)
        self.register_extension(_Issuer(core))

    def __repr__(self) -> str:
        return f"AuthlibServer(issuer={self.core.issuer_url!r})"

    # -- framework integration ---------------------------------------------------------
    def query_client(self, client_id: Any) -> RegisteredClient | None:
        if not isinstance(client_id, str):
            return None
        return self.core.store.clients.get(client_id)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        assert isinstance(request, ParsedRequest)
        return _OAuth2Request(request)

    def create_json_request(self, request: Any) -> JsonRequest:
        assert isinstance(request, ParsedRequest)
        json_request = JsonRequest(request.method, request.url, request.headers)
        json_request.payload = _JsonPayload(dict(request.params))
        return json_request

    def handle_response(self, status: int, body: Any, headers: Any) -> AuthlibResponse:
        if isinstance(body, dict):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = bytes(body or b"")
        return AuthlibResponse(status, data, dict(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib's signal hook ("after_authenticate_client", ...): nothing listens."""

    # -- tokens ----------------------------------------------------------------------
    def _generate_token(
        self,
        grant_type: str,
        client: RegisteredClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """RFC 6749 §5.1 token response; the record waits in ``_minted`` for ``save_token``."""
        from .knobs import wire_seconds

        granted = scope or client.default_scope()
        record = self.core.mint_access_token(client, user, granted, grant_type)
        token: dict[str, Any] = {
            "access_token": record.access_token,
            "token_type": "Bearer",
            "expires_in": wire_seconds(self.core.settings.access_token_lifetime),
            "scope": granted,
        }
        if include_refresh_token:
            record.refresh_token = secrets.token_urlsafe(32)
            token["refresh_token"] = record.refresh_token
        self._minted[record.access_token] = record
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Store the token; refreshed tokens stay in their grant's family (reuse detection)."""
        record = self._minted.pop(token["access_token"])
        previous = request.refresh_token
        if isinstance(previous, IssuedToken):
            record.grant_id = previous.grant_id
        self.core.store.add_token(record)
        self.core.counters.grants[record.grant_type] += 1

