"""Receive the authorization response on this machine: the RFC 8252 loopback redirect.

A command-line or desktop app opens the user's browser at the authorization URL with
``redirect_uri=http://127.0.0.1:<port>/callback``; after the login the browser is
redirected there, and :class:`LoopbackReceiver` hands the query parameters (``code``,
``state``, ``iss`` or ``error``) to the app.

Spec: RFC 8252 §7.3 (loopback interface redirection), §8.3 (loopback redirect
considerations), RFC 6749 §4.1.2 (authorization response) and §10.12 (CSRF, ``state``).

Security:

- it listens on 127.0.0.1 (and ::1) only, never on another interface, on a port the OS
  picks; RFC 8252 §8.3: "Clients should listen on the loopback network interface only,
  in order to avoid interference by other network actors";
- only a request carrying the expected ``state`` (compared in constant time) ends the
  wait: any other process on the machine can send requests to the port, but it cannot end
  or spoil the login by sending a wrong one;
- it is one-shot and short-lived: RFC 8252 §8.3: "Clients should open the network port
  only when starting the authorization request and close it once the response is
  returned";
- it logs no request line (the query holds the code), serves pages without scripts or
  external resources (``Content-Security-Policy``, ``Referrer-Policy: no-referrer``: the
  page's URL holds the code), and never shows the code or the state.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Final
from urllib.parse import parse_qsl

from aiohttp import web

from oauthflow.errors import ConfigurationError
from oauthflow.loopback.pages import (
    DEFAULT_FAILURE_PAGE,
    DEFAULT_SUCCESS_PAGE,
    GONE_PAGE,
    NOT_FOUND_PAGE,
    html_response,
)
from oauthflow.loopback.sockets import bind_loopback, check_loopback_host

__all__ = ["LoopbackReceiver", "LoopbackStats"]

logger = logging.getLogger("oauthflow.loopback")

_SHUTDOWN_TIMEOUT: Final = 2.0
_MAX_PARAMS: Final = 64
# The path is matched byte for byte against the request's raw path: unreserved characters
# (RFC 3986 §2.3) and slashes only, so there is no percent-encoding to disagree about.
_PATH: Final = re.compile(r"/[A-Za-z0-9._~/-]*")


@dataclass(slots=True)
class LoopbackStats:
    """Counters of the requests a :class:`LoopbackReceiver` answered.

    Attributes:
        requests: every HTTP request that reached it.
        ignored: requests to the redirect path with a missing, wrong or malformed
            ``state`` (answered 400 with the failure page; the wait goes on).
        not_found: requests to another path (404) or with a method other than GET (405).
        gone: requests after the matching callback, or while closing (410).
    """

    requests: int = 0
    ignored: int = 0
    not_found: int = 0
    gone: int = 0


class LoopbackReceiver:
    """A one-shot HTTP listener on the loopback interface for the authorization response.

    Use it as an async context manager, put :attr:`redirect_uri` in the authorization
    request, then ``await`` :meth:`wait_for_callback`::

        async with LoopbackReceiver() as receiver:
            url = build_the_authorization_url(redirect_uri=receiver.redirect_uri, state=state)
            await open_browser(url)
            params = await receiver.wait_for_callback(expected_state=state)

    Args:
        path: the redirect URI's path (unreserved characters and ``/`` only).
        host: the loopback IP literal to listen on and to put in the redirect URI:
            ``127.0.0.1`` (default, any ``127.0.0.0/8`` address) or ``::1``. RFC 8252 §8.3:
            "the use of "localhost" is NOT RECOMMENDED", so it is refused.
        also_ipv6: with an IPv4 host, also listen on ``::1`` on the same port when
            possible (RFC 8252 §7.3: "It is RECOMMENDED that clients attempt to bind to the
            loopback interface using both IPv4 and IPv6 and use whichever is available");
            on a machine without IPv4 loopback, listen on ``::1`` alone.
        port: ``0`` (default) for a port chosen by the OS, as RFC 8252 §7.3 intends
            ("The authorization server MUST allow any port to be specified at the time of
            the request for loopback IP redirect URIs"); a fixed port only for servers that
            insist on an exact registered redirect URI.
        success_page: the HTML served for the matching callback (default: a short
            "Signed in" page). Served as is, with a Content-Security-Policy that blocks
            scripts and external resources.
        failure_page: the HTML served when the callback carries an ``error``, and for
            requests with a wrong ``state`` (default: a short "did not complete" page).

    Raises:
        ConfigurationError: a host that is not a loopback IP literal, a bad path or port.
    """

    def __init__(
        self,
        *,
        path: str = "/callback",
        host: str = "127.0.0.1",
        also_ipv6: bool = True,
        port: int = 0,
        success_page: str | None = None,
        failure_page: str | None = None,
    ) -> None:
        self._path = _check_path(path)
        self._host = check_loopback_host(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigurationError("port must be an integer from 0 to 65535")
        self._port = port
        self._also_ipv6 = also_ipv6
        self._success_page = DEFAULT_SUCCESS_PAGE if success_page is None else success_page
        self._failure_page = DEFAULT_FAILURE_PAGE if failure_page is None else failure_page
        self._runner: web.ServerRunner | None = None
        self._addresses: tuple[tuple[str, int], ...] = ()
        self._armed = asyncio.Event()  # set by wait_for_callback (or aclose): requests proceed
        self._expected_state: bytes | None = None
        self._result: asyncio.Future[dict[str, str]] | None = None
        self._claimed = False
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self.stats = LoopbackStats()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening" if self._runner else "not started"
        uri = self.redirect_uri if self._addresses else None
        return f"LoopbackReceiver(redirect_uri={uri!r}, {state})"

    async def __aenter__(self) -> LoopbackReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port><path>`` (or ``http://[::1]:<port><path>``).

        RFC 8252 §7.3: "Loopback redirect URIs use the "http" scheme and are constructed
        with the loopback IP literal and whatever port the client is listening on."

        Raises:
            RuntimeError: before :meth:`start`.
        """
        if not self._addresses:
            raise RuntimeError("the LoopbackReceiver has not been started")
        address, port = self._addresses[0]
        host = f"[{address}]" if ":" in address else address
        return f"http://{host}:{port}{self._path}"

    @property
    def bound_addresses(self) -> tuple[tuple[str, int], ...]:
        """The (address, port) pairs listened on, the redirect URI's first; empty before start."""
        return self._addresses

    async def start(self) -> None:
        """Bind the loopback socket(s) and start answering (``async with`` calls this).

        Raises:
            RuntimeError: already started, or closed.
            OSError: the port could not be bound (a fixed ``port`` in use, say).
        """
        if self._runner is not None or self._closed:
            raise RuntimeError("a LoopbackReceiver can be started once")
        sockets = bind_loopback(self._host, self._port, also_ipv6=self._also_ipv6)
        # access_log=None: an access log line would carry the query, i.e. the code.
        runner = web.ServerRunner(
            web.Server(self._handle, access_log=None), shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        try:
            await runner.setup()
            for sock in sockets:
                await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            for sock in sockets:
                sock.close()
            raise
        self._runner = runner
        self._addresses = tuple(sock.getsockname()[:2] for sock in sockets)
        logger.debug("loopback receiver listening on %s", self.redirect_uri)

    async def wait_for_callback(
        self, *, expected_state: str, timeout: float | None = 300.0
    ) -> dict[str, str]:
        """Wait for the browser's redirect back; return its query parameters.

        The first GET to the redirect path whose ``state`` equals ``expected_state``
        (compared with :func:`hmac.compare_digest`) wins: it is answered with the success
        page (the failure page if it carries ``error``) and its parameters are returned,
        one value each (``code``, ``state``, ``iss``, or ``error``,
        ``error_description``, ...). A callback that carries ``error`` is returned like
        any other: the caller's code exchange turns it into an
        :class:`~oauthflow.AuthorizationResponseError`.

        A request with a missing or wrong ``state``, a repeated parameter, or a query that
        is not UTF-8 gets a 400 failure page and is otherwise ignored: the wait goes on.
        Requests that arrive before this method is called are held until it is.

        Whatever the outcome (returned, timed out, cancelled), the receiver is closed
        before this method ends: RFC 8252 §8.3, "close it once the response is returned".
        It can be called once.

        Args:
            expected_state: the ``state`` sent in the authorization request.
            timeout: seconds to wait, or ``None`` to wait until cancelled.

        Raises:
            TimeoutError: no matching callback within ``timeout`` (the built-in
                ``TimeoutError``, which is ``asyncio.TimeoutError`` on Python 3.11+).
            ConfigurationError: an empty ``expected_state`` or a non-positive timeout.
            RuntimeError: not started, already waited on, or closed by :meth:`aclose`
                from another task while waiting.

        Cancellation: cancelling the wait closes the receiver; the CancelledError propagates
        once its sockets are closed (the close is shielded, so a second cancellation cannot
        stop it). A callback arriving later finds no listener.
        """
        if not isinstance(expected_state, str) or not expected_state:
            raise ConfigurationError("expected_state must be a non-empty string")
        if timeout is not None and not timeout > 0:
            raise ConfigurationError("timeout must be a positive number of seconds, or None")
        if self._runner is None or self._closed:
            raise RuntimeError("the LoopbackReceiver is not listening")
        if self._result is not None:
            raise RuntimeError("wait_for_callback can be called once per LoopbackReceiver")
        self._result = asyncio.get_running_loop().create_future()
        self._expected_state = expected_state.encode("utf-8")
        self._armed.set()
        try:
            if timeout is None:
                return await self._result
            return await asyncio.wait_for(self._result, timeout)
        except asyncio.TimeoutError:  # the built-in TimeoutError on 3.11+, not on 3.10
            raise TimeoutError(
                f"no authorization response reached {self.redirect_uri} within {timeout} s"
            ) from None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and release held requests (they get 410). Idempotent.

        A :meth:`wait_for_callback` still waiting in another task fails with RuntimeError.

        Cancellation: the close runs in a task of its own, shielded: cancelling the caller
        does not interrupt it (the sockets still get closed).
        """
        if self._closing is None:
            self._closed = True
            self._armed.set()
            if self._result is not None and not self._result.done():
                self._result.set_exception(
                    RuntimeError("the LoopbackReceiver was closed before the callback arrived")
                )
            self._closing = asyncio.ensure_future(self._shut_down())
        await asyncio.shield(self._closing)

    async def _shut_down(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the listening sockets first
        logger.debug("loopback receiver closed")

    # -- requests ---------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.stats.requests += 1
        if request.rel_url.raw_path != self._path:
            self.stats.not_found += 1
            return html_response(404, NOT_FOUND_PAGE)
        if request.method != "GET":
            self.stats.not_found += 1
            return html_response(405, NOT_FOUND_PAGE, {"Allow": "GET"})
        await self._armed.wait()
        result = self._result
        if self._claimed or self._closed or result is None or result.done():
            self.stats.gone += 1
            return html_response(410, GONE_PAGE)
        params = _single_values(request.rel_url.raw_query_string)
        if params is None or not self._state_matches(params.get("state")):
            self.stats.ignored += 1
            logger.warning(
                "ignored a request to the loopback redirect URI without the expected state"
            )
            return html_response(400, self._failure_page)
        self._claimed = True  # before any await: a concurrent request now gets 410
        page = self._failure_page if "error" in params else self._success_page
        response = html_response(200, page)
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            if not result.done():
                result.set_result(params)
        return response

    def _state_matches(self, state: str | None) -> bool:
        """RFC 6749 §10.12: the client "MUST implement CSRF protection for its redirection
        URI" by checking the ``state`` it sent; compared in constant time."""
        expected = self._expected_state
        if state is None or expected is None:
            return False
        return hmac.compare_digest(state.encode("utf-8"), expected)


def _single_values(query: str) -> dict[str, str] | None:
    """The query as name -> value, or ``None`` if malformed or a name repeats.

    RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    """
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, encoding="utf-8", errors="strict",
            max_num_fields=_MAX_PARAMS,
        )
    except ValueError:  # too many fields, or not UTF-8 (UnicodeDecodeError)
        return None
    params = dict(pairs)
    return params if len(params) == len(pairs) else None


def _check_path(path: str) -> str:
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ConfigurationError(
            "path must start with '/' and hold only letters, digits, '-', '.', '_', '~' "
            "and '/'"
        )
    return path
