"""Plain-aiohttp OAuth requests for the harness smoke tests (independent of oauthflow's client).

Written straight from the RFCs so the smoke tests prove the provider and the harness, not the
library under test.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from joserfc import jwt
from joserfc.jwk import ECKey

from .provider_process import RegisteredClient

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "Pkce",
    "WireResponse",
    "authorization_url",
    "client_auth",
    "post_form",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class WireResponse:
    """Status, headers and JSON body (``{}`` when the body is empty) of one HTTP exchange."""

    status: int
    headers: Mapping[str, str]
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Pkce:
    """RFC 7636 section 4.1/4.2: a fresh verifier and its S256 challenge."""

    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)

    @property
    def challenge(self) -> str:
        # "code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))"
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _basic_header(client_id: str, secret: str) -> str:
    # RFC 6749 section 2.3.1: "The client identifier is encoded using the
    # application/x-www-form-urlencoded encoding algorithm [...] and the encoded value is used as
    # the username; the client password is encoded using the same algorithm and used as the
    # password."
    user_pass = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(user_pass.encode("ascii")).decode("ascii")


def _client_assertion(client: RegisteredClient, audience: str) -> str:
    """RFC 7523 section 3: a JWT signed with the client's private key."""
    assert client.private_jwk is not None
    key = ECKey.import_key(dict(client.private_jwk))
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 60,
    }
    header = {"alg": client.private_jwk["alg"], "kid": client.private_jwk["kid"]}
    return jwt.encode(header, claims, key)


def client_auth(client: RegisteredClient, audience: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) authenticating ``client`` by its registered method."""
    if client.auth_method == "client_secret_basic":
        assert client.client_secret is not None
        return {"Authorization": _basic_header(client.client_id, client.client_secret)}, {}
    if client.auth_method == "client_secret_post":
        assert client.client_secret is not None
        return {}, {"client_id": client.client_id, "client_secret": client.client_secret}
    if client.auth_method == "private_key_jwt":
        assertion = _client_assertion(client, audience)
        fields = {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
        return {}, fields
    return {}, {"client_id": client.client_id}


async def post_form(
    session: aiohttp.ClientSession,
    url: str,
    form: Mapping[str, str],
    *,
    client: RegisteredClient | None = None,
    audience: str | None = None,
) -> WireResponse:
    """POSTs ``form`` (application/x-www-form-urlencoded), authenticated as ``client`` if given."""
    headers: dict[str, str] = {"Accept": "application/json"}
    data = dict(form)
    if client is not None:
        auth_headers, auth_fields = client_auth(client, audience or url)
        headers.update(auth_headers)
        data.update(auth_fields)
    async with session.post(url, data=data, headers=headers, allow_redirects=False) as response:
        text = await response.text()
        body = await response.json(content_type=None) if text else {}
        return WireResponse(response.status, dict(response.headers), body)


def authorization_url(endpoint: str, params: Mapping[str, str]) -> str:
    """``endpoint`` with ``params`` as its query (RFC 6749 section 4.1.1)."""
    return f"{endpoint}?{urlencode(params)}"
