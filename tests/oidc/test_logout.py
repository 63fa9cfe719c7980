"""RP-Initiated Logout 1.0: the URL (pure), and the local server acting on it (integration)."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from oauthflow import ClientConfig, ConfigurationError, ServerMetadata, Transport
from oauthflow.oidc import build_logout_url
from oauthflow.testing import AuthorizationServer

from ._support import WEB_CLIENT, login

SERVER = ServerMetadata(
    token_endpoint="https://op.example/token",
    end_session_endpoint="https://op.example/logout?tenant=a",
)


def test_every_parameter_is_in_the_query_and_the_endpoint_query_is_kept() -> None:
    url = build_logout_url(
        SERVER, id_token_hint="eyJ.hint.sig", post_logout_redirect_uri="https://rp.example/bye",
        state="s-1 &x", client_id="rp", logout_hint="alice@example.test",
        ui_locales=["fr-CA", "en"],
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "op.example", "/logout")
    assert parse_qsl(parts.query) == [
        ("tenant", "a"), ("id_token_hint", "eyJ.hint.sig"), ("client_id", "rp"),
        ("post_logout_redirect_uri", "https://rp.example/bye"), ("state", "s-1 &x"),
        ("logout_hint", "alice@example.test"), ("ui_locales", "fr-CA en"),
    ]


def test_only_the_hint() -> None:
    url = build_logout_url(SERVER, id_token_hint="eyJ.hint.sig")
    assert url == "https://op.example/logout?tenant=a&id_token_hint=eyJ.hint.sig"


def test_without_any_parameter() -> None:
    server = ServerMetadata(token_endpoint="https://op.example/token",
                            end_session_endpoint="https://op.example/logout")
    assert build_logout_url(server, id_token_hint=None) == "https://op.example/logout"


@pytest.mark.parametrize(
    "arguments",
    [
        {"id_token_hint": None, "post_logout_redirect_uri": "https://rp.example/bye"},
        {"id_token_hint": "h", "state": "s"},
        {"id_token_hint": "h", "post_logout_redirect_uri": "/relative"},
        {"id_token_hint": "h", "post_logout_redirect_uri": "https://rp.example/bye#x"},
    ],
    ids=["redirect without hint or client_id", "state without redirect", "relative redirect",
         "redirect with fragment"],
)
def test_misuse_is_a_configuration_error(arguments: dict[str, str | None]) -> None:
    with pytest.raises(ConfigurationError):
        build_logout_url(SERVER, **arguments)  # type: ignore[arg-type]


def test_no_end_session_endpoint_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="end_session_endpoint"):
        build_logout_url(ServerMetadata(token_endpoint="https://op.example/token"),
                         id_token_hint="h")


@pytest.mark.asyncio
async def test_the_local_server_signs_out_and_redirects_back_with_state(
    oauth_server: AuthorizationServer, transport: Transport, web_client: ClientConfig
) -> None:
    token = await login(oauth_server, transport, web_client, nonce=secrets.token_urlsafe(24))
    assert token.id_token is not None
    server = ServerMetadata.from_dict(oauth_server.metadata)
    url = build_logout_url(
        server, id_token_hint=token.id_token, client_id=WEB_CLIENT,
        post_logout_redirect_uri="http://127.0.0.1/signed-out", state="bye-1",
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(url, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "http://127.0.0.1/signed-out?state=bye-1"
    (seen,) = oauth_server.requests_seen("end_session")
    assert seen.query["id_token_hint"] == token.id_token
