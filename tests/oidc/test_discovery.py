"""Discovery: well-known URLs (OIDC and RFC 8414, issuers with a path), the exact-issuer
rule, member validation, and the TTL cache. Integration tests use the local server or a
small aiohttp app on 127.0.0.1 that records which paths were asked for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from oauthflow import (
    ConfigurationError,
    InvalidResponseError,
    ManualClock,
    ServerMetadata,
    Transport,
)
from oauthflow.oidc import ISSUER_MISMATCH, DiscoveryCache, discover
from oauthflow.oidc.discovery import discovery_urls, parse_discovery_document
from oauthflow.testing import AuthorizationServer

# -- URLs (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "urls"),
    [
        ("https://op.example", (
            "https://op.example/.well-known/openid-configuration",
            "https://op.example/.well-known/oauth-authorization-server",
        )),
        ("https://op.example/", (
            "https://op.example/.well-known/openid-configuration",
            "https://op.example/.well-known/oauth-authorization-server",
        )),
        ("https://op.example/tenant/v2", (
            "https://op.example/tenant/v2/.well-known/openid-configuration",
            "https://op.example/.well-known/openid-configuration/tenant/v2",
            "https://op.example/.well-known/oauth-authorization-server/tenant/v2",
        )),
        ("http://127.0.0.1:8080/realms/x", (
            "http://127.0.0.1:8080/realms/x/.well-known/openid-configuration",
            "http://127.0.0.1:8080/.well-known/openid-configuration/realms/x",
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server/realms/x",
        )),
    ],
)
def test_well_known_urls(issuer: str, urls: tuple[str, ...]) -> None:
    assert discovery_urls(issuer) == urls


@pytest.mark.parametrize(
    "issuer", ["http://op.example", "ftp://op.example", "https://op.example?x=1",
               "https://op.example#f", "op.example"],
)
def test_unacceptable_issuers_are_configuration_errors(issuer: str) -> None:
    with pytest.raises(ConfigurationError):
        discovery_urls(issuer)


# -- the document (pure) --------------------------------------------------------------------

ISSUER = "https://op.example"


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": True,
    }
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def test_a_valid_document_becomes_server_metadata() -> None:
    metadata = parse_discovery_document(document(), ISSUER)
    assert metadata == ServerMetadata.from_dict(document())
    assert metadata.extra["id_token_signing_alg_values_supported"] == ["RS256"]


BAD_DOCUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("other issuer", document(issuer="https://evil.example"), ISSUER_MISMATCH),
    ("issuer with a slash", document(issuer=ISSUER + "/"), ISSUER_MISMATCH),
    ("issuer case", document(issuer="https://OP.example"), ISSUER_MISMATCH),
    ("no issuer", document(issuer=None), InvalidResponseError.MISSING_FIELD),
    ("no token endpoint", document(token_endpoint=None), InvalidResponseError.MISSING_FIELD),
    ("no jwks_uri", document(jwks_uri=None), InvalidResponseError.MISSING_FIELD),
    ("http endpoint", document(token_endpoint="http://op.example/token"),
     InvalidResponseError.INVALID_FIELD_VALUE),
    ("endpoint not a string", document(userinfo_endpoint=["x"]),
     InvalidResponseError.INVALID_FIELD_TYPE),
    ("list not a list", document(response_types_supported="code"),
     InvalidResponseError.INVALID_FIELD_TYPE),
    ("list of non-strings", document(id_token_signing_alg_values_supported=["RS256", 1]),
     InvalidResponseError.INVALID_FIELD_TYPE),
    ("boolean not a boolean", document(require_pushed_authorization_requests="false"),
     InvalidResponseError.INVALID_FIELD_TYPE),
]


@pytest.mark.parametrize(
    ("doc", "code"), [case[1:] for case in BAD_DOCUMENTS], ids=[case[0] for case in BAD_DOCUMENTS]
)
def test_bad_documents_are_refused(doc: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_discovery_document(doc, ISSUER)
    assert caught.value.code == code


def test_jwks_uri_is_optional_in_rfc8414_metadata() -> None:
    metadata = parse_discovery_document(document(jwks_uri=None), ISSUER, openid=False)
    assert metadata.jwks_uri is None


# -- against the local server ---------------------------------------------------------------

@pytest.mark.asyncio
async def test_discover_the_local_server(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    metadata = await discover(transport, oauth_server.issuer)
    assert metadata == ServerMetadata.from_dict(oauth_server.metadata)
    seen = oauth_server.requests_seen("discovery")
    assert [(r.method, r.path) for r in seen] == [("GET", "/.well-known/openid-configuration")]
    assert seen[0].headers["Accept"] == "application/json"


@pytest.mark.asyncio
async def test_a_document_for_another_issuer_is_refused(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    forged = dict(oauth_server.metadata, issuer="https://evil.example")
    oauth_server.fail_next("discovery", status=200, body=json.dumps(forged).encode(),
                           content_type="application/json")
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, oauth_server.issuer)
    assert caught.value.code == ISSUER_MISMATCH == "issuer_mismatch"
    assert caught.value.status == 200


@pytest.mark.asyncio
async def test_the_issuer_must_match_exactly(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, oauth_server.issuer + "/")
    assert caught.value.code == ISSUER_MISMATCH


@pytest.mark.asyncio
async def test_cache_fetches_once_per_ttl_and_shares_concurrent_fetches(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    clock = ManualClock()
    cache = DiscoveryCache(transport, ttl=600, clock=clock)
    results = await asyncio.gather(*(cache.get(oauth_server.issuer) for _ in range(20)))
    assert len({id(result) for result in results}) == 1
    assert oauth_server.counters.requests["discovery"] == 1
    clock.advance(599)
    assert await cache.get(oauth_server.issuer) is results[0]
    assert oauth_server.counters.requests["discovery"] == 1
    clock.advance(1)
    await cache.get(oauth_server.issuer)
    assert oauth_server.counters.requests["discovery"] == 2
    cache.invalidate(oauth_server.issuer)
    await cache.get(oauth_server.issuer)
    assert oauth_server.counters.requests["discovery"] == 3


@pytest.mark.asyncio
async def test_cache_does_not_keep_failures(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    cache = DiscoveryCache(transport)
    oauth_server.fail_next("discovery", status=503)
    with pytest.raises(InvalidResponseError) as caught:
        await cache.get(oauth_server.issuer)
    assert (caught.value.code, caught.value.status) == (InvalidResponseError.UNEXPECTED_STATUS, 503)
    assert (await cache.get(oauth_server.issuer)).issuer == oauth_server.issuer
    assert oauth_server.counters.requests["discovery"] == 2


def test_cache_ttl_must_be_sane() -> None:
    with pytest.raises(ConfigurationError):
        DiscoveryCache(Transport(), ttl=-1)


# -- issuers with a path, fallbacks -----------------------------------------------------------


class Provider:
    """Serves a document at chosen paths only; records every path asked for."""

    def __init__(self) -> None:
        self.base = ""
        self.paths: list[str] = []
        self.serve_at: dict[str, tuple[int, Any]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        status, body = self.serve_at.get(request.path, (404, None))
        if body is None:
            return web.Response(status=status, text="not here")
        return web.json_response(body, status=status)

    def doc(self, issuer: str, **changes: Any) -> dict[str, Any]:
        return {"issuer": issuer, "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks", **changes}


@pytest_asyncio.fixture
async def provider(aiohttp_server: AiohttpServer) -> AsyncIterator[Provider]:
    fake = Provider()
    app = web.Application()
    app.router.add_get("/{tail:.*}", fake.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    fake.base = str(server.make_url("")).rstrip("/")
    yield fake


@pytest.mark.asyncio
async def test_rfc8414_fallback_for_an_issuer_with_a_path(
    provider: Provider, transport: Transport
) -> None:
    issuer = f"{provider.base}/tenant"
    provider.serve_at["/.well-known/oauth-authorization-server/tenant"] = (
        200, provider.doc(issuer, jwks_uri=None))
    metadata = await discover(transport, issuer)
    assert (metadata.issuer, metadata.jwks_uri) == (issuer, None)
    assert provider.paths == [
        "/tenant/.well-known/openid-configuration",
        "/.well-known/openid-configuration/tenant",
        "/.well-known/oauth-authorization-server/tenant",
    ]


@pytest.mark.asyncio
async def test_openid_configuration_inserted_before_the_path(
    provider: Provider, transport: Transport
) -> None:
    issuer = f"{provider.base}/tenant"
    provider.serve_at["/.well-known/openid-configuration/tenant"] = (200, provider.doc(issuer))
    metadata = await discover(transport, issuer)
    assert metadata.jwks_uri == f"{provider.base}/jwks"
    assert len(provider.paths) == 2


@pytest.mark.asyncio
async def test_an_openid_document_without_jwks_uri_is_refused(
    provider: Provider, transport: Transport
) -> None:
    issuer = f"{provider.base}/tenant"
    provider.serve_at["/tenant/.well-known/openid-configuration"] = (
        200, provider.doc(issuer, jwks_uri=None))
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, issuer)
    assert caught.value.code == InvalidResponseError.MISSING_FIELD


@pytest.mark.asyncio
async def test_a_server_error_is_reported_not_skipped(
    provider: Provider, transport: Transport
) -> None:
    provider.serve_at["/.well-known/openid-configuration"] = (500, None)
    provider.serve_at["/.well-known/oauth-authorization-server"] = (
        200, provider.doc(provider.base))
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, provider.base)
    assert (caught.value.code, caught.value.status) == (InvalidResponseError.UNEXPECTED_STATUS, 500)
    assert provider.paths == ["/.well-known/openid-configuration"]


@pytest.mark.asyncio
async def test_nothing_found_anywhere(provider: Provider, transport: Transport) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, provider.base)
    assert (caught.value.code, caught.value.status) == (InvalidResponseError.UNEXPECTED_STATUS, 404)
    assert caught.value.body_snippet == "not here"
    assert len(provider.paths) == 2


@pytest.mark.asyncio
async def test_a_document_that_is_not_an_object(provider: Provider, transport: Transport) -> None:
    provider.serve_at["/.well-known/openid-configuration"] = (200, [provider.doc(provider.base)])
    with pytest.raises(InvalidResponseError) as caught:
        await discover(transport, provider.base)
    assert caught.value.code == InvalidResponseError.RESPONSE_NOT_OBJECT
