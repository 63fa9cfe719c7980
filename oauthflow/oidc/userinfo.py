"""The UserInfo endpoint: the logged-in user's claims, plain JSON or a signed JWT.

Spec: OpenID Connect Core 1.0 §5.3 (UserInfo Endpoint): §5.3.1 the request ("The Client
sends the UserInfo Request using either HTTP GET or HTTP POST. The Access Token obtained
from an OpenID Connect Authentication Request MUST be sent as a Bearer Token"), §5.3.2 the
response ("The sub Claim in the UserInfo Response MUST be verified to exactly match the
sub Claim in the ID Token; if they do not match, the UserInfo Response values MUST NOT be
used." and for a signed response "the UserInfo Response SHOULD contain the Claims iss
(issuer) and aud (audience) as members. The iss value SHOULD be the OP's Issuer Identifier
URL. The aud value SHOULD be or include the RP's Client ID value."), §5.3.3 errors
(RFC 6750 §3 ``WWW-Authenticate`` challenges).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

from oauthflow.config import ServerMetadata
from oauthflow.errors import ConfigurationError, InvalidResponseError, OAuthError
from oauthflow.oidc.errors import SUB_MISMATCH, IdTokenError
from oauthflow.oidc.id_token import verify_jwt_signature
from oauthflow.oidc.jose import parse_compact_jwt
from oauthflow.oidc.jwks import JwksCache
from oauthflow.protocol.bearer import bearer_authorization, find_bearer_challenge
from oauthflow.protocol.http import HttpRequest, HttpResponse
from oauthflow.protocol.responses import raise_for_error_response
from oauthflow.protocol.snippet import body_snippet, strip_controls
from oauthflow.transport import Transport

__all__ = ["fetch_userinfo", "parse_userinfo_response"]

_JWT_TYPES = frozenset({"application/jwt"})


async def fetch_userinfo(
    transport: Transport,
    server: ServerMetadata,
    access_token: str,
    *,
    expected_sub: str,
    jwks: JwksCache | None = None,
    client_id: str | None = None,
    allowed_algs: Collection[str] | None = None,
) -> Mapping[str, Any]:
    """GET the user's claims from ``server.userinfo_endpoint`` with ``access_token``.

    Args:
        transport: sends the request (``https``, or loopback ``http``).
        server: the provider metadata (``userinfo_endpoint``, ``issuer``).
        access_token: the access token from the same login (sent as a Bearer token).
        expected_sub: the ``sub`` of the validated ID token (``claims.sub``).
        jwks: the provider's keys; needed when the provider answers with a signed JWT
            (``application/jwt``).
        client_id: checked against ``aud`` of a signed response that carries one.
        allowed_algs: JWS algorithms accepted for a signed response (default: every
            asymmetric one; ``none`` never).

    Returns:
        The claims, read-only.

    Raises:
        OAuthError: the endpoint refused the token (RFC 6750 §3 challenge, e.g.
            ``invalid_token`` with status 401, ``insufficient_scope`` with 403).
        InvalidResponseError: ``sub_mismatch``; a response that is not a JSON object or a
            valid signed JWT (a signed one fails with the ID-token codes, e.g.
            ``bad_signature``, ``iss_mismatch``, ``aud_mismatch``); ``unexpected_status``.
        ConfigurationError: no ``userinfo_endpoint``, or a signed response without ``jwks``.
        TransportError: the endpoint could not be reached.

    Cancellation: cancelling the caller abandons the request.
    """
    if not server.userinfo_endpoint:
        raise ConfigurationError("the server metadata has no userinfo_endpoint")
    request = HttpRequest(
        method="GET", url=server.userinfo_endpoint,
        headers={
            "Authorization": bearer_authorization(access_token, strict=False),
            "Accept": "application/json, application/jwt",
        },
    )
    response = await transport.send(request)
    claims = await parse_userinfo_response(
        response, server=server, jwks=jwks, client_id=client_id, allowed_algs=allowed_algs
    )
    _check_sub(claims, expected_sub)
    return MappingProxyType(claims)


async def parse_userinfo_response(
    response: HttpResponse,
    *,
    server: ServerMetadata,
    jwks: JwksCache | None,
    client_id: str | None,
    allowed_algs: Collection[str] | None = None,
) -> dict[str, Any]:
    """The claims of a UserInfo response (JSON, or a signed JWT checked with ``jwks``).

    Raises: as :func:`fetch_userinfo`, except ``sub_mismatch``.

    Cancellation: only a signed response awaits (the JWKS); a JWKS fetch it started goes
    on for other callers.
    """
    if response.status != 200:
        _raise_for_refusal(response)
    media_type = (response.header("content-type") or "").split(";")[0].strip().lower()
    if media_type in _JWT_TYPES:
        return await _signed_claims(response, server, jwks, client_id, allowed_algs)
    try:
        document = json.loads(response.body)
    except (ValueError, RecursionError):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_JSON, "the UserInfo response is not JSON",
            status=response.status, body_snippet=body_snippet(response.body),
        ) from None
    if not isinstance(document, dict):
        raise InvalidResponseError(
            InvalidResponseError.RESPONSE_NOT_OBJECT, "the UserInfo response is not an object",
            status=response.status,
        )
    return document


def _raise_for_refusal(response: HttpResponse) -> None:
    """OIDC Core §5.3.3: "When an error condition occurs, the UserInfo Endpoint returns an
    Error Response as defined in Section 3 of OAuth 2.0 Bearer Token Usage [RFC6750]."
    The ``WWW-Authenticate`` challenge wins; else an error object in the body."""
    header = response.header("www-authenticate")
    challenge = find_bearer_challenge(header) if header else None
    error = challenge.params.get("error") if challenge is not None else None
    if challenge is not None and error:
        description = challenge.params.get("error_description")
        uri = challenge.params.get("error_uri")
        raise OAuthError(
            strip_controls(error).strip(),
            strip_controls(description).strip() if description else None,
            strip_controls(uri).strip() if uri else None,
            status=response.status,
        )
    try:
        raise_for_error_response(response)
    except InvalidResponseError as exc:
        if exc.code != InvalidResponseError.RESPONSE_NOT_JSON:
            raise
    raise InvalidResponseError(
        InvalidResponseError.UNEXPECTED_STATUS, "the UserInfo endpoint refused the request",
        status=response.status, body_snippet=body_snippet(response.body),
    )


async def _signed_claims(
    response: HttpResponse,
    server: ServerMetadata,
    jwks: JwksCache | None,
    client_id: str | None,
    allowed_algs: Collection[str] | None,
) -> dict[str, Any]:
    """§5.3.2: "If the UserInfo Response is signed and/or encrypted, then the Claims are
    returned in a JWT and the content-type MUST be application/jwt." """
    if jwks is None:
        raise ConfigurationError("the provider signs UserInfo responses: pass jwks=")
    try:
        jwt = parse_compact_jwt(response.body.decode("ascii").strip())
        await verify_jwt_signature(jwt, jwks, allowed_algs=allowed_algs)
    except UnicodeDecodeError:
        raise _invalid(IdTokenError.MALFORMED, "the signed UserInfo response is no JWT") from None
    except IdTokenError as exc:
        raise _invalid(
            exc.code, f"the signed UserInfo response failed the {exc.code!r} check"
        ) from None
    claims = dict(jwt.claims)
    iss = claims.get("iss")
    if iss is not None and iss != server.issuer:
        raise _invalid(IdTokenError.ISS_MISMATCH, "the signed UserInfo response's 'iss' is wrong")
    aud = claims.get("aud")
    if aud is not None and client_id is not None:
        audiences = aud if isinstance(aud, list) else [aud]
        if client_id not in audiences:
            raise _invalid(
                IdTokenError.AUD_MISMATCH, "the signed UserInfo response is not for this client"
            )
    return claims


def _invalid(code: str, message: str) -> InvalidResponseError:
    return InvalidResponseError(code, message, status=200)


def _check_sub(claims: Mapping[str, Any], expected_sub: str) -> None:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidResponseError(
            InvalidResponseError.MISSING_FIELD, "the UserInfo response has no 'sub'", status=200
        )
    if sub != expected_sub:
        raise InvalidResponseError(
            SUB_MISMATCH,
            "the UserInfo 'sub' differs from the ID token's; its claims must not be used "
            "(OIDC Core §5.3.2)",
            status=200,
        )
