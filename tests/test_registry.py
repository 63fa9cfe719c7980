"""TokenRegistry against real token endpoints and APIs on 127.0.0.1 (integration).

Concurrency is made deterministic by holding the token endpoint on ``fake.gate``; eviction
by idle time runs on a ManualClock. What each key asked for is checked at the server.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from oauthflow import (
    BearerAuthMiddleware,
    ClientConfig,
    ConfigurationError,
    ManualClock,
    MemoryTokenStore,
    RenewalEvent,
    ServerMetadata,
    TokenEventListener,
    TokenUnavailableError,
    Transport,
)
from oauthflow.registry import RegistryTokenSource, TokenRegistry
from oauthflow.token_key import TokenKey
from tests.support.fake_server import CLIENT_ID, CLIENT_SECRET, FakeServer

pytestmark = pytest.mark.asyncio

CLIENT = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
API1, API2 = "https://api1.example", "https://api2.example"


def cc_registry(fake: FakeServer, **kwargs: Any) -> TokenRegistry:
    return TokenRegistry.for_client_credentials(
        client=CLIENT, token_endpoint=fake.token_endpoint, **kwargs)


def form_of(body: bytes) -> list[tuple[str, str]]:
    """Every member of a form body, repeated names included (``resource`` may repeat)."""
    return parse_qsl(body.decode(), keep_blank_values=True)


async def token_requests_arrived(fake: FakeServer, count: int) -> None:
    """Wait (bounded) until ``count`` token requests reached the fake server."""
    while True:
        fake.token_request_arrived.clear()
        if fake.token_calls >= count:
            return
        await asyncio.wait_for(fake.token_request_arrived.wait(), 5)


async def test_three_keys_times_1000_concurrent_gets_make_exactly_three_requests(
    fake: FakeServer,
) -> None:
    fake.gate = asyncio.Event()
    # Each key is spelled two ways (order, duplicates): normalisation maps both to one key.
    spellings: list[list[dict[str, Any]]] = [
        [{"scope": ["read", "write"], "resource": [API1]},
         {"scope": ["write", "read", "read"], "resource": [API1]}],
        [{"scope": ["read"], "resource": [API2, API1]},
         {"scope": ["read"], "resource": [API1, API2]}],
        [{"extra_params": {"audience": "urn:api3"}},
         {"extra_params": [("audience", "urn:api3")], "scope": []}],
    ]
    async with cc_registry(fake, clock=ManualClock()) as registry:
        calls = [registry.get(**spellings[k][n % 2]) for n in range(1000) for k in range(3)]
        gets = asyncio.gather(*calls)
        await token_requests_arrived(fake, 3)
        fake.gate.set()
        tokens = await asyncio.wait_for(gets, 10)
        assert fake.token_calls == 3
        per_key = [{token.access_token for token in tokens[k::3]} for k in range(3)]
        assert all(len(same) == 1 for same in per_key)
        assert len(set.union(*per_key)) == 3
        assert [manager.stats.waits for _, manager in registry.entries()] == [1000] * 3
    forms = sorted(
        sorted((k, v) for k, v in form_of(seen.body) if k in {"scope", "resource", "audience"})
        for seen in fake.token_requests
    )
    assert forms == sorted([
        [("resource", API1), ("scope", "read write")],
        [("resource", API1), ("resource", API2), ("scope", "read")],
        [("audience", "urn:api3")],
    ])
    assert all(dict(form_of(s.body))["grant_type"] == "client_credentials"
               for s in fake.token_requests)


async def test_keys_normalise_and_hide_parameter_values_except_audience() -> None:
    key = TokenKey.of(["b", "a", "a"], ["https://z", "https://y"],
                      [("audience", "urn:x"), ("api_key", "SECRET-VALUE")])
    assert key == TokenKey.of(["a", "b"], ["https://y", "https://z"],
                              {"api_key": "SECRET-VALUE", "audience": "urn:x"})
    assert key.scope == ("a", "b")
    assert key.resource == ("https://y", "https://z")
    assert key.extra_params == (("api_key", "SECRET-VALUE"), ("audience", "urn:x"))
    assert TokenKey.of([]) == TokenKey.of(None)  # no scope parameter either way
    assert key != TokenKey.of(["a"], ["https://y", "https://z"], {"audience": "urn:x"})
    assert repr(key) == ("TokenKey(scope='a b', resource='https://y https://z', "
                         "audience='urn:x', params='api_key')")
    assert key.attributes() == {"oauthflow.scope": "a b",
                                "oauthflow.resource": "https://y https://z",
                                "oauthflow.audience": "urn:x", "oauthflow.params": "api_key"}
    for bad in ({"scope": "a b"}, {"resource": "https://y"}, {"scope": ["a", 1]},
                {"extra_params": [["audience", "x"]]}):
        with pytest.raises(ConfigurationError):
            TokenKey.of(**bad)


async def test_lru_eviction_closes_the_manager_and_a_later_get_recreates_it(
    fake: FakeServer,
) -> None:
    async with cc_registry(fake, max_entries=2) as registry:
        first = registry.manager(scope=["a"])
        token_a = await registry.get(scope=["a"])
        await registry.get(scope=["b"])
        first_b = registry.manager(scope=["b"])
        await registry.get(scope=["a"])  # "a" is now the most recently used
        await registry.get(scope=["c"])  # evicts "b", the least recently used
        assert [key.scope for key, _ in registry.entries()] == [("a",), ("c",)]
        assert first is registry.entries()[0][1]  # entries() does not touch the LRU order
        second_b = registry.manager(scope=["b"])  # re-created, evicting "a" (LRU now)
        assert second_b is not first_b
        await asyncio.sleep(0)  # the background closes of "b" and "a" run
        for closed in (first, first_b):
            with pytest.raises(TokenUnavailableError):
                await closed.get()
        assert fake.token_calls == 3
        token_a2 = await registry.get(scope=["a"])  # re-created: a new token request
        assert token_a2.access_token != token_a.access_token
        assert fake.token_calls == 4
        assert [form_of(s.body)[1] for s in fake.token_requests] == [
            ("scope", "a"), ("scope", "b"), ("scope", "c"), ("scope", "a")]
        assert [key.scope for key, _ in registry.entries()] == [("b",), ("a",)]


async def test_a_key_with_a_waiting_get_is_never_evicted(fake: FakeServer) -> None:
    async with cc_registry(fake, max_entries=1) as registry:
        await registry.get(scope=["b"])
        fake.gate = asyncio.Event()
        fake.token_request_arrived.clear()
        waiting = asyncio.ensure_future(registry.get(scope=["a"]))  # evicts idle "b"
        await asyncio.wait_for(fake.token_request_arrived.wait(), 5)
        busy = registry.manager(scope=["a"])
        registry.manager(scope=["c"])  # over the bound, but "a" is waited on: kept
        await asyncio.sleep(0)
        assert sorted(key.scope or () for key, _ in registry.entries()) == [("a",), ("c",)]
        fake.gate.set()
        token = await asyncio.wait_for(waiting, 5)
        assert busy.current is token
        registry.manager(scope=["c"])  # next access: "a" is idle now and goes
        assert [key.scope for key, _ in registry.entries()] == [("c",)]
        await asyncio.sleep(0)
        with pytest.raises(TokenUnavailableError):
            await busy.get()


async def test_idle_keys_are_evicted_after_idle_ttl(fake: FakeServer) -> None:
    clock = ManualClock()
    async with cc_registry(fake, clock=clock, idle_ttl=60) as registry:
        await registry.get(scope=["a"])
        clock.advance(30)
        await registry.get(scope=["b"])
        clock.advance(31)  # "a" idle for 61 s, "b" for 31 s
        await registry.get(scope=["b"])
        assert [key.scope for key, _ in registry.entries()] == [("b",)]
        await registry.get(scope=["a"])
        assert fake.token_calls == 3


async def test_idle_keys_go_even_if_the_registry_is_not_called_again(fake: FakeServer) -> None:
    async with cc_registry(fake, idle_ttl=0.05) as registry:
        tokens = registry.manager(scope=["a"])
        await registry.get(scope=["a"])

        async def emptied() -> None:  # the registry's own timer empties it: poll, bounded
            while len(registry):  # noqa: ASYNC110 - no event to wait on; a loop timer acts
                await asyncio.sleep(0.01)

        await asyncio.wait_for(emptied(), 5)
        await asyncio.sleep(0)
        with pytest.raises(TokenUnavailableError):
            await tokens.get()


async def test_aclose_closes_every_manager_but_not_a_transport_it_was_given(
    fake: FakeServer,
) -> None:
    async with Transport() as transport:
        registry = cc_registry(fake, transport=transport)
        managers = [registry.manager(scope=[name]) for name in ("a", "b")]
        await registry.get(scope=["a"])
        await registry.aclose()
        for manager in managers:
            with pytest.raises(TokenUnavailableError):
                await manager.get()
        with pytest.raises(TokenUnavailableError):
            await registry.get(scope=["a"])
        assert repr(registry) == "<TokenRegistry closed, max_entries=64>"
        # the injected transport still works
        other = TokenRegistry.for_client_credentials(
            client=CLIENT, server=ServerMetadata(issuer=fake.base_url,
                                                 token_endpoint=fake.token_endpoint),
            transport=transport)
        async with other:
            await other.get(scope=["a"])
        assert fake.token_calls == 2


async def test_stores_and_listeners_are_per_key(fake: FakeServer) -> None:
    stores: dict[TokenKey, MemoryTokenStore] = {}
    events: list[tuple[TokenKey, str]] = []

    class Recorder(TokenEventListener):
        def __init__(self, key: TokenKey) -> None:
            self.key = key

        def on_renewal(self, event: RenewalEvent) -> None:
            events.append((self.key, event.outcome))

    def store_for(key: TokenKey) -> MemoryTokenStore:
        return stores.setdefault(key, MemoryTokenStore())

    def listeners_for(key: TokenKey) -> list[Recorder]:
        return [Recorder(key)]

    async with cc_registry(fake, store_for=store_for, listeners_for=listeners_for) as registry:
        token_a = await registry.get(scope=["a"])
        token_b = await registry.get(scope=["b"])
    assert await stores[TokenKey.of(["a"])].load() is token_a
    assert await stores[TokenKey.of(["b"])].load() is token_b
    assert events == [(TokenKey.of(["a"]), "renewed"), (TokenKey.of(["b"]), "renewed")]


async def test_configuration_is_checked_before_any_request(fake: FakeServer) -> None:
    with pytest.raises(ConfigurationError):
        cc_registry(fake, store=MemoryTokenStore())
    with pytest.raises(ConfigurationError):
        TokenRegistry.for_client_credentials(client=CLIENT)
    with pytest.raises(ConfigurationError):
        TokenRegistry.for_client_credentials(client=CLIENT, token_endpoint="http://as.example/t")
    for bad in (0, -1, True):
        with pytest.raises(ConfigurationError):
            cc_registry(fake, max_entries=bad)
    with pytest.raises(ConfigurationError):
        cc_registry(fake, idle_ttl=0)
    async with cc_registry(fake) as registry:
        with pytest.raises(ConfigurationError):
            registry.source(scope=["not valid"])  # a space inside a scope token
        with pytest.raises(ConfigurationError):
            await registry.get(extra_params={"grant_type": "password"})
        with pytest.raises(ConfigurationError):
            await registry.get(resource=["not-a-uri"])
        assert len(registry) == 0
    assert fake.token_calls == 0


# -- one middleware per API origin, each with its own audience ------------------------------


@dataclass
class AudienceServer:
    """A token endpoint that issues ``tok-<audience>-<n>`` and APIs that check the audience."""

    token_endpoint: str = ""
    issued: dict[str, set[str]] = field(default_factory=dict)  # audience -> valid tokens
    token_forms: list[list[tuple[str, str]]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)  # the client address of each request
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def token(self, request: web.Request) -> web.Response:
        form = form_of(await request.read())
        self.token_forms.append(form)
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername"))
        audience = dict(form)["audience"]
        value = f"tok-{audience}-{next(self.serial)}"
        self.issued.setdefault(audience, set()).add(value)
        return web.json_response({"access_token": value, "token_type": "Bearer",
                                  "expires_in": 3600})

    def api(self, audience: str) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.issued.get(audience, set()):
                return web.Response(status=401, headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token"'})
            return web.json_response({"token": token})

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        return app


@pytest_asyncio.fixture
async def audiences(
    aiohttp_server: AiohttpServer,
) -> AsyncIterator[tuple[AudienceServer, str, str]]:
    server = AudienceServer()
    auth = web.Application()
    auth.router.add_post("/token", server.token)
    auth_server = await aiohttp_server(auth, host="127.0.0.1")
    server.token_endpoint = str(auth_server.make_url("/token"))
    api1 = await aiohttp_server(server.api("api-1"), host="127.0.0.1")
    api2 = await aiohttp_server(server.api("api-2"), host="127.0.0.1")
    yield server, str(api1.make_url("")).rstrip("/"), str(api2.make_url("")).rstrip("/")


async def test_one_middleware_per_audience_against_two_api_origins(
    audiences: tuple[AudienceServer, str, str],
) -> None:
    server, api1, api2 = audiences
    registry = TokenRegistry.for_client_credentials(
        client=CLIENT, token_endpoint=server.token_endpoint)
    sources = [registry.source(extra_params={"audience": name}) for name in ("api-1", "api-2")]
    assert all(isinstance(source, RegistryTokenSource) for source in sources)
    middlewares = (BearerAuthMiddleware(sources[0], origins=[api1]),
                   BearerAuthMiddleware(sources[1], origins=[api2]))
    async with registry, aiohttp.ClientSession(middlewares=middlewares) as session:

        async def call(url: str) -> str:
            async with session.get(url) as response:
                assert response.status == 200
                body: dict[str, str] = await response.json()
                return body["token"]

        assert await call(f"{api1}/first") == "tok-api-1-1"
        seen = await asyncio.gather(*[call(f"{api}/x") for api in (api1, api2)] * 50)
        assert set(seen[0::2]) == {"tok-api-1-1"}
        assert set(seen[1::2]) == {"tok-api-2-2"}
        assert len(server.token_forms) == 2
        server.issued["api-1"].clear()  # api-1 revokes its tokens: its 401 renews api-1 only
        renewed = await asyncio.gather(*[call(f"{api1}/y") for _ in range(20)])
        assert set(renewed) == {"tok-api-1-3"}
        assert await call(f"{api2}/z") == "tok-api-2-2"
    assert len(server.token_forms) == 3
    assert dict(server.token_forms[2])["audience"] == "api-1"
    assert len(set(server.peers)) == 1  # one shared transport: one pooled connection
