"""The one place that sends an :class:`HttpRequest` to an authorization server with aiohttp.

Token-endpoint calls must not behave like API calls (DESIGN.md "Security rules"):

- they never pass through the caller's client middlewares (a private session by default,
  ``middlewares=()`` on an injected one), so a bearer middleware cannot recurse or leak;
- redirects are not followed (RFC 6749 §3.2 gives the endpoint; a redirect is a
  misconfiguration or an attack, and following it would resend the client credentials);
- every request has an explicit, short timeout, and the body read is capped;
- ``https`` is required, except to loopback hosts, unless ``allow_insecure_http=True``.

Transient failures (connection errors, 429, 500/502/503/504) are retried a bounded number of
times with exponential backoff and jitter, honouring ``Retry-After`` (RFC 9110 §10.2.3).
An OAuth error (a 4xx with an error object) is never retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl as ssl_module
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from multidict import CIMultiDictProxy

from oauthflow.errors import ConfigurationError, InvalidResponseError, TransportError
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.urls import require_secure_url

__all__ = ["RetryPolicy", "Transport", "parse_retry_after", "transport_for"]

logger = logging.getLogger("oauthflow.transport")

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_USER_AGENT = "oauthflow/0.1 (+aiohttp)"
_CHUNK = 16 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How transient token-endpoint failures are retried.

    Attributes:
        attempts: total tries, the first included (1 disables retrying).
        base_delay: the first backoff, doubled per attempt, with full jitter.
        max_delay: the largest backoff between two tries.
        max_retry_after: a ``Retry-After`` longer than this is not waited for: the
            response is returned (and reported) at once instead.
    """

    attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0
    max_retry_after: float = 10.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based): full jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    RFC 9110 §10.2.3: ``Retry-After = HTTP-date / delay-seconds``. Returns ``None`` for a
    missing or unreadable value; never negative.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _loggable(url: str) -> str:
    """The URL without query or userinfo, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Transport:
    """Sends requests to authorization-server endpoints.

    Args:
        session: an aiohttp session to use (for a shared connector or a proxy). It is
            never closed by the transport, and is called with ``middlewares=()``,
            ``allow_redirects=False`` and ``raise_for_status=False``; its default headers
            and cookies still apply. By default the transport owns a private session,
            created on first use and closed by :meth:`aclose`.
        timeout: total seconds for one try (connect, send, read).
        connect_timeout: seconds to establish a connection.
        max_body_bytes: a larger response body is refused (``body_too_large``).
        ssl: ``True`` (verify with the system store), or an ``ssl.SSLContext`` (e.g. a
            private CA). Verification is never turned off by default.
        allow_insecure_http: allow ``http://`` to non-loopback hosts. For tests only.
        retry: the retry policy.
        sleep: injectable for tests of the retry timing.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_body_bytes: int = 256 * 1024,
        ssl: ssl_module.SSLContext | bool = True,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._max_body_bytes = max_body_bytes
        self._ssl = ssl
        self._allow_insecure_http = allow_insecure_http
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._checked_urls: set[str] = set()
        self._closed = False

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the private session (an injected session is left open)."""
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def send(self, request: HttpRequest, *, retry: RetryPolicy | None = None) -> HttpResponse:
        """Send ``request``, retrying transient failures; return the final response.

        ``retry`` overrides the transport's policy for this call (a polling loop that does
        its own waiting passes ``RetryPolicy(attempts=1)``).

        Any status is returned (the protocol layer reads OAuth errors from 4xx bodies);
        only a redirect or an oversized body is refused here.

        Raises:
            ConfigurationError: the URL is not ``https`` (and not loopback).
            TransportError: unreachable, TLS failure, or timed out on the last try.
            InvalidResponseError: a redirect (``redirect_not_followed``) or an oversized
                body (``body_too_large``).

        Cancellation: cancelling the caller cancels the request in flight; nothing is
        retried after that.
        """
        self._check_url(request.url)
        policy = retry or self._retry
        attempts = max(1, policy.attempts)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._send_once(request)
            except TransportError as exc:
                if last or exc.code != TransportError.CONNECTION_FAILED:
                    raise
                delay = policy.backoff(attempt)
                logger.debug("%s: %s; retrying in %.2fs", _loggable(request.url), exc.code, delay)
            else:
                if last or response.status not in _RETRYABLE_STATUSES:
                    return response
                wait = parse_retry_after(response.header("retry-after"), now=time.time())
                if wait is not None and wait > policy.max_retry_after:
                    return response
                delay = wait if wait is not None else policy.backoff(attempt)
                logger.debug(
                    "%s: HTTP %d; retrying in %.2fs", _loggable(request.url), response.status, delay
                )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def check_url(self, url: str) -> None:
        """Raise :class:`ConfigurationError` now if ``url`` would be refused when sent."""
        self._check_url(url)

    def _check_url(self, url: str) -> None:
        if url in self._checked_urls:
            return
        require_secure_url(url, what="endpoint", allow_insecure_http=self._allow_insecure_http)
        self._checked_urls.add(url)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._closed:
                raise RuntimeError("this Transport is closed")
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=self._timeout,
            )
        return self._session

    async def _send_once(self, request: HttpRequest) -> HttpResponse:
        session = self._get_session()
        headers = {"User-Agent": _USER_AGENT, **request.headers}
        url = _loggable(request.url)
        started = time.perf_counter()
        try:
            async with session.request(
                request.method,
                request.url,
                headers=headers,
                data=request.body if request.form else None,
                allow_redirects=False,
                raise_for_status=False,
                middlewares=(),
                timeout=self._timeout,
                ssl=self._ssl,
            ) as resp:
                if 300 <= resp.status < 400:
                    raise InvalidResponseError(
                        InvalidResponseError.REDIRECT_NOT_FOLLOWED,
                        f"{url} answered with a redirect; oauthflow does not follow redirects "
                        "from authorization-server endpoints",
                        status=resp.status,
                    )
                body = await self._read_capped(resp, url)
                response = HttpResponse(
                    status=resp.status, headers=_join_headers(resp.headers), body=body
                )
        except (aiohttp.ClientSSLError, ssl_module.SSLError) as exc:
            raise TransportError(TransportError.TLS_FAILED, url, type(exc).__name__) from exc
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise TransportError(
                TransportError.TIMEOUT, url, f"no answer within {self._timeout.total}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                TransportError.CONNECTION_FAILED, url, type(exc).__name__
            ) from exc
        logger.debug(
            "%s %s -> %d in %.1f ms",
            request.method, url, response.status, (time.perf_counter() - started) * 1000,
        )
        return response

    async def _read_capped(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        cap = self._max_body_bytes
        if resp.content_length is not None and resp.content_length > cap:
            raise _too_large(url, cap, resp.status)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise _too_large(url, cap, resp.status)
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large(url: str, cap: int, status: int) -> InvalidResponseError:
    return InvalidResponseError(
        InvalidResponseError.BODY_TOO_LARGE,
        f"{url} sent a body larger than {cap} bytes; it was not read",
        status=status,
    )


def _join_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    """Fold repeated header lines into one comma-separated value (RFC 9110 §5.3)."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def transport_for(
    endpoint: str,
    transport: Transport | None,
    session: aiohttp.ClientSession | None,
    allow_insecure_http: bool,
) -> tuple[tuple[Transport, ...], Transport]:
    """The transport to send to ``endpoint`` with, and what the caller must close.

    The given ``transport`` (owned by its creator), or a new one on ``session`` (owned by
    the caller, who closes it). ``endpoint`` is checked now, not at the first request.

    Raises:
        ConfigurationError: ``session``/``allow_insecure_http`` given with a ``transport``
            (configure those on the transport), or ``endpoint`` is not https (or loopback).
    """
    if transport is not None:
        if session is not None or allow_insecure_http:
            raise ConfigurationError("configure session/allow_insecure_http on the transport")
        owned: tuple[Transport, ...] = ()
        sender = transport
    else:
        sender = Transport(session=session, allow_insecure_http=allow_insecure_http)
        owned = (sender,)
    sender.check_url(endpoint)
    return owned, sender
