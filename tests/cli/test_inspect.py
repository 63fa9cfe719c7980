"""``oauthflow inspect``: a stored token or a JWT, decoded, with every secret hidden unless
``--show-secrets`` (integration with oauthflow.testing's real tokens, and hand-made JWTs)."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token

from .conftest import PUBLIC, exists, logged_in_directly
from .support import invoke

pytestmark = pytest.mark.asyncio


def segments(jwt: str) -> list[str]:
    """Header, payload and signature: each is part of the token's value."""
    parts = jwt.split(".")
    assert len(parts) == 3
    return parts


def hand_made_jwt(claims: dict[str, Any], signature: str = "c2lnbmF0dXJlLWJ5dGVz") -> str:
    def encode(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'RS256', 'typ': 'JWT'})}.{encode(claims)}.{signature}"


def secrets_of(token: Token) -> list[str]:
    assert token.refresh_token is not None
    return [token.access_token, token.refresh_token, *segments(token.access_token)]


async def test_a_stored_token_is_described_without_any_secret(
    server: AuthorizationServer, home: Path
) -> None:
    token = await logged_in_directly(server, home)

    result = await invoke(["inspect"], home)

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for secret in secrets_of(token):
        assert secret not in out
    assert f"Profile 'default': {server.issuer} (client {PUBLIC}, file store)" in out
    assert re.search(r"expiry +expires in (59 min|1 h)\n", out)
    assert re.search(r"scope +openid offline_access read\n", out)
    assert re.search(r"refresh token +yes\n", out)
    assert re.search(r"access token +<access token hidden: \d+ characters; --show-secrets "
                     r"shows it>\n", out)
    assert "Access token (decoded, NOT verified" in out
    assert re.search(r"sub +alice\n", out)
    assert re.search(r"client_id +cli-public\n", out)
    assert re.search(r"exp +\d+ \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in (59 min|1 h)\)", out)
    assert "signature: <signature hidden: 342 characters; --show-secrets shows it>" in out
    assert server.counters.requests == {}  # nothing was sent


async def test_show_secrets_shows_them(server: AuthorizationServer, home: Path) -> None:
    token = await logged_in_directly(server, home)

    result = await invoke(["inspect", "--show-secrets"], home)

    assert result.exit_code == 0, result.stderr
    for secret in secrets_of(token):
        assert secret in result.stdout


async def test_json_report(server: AuthorizationServer, home: Path) -> None:
    token = await logged_in_directly(server, home)

    hidden = json.loads((await invoke(["inspect", "--json"], home)).stdout)
    shown = json.loads((await invoke(["inspect", "--json", "--show-secrets"], home)).stdout)

    assert hidden["has_refresh_token"] is True
    assert hidden["has_id_token"] is False
    assert hidden["scope"] == ["openid", "offline_access", "read"]
    assert hidden["access_token"].startswith("<access token hidden: ")
    assert hidden["refresh_token"].startswith("<refresh token hidden: ")
    assert hidden["access_token_jwt"]["verified"] is False
    assert hidden["access_token_jwt"]["claims"]["sub"] == "alice"
    assert "token" not in hidden["access_token_jwt"]
    for secret in secrets_of(token):
        assert secret not in json.dumps(hidden)
    assert (shown["access_token"], shown["refresh_token"]) == (
        token.access_token, token.refresh_token)
    assert shown["access_token_jwt"]["signature"] == segments(token.access_token)[2]


@pytest.mark.parametrize(("offset", "expiry"), [
    (270, "expires in 4 min"),
    (-7250, "expired 2 h ago"),
    (45.3, "expires in (44|45) s"),  # the command takes a moment
    (-3 * 86400, "expired 3 d ago"),
])
async def test_a_jwt_argument_is_decoded_with_its_expiry_in_words(
    home: Path, offset: float, expiry: str
) -> None:
    jwt = hand_made_jwt({"sub": "bob", "exp": time.time() + offset, "scope": "a b"})

    result = await invoke(["inspect", jwt], home)

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("JWT (decoded, NOT verified: anyone can write these claims; only a "
                          "signature check against the issuer's keys makes them trustworthy)\n")
    assert '  header: {"alg": "RS256", "typ": "JWT"}\n' in out
    assert re.search(r"\n    sub +bob\n", out)
    assert re.search(f"\n  expiry: {expiry}\n", out)
    for secret in (jwt, "c2lnbmF0dXJlLWJ5dGVz"):
        assert secret not in out
    assert "signature: <signature hidden: 20 characters; --show-secrets shows it>" in out
    assert not exists(home)


async def test_a_jwt_from_stdin_with_secrets(home: Path) -> None:
    jwt = hand_made_jwt({"sub": "carol"})

    result = await invoke(["inspect", "-", "--show-secrets"], home, stdin=jwt + "\n")

    assert result.exit_code == 0, result.stderr
    assert "  expiry: no expiry given\n" in result.stdout
    assert "  signature: c2lnbmF0dXJlLWJ5dGVz\n" in result.stdout
    assert f"  token: {jwt}\n" in result.stdout


@pytest.mark.parametrize(("value", "message"), [
    ("opaque-token-value", "not a JWT (expected three base64url parts separated by dots)"),
    ("a.b.c.d.e", "this is an encrypted JWT (JWE): its claims cannot be read"),
    ("e30.!!!.sig", "the JWT's payload is not base64url-encoded JSON"),
])
async def test_what_is_not_a_jwt_is_a_usage_error_that_does_not_echo_it(
    home: Path, value: str, message: str
) -> None:
    result = await invoke(["inspect", value], home)

    assert result.exit_code == 2
    assert result.stderr == f"oauthflow: {message}\n"
    assert result.stdout == ""


async def test_a_profile_without_login_exits_4(home: Path) -> None:
    result = await invoke(["inspect", "--profile", "ghost"], home)

    assert result.exit_code == 4
    assert "not logged in (no profile 'ghost')" in result.stderr
