"""The RFC 8252 loopback receiver, over real HTTP on 127.0.0.1 and ::1 (integration).

Includes the proof that it is unreachable on every non-loopback address of this machine,
and a CLI-style login against oauthflow.testing's authorization server.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from yarl import URL

from oauthflow import ClientConfig, ConfigurationError, ServerMetadata, Transport, request_token
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.flows.introspection import introspect_token
from oauthflow.flows.revocation import revoke_token
from oauthflow.loopback import (
    DEFAULT_FAILURE_PAGE,
    DEFAULT_SUCCESS_PAGE,
    LoopbackReceiver,
    LoopbackStats,
    open_browser,
)
from oauthflow.testing import AuthorizationServer
from tests.support.addresses import listening_addresses, non_loopback_addresses
from tests.testing._util import pkce_pair

STATE = "S7aTe-0123456789abcdefghijklmnopqrstuv"
TIMEOUT = aiohttp.ClientTimeout(total=10)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = _ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not IPV6, reason="this machine has no IPv6 loopback (::1)")


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[LoopbackReceiver]:
    async with LoopbackReceiver() as started:
        yield started


async def get(
    http: aiohttp.ClientSession, url: str | URL, method: str = "GET"
) -> tuple[int, dict[str, str], str]:
    async with http.request(method, url) as response:
        return response.status, dict(response.headers), await response.text()


def callback(receiver: LoopbackReceiver, **params: str) -> str:
    return receiver.redirect_uri + "?" + urlencode(params)


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait (bounded, 5 s) until ``predicate()`` holds: for requests to reach the receiver."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


async def reachable(host: str, port: int) -> bool:
    """Whether a TCP connection to ``(host, port)`` is accepted."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


def port_of(receiver: LoopbackReceiver) -> int:
    return receiver.bound_addresses[0][1]


# --- where it listens -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_redirect_uri_uses_the_ip_literal_and_an_ephemeral_port(
    receiver: LoopbackReceiver,
) -> None:
    port = port_of(receiver)
    assert receiver.redirect_uri == f"http://127.0.0.1:{port}/callback"
    expected = [("127.0.0.1", port), ("::1", port)] if IPV6 else [("127.0.0.1", port)]
    assert list(receiver.bound_addresses) == expected
    assert port != 0


@pytest.mark.asyncio
async def test_the_kernel_sees_only_loopback_listeners(receiver: LoopbackReceiver) -> None:
    for address, _ in receiver.bound_addresses:
        assert ipaddress.ip_address(address).is_loopback
    kernel_view = listening_addresses(port_of(receiver))
    if kernel_view is None:
        pytest.skip("no /proc/net/tcp on this system; bound_addresses checked above")
    assert sorted(kernel_view) == sorted(address for address, _ in receiver.bound_addresses)


@contextmanager
def all_interfaces_listener() -> Iterator[int]:
    """A control listener on every interface (IPv4 and, if any, IPv6) on one free port."""
    sockets = [socket.create_server(("0.0.0.0", 0))]  # noqa: S104 - the control case
    port = sockets[0].getsockname()[1]
    if socket.has_ipv6:
        with suppress(OSError):  # no IPv6, or the port is taken there
            sockets.append(socket.create_server(("::", port), family=socket.AF_INET6))
    try:
        yield port
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.asyncio
async def test_not_reachable_on_any_non_loopback_address(receiver: LoopbackReceiver) -> None:
    addresses = non_loopback_addresses()
    if not addresses:
        pytest.skip("this machine has no non-loopback address to test against")
    # Control: a listener on all interfaces IS reachable through these addresses, so a
    # refused connection below means "not listening there", not "probe broken".
    with all_interfaces_listener() as control_port:
        witnesses = [a for a in addresses if await reachable(a, control_port)]
    if not witnesses:
        pytest.skip(f"none of {addresses} accepts local connections even for a listener "
                    "on all interfaces (firewall?)")
    port = port_of(receiver)
    assert await reachable("127.0.0.1", port)
    reached = [address for address in witnesses if await reachable(address, port)]
    assert reached == [], f"the receiver answered on non-loopback addresses {reached}"


