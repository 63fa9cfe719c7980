"""The authorization code grant with PKCE: a person logs in through their browser.

Spec: RFC 6749 §4.1; RFC 7636 (PKCE, S256 always); RFC 9207 (``iss``); RFC 9126 (PAR);
RFC 8707 (``resource``); OAuth 2.0 Security BCP (RFC 9700) §2.1.

Two steps, with the browser in between::

    pending = await start_authorization(transport, server, client, scope=["openid"])
    # keep `pending` server-side; redirect the browser to pending.url ...
    # ... the server redirects back to pending.redirect_uri?code=...&state=...&iss=...
    token = await exchange_code(transport, server, client, pending, callback_url)

``exchange_code`` checks the callback (``iss``, then ``state``, then an ``error``) before
it sends anything. The returned :class:`~oauthflow.token.Token` can start a session that
stays alive: ``TokenManager.for_refresh_token(token=token, client=client, server=server,
transport=transport)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from oauthflow.clock import Clock, SystemClock
from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.errors import ConfigurationError
from oauthflow.flows._exchange import exchange
from oauthflow.protocol.authorization import (
    AuthorizationRequest,
    build_authorization_request,
    build_code_exchange_request,
    build_par_request,
    parse_par_response,
    pushed_authorization_url,
    validate_callback,
)
from oauthflow.protocol.token_endpoint import Params
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["exchange_code", "start_authorization"]


async def start_authorization(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    *,
    redirect_uri: str | None = None,
    scope: Sequence[str] = (),
    resource: Sequence[str] = (),
    prompt: str | None = None,
    login_hint: str | None = None,
    max_age: int | None = None,
    extra_params: Params = (),
    use_par: bool | None = None,
    clock: Clock | None = None,
    allow_insecure_http: bool = False,
) -> AuthorizationRequest:
    """Begin a login: build the authorization request, pushing it first if asked to.

    The result holds the URL to send the browser to, and the ``state``, PKCE verifier and
    ``nonce`` that :func:`exchange_code` needs. Keep it server-side and use it once.

    Args:
        transport: sends the pushed request (unused without PAR).
        server: the authorization server (``authorization_endpoint``; ``issuer`` for the
            RFC 9207 check; ``pushed_authorization_request_endpoint`` for PAR).
        client: the client; ``redirect_uri`` defaults to ``client.redirect_uri``.
        scope, resource, prompt, login_hint, max_age, extra_params: request members (see
            :func:`~oauthflow.protocol.authorization.build_authorization_request`).
        use_par: ``None`` pushes only when the server's metadata says
            ``require_pushed_authorization_requests``; ``True`` always pushes (RFC 9126);
            ``False`` never does.
        clock: where ``created_at`` and client assertion times come from.
        allow_insecure_http: accept an ``http://`` authorization endpoint that is not
            loopback (test rigs only; the transport has its own switch for PAR).

    Raises:
        ConfigurationError: a missing endpoint or redirect URI, an invalid member,
            ``use_par=True`` without a PAR endpoint, or ``use_par=False`` when the server
            requires PAR.
        OAuthError, InvalidResponseError, TransportError: the push failed.

    Cancellation: cancelling the caller abandons the push; nothing else is lost (the
    pushed request simply expires on the server).
    """
    clock = clock or SystemClock()
    pending = build_authorization_request(
        server, client, redirect_uri=redirect_uri, scope=scope, resource=resource,
        prompt=prompt, login_hint=login_hint, max_age=max_age, extra_params=extra_params,
        now=clock.time(), allow_insecure_http=allow_insecure_http,
    )
    if not _should_push(server, use_par):
        return pending
    request = build_par_request(server, client, pending.parameters, now=clock.time())
    request_uri, _expires_in = parse_par_response(await transport.send(request))
    return dataclasses.replace(pending, url=pushed_authorization_url(server, client, request_uri))


def _should_push(server: ServerMetadata, use_par: bool | None) -> bool:
    """RFC 9126 §5: "require_pushed_authorization_requests: ... If omitted, the default
    value is false." When true, the server refuses requests that were not pushed."""
    required = server.extra.get("require_pushed_authorization_requests") is True
    if use_par is False and required:
        raise ConfigurationError(
            "the server requires pushed authorization requests (RFC 9126); use_par=False "
            "cannot work with it"
        )
    push = required if use_par is None else use_par
    if push and not server.pushed_authorization_request_endpoint:
        raise ConfigurationError(
            "pushed authorization requests need the server's "
            "pushed_authorization_request_endpoint"
        )
    return push


async def exchange_code(
    transport: Transport,
    server: ServerMetadata,
    client: ClientConfig,
    pending: AuthorizationRequest,
    callback: str | Mapping[str, str],
    *,
    resource: Sequence[str] | None = None,
    clock: Clock | None = None,
) -> Token:
    """Check the callback, then trade its code for tokens (RFC 6749 §4.1.3).

    Nothing is sent when the callback fails its checks. Use ``pending`` for one exchange
    only: an authorization code works once ("If an authorization code is used more than
    once, the authorization server MUST deny the request", RFC 6749 §4.1.2), so a second
    call gets ``invalid_grant``.

    The ID token, if any, is returned as received in ``Token.id_token``; it is not
    validated here (check its signature, ``iss``, ``aud`` and that its ``nonce`` equals
    ``pending.nonce`` before trusting who logged in).

    Args:
        callback: the URL the browser came back to, or its query parameters.
        resource: RFC 8707 indicators for the token; default: those of the request.

    Raises:
        InvalidResponseError: the callback failed a check (``iss_missing``,
            ``iss_mismatch``, ``state_missing``, ``state_mismatch``, ``code_missing``),
            or the token response is malformed.
        AuthorizationResponseError: the server redirected back with an error (e.g.
            ``access_denied``), after ``iss`` and ``state`` were checked.
        OAuthError: the token endpoint refused, e.g. ``invalid_grant`` for a reused code
            or a wrong PKCE verifier.
        ConfigurationError: ``server`` is not the issuer ``pending`` was started with.
        TransportError: the token endpoint could not be reached, or did not answer in time.

    Cancellation: cancelling the caller abandons the token request. If the server
    already answered, the code is spent and the login must start again.
    """
    if pending.issuer is not None and server.issuer != pending.issuer:
        raise ConfigurationError("this login was started with another authorization server")
    code = validate_callback(pending, callback)
    clock = clock or SystemClock()
    request = build_code_exchange_request(
        server.token_endpoint, client, pending, code, now=clock.time(), resource=resource
    )
    return await exchange(transport, request, clock)
