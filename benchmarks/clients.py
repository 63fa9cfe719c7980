"""One interface over every client measured; the raw baselines and oauthflow.

Each adapter is built from a :class:`ClientSpec`, started, asked for API requests
(``await client.request()`` returns the HTTP status the caller saw, or raises what the
library raised) and closed. Every adapter gets the same connection pool size
(``ClientSpec.pool``) and a 60 s request timeout. An adapter that cannot do what a spec
asks raises :class:`Unsupported` with the note the result row shows. The peer libraries'
adapters are in :mod:`benchmarks.peers`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import aiohttp
import httpx

from benchmarks.server import CLIENT_ID, CLIENT_SECRET

if TYPE_CHECKING:
    from oauthflow import TokenManager

__all__ = [
    "REQUEST_TIMEOUT",
    "BenchClient",
    "ClientSpec",
    "OAuthflowClient",
    "RawClient",
    "RawHttpxClient",
    "RawMiddlewareClient",
    "SetHeaderMiddleware",
    "Unsupported",
    "aiohttp_get",
    "aiohttp_connector",
    "httpx_options",
]

Grant = Literal["client_credentials", "refresh_token"]
REQUEST_TIMEOUT = 60.0
_EXPIRED_AT = "expired-access-token"


@dataclass(frozen=True, kw_only=True)
class ClientSpec:
    """What a client should do.

    Attributes:
        token_url / api_url / api_origin: the benchmark server's endpoints.
        grant: client credentials, or a refresh token obtained elsewhere (``refresh_token``;
            the client starts with an expired access token and must refresh).
        leeway: seconds before expiry at which to renew; ``None`` keeps the library default.
        static_token: the raw baseline's fixed access token.
        pool: connection pool size (aiohttp ``limit``, httpx ``max_connections``).
    """

    token_url: str
    api_url: str
    api_origin: str
    grant: Grant = "client_credentials"
    leeway: float | None = None
    refresh_token: str | None = None
    static_token: str | None = None
    pool: int = 100


class Unsupported(Exception):
    """The client cannot do what the spec asks; ``str(exc)`` is the row's note."""


class BenchClient(ABC):
    """An API client under test. Use: ``await start()``, ``request()`` * N, ``aclose()``."""

    name: ClassVar[str]
    retries_401: ClassVar[bool] = False
    """Whether a 401 ``invalid_token`` makes the library renew the token and retry."""

    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.notes: list[str] = []

    @abstractmethod
    async def start(self) -> None:
        """Create sessions (and fetch a first token if the library insists)."""

    @abstractmethod
    async def request(self) -> int:
        """One ``GET`` of the API; the status the caller got (after any library retry)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release every session the adapter created."""


def aiohttp_connector(spec: ClientSpec) -> aiohttp.TCPConnector:
    """The connector every aiohttp-based adapter uses: ``spec.pool`` connections."""
    return aiohttp.TCPConnector(limit=spec.pool, limit_per_host=spec.pool)


def httpx_options(spec: ClientSpec) -> dict[str, Any]:
    """``limits`` and ``timeout`` for every httpx-based adapter (same pool, same timeout)."""
    limits = httpx.Limits(max_connections=spec.pool, max_keepalive_connections=spec.pool)
    return {"limits": limits, "timeout": httpx.Timeout(REQUEST_TIMEOUT)}


async def aiohttp_get(session: aiohttp.ClientSession | None, url: str) -> int:
    """``GET url``, read the body, return the status."""
    assert session is not None, "start() first"
    async with session.get(url) as resp:
        await resp.read()
        return resp.status


class RawClient(BenchClient):
    """aiohttp with a fixed, valid ``Authorization`` header: the floor."""

    name = "raw"

    def __init__(self, spec: ClientSpec) -> None:
        super().__init__(spec)
        if spec.grant != "client_credentials" or spec.static_token is None:
            raise Unsupported("n/a: a static token has no lifecycle")
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp_connector(self.spec),
            headers={"Authorization": f"Bearer {self.spec.static_token}"},
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )

    async def request(self) -> int:
        return await aiohttp_get(self._session, self.spec.api_url)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class RawHttpxClient(BenchClient):
    """httpx with a fixed, valid ``Authorization`` header: the floor of httpx-based peers."""

    name = "raw-httpx"

    def __init__(self, spec: ClientSpec) -> None:
        super().__init__(spec)
        if spec.grant != "client_credentials" or spec.static_token is None:
            raise Unsupported("n/a: a static token has no lifecycle")
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self.spec.static_token}"},
            **httpx_options(self.spec),
        )

    async def request(self) -> int:
        assert self._client is not None, "start() first"
        response = await self._client.get(self.spec.api_url)
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class SetHeaderMiddleware:
    """The least a bearer middleware can do: set a fixed header."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        request.headers["Authorization"] = self._value
        return await handler(request)


class RawMiddlewareClient(RawClient):
    """aiohttp with a middleware that sets a fixed header: the floor of any middleware
    (aiohttp's own cost of running a middleware chain)."""

    name = "raw-middleware"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp_connector(self.spec),
            middlewares=(SetHeaderMiddleware(f"Bearer {self.spec.static_token}"),),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )


class OAuthflowClient(BenchClient):
    """oauthflow: a ``TokenManager`` behind ``BearerAuthMiddleware`` on an aiohttp session."""

    name = "oauthflow"
    retries_401 = True

    def __init__(self, spec: ClientSpec) -> None:
        super().__init__(spec)
        self._session: aiohttp.ClientSession | None = None
        self._tokens: TokenManager | None = None
        if spec.leeway is not None:
            self.notes.append(f"leeway={spec.leeway:g}s")

    async def start(self) -> None:
        try:
            from oauthflow import (
                BearerAuthMiddleware,
                ClientConfig,
                RenewalPolicy,
                Token,
                TokenManager,
            )
        except ImportError as exc:  # the library is written alongside the benchmark
            raise Unsupported(f"oauthflow not importable: {exc}") from None
        spec = self.spec
        client = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        policy = None if spec.leeway is None else RenewalPolicy(leeway=spec.leeway)
        if spec.grant == "client_credentials":
            tokens = TokenManager.for_client_credentials(
                token_endpoint=spec.token_url, client=client, scope=["read"], policy=policy
            )
        else:
            expired = Token(
                access_token=_EXPIRED_AT,
                expires_at=time.time() - 60.0,
                refresh_token=spec.refresh_token,
            )
            tokens = TokenManager.for_refresh_token(
                token_endpoint=spec.token_url, client=client, token=expired, policy=policy
            )
        self._tokens = tokens
        middleware = BearerAuthMiddleware(tokens, origins=[spec.api_origin])
        self._session = aiohttp.ClientSession(
            connector=aiohttp_connector(spec),
            middlewares=(middleware,),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )

    async def request(self) -> int:
        return await aiohttp_get(self._session, self.spec.api_url)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._tokens is not None:
            await self._tokens.aclose()