@pytest.mark.asyncio
@needs_ipv6
async def test_callback_over_ipv6_on_the_same_port(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    port = port_of(receiver)
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE, timeout=10))
    status, _, _ = await get(http, f"http://[::1]:{port}/callback?code=c6&state={STATE}")
    assert status == 200
    assert await waiting == {"code": "c6", "state": STATE}


@pytest.mark.asyncio
@needs_ipv6
async def test_ipv6_host(http: aiohttp.ClientSession) -> None:
    async with LoopbackReceiver(host="::1", path="/cb") as receiver:
        port = port_of(receiver)
        assert receiver.redirect_uri == f"http://[::1]:{port}/cb"
        assert receiver.bound_addresses == (("::1", port),)
        waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE))
        status, _, _ = await get(http, f"{receiver.redirect_uri}?code=x&state={STATE}")
        assert (status, await waiting) == (200, {"code": "x", "state": STATE})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.asyncio
async def test_fixed_port_and_ipv4_only() -> None:
    port = _free_port()
    async with LoopbackReceiver(port=port, also_ipv6=False) as receiver:
        assert receiver.redirect_uri == f"http://127.0.0.1:{port}/callback"
        assert receiver.bound_addresses == (("127.0.0.1", port),)


@pytest.mark.asyncio
@needs_ipv6
async def test_ipv6_port_taken_means_ipv4_only() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        squatter.bind(("::1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        async with LoopbackReceiver(port=port) as receiver:
            assert receiver.bound_addresses == (("127.0.0.1", port),)


@pytest.mark.asyncio
async def test_fixed_port_in_use_raises_oserror() -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        receiver = LoopbackReceiver(port=port)
        with pytest.raises(OSError, match="in use") as caught:
            await receiver.start()
        assert caught.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": "localhost"}, {"host": "0.0.0.0"}, {"host": "::"},  # noqa: S104
        {"host": "192.0.2.1"}, {"host": "::ffff:127.0.0.1"}, {"host": "127.0.0.1:80"},
        {"path": "callback"}, {"path": "/cb?x=1"}, {"path": "/c b"}, {"path": "/cb#f"},
        {"path": "/%63b"}, {"port": -1}, {"port": 65536}, {"port": True},
    ],
    ids=lambda kwargs: "-".join(f"{k}={v}" for k, v in kwargs.items()),
)
def test_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        LoopbackReceiver(**kwargs)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_other_loopback_ipv4_addresses_are_allowed() -> None:
    async with LoopbackReceiver(host="127.0.0.1", also_ipv6=False) as first:
        assert first.redirect_uri.startswith("http://127.0.0.1:")
    # 127.0.0.2 needs the whole 127/8 routed to lo (Linux yes, macOS no).
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("127.0.0.2 is not usable on this machine")
    async with LoopbackReceiver(host="127.0.0.2", also_ipv6=False) as receiver:
        assert receiver.bound_addresses[0][0] == "127.0.0.2"


# --- state, paths and one-shot ------------------------------------------------------------


@pytest.mark.asyncio
async def test_bad_state_is_ignored_then_the_right_state_is_accepted(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE, timeout=10))
    bad = [
        callback(receiver, code="evil", state="wrong"),
        callback(receiver, code="evil"),
        callback(receiver, code="evil", state=STATE[:-1]),
        callback(receiver, code="evil", state=STATE + "x"),
        callback(receiver, code="evil", state=""),
        f"{callback(receiver, code='evil', state=STATE)}&state={STATE}",  # repeated
        f"{callback(receiver, state=STATE)}&code=a&code=b",  # repeated code
        receiver.redirect_uri + "?error=access_denied&state=wrong",
    ]
    for url in bad:
        status, headers, body = await get(http, url)
        assert (status, body) == (400, DEFAULT_FAILURE_PAGE), url
        assert {k: headers[k] for k in SECURITY_HEADERS} == SECURITY_HEADERS
        assert not waiting.done()
    non_utf8 = URL(f"{receiver.redirect_uri}?code=x&state=%FF{STATE}", encoded=True)
    assert (await get(http, non_utf8))[0] == 400
    status, _, body = await get(http, callback(receiver, code="good", state=STATE, iss="x"))
    assert (status, body) == (200, DEFAULT_SUCCESS_PAGE)
    assert await waiting == {"code": "good", "state": STATE, "iss": "x"}
    assert receiver.stats == LoopbackStats(requests=10, ignored=9, not_found=0, gone=0)


