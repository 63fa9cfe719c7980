"""The Device Authorization Grant: a CLI, TV or device without a browser gets a token.

Spec: RFC 8628 (§3.1-3.2 start, §3.3 user interaction, §3.4-3.5 polling); RFC 9110
§10.2.3 (``Retry-After``).

The device asks for a user code (:func:`start_device_authorization`), shows it to the user,
who approves on another device, and polls the token endpoint until a token arrives
(:func:`poll_device_token`). :func:`device_login` does all three, telling the user through a
callback; :func:`device_login_events` is the same as an async iterator. The library never
prints: showing the code is the application's job.

Sleep and clock are parameters, so the timing (interval, ``slow_down``, back-off, the
deadline) is tested without waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import EXPIRED_TOKEN, InvalidResponseError, OAuthError, TransportError
from oauthflow.flows._exchange import scrub_snippet
from oauthflow.protocol.device import (
    DeviceAuthorization,
    PollAgain,
    build_device_authorization_request,
    build_device_token_request,
    interpret_poll_response,
    parse_device_authorization_response,
)
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.token_endpoint import Params
from oauthflow.token import Token
from oauthflow.transport import RetryPolicy, Transport, parse_retry_after

__all__ = [
    "PromptCallback",
    "Sleep",
    "device_login",
    "device_login_events",
    "poll_device_token",
    "start_device_authorization",
]

_ONE_TRY = RetryPolicy(attempts=1)  # polling does its own waiting (RFC 8628 §3.5)

logger = logging.getLogger("oauthflow.flows.device")

Sleep = Callable[[float], Awaitable[None]]
PromptCallback = Callable[[DeviceAuthorization], Awaitable[None] | None]

#: Statuses that mean "not now" rather than "no": wait (``Retry-After`` if given) and poll
#: again. 429 Too Many Requests, 503 Service Unavailable (RFC 9110 §15.6.4), and the
#: gateway errors a proxy answers with while the server restarts.
_TRY_LATER: Final = frozenset({429, 502, 503, 504})
_EXPIRED_LOCALLY: Final = "device code expired before the user approved"


async def start_device_authorization(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    *,
    scope: Sequence[str] = (),
    extra_params: Params = (),
    clock: Clock | None = None,
) -> DeviceAuthorization:
    """Ask the device authorization endpoint for a user code (RFC 8628 §3.1-3.2).

    Show the result's ``user_code`` and ``verification_uri`` to the user, then call
    :func:`poll_device_token` with it.

    Raises:
        ConfigurationError: the server has no ``device_authorization_endpoint``, or a bad
            argument.
        OAuthError: the server refused (e.g. ``invalid_client``, ``unauthorized_client``,
            ``invalid_scope``).
        InvalidResponseError: the answer is not a valid device authorization response.
        TransportError: the endpoint could not be reached, or did not answer in time.

    Cancellation: cancelling the caller abandons the request; nothing is lost (the codes
    the server may have issued are simply never used).
    """
    clock = clock or SystemClock()
    request = build_device_authorization_request(
        server, client, scope=scope, extra_params=extra_params, now=clock.time()
    )
    response = await transport.send(request)
    try:
        return parse_device_authorization_response(response, received_at=clock.time())
    except InvalidResponseError as exc:
        raise scrub_snippet(exc, request) from exc.__cause__


async def poll_device_token(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    authorization: DeviceAuthorization,
    *,
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
    max_backoff: float = 60.0,
) -> Token:
    """Poll the token endpoint until the user approves, refuses, or the codes expire.

    RFC 8628 §3.5: "Before each new request, the client MUST wait at least the number of
    seconds specified by the "interval" parameter of the device authorization response
    ..., or 5 seconds if none was provided, and respect any increase in the polling interval
    required by the "slow_down" error." So:

    - it waits ``interval`` before every poll, the first one included;
    - ``authorization_pending``: polls again; ``slow_down``: adds 5 seconds to the interval,
      for this and every later poll;
    - 429 / 503 (and 502 / 504 from a gateway): waits ``max(Retry-After, interval)``, or
      backs off as below when there is no ``Retry-After``;
    - the token endpoint unreachable or timing out: "On encountering a connection timeout,
      clients MUST unilaterally reduce their polling frequency before retrying. The use of
      an exponential backoff algorithm to achieve this, such as doubling the polling
      interval on each such connection timeout, is RECOMMENDED." The wait doubles per
      consecutive failure (2x, 4x, ... the interval), up to ``max_backoff`` seconds;
    - never polls at or after the codes' expiry: when the next wait would reach it, it
      stops at once with ``expired_token`` (raised locally, ``status`` ``None``).

    Each poll is sent once (the transport's own retries are turned off for it): every wait,
    ``Retry-After`` included, is this loop's, through ``sleep``.

    Args:
        authorization: what :func:`start_device_authorization` returned.
        clock: time source; the deadline is kept on its monotonic clock.
        sleep: how to wait (tests pass one that advances a ManualClock).
        max_backoff: the longest wait after transport failures (never below the interval).

    Raises:
        OAuthError: ``access_denied`` (the user said no), ``expired_token`` (from the server,
            or raised here with the description "device code expired before the user
            approved"), or any other error code the server sent.
        InvalidResponseError: the token endpoint broke the spec.
        TransportError: only ``tls_failed`` (a configuration problem, not retried); other
            transport failures are retried until the deadline and then become the
            ``__cause__`` of the ``expired_token`` error.

    Cancellation: cancelling the caller stops polling at once, during a wait or during a
    request; no further request is sent. A poll the server already answered with a token is
    lost with it, and the device code is then spent: start again.
    """
    clock = clock or SystemClock()
    deadline = clock.monotonic() + authorization.expires_in(clock.time())
    interval = authorization.interval
    delay = interval
    failures = 0
    last_failure: TransportError | None = None
    while True:
        if clock.monotonic() + delay >= deadline:
            raise _expired(last_failure) from last_failure
        await sleep(delay)
        request = build_device_token_request(server, client, authorization, now=clock.time())
        try:
            response = await transport.send(request, retry=_ONE_TRY)
        except TransportError as exc:
            if exc.code == TransportError.TLS_FAILED:
                raise
            failures, last_failure = failures + 1, exc
            delay = _backoff(interval, failures, max_backoff)
            logger.debug("device poll failed (%s); next poll in %.1fs", exc.code, delay)
            continue
        last_failure = None
        if response.status in _TRY_LATER:
            retry_after = parse_retry_after(response.header("retry-after"), now=clock.time())
            if retry_after is None:
                failures += 1
                delay = _backoff(interval, failures, max_backoff)
            else:
                delay = max(retry_after, interval)
            logger.debug("device poll: HTTP %d; next poll in %.1fs", response.status, delay)
            continue
        failures = 0
        outcome = _interpret(response, request, clock, interval)
        if isinstance(outcome, Token):
            return outcome
        if outcome.interval != interval:
            logger.debug("device poll: slow_down; interval now %.1fs", outcome.interval)
        interval = delay = outcome.interval


async def device_login(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    *,
    on_prompt: PromptCallback,
    scope: Sequence[str] = (),
    extra_params: Params = (),
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Token:
    """Log in with the device flow: start, tell the user, poll until a token arrives.

    ``on_prompt`` receives the :class:`~oauthflow.protocol.device.DeviceAuthorization` and
    shows ``user_code`` and ``verification_uri`` (or a QR code of
    ``verification_uri_complete``); it may be a plain function or a coroutine function.
    Polling starts once it returns. Feed the token to
    ``TokenManager.for_refresh_token(token=...)`` to keep the session alive.

    Raises:
        OAuthFlowError: whatever :func:`start_device_authorization`, ``on_prompt`` and
            :func:`poll_device_token` raise (``access_denied``, ``expired_token``, ...).

    Cancellation: cancelling the caller stops at once, wherever it is (no further request).
    """
    clock = clock or SystemClock()
    authorization = await start_device_authorization(
        transport, server, client, scope=scope, extra_params=extra_params, clock=clock
    )
    shown = on_prompt(authorization)
    if inspect.isawaitable(shown):
        await shown
    return await poll_device_token(
        transport, server, client, authorization, clock=clock, sleep=sleep
    )


async def device_login_events(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    *,
    scope: Sequence[str] = (),
    extra_params: Params = (),
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[DeviceAuthorization | Token]:
    """:func:`device_login` as an async iterator: the authorization, then the token.

    ::

        async for event in device_login_events(transport, server, client):
            if isinstance(event, DeviceAuthorization):
                show(event.user_code, event.verification_uri)
            else:
                token = event

    Polling starts when the loop asks for the next item. Errors are raised from the loop.

    Cancellation: cancelling the consuming task, or leaving the loop early (``break``),
    stops polling; no further request is sent.
    """
    clock = clock or SystemClock()
    authorization = await start_device_authorization(
        transport, server, client, scope=scope, extra_params=extra_params, clock=clock
    )
    yield authorization
    yield await poll_device_token(
        transport, server, client, authorization, clock=clock, sleep=sleep
    )


def _interpret(
    response: HttpResponse, request: HttpRequest, clock: Clock, interval: float
) -> Token | PollAgain:
    """:func:`interpret_poll_response`, with credentials scrubbed from any body snippet."""
    try:
        return interpret_poll_response(response, received_at=clock.time(), interval=interval)
    except InvalidResponseError as exc:
        raise scrub_snippet(exc, request) from exc.__cause__


def _backoff(interval: float, failures: int, max_backoff: float) -> float:
    """The wait after ``failures`` consecutive failures: interval x 2^failures, capped."""
    return min(interval * 2.0**failures, max(max_backoff, interval))


def _expired(cause: TransportError | None) -> OAuthError:
    """``expired_token``, raised by the client itself when no poll fits before the deadline."""
    detail = _EXPIRED_LOCALLY
    if cause is not None:
        detail += " (the token endpoint could not be reached at the last attempt)"
    return OAuthError(EXPIRED_TOKEN, detail)
