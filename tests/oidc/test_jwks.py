"""The JWKS cache: key selection (pure), rotation, the refresh rate limit, single flight.

Integration tests count the JWKS requests the server received; the cache runs on a manual
clock, so the rate-limit interval is crossed without waiting.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from pytest_aiohttp import AiohttpServer

from oauthflow import (
    ConfigurationError,
    InvalidResponseError,
    ManualClock,
    ServerMetadata,
    Transport,
    TransportError,
)
from oauthflow.oidc import IdTokenError, JwksCache, validate_id_token
from oauthflow.oidc.jwks import parse_jwks, select_key
from oauthflow.testing import AuthorizationServer
from oauthflow.testing.bad_tokens import IdTokenForge

from ._support import WEB_CLIENT

NONCE = "n-" + "z" * 30


def public(key: RSAKey | ECKey | OKPKey, **members: Any) -> dict[str, Any]:
    jwk = dict(key.as_dict(private=False))
    jwk.update(members)
    return jwk


RSA_A = RSAKey.generate_key(2048, parameters={"kid": "rsa-a"})
RSA_B = RSAKey.generate_key(2048, parameters={"kid": "rsa-b"})
EC_A = ECKey.generate_key("P-256", parameters={"kid": "ec-a"})
EC_384 = ECKey.generate_key("P-384", parameters={"kid": "ec-384"})
ED = OKPKey.generate_key("Ed25519", parameters={"kid": "ed"})


# -- parsing and selection (pure) ---------------------------------------------------------


def test_unusable_keys_are_skipped_not_fatal() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    numbers = small.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    keys = parse_jwks({"keys": [
        public(RSA_A),
        {"kty": "RSA", "kid": "small", "n": b64(numbers.n), "e": b64(numbers.e)},
        public(EC_A, use="enc"),
        public(RSA_B, key_ops=["encrypt"]),
        dict(OctKey.generate_key(256, parameters={"kid": "oct"}).as_dict(private=True)),
        {"kty": "XYZ", "kid": "unknown-type"},
        {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "!!"},
        "not an object",
        public(ED, use="sig"),
    ]})
    assert [key.kid for key in keys] == ["rsa-a", "ed"]


def test_private_members_of_a_published_key_are_dropped() -> None:
    keys = parse_jwks({"keys": [dict(RSA_A.as_dict(private=True))]})
    assert len(keys) == 1
    assert not keys[0].is_private


@pytest.mark.parametrize(
    ("document", "code"),
    [({}, InvalidResponseError.MISSING_FIELD),
     ({"keys": {"kty": "RSA"}}, InvalidResponseError.INVALID_FIELD_TYPE)],
)
def test_a_document_without_a_keys_array_is_invalid(document: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        parse_jwks(document)
    assert caught.value.code == code


SELECTION: list[tuple[str, str | None, str | None]] = [
    ("RS256", "rsa-a", "rsa-a"),
    ("RS256", "rsa-b", "rsa-b"),
    ("PS256", "rsa-a", "rsa-a"),
    ("ES256", "ec-a", "ec-a"),
    ("ES256", None, "ec-a"),  # one P-256 key: no kid needed
    ("ES384", None, "ec-384"),  # the curve decides
    ("ES256", "ec-384", None),  # a P-384 key never verifies ES256
    ("RS256", "ec-a", None),  # an EC key never verifies RS256
    ("ES256", "rsa-a", None),
    ("EdDSA", None, "ed"),
    ("Ed25519", "ed", "ed"),
    ("RS256", "unknown", None),
]


@pytest.mark.parametrize(("alg", "kid", "expected"), SELECTION)
def test_a_key_is_selected_by_kid_alg_and_curve(
    alg: str, kid: str | None, expected: str | None
) -> None:
    keys = parse_jwks({"keys": [public(k) for k in (RSA_A, RSA_B, EC_A, EC_384, ED)]})
    key = select_key(keys, alg, kid)
    assert (key.kid if key is not None else None) == expected


def test_no_kid_and_several_candidates_is_ambiguous() -> None:
    keys = parse_jwks({"keys": [public(RSA_A), public(RSA_B)]})
    with pytest.raises(IdTokenError) as caught:
        select_key(keys, "RS256", None)
    assert caught.value.code == IdTokenError.KID_AMBIGUOUS


def test_the_key_alg_member_restricts_the_key() -> None:
    keys = parse_jwks({"keys": [public(RSA_A, alg="PS256"), public(RSA_B, alg="RS256")]})
    selected = select_key(keys, "RS256", None)
    assert selected is not None
    assert selected.kid == "rsa-b"
    assert select_key(keys, "RS256", "rsa-a") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [({"min_refresh_interval": -1}, "min_refresh_interval"),
     ({"max_age": float("nan")}, "max_age")],
)
def test_bad_settings_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        JwksCache(Transport(), "https://op.example/jwks", **options)


def test_for_server_needs_a_jwks_uri_and_takes_the_advertised_algorithms() -> None:
    with pytest.raises(ConfigurationError):
        JwksCache.for_server(Transport(), ServerMetadata(token_endpoint="https://op.example/t"))
    server = ServerMetadata.from_dict({
        "token_endpoint": "https://op.example/t", "jwks_uri": "https://op.example/jwks",
        "id_token_signing_alg_values_supported": ["ES256"],
    })
    cache = JwksCache.for_server(Transport(), server)
    assert (cache.jwks_uri, cache.algorithms) == ("https://op.example/jwks", frozenset({"ES256"}))


# -- rotation and the refresh rate limit (integration) -------------------------------------


async def check(token: str, jwks: JwksCache, server: AuthorizationServer) -> str:
    claims = await validate_id_token(
        token, jwks=jwks, issuer=server.issuer, client_id=WEB_CLIENT, nonce=NONCE
    )
    return claims.sub


@pytest.mark.asyncio
async def test_provider_key_rotation_is_picked_up_without_a_restart(
    oauth_server: AuthorizationServer, jwks: JwksCache, clock: ManualClock
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT, nonce=NONCE)
    assert await check(forge.sign(), jwks, oauth_server) == "alice"
    assert oauth_server.counters.requests["jwks"] == 1
    clock.advance(61)
    oauth_server.rotate_keys(alg="ES256")
    assert await check(forge.sign(), jwks, oauth_server) == "alice"  # new kid -> one refetch
    assert oauth_server.counters.requests["jwks"] == 2
    assert await check(forge.sign(), jwks, oauth_server) == "alice"  # and it stays known
    assert oauth_server.counters.requests["jwks"] == 2


@pytest.mark.asyncio
async def test_a_rotation_inside_the_interval_waits_for_the_interval(
    oauth_server: AuthorizationServer, jwks: JwksCache, clock: ManualClock
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT, nonce=NONCE)
    await check(forge.sign(), jwks, oauth_server)
    oauth_server.rotate_keys(alg="RS256")
    with pytest.raises(IdTokenError) as caught:
        await check(forge.sign(), jwks, oauth_server)
    assert caught.value.code == IdTokenError.UNKNOWN_KEY
    assert oauth_server.counters.requests["jwks"] == 1
    clock.advance(59)
    with pytest.raises(IdTokenError):
        await check(forge.sign(), jwks, oauth_server)
    assert oauth_server.counters.requests["jwks"] == 1
    clock.advance(1)
    assert await check(forge.sign(), jwks, oauth_server) == "alice"
    assert oauth_server.counters.requests["jwks"] == 2


@pytest.mark.asyncio
async def test_a_flood_of_unknown_kids_costs_at_most_one_fetch_per_interval(
    oauth_server: AuthorizationServer, jwks: JwksCache, clock: ManualClock
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT, nonce=NONCE)
    await check(forge.sign(), jwks, oauth_server)
    clock.advance(61)
    bogus = [forge.sign(kid=f"bogus-{n}") for n in range(100)]
    results = await asyncio.gather(
        *(check(token, jwks, oauth_server) for token in bogus), return_exceptions=True
    )
    assert all(isinstance(r, IdTokenError) and r.code == IdTokenError.UNKNOWN_KEY
               for r in results)
    assert oauth_server.counters.requests["jwks"] == 2  # 1 initial + 1 shared refresh
    for token in bogus:  # the same flood again, one by one
        with pytest.raises(IdTokenError):
            await check(token, jwks, oauth_server)
    assert oauth_server.counters.requests["jwks"] == 2
    assert await check(forge.sign(), jwks, oauth_server) == "alice"  # real ones still work
    clock.advance(60)
    with pytest.raises(IdTokenError):
        await check(bogus[0], jwks, oauth_server)
    assert oauth_server.counters.requests["jwks"] == 3
    assert jwks.fetch_count == 3


@pytest.mark.asyncio
async def test_stale_keys_are_refetched_and_kept_when_the_refetch_fails(
    oauth_server: AuthorizationServer, jwks: JwksCache, clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT, nonce=NONCE)
    await check(forge.sign(), jwks, oauth_server)
    clock.advance(3600)
    oauth_server.fail_next("jwks", status=500)
    with caplog.at_level(logging.WARNING, logger="oauthflow.oidc"):
        assert await check(forge.sign(), jwks, oauth_server) == "alice"
    assert oauth_server.counters.requests["jwks"] == 2
    assert "keeping the 2 cached keys" in caplog.text
    await check(forge.sign(), jwks, oauth_server)  # rate-limited: no new attempt yet
    assert oauth_server.counters.requests["jwks"] == 2
    clock.advance(60)
    await check(forge.sign(), jwks, oauth_server)
    assert oauth_server.counters.requests["jwks"] == 3


@pytest.mark.asyncio
async def test_a_failed_first_fetch_is_reported_then_rate_limited(
    oauth_server: AuthorizationServer, jwks: JwksCache, clock: ManualClock
) -> None:
    forge = IdTokenForge(oauth_server, WEB_CLIENT, nonce=NONCE)
    oauth_server.fail_next("jwks", status=200, body=b"<html>oops</html>", content_type="text/html")
    with pytest.raises(InvalidResponseError) as caught:
        await check(forge.sign(), jwks, oauth_server)
    assert caught.value.code == InvalidResponseError.RESPONSE_NOT_JSON
    with pytest.raises(IdTokenError) as limited:
        await check(forge.sign(), jwks, oauth_server)
    assert limited.value.code == IdTokenError.UNKNOWN_KEY
    assert oauth_server.counters.requests["jwks"] == 1
    clock.advance(60)
    assert await check(forge.sign(), jwks, oauth_server) == "alice"
    assert oauth_server.counters.requests["jwks"] == 2


@pytest.mark.asyncio
async def test_an_unreachable_jwks_uri_is_a_transport_error(transport: Transport) -> None:
    cache = JwksCache(transport, "http://127.0.0.1:9/jwks")  # discard port: nothing listens
    with pytest.raises(TransportError):
        await cache.key_for("RS256", "kid")


# -- single flight and cancellation --------------------------------------------------------


class GatedJwks:
    """A JWKS endpoint that holds every request until ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.arrived = asyncio.Event()
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrived.set()
        await self.gate.wait()
        return web.json_response({"keys": [public(RSA_A)]})


@pytest_asyncio.fixture
async def gated(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[GatedJwks, str]]:
    endpoint = GatedJwks()
    app = web.Application()
    app.router.add_get("/jwks", endpoint.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    try:
        yield endpoint, str(server.make_url("/jwks"))
    finally:
        endpoint.gate.set()


@pytest.mark.asyncio
async def test_concurrent_callers_share_one_fetch_and_survive_a_cancelled_one(
    gated: tuple[GatedJwks, str], transport: Transport
) -> None:
    endpoint, url = gated
    cache = JwksCache(transport, url)
    first = asyncio.ensure_future(cache.key_for("RS256", "rsa-a"))
    others = [asyncio.ensure_future(cache.key_for("RS256", "rsa-a")) for _ in range(10)]
    await asyncio.wait_for(endpoint.arrived.wait(), 5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    endpoint.gate.set()
    keys = await asyncio.wait_for(asyncio.gather(*others), 5)
    assert {key.kid for key in keys} == {"rsa-a"}
    assert endpoint.requests == 1
    assert cache.fetch_count == 1