@pytest.mark.asyncio
async def test_other_paths_and_methods_do_not_end_the_wait(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE, timeout=10))
    base = receiver.redirect_uri.removesuffix("/callback")
    for path in ("/", "/favicon.ico", "/callback/", "/callbackx", "/Callback", "/%63allback"):
        status, _, _ = await get(http, URL(f"{base}{path}?code=c&state={STATE}", encoded=True))
        assert status == 404, path
    for method in ("POST", "HEAD", "PUT"):
        status, headers, _ = await get(http, callback(receiver, code="c", state=STATE), method)
        assert (status, headers["Allow"]) == (405, "GET")
    assert not waiting.done()
    assert (await get(http, callback(receiver, code="c", state=STATE)))[0] == 200
    assert await waiting == {"code": "c", "state": STATE}
    assert receiver.stats == LoopbackStats(requests=10, ignored=0, not_found=9, gone=0)


@pytest.mark.asyncio
async def test_requests_before_the_wait_are_held_then_judged(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    early_bad = asyncio.create_task(get(http, callback(receiver, code="e", state="nope")))
    early = asyncio.create_task(get(http, callback(receiver, code="early", state=STATE)))
    await until(lambda: receiver.stats.requests == 2, "two requests to be held")
    assert not early.done()
    assert not early_bad.done()
    params = await receiver.wait_for_callback(expected_state=STATE, timeout=10)
    assert params == {"code": "early", "state": STATE}
    assert (await early)[0] == 200
    assert (await early_bad)[0] == 400


@pytest.mark.asyncio
async def test_one_shot_a_second_matching_request_gets_410(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(get(http, callback(receiver, code="one", state=STATE)))
    second = asyncio.create_task(get(http, callback(receiver, code="two", state=STATE)))
    await until(lambda: receiver.stats.requests == 2, "two requests to be held")
    params = await receiver.wait_for_callback(expected_state=STATE, timeout=10)
    statuses = sorted([(await first)[0], (await second)[0]])
    assert statuses == [200, 410]
    assert params["code"] in {"one", "two"}
    assert receiver.stats.gone == 1
    # ... and then the port is closed (RFC 8252 §8.3: "close it once the response is returned")
    assert not await reachable("127.0.0.1", port_of(receiver))
    with pytest.raises(RuntimeError):
        await receiver.wait_for_callback(expected_state=STATE)


@pytest.mark.asyncio
async def test_many_concurrent_matching_requests_one_wins(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE, timeout=10))

    async def attempt(n: int) -> int | str:
        try:
            return (await get(http, callback(receiver, code=f"c{n}", state=STATE)))[0]
        except aiohttp.ClientError as exc:  # arrived after the port was closed
            return type(exc).__name__

    outcomes = await asyncio.gather(*(attempt(n) for n in range(20)))
    params = await waiting
    assert outcomes.count(200) == 1
    assert all(outcome in (200, 410) or isinstance(outcome, str) for outcome in outcomes)
    winner = outcomes.index(200)
    assert params == {"code": f"c{winner}", "state": STATE}


@pytest.mark.asyncio
async def test_error_callback_gets_the_failure_page_and_is_returned(
    http: aiohttp.ClientSession,
) -> None:
    async with LoopbackReceiver(success_page="<p>yes</p>", failure_page="<p>no</p>") as rcv:
        waiting = asyncio.create_task(rcv.wait_for_callback(expected_state=STATE, timeout=10))
        url = callback(rcv, error="access_denied", error_description="The user said no",
                       state=STATE, iss="https://as.example")
        status, headers, body = await get(http, url)
        assert (status, body) == (200, "<p>no</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert await waiting == {"error": "access_denied", "error_description": "The user said no",
                                 "state": STATE, "iss": "https://as.example"}


@pytest.mark.asyncio
async def test_custom_success_page_with_security_headers(http: aiohttp.ClientSession) -> None:
    async with LoopbackReceiver(success_page="<h1>Done</h1>") as rcv:
        waiting = asyncio.create_task(rcv.wait_for_callback(expected_state=STATE, timeout=10))
        status, headers, body = await get(http, callback(rcv, code="SECRET-CODE", state=STATE))
        await waiting
    assert (status, body) == (200, "<h1>Done</h1>")
    assert {k: headers[k] for k in SECURITY_HEADERS} == SECURITY_HEADERS
    assert headers["Connection"] == "close"


def test_default_pages_are_self_contained() -> None:
    for page in (DEFAULT_SUCCESS_PAGE, DEFAULT_FAILURE_PAGE):
        lowered = page.lower()
        for marker in ("http", "src=", "<script", "<link", "<img", "url(", "@import"):
            assert marker not in lowered


@pytest.mark.asyncio
async def test_no_code_or_state_in_any_log_record(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with LoopbackReceiver() as rcv:
        waiting = asyncio.create_task(rcv.wait_for_callback(expected_state=STATE, timeout=10))
        await get(http, callback(rcv, code="CODE-BAD-777", state="STATE-BAD-777"))
        await get(http, callback(rcv, code="CODE-GOOD-888", state=STATE))
        await waiting
    messages = [record.getMessage() for record in caplog.records]
    assert any("without the expected state" in message for message in messages)
    for message in messages:
        for secret in ("CODE-BAD-777", "STATE-BAD-777", "CODE-GOOD-888", STATE):
            assert secret not in message


# --- timeout, cancellation, closing -------------------------------------------------------


@pytest.mark.asyncio
async def test_timeout_raises_timeout_error_and_closes(receiver: LoopbackReceiver) -> None:
    with pytest.raises(TimeoutError) as caught:
        await receiver.wait_for_callback(expected_state=STATE, timeout=0.2)
    assert type(caught.value) is TimeoutError  # the built-in, on 3.10 too
    assert "0.2" in str(caught.value)
    for address, port in receiver.bound_addresses:
        assert not await reachable(address, port)


@pytest.mark.asyncio
async def test_cancelling_the_wait_closes_the_sockets(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    addresses = receiver.bound_addresses
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE))
    # a wrong state is answered (not held): the wait is in progress
    assert (await get(http, callback(receiver, code="c", state="wrong")))[0] == 400
    for address, port in addresses:
        assert await reachable(address, port)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert repr(receiver).endswith(", closed)")
    for address, port in addresses:
        assert not await reachable(address, port)


@pytest.mark.asyncio
async def test_a_second_cancellation_does_not_stop_the_close(
    receiver: LoopbackReceiver, http: aiohttp.ClientSession
) -> None:
    addresses = receiver.bound_addresses
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE))
    assert (await get(http, callback(receiver, code="c", state="wrong")))[0] == 400
    waiting.cancel()
    await asyncio.sleep(0)  # the wait is now closing the receiver, in its finally block
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await receiver.aclose()  # waits for the close already under way
    for address, port in addresses:
        assert not await reachable(address, port)


