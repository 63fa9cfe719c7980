"""Adapters for the peer libraries: authlib, aiohttp-oauth2-client, httpx-auth.

Each is configured the way its documentation shows, with the knobs a careful user would
set for the scenario (a leeway where one exists); what a library cannot do is reported
through :class:`~benchmarks.clients.Unsupported` or a note, never approximated.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import httpx

from benchmarks.clients import (
    REQUEST_TIMEOUT,
    BenchClient,
    ClientSpec,
    Unsupported,
    aiohttp_connector,
    aiohttp_get,
    httpx_options,
)
from benchmarks.server import CLIENT_ID, CLIENT_SECRET

__all__ = ["AiohttpOAuth2Client", "AuthlibClient", "HttpxAuthClient"]

_EXPIRED_AT = "expired-access-token"


class AuthlibClient(BenchClient):
    """authlib's ``httpx_client.AsyncOAuth2Client`` (renews on expiry, under a lock)."""

    name = "authlib"

    def __init__(self, spec: ClientSpec) -> None:
        super().__init__(spec)
        self._client: Any = None
        self.token_updates = 0
        if spec.leeway is not None:
            self.notes.append(f"leeway={spec.leeway:g}s")

    async def start(self) -> None:
        from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

        spec = self.spec
        options: dict[str, Any] = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "read",
            "token_endpoint": spec.token_url,
            **httpx_options(spec),
        }
        if spec.leeway is not None:
            options["leeway"] = spec.leeway
        if spec.grant == "client_credentials":
            options["grant_type"] = "client_credentials"
        else:
            options["token"] = {
                "access_token": _EXPIRED_AT,
                "token_type": "Bearer",
                "refresh_token": spec.refresh_token,
                "expires_at": int(time.time()) - 60,
            }
            options["update_token"] = self._on_update
        self._client = AsyncOAuth2Client(**options)
        if spec.grant == "client_credentials":
            # request() raises MissingTokenError until a first token was fetched.
            await self._client.fetch_token(grant_type="client_credentials")

    async def _on_update(
        self, token: Any, refresh_token: Any = None, access_token: Any = None
    ) -> None:
        """authlib's hook to persist a renewed token (counted only)."""
        self.token_updates += 1

    async def request(self) -> int:
        response = await self._client.get(self.spec.api_url)
        return int(response.status_code)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class AiohttpOAuth2Client(BenchClient):
    """VITObelgium's aiohttp-oauth2-client: ``OAuth2Middleware`` over a grant object.

    Refresh-token mode uses ``AuthorizationCodeGrant`` seeded with an expired token (its
    base class refreshes with the stored refresh token; no browser is involved).
    """

    name = "aiohttp-oauth2-client"

    def __init__(self, spec: ClientSpec) -> None:
        super().__init__(spec)
        self._session: aiohttp.ClientSession | None = None
        self._grant: Any = None
        if spec.leeway is not None and spec.leeway != 30:
            self.notes.append("early expiry fixed at 30 s (not configurable)")

    async def start(self) -> None:
        from aiohttp_oauth2_client.grant.authorization_code import AuthorizationCodeGrant
        from aiohttp_oauth2_client.grant.client_credentials import ClientCredentialsGrant
        from aiohttp_oauth2_client.middleware import OAuth2Middleware

        spec = self.spec
        if spec.grant == "client_credentials":
            self._grant = ClientCredentialsGrant(
                token_url=spec.token_url,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                scope="read",
            )
        else:
            self._grant = AuthorizationCodeGrant(
                token_url=spec.token_url,
                authorization_url=spec.token_url.replace("/token", "/authorize"),
                client_id=CLIENT_ID,
                token={
                    "access_token": _EXPIRED_AT,
                    "token_type": "Bearer",
                    "refresh_token": spec.refresh_token,
                    "expires_at": int(time.time()) - 60,
                },
            )
        self._session = aiohttp.ClientSession(
            connector=aiohttp_connector(spec),
            middlewares=(OAuth2Middleware(self._grant),),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )

    async def request(self) -> int:
        return await aiohttp_get(self._session, self.spec.api_url)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._grant is not None:
            await self._grant.close()


class HttpxAuthClient(BenchClient):
    """httpx-auth's ``OAuth2ClientCredentials`` on an ``httpx.AsyncClient``.

    Its token fetch is synchronous (a blocking ``httpx.Client``) and runs on the event
    loop: that stall is part of what is measured.
    """

    name = "httpx-auth"

    def __init__(self, spec: ClientSpec) -> None:
        super().__init__(spec)
        if spec.grant != "client_credentials":
            raise Unsupported("unsupported: no refresh-token grant for a given refresh token")
        self._client: httpx.AsyncClient | None = None
        if spec.leeway is not None:
            self.notes.append(f"early_expiry={spec.leeway:g}s")

    async def start(self) -> None:
        import httpx_auth

        # Its token cache is process-global: start every run from an empty one.
        httpx_auth.OAuth2.token_cache.clear()
        options: dict[str, Any] = {"scope": "read"}
        if self.spec.leeway is not None:
            options["early_expiry"] = self.spec.leeway
        auth = httpx_auth.OAuth2ClientCredentials(
            self.spec.token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options
        )
        self._client = httpx.AsyncClient(auth=auth, **httpx_options(self.spec))

    async def request(self) -> int:
        assert self._client is not None, "start() first"
        response = await self._client.get(self.spec.api_url)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
