"""OpenID Connect for oauthflow: discovery, the provider's keys, ID tokens, UserInfo, logout.

OAuth tells an application what it may do; OpenID Connect tells it who the user is. After
an authorization-code login with ``openid`` in the scope::

    metadata = await discovery.get(issuer)                     # DiscoveryCache
    jwks = JwksCache.for_server(transport, metadata)           # keep it for the app's life
    claims = await validate_id_token(
        token.id_token, jwks=jwks, issuer=metadata.issuer, client_id=client.client_id,
        nonce=pending.nonce, access_token=token.access_token,
    )
    claims.sub, claims.get("email")

See docs/oidc.md.
"""

from __future__ import annotations

from oauthflow.oidc.claims import IdTokenClaims
from oauthflow.oidc.discovery import DiscoveryCache, discover
from oauthflow.oidc.errors import ISSUER_MISMATCH, SUB_MISMATCH, IdTokenError
from oauthflow.oidc.id_token import validate_id_token, validate_login
from oauthflow.oidc.jwks import JwksCache
from oauthflow.oidc.logout import build_logout_url
from oauthflow.oidc.userinfo import fetch_userinfo

__all__ = [
    "DiscoveryCache",
    "ISSUER_MISMATCH",
    "IdTokenClaims",
    "IdTokenError",
    "JwksCache",
    "SUB_MISMATCH",
    "build_logout_url",
    "discover",
    "fetch_userinfo",
    "validate_id_token",
    "validate_login",
]