@pytest.mark.asyncio
async def test_closing_releases_held_requests_with_410(http: aiohttp.ClientSession) -> None:
    receiver = LoopbackReceiver()
    await receiver.start()
    held = asyncio.create_task(get(http, callback(receiver, code="c", state=STATE)))
    await until(lambda: receiver.stats.requests == 1, "the request to be held")
    await receiver.aclose()
    assert (await held)[0] == 410
    await receiver.aclose()  # idempotent


@pytest.mark.asyncio
async def test_closing_from_another_task_fails_the_wait(receiver: LoopbackReceiver) -> None:
    waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE))
    await asyncio.sleep(0)
    await receiver.aclose()
    with pytest.raises(RuntimeError, match="closed before the callback"):
        await waiting


@pytest.mark.asyncio
async def test_lifecycle_misuse() -> None:
    receiver = LoopbackReceiver()
    with pytest.raises(RuntimeError):
        _ = receiver.redirect_uri
    with pytest.raises(RuntimeError):
        await receiver.wait_for_callback(expected_state=STATE)
    async with receiver:
        with pytest.raises(RuntimeError):
            await receiver.start()
        with pytest.raises(ConfigurationError):
            await receiver.wait_for_callback(expected_state="")
        with pytest.raises(ConfigurationError):
            await receiver.wait_for_callback(expected_state=STATE, timeout=0)
    with pytest.raises(RuntimeError):
        await receiver.start()
    assert repr(receiver).endswith(", closed)")


