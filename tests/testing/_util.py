"""Helpers for driving the local authorization server with plain aiohttp requests."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from oauthflow.testing import AuthorizationServer

__all__ = ["CALLBACK", "auth_url", "basic", "pkce_pair", "post_form", "query_of"]

CALLBACK = "http://127.0.0.1/callback"
TIMEOUT = aiohttp.ClientTimeout(total=10)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(client_id, secret)}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def auth_url(server: AuthorizationServer, client_id: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
        "scope": "openid profile read", "state": "state-1", "nonce": "nonce-1",
        "code_challenge": challenge, "code_challenge_method": "S256", **extra,
    }
    return server.authorization_endpoint + "?" + urlencode(params)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def post_form(
    url: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST a form; (status, JSON body or {}, headers)."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.post(
        url, data=data, headers=headers or {}
    ) as response:
        body = await response.json() if response.content_type == "application/json" else {}
        return response.status, body, dict(response.headers)
