"""Getting real ID tokens from the local server: a login driven through its HTML pages."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from oauthflow import ClientConfig, Token, Transport, request_token
from oauthflow.testing import AuthorizationServer

__all__ = ["CALLBACK", "WEB_CLIENT", "WEB_SECRET", "login", "register_web_client"]

CALLBACK = "http://127.0.0.1/callback"
WEB_CLIENT = "web"
WEB_SECRET = "web-secret-that-is-long-enough-for-hs256-keys"


def register_web_client(server: AuthorizationServer) -> None:
    server.register_client(
        WEB_CLIENT, WEB_SECRET, redirect_uris=(CALLBACK,),
        post_logout_redirect_uris=("http://127.0.0.1/signed-out",),
    )


async def login(
    server: AuthorizationServer,
    transport: Transport,
    client: ClientConfig,
    *,
    nonce: str,
    scope: str = "openid profile email",
    max_age: int | None = None,
) -> Token:
    """Authorization code + PKCE through the login and consent pages; the token response."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": CALLBACK,
        "scope": scope, "state": secrets.token_urlsafe(16), "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }
    if max_age is not None:
        params["max_age"] = str(max_age)
    callback = await server.authorize(server.authorization_endpoint + "?" + urlencode(params))
    query = {name: values[0] for name, values in parse_qs(urlsplit(callback).query).items()}
    assert query["state"] == params["state"]
    form = {"code": query["code"], "redirect_uri": CALLBACK, "code_verifier": verifier}
    return await request_token(
        transport, server.token_endpoint, client, "authorization_code", form
    )