# --- open_browser ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_open_browser_runs_the_opener_in_a_thread() -> None:
    seen: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    def opener(url: str) -> bool:
        seen.append((url, threading.get_ident() != loop_thread))
        return True

    assert await open_browser("https://as.example/authorize?x=1", opener=opener)
    assert seen == [("https://as.example/authorize?x=1", True)]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "javascript:alert(1)", "/relative", "as.example/x", ""]
)
async def test_open_browser_refuses_other_urls(url: str) -> None:
    def opener(url: str) -> bool:
        raise AssertionError("must not be called")

    with pytest.raises(ConfigurationError):
        await open_browser(url, opener=opener)


# --- a CLI login against the local authorization server -------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", [None, "cli-secret"], ids=["public", "confidential"])
async def test_cli_login_against_the_testing_server(
    oauth_server: AuthorizationServer, http: aiohttp.ClientSession, secret: str | None
) -> None:
    oauth_server.register_client("cli", secret, redirect_uris=("http://127.0.0.1/callback",))
    verifier, challenge = pkce_pair()
    async with LoopbackReceiver() as receiver:
        url = oauth_server.authorization_endpoint + "?" + urlencode({
            "response_type": "code", "client_id": "cli", "redirect_uri": receiver.redirect_uri,
            "scope": "openid read", "state": STATE, "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        waiting = asyncio.create_task(receiver.wait_for_callback(expected_state=STATE,
                                                                 timeout=10))
        location = await oauth_server.authorize(url, user="alice", approve=True)
        assert location.startswith(receiver.redirect_uri + "?")
        status, _, page = await get(http, location)  # the browser follows the redirect
        params = await waiting
    assert (status, page) == (200, DEFAULT_SUCCESS_PAGE)
    assert set(params) == {"code", "state", "iss"}
    assert (params["state"], params["iss"]) == (STATE, oauth_server.issuer)
    client = ClientConfig(client_id="cli", client_secret=secret,
                          redirect_uri=receiver.redirect_uri)
    async with Transport() as transport:
        token = await request_token(transport, oauth_server.token_endpoint, client,
                                    "authorization_code", {
                                        "code": params["code"],
                                        "redirect_uri": receiver.redirect_uri,
                                        "code_verifier": verifier})
    assert token.refresh_token
    assert oauth_server.counters.grants["authorization_code"] == 1


@pytest.mark.asyncio
async def test_the_guides_flow_start_wait_exchange_revoke(
    oauth_server: AuthorizationServer, http: aiohttp.ClientSession
) -> None:
    """docs/guides/cli-loopback.md, against the local server: login, then sign out."""
    oauth_server.register_client("mycli")
    server = ServerMetadata.from_dict(oauth_server.metadata)
    client = ClientConfig(client_id="mycli")
    async with Transport() as transport:
        async with LoopbackReceiver() as receiver:
            pending = await start_authorization(
                transport, server, client, redirect_uri=receiver.redirect_uri,
                scope=["openid", "offline_access"])
            waiting = asyncio.create_task(
                receiver.wait_for_callback(expected_state=pending.state, timeout=10))
            location = await oauth_server.authorize(pending.url, user="alice")
            assert (await get(http, location))[0] == 200
            params = await waiting
        token = await exchange_code(transport, server, client, pending, params)
        assert token.refresh_token
        await revoke_token(transport, server, client, token)
        assert not (await introspect_token(transport, server, client, token.access_token)).active
    assert oauth_server.requests_seen("revoke")[0].form == {
        "token": token.refresh_token, "token_type_hint": "refresh_token", "client_id": "mycli"}
