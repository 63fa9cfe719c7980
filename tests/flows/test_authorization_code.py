"""Authorization code + PKCE and PAR against oauthflow.testing's server (integration).

The user logs in through the server's real HTML pages (``oauth_server.authorize``); every
test asserts what the server saw and how many token requests it got.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
import pytest_asyncio
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from oauthflow.clock import ManualClock
from oauthflow.config import ClientConfig, PrivateKey, ServerMetadata
from oauthflow.errors import (
    AuthorizationResponseError,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
)
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.protocol.authorization import AuthorizationRequest
from oauthflow.protocol.pkce import code_challenge_s256, generate_code_verifier
from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token
from oauthflow.token_manager import TokenManager
from oauthflow.transport import Transport

pytestmark = pytest.mark.asyncio

CALLBACK = "http://127.0.0.1/callback"
SECRET = "s3cret: +/é and long enough for HS256 keys"
METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt",
           "private_key_jwt", "none"]
# Form members each client authentication method adds to a token request.
AUTH_MEMBERS = {
    "client_secret_basic": set(),
    "client_secret_post": {"client_id", "client_secret"},
    "client_secret_jwt": {"client_id", "client_assertion", "client_assertion_type"},
    "private_key_jwt": {"client_id", "client_assertion", "client_assertion_type"},
    "none": {"client_id"},
}


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[Transport]:
    async with Transport() as sender:
        yield sender


def register(server: AuthorizationServer, method: str = "client_secret_basic") -> ClientConfig:
    """A client of ``method`` registered on ``server`` with the loopback callback."""
    secret = None if method in {"none", "private_key_jwt"} else SECRET
    key: PrivateKey | None = None
    jwks = None
    if method == "private_key_jwt":
        key = RSAKey.generate_key(2048, parameters={"kid": "web-key"}, private=True)
        jwks = {"keys": [key.as_dict(private=False)]}
    client_id = f"web-{method}"
    server.register_client(client_id, secret, auth_method=method, jwks=jwks)
    return ClientConfig(client_id=client_id, client_secret=secret, private_key=key,
                        auth_method=method, redirect_uri=CALLBACK)  # type: ignore[arg-type]


def metadata(server: AuthorizationServer, **extra: object) -> ServerMetadata:
    return ServerMetadata.from_dict({**server.metadata, **extra})


def tamper(callback: str, **changes: str | None) -> str:
    """``callback`` with query members replaced (or removed, for ``None``)."""
    parts = urlsplit(callback)
    members = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in changes.items():
        if value is None:
            members.pop(name, None)
        else:
            members[name] = value
    return urlunsplit(parts._replace(query=urlencode(members)))


def code_of(callback: str) -> str:
    return dict(parse_qsl(urlsplit(callback).query))["code"]


async def login(
    server: AuthorizationServer, client: ClientConfig, transport: Transport, **options: object
) -> tuple[AuthorizationRequest, str]:
    """Start a login and let alice approve it through the HTML pages; (pending, callback)."""
    pending = await start_authorization(
        transport, metadata(server), client, scope=["openid", "read"], **options  # type: ignore[arg-type]
    )
    return pending, await server.authorize(pending.url, user="alice", approve=True)


@pytest.mark.parametrize("method", METHODS)
async def test_code_flow_with_pkce_for_each_client_type(
    oauth_server: AuthorizationServer, transport: Transport, method: str
) -> None:
    client = register(oauth_server, method)
    pending, callback = await login(oauth_server, client, transport)
    token = await exchange_code(transport, metadata(oauth_server), client, pending, callback)

    authorize = oauth_server.requests_seen("authorize")
    assert len(authorize) == 1
    assert dict(authorize[0].query) == dict(pending.parameters)
    assert authorize[0].query["code_challenge"] == code_challenge_s256(pending.code_verifier)
    assert authorize[0].query["code_challenge_method"] == "S256"
    seen = oauth_server.requests_seen("token")
    assert len(seen) == 1
    form = seen[0].form
    assert set(form) == {"grant_type", "code", "redirect_uri", "code_verifier",
                         *AUTH_MEMBERS[method]}
    assert (form["grant_type"], form["code"], form["redirect_uri"], form["code_verifier"]) == (
        "authorization_code", code_of(callback), CALLBACK, pending.code_verifier)
    assert ("Authorization" in seen[0].headers) == (method == "client_secret_basic")
    assert oauth_server.counters.grants["authorization_code"] == 1

    assert token.refresh_token
    assert token.scope == ("openid", "read")
    assert token.id_token is not None
    keys = KeySet.import_key_set(oauth_server.core.keys.jwks())  # type: ignore[arg-type]
    claims = jwt.decode(token.id_token, keys).claims
    assert (claims["iss"], claims["aud"], claims["sub"], claims["nonce"]) == (
        oauth_server.issuer, [client.client_id], "alice", pending.nonce)


async def test_optional_members_reach_the_server(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    pending, callback = await login(
        oauth_server, client, transport, redirect_uri="http://127.0.0.1:8765/callback",
        resource=["https://api.example.test/"], prompt="consent", login_hint="alice",
        max_age=600, extra_params={"ui_locales": "en"},
    )
    assert callback.startswith("http://127.0.0.1:8765/callback?")
    query = oauth_server.requests_seen("authorize")[0].query
    assert {name: query[name] for name in
            ("redirect_uri", "resource", "prompt", "login_hint", "max_age", "ui_locales")} == {
        "redirect_uri": "http://127.0.0.1:8765/callback", "resource": "https://api.example.test/",
        "prompt": "consent", "login_hint": "alice", "max_age": "600", "ui_locales": "en"}
    await exchange_code(transport, metadata(oauth_server), client, pending, callback)
    form = oauth_server.requests_seen("token")[0].form
    assert (form["redirect_uri"], form["resource"]) == (
        "http://127.0.0.1:8765/callback", "https://api.example.test/")


@pytest.mark.parametrize("method", ["client_secret_basic", "none"])
async def test_login_then_the_manager_refreshes_with_rotation(
    oauth_server: AuthorizationServer, transport: Transport, method: str
) -> None:
    client = register(oauth_server, method)
    server = metadata(oauth_server)
    clock = ManualClock()
    pending, callback = await login(oauth_server, client, transport)
    first = await exchange_code(transport, server, client, pending, callback, clock=clock)
    assert first.expires_at == clock.time() + 3600
    chain: list[str | None] = [first.refresh_token]
    async with TokenManager.for_refresh_token(
        token=first, client=client, server=server, transport=transport, clock=clock
    ) as tokens:
        assert await tokens.get() is first
        for _ in range(3):
            clock.advance(3601)
            token = await tokens.get()
            chain.append(token.refresh_token)
    assert len(set(chain)) == 4  # rotated every time
    refreshes = oauth_server.requests_seen("token")[1:]
    assert [seen.form["refresh_token"] for seen in refreshes] == chain[:3]
    assert oauth_server.counters.grants["refresh_token"] == 3
    await _api_accepts(oauth_server, token)


async def _api_accepts(server: AuthorizationServer, token: Token) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
        server.api_url + "me", headers={"Authorization": f"Bearer {token.access_token}"}
    ) as response:
        assert response.status == 200
        assert (await response.json())["sub"] == "alice"


# --- PAR (RFC 9126) ---------------------------------------------------------------------


async def _pushed_login(
    server: AuthorizationServer, meta: ServerMetadata, client: ClientConfig,
    transport: Transport, use_par: bool | None,
) -> None:
    pending = await start_authorization(transport, meta, client, scope=["read"], use_par=use_par)
    query = parse_qsl(urlsplit(pending.url).query)
    assert [name for name, _ in query] == ["client_id", "request_uri"]
    assert query[0] == ("client_id", client.client_id)
    pushed = server.requests_seen("par")
    assert len(pushed) == 1
    assert {k: v for k, v in pushed[0].form.items() if k != "client_secret"} == {
        **dict(pending.parameters), "client_id": client.client_id}
    assert pushed[0].query == {}
    callback = await server.authorize(pending.url)
    assert server.requests_seen("authorize")[0].query == dict(query)
    token = await exchange_code(transport, meta, client, pending, callback)
    assert token.access_token
    assert server.counters.grants["authorization_code"] == 1


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
async def test_par_when_asked(
    oauth_server: AuthorizationServer, transport: Transport, method: str
) -> None:
    client = register(oauth_server, method)
    await _pushed_login(oauth_server, metadata(oauth_server), client, transport, use_par=True)


async def test_par_automatically_when_the_server_requires_it(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    meta = metadata(oauth_server, require_pushed_authorization_requests=True)
    await _pushed_login(oauth_server, meta, client, transport, use_par=None)


async def test_no_par_unless_asked_or_required(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    pending = await start_authorization(transport, metadata(oauth_server), client)
    assert dict(parse_qsl(urlsplit(pending.url).query))["state"] == pending.state
    assert oauth_server.counters.requests["par"] == 0


@pytest.mark.parametrize(
    ("meta_changes", "use_par", "message"),
    [
        ({"require_pushed_authorization_requests": True}, False, "requires pushed"),
        ({"pushed_authorization_request_endpoint": None}, True, "pushed_authorization_request"),
        ({"pushed_authorization_request_endpoint": None,
          "require_pushed_authorization_requests": True}, None, "pushed_authorization_request"),
    ],
    ids=["refused-but-required", "asked-without-endpoint", "required-without-endpoint"],
)
async def test_par_configuration_errors_send_nothing(
    oauth_server: AuthorizationServer, transport: Transport,
    meta_changes: dict[str, object], use_par: bool | None, message: str,
) -> None:
    client = register(oauth_server)
    with pytest.raises(ConfigurationError) as raised:
        await start_authorization(transport, metadata(oauth_server, **meta_changes), client,
                                  use_par=use_par)
    assert message in str(raised.value)
    assert oauth_server.counters.requests["par"] == 0


async def test_par_refusal_is_a_typed_error(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    with pytest.raises(OAuthError) as raised:
        await start_authorization(transport, metadata(oauth_server), client, use_par=True,
                                  redirect_uri="https://unregistered.example/cb")
    assert raised.value.status == 400
    assert raised.value.error == "invalid_request"
    assert oauth_server.counters.requests["par"] == 1


# --- negative cases -----------------------------------------------------------------------

BAD_CALLBACKS: list[tuple[Callable[[str, AuthorizationRequest], str], str]] = [
    (lambda cb, p: tamper(cb, state="x" + p.state[1:]), InvalidResponseError.STATE_MISMATCH),
    (lambda cb, p: tamper(cb, state=None), InvalidResponseError.STATE_MISSING),
    (lambda cb, p: tamper(cb, iss="http://127.0.0.1:1"), InvalidResponseError.ISS_MISMATCH),
    (lambda cb, p: tamper(cb, iss=None), InvalidResponseError.ISS_MISSING),
    (lambda cb, p: tamper(cb, code=None), InvalidResponseError.CODE_MISSING),
]


@pytest.mark.parametrize(("change", "code"), BAD_CALLBACKS,
                         ids=["wrong-state", "missing-state", "wrong-iss", "missing-iss",
                              "missing-code"])
async def test_bad_callbacks_are_refused_before_any_token_request(
    oauth_server: AuthorizationServer, transport: Transport,
    change: Callable[[str, AuthorizationRequest], str], code: str,
) -> None:
    client = register(oauth_server)
    pending, callback = await login(oauth_server, client, transport)
    with pytest.raises(InvalidResponseError) as raised:
        await exchange_code(transport, metadata(oauth_server), client, pending,
                            change(callback, pending))
    assert raised.value.code == code
    assert code_of(callback) not in str(raised.value)
    assert pending.state not in str(raised.value)
    assert oauth_server.counters.requests["token"] == 0


async def test_denied_login_is_an_authorization_response_error(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    pending = await start_authorization(transport, metadata(oauth_server), client)
    callback = await oauth_server.authorize(pending.url, approve=False)
    with pytest.raises(AuthorizationResponseError) as raised:
        await exchange_code(transport, metadata(oauth_server), client, pending, callback)
    assert raised.value.error == "access_denied"
    assert oauth_server.counters.requests["token"] == 0


async def test_error_redirect_with_a_wrong_state_is_a_state_error(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    pending = await start_authorization(transport, metadata(oauth_server), client)
    other = await start_authorization(transport, metadata(oauth_server), client)
    callback = await oauth_server.authorize(other.url, approve=False)  # another login's error
    with pytest.raises(InvalidResponseError) as raised:
        await exchange_code(transport, metadata(oauth_server), client, pending, callback)
    assert raised.value.code == InvalidResponseError.STATE_MISMATCH
    assert oauth_server.counters.requests["token"] == 0


async def test_a_code_works_once(oauth_server: AuthorizationServer, transport: Transport) -> None:
    client = register(oauth_server)
    server = metadata(oauth_server)
    pending, callback = await login(oauth_server, client, transport)
    await exchange_code(transport, server, client, pending, callback)
    with pytest.raises(OAuthError) as raised:
        await exchange_code(transport, server, client, pending, callback)
    assert (raised.value.error, raised.value.status) == ("invalid_grant", 400)
    assert code_of(callback) not in str(raised.value)
    assert oauth_server.counters.requests["token"] == 2
    assert oauth_server.counters.grants["authorization_code"] == 1


async def test_a_wrong_pkce_verifier_is_refused(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server, "none")
    pending, callback = await login(oauth_server, client, transport)
    tampered = dataclasses.replace(pending, code_verifier=generate_code_verifier())
    with pytest.raises(OAuthError) as raised:
        await exchange_code(transport, metadata(oauth_server), client, tampered, callback)
    assert (raised.value.error, raised.value.status) == ("invalid_grant", 400)
    assert oauth_server.requests_seen("token")[0].form["code_verifier"] == tampered.code_verifier
    assert oauth_server.counters.grants["authorization_code"] == 0


async def test_exchange_with_another_server_is_refused_before_sending(
    oauth_server: AuthorizationServer, transport: Transport
) -> None:
    client = register(oauth_server)
    pending, callback = await login(oauth_server, client, transport)
    other = dataclasses.replace(metadata(oauth_server), issuer="http://127.0.0.1:1")
    with pytest.raises(ConfigurationError):
        await exchange_code(transport, other, client, pending, callback)
    assert oauth_server.counters.requests["token"] == 0
