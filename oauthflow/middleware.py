"""Bearer-token client middleware for ``aiohttp.ClientSession(middlewares=...)``.

Spec: RFC 6750 §2.1 (the ``Authorization: Bearer`` header), §3.1 (``invalid_token``).

What it guarantees (DESIGN.md "Middleware contract"):

- The token goes only to the configured origins. aiohttp runs middlewares again on every
  redirect hop, so a middleware that adds the header unconditionally hands the token to
  whatever host a redirect names.
- On a 401 whose ``WWW-Authenticate: Bearer`` challenge says ``invalid_token`` (or names
  no error), the 401 is released, the token is invalidated *by identity* and the request
  is sent once more with a renewed token. 500 concurrent 401s cause one renewal.
- A body that was streamed (and so consumed) is never resent, since aiohttp would send it
  empty: the 401 is returned to the caller instead.
- Token-endpoint traffic never passes through here: the TokenManager's transport uses its
  own session (or ``middlewares=()``).
- A plain class with identity hashing (aiohttp 4 caches middleware chains by hash).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol, cast

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from aiohttp.payload import Payload

from oauthflow.errors import INVALID_TOKEN, ConfigurationError
from oauthflow.protocol.bearer import bearer_authorization, find_bearer_challenge
from oauthflow.protocol.urls import origin_of
from oauthflow.token import Token

if TYPE_CHECKING:
    from yarl import URL

__all__ = ["BearerAuthMiddleware", "TokenSource", "default_should_retry"]

logger = logging.getLogger("oauthflow.middleware")

_MAX_CACHED_ORIGINS = 1024
_AUTHORIZATION = hdrs.AUTHORIZATION


class TokenSource(Protocol):
    """What the middleware needs from a :class:`~oauthflow.TokenManager`.

    A source may also have ``fresh() -> Token | None`` (the token if it can be handed out
    without waiting, as :meth:`TokenManager.fresh`): the middleware then skips awaiting
    ``get()`` on the hot path. And it may have ``get_future() -> asyncio.Future[Token]``
    (as :meth:`TokenManager.get_future`), which the middleware then awaits instead of
    ``get()`` when it has to wait.
    """

    async def get(self) -> Token: ...

    def invalidate(self, seen: Token) -> bool: ...


def _never_fresh() -> Token | None:
    return None


def _optional_method(tokens: TokenSource, name: str) -> Callable[[], object] | None:
    method: object = getattr(tokens, name, None)
    return method if callable(method) else None


def default_should_retry(response: ClientResponse) -> bool:
    """Retry a 401 whose Bearer challenge is ``invalid_token``, or that names no error.

    RFC 6750 §3.1: ``invalid_token`` means "The access token provided is expired, revoked,
    malformed, or invalid for other reasons"; a new token can fix it. ``invalid_request``
    and ``insufficient_scope`` cannot be fixed by renewing, so they are not retried.
    """
    if response.status != 401:
        return False
    challenge = find_bearer_challenge(response.headers.getall(hdrs.WWW_AUTHENTICATE, []))
    if challenge is None:
        return True
    error = challenge.params.get("error")
    return error is None or error == INVALID_TOKEN


class BearerAuthMiddleware:
    """Adds ``Authorization: Bearer <token>`` for the configured origins; retries one 401.

    Args:
        tokens: a :class:`~oauthflow.TokenManager` (anything with ``get``/``invalidate``).
        origins: the API origins allowed to receive the token, e.g.
            ``["https://api.example.com"]``. Requests elsewhere pass through untouched.
        should_retry: decides whether a response is worth one renewal and retry
            (default: :func:`default_should_retry`).

    Cancellation: cancelling the request (or its ``ClientTimeout`` expiring, which also
    counts the time spent waiting for a token) stops this request only; a token renewal
    it was waiting for continues for the other requests.
    """

    __slots__ = (
        "_covered", "_fresh", "_header", "_origins", "_retry_401_only", "_should_retry",
        "_tokens", "_wait",
    )

    def __init__(
        self,
        tokens: TokenSource,
        *,
        origins: Iterable[str],
        should_retry: Callable[[ClientResponse], bool] = default_should_retry,
    ) -> None:
        allowed = frozenset(origin_of(origin) for origin in origins)
        if not allowed:
            raise ConfigurationError("BearerAuthMiddleware needs at least one origin")
        self._tokens = tokens
        # The hot path: fresh() hands out a token without a coroutine; when it cannot,
        # get_future() is awaited (one object per waiting request fewer than get()).
        fresh = cast("Callable[[], Token | None] | None", _optional_method(tokens, "fresh"))
        self._fresh = fresh or _never_fresh
        wait = cast("Callable[[], Awaitable[Token]] | None",
                    _optional_method(tokens, "get_future"))
        self._wait = wait or tokens.get
        self._origins = allowed
        self._should_retry = should_retry
        # default_should_retry says no to anything but a 401: skip the call for the rest.
        self._retry_401_only = should_retry is default_should_retry
        # Per-request work is kept to dict look-ups: whether a (scheme, "host:port") is
        # covered, and the header of the last token (rebuilt only when the token changes).
        self._covered: dict[tuple[str, str | None], bool] = {}
        self._header: tuple[Token | None, str] = (None, "")

    def __repr__(self) -> str:
        return f"BearerAuthMiddleware(origins={sorted(self._origins)!r})"

    def covers(self, url: str) -> bool:
        """Whether requests to ``url`` get the token."""
        return origin_of(url) in self._origins

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        # The common path (a covered origin, a fresh token, no 401) is written out inline:
        # it runs on every request, and each helper call costs as much as its work.
        url = request.url
        covered = self._covered.get((url.scheme, url.host_port_subcomponent))
        if covered is None:
            covered = self._learn_origin(url)
        if not covered:
            return await handler(request)
        token = self._fresh() or await self._wait()
        header = self._header
        if header[0] is not token:
            header = self._header_for(token)
        request.headers[_AUTHORIZATION] = header[1]
        response = await handler(request)
        if self._retry_401_only and response.status != 401:
            return response
        if not self._should_retry(response):
            return response
        self._tokens.invalidate(token)  # refused: the next request gets a renewed token
        if _body_consumed(request):
            logger.debug("401 not retried: the request body was streamed and cannot be resent")
            return response
        response.release()
        request.headers[_AUTHORIZATION] = self._header_for(await self._wait())[1]
        return await handler(request)

    def _learn_origin(self, url: URL) -> bool:
        """Whether ``url``'s origin is configured, remembered for the next requests."""
        try:
            covered = origin_of(str(url)) in self._origins
        except ConfigurationError:
            covered = False
        if len(self._covered) < _MAX_CACHED_ORIGINS:
            self._covered[(url.scheme, url.host_port_subcomponent)] = covered
        return covered

    def _header_for(self, token: Token) -> tuple[Token | None, str]:
        """``token`` and its ``Authorization`` value, kept until the token changes."""
        token_and_header = self._header
        if token_and_header[0] is not token:
            # strict=False: some providers issue tokens with characters outside RFC 6750's
            # b64token (e.g. "!"); spaces, controls and non-ASCII are still refused.
            token_and_header = (token, bearer_authorization(token.access_token, strict=False))
            self._header = token_and_header
        return token_and_header


def _body_consumed(request: ClientRequest) -> bool:
    body: object = request.body
    return isinstance(body, Payload) and body.consumed

